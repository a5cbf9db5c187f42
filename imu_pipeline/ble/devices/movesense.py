"""Movesense sensors running the vendor's *GATT SensorData* sample firmware (``gatt_sensordata_app``).

Facts used (Movesense device library, ``samples/gatt_sensordata_app``):

* GATT: service ``34802252-7185-4d5d-b431-630e7050e8f0``; command characteristic
  ``34800001-…`` (write), data characteristic ``34800002-…`` (notify)
  (``GATTSensorDataClient.cpp``, ``python_client/movesense_sensor_data.py``).
* Commands: ``[1, ref] + resource path`` subscribes (e.g. ``/Meas/IMU6/52``), ``[2, ref]``
  unsubscribes, ``[0, ref]`` says hello; ``ref`` is a non-zero client reference byte.
* Notifications: ``[2, ref]`` + the subscription's data in Movesense's binary (SBEM) form;
  ``[1, ref, …]`` are command results (e.g. ``01 ref 01 FB`` = HTTP 507, ``01 ref 'Hello'``).
* ``/Meas/IMU6/{rate}`` data: ``Timestamp`` (uint32, ms, device clock), ``ArrayAcc``
  (x, y, z float32, m/s²) then ``ArrayGyro`` (x, y, z float32, deg/s), N samples each; the
  binary form is the fields in that order, little-endian: 4 + 24·N bytes. The timestamp is
  that of the first sample. Rates: 13, 26, 52, 104, 208, 416, 833, 1666 Hz.
* Advertised names start with ``Movesense``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from imu_pipeline.ble.profile import (
    DEG_TO_RAD,
    STANDARD_GRAVITY_M_S2,
    DecodeError,
    DeviceProfile,
    SampleBatch,
)

CMD_HELLO = 0
CMD_SUBSCRIBE = 1
CMD_UNSUBSCRIBE = 2
RESP_COMMAND_RESULT = 1
RESP_DATA = 2
DEFAULT_REFERENCE = 99
IMU6_RATES_HZ: tuple[float, ...] = (13.0, 26.0, 52.0, 104.0, 208.0, 416.0, 833.0, 1666.0)
_TIMESTAMP = struct.Struct("<I")
_SAMPLE_BYTES = 24  # 3 float32 acc + 3 float32 gyro


@dataclass
class MovesenseImu6(DeviceProfile):
    """Movesense (HR+, MD, Flash) streaming ``/Meas/IMU6`` over the GATT SensorData protocol.

    Parameters
    ----------
    sample_rate_hz
        IMU6 rate, one of :data:`IMU6_RATES_HZ` (default 52 Hz).
    reference
        The client reference byte (1–255) used in the subscription; notifications with
        another reference are rejected.
    """

    reference: int = field(default=DEFAULT_REFERENCE)

    name: ClassVar[str] = "movesense"
    model: ClassVar[str] = "Movesense (GATT SensorData, /Meas/IMU6)"
    service_uuid: ClassVar[str] = "34802252-7185-4d5d-b431-630e7050e8f0"
    notify_uuid: ClassVar[str] = "34800002-7185-4d5d-b431-630e7050e8f0"
    write_uuid: ClassVar[str | None] = "34800001-7185-4d5d-b431-630e7050e8f0"
    write_with_response: ClassVar[bool] = True
    name_patterns: ClassVar[tuple[str, ...]] = (r"^Movesense",)
    supported_rates_hz: ClassVar[tuple[float, ...]] = IMU6_RATES_HZ
    default_rate_hz: ClassVar[float] = 52.0
    timing: ClassVar[str] = "device_time"
    timestamp_wrap_s: ClassVar[float | None] = 2.0**32 / 1000.0
    #: LSM6DS3 full scale is at most ±16 g and ±2000 °/s.
    acc_range_m_s2: ClassVar[float] = 16 * STANDARD_GRAVITY_M_S2
    gyr_range_rad_s: ClassVar[float] = 2000 * DEG_TO_RAD

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.reference, int) and 1 <= self.reference <= 255):
            raise ValueError(f"Movesense: reference must be an integer 1..255, got {self.reference!r}")

    @property
    def resource_path(self) -> str:
        """The subscribed resource, e.g. ``/Meas/IMU6/52``."""
        return f"/Meas/IMU6/{int(self.sample_rate_hz or self.default_rate_hz)}"

    def start_commands(self) -> list[bytes]:
        return [bytes([CMD_SUBSCRIBE, self.reference]) + self.resource_path.encode("ascii")]

    def stop_commands(self) -> list[bytes]:
        return [bytes([CMD_UNSUBSCRIBE, self.reference])]

    def decode(self, payload: bytes) -> SampleBatch:
        """Decode a data notification into N samples with device timestamps.

        Command results (type 1) carry no samples. Raises :class:`DecodeError` for any other
        type, a foreign reference, a length that is not ``6 + 24·N`` (N ≥ 1), or implausible values.
        """
        data = bytes(payload)
        if len(data) < 2:
            raise DecodeError(f"Movesense: payload of {len(data)} bytes is too short")
        kind, ref = data[0], data[1]
        if kind == RESP_COMMAND_RESULT:
            return SampleBatch.empty()
        if kind != RESP_DATA:
            raise DecodeError(f"Movesense: unknown notification type {kind}")
        if ref != self.reference:
            raise DecodeError(f"Movesense: data for reference {ref}, expected {self.reference}")
        body = data[2:]
        n, rest = divmod(len(body) - _TIMESTAMP.size, _SAMPLE_BYTES)
        if n < 1 or rest:
            raise DecodeError(f"Movesense: IMU6 data of {len(body)} bytes; expected 4 + 24·N")
        (ts_ms,) = _TIMESTAMP.unpack_from(body, 0)
        floats = np.frombuffer(body, dtype="<f4", offset=_TIMESTAMP.size, count=6 * n).astype(np.float64)
        acc = floats[: 3 * n].reshape(n, 3)
        gyr = floats[3 * n:].reshape(n, 3) * DEG_TO_RAD
        assert self.sample_rate_hz is not None
        t = ts_ms / 1000.0 + np.arange(n) / float(self.sample_rate_hz)
        return self.check_plausible(SampleBatch(acc=acc, gyr=gyr, device_time_s=t))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "resource": self.resource_path}
