"""Movella DOT (formerly Xsens DOT), real-time streaming of the "Rate quantities" payload.

Facts used, each with its source:

* UUIDs: all attributes are ``1517xxxx-4947-11E9-8646-D663BD873D93``; configuration service
  ``0x1000`` with *device control* ``0x1002`` (32 bytes, read/write); measurement service
  ``0x2000`` with *control* ``0x2001`` (3 bytes, read/write) and the *long / medium / short
  payload* notify characteristics ``0x2002`` (63 bytes) / ``0x2003`` (40 bytes) / ``0x2004``
  (20 bytes) (Xsens DOT BLE Services Specification XD0506P rev. F, §1.1 Table 2, §2 Table 5,
  §3 Table 12; PDF in github.com/adamkewley/xdc; the same UUIDs in
  github.com/njanssen/node-movella-dot ``constants.js``).
* All multi-byte members are little-endian (XD0506P §1.3).
* Control ``0x2001`` = ``[type 1 = measurement, action 1 = start / 0 = stop, payload mode]``;
  payload mode 21 = *Rate quantities* (XD0506P §3.1 Table 13; written as
  ``[0x01, SENSOR_ENABLE, measuringPayloadId]`` in github.com/xsens/xsens_dot_server
  ``bleHandler.js`` ``enableSensor``). Notifications are enabled before the control write
  (XD0506P §3.1 note and Figure 1).
* *Rate quantities* (mode 21) is a medium payload (``0x2003``) of 28 bytes: timestamp (uint32,
  µs), acceleration x, y, z (float32, "calibrated acceleration in sensor coordinate, m/s²"),
  angular velocity x, y, z (float32, "rate of turn in sensor coordinate, dps"); unused bytes
  of the characteristic are 0x00 (XD0506P §3.3 Table 15, §3.5 Table 17; offsets 0 / 4 / 16 in
  node-movella-dot ``XsensDot.js`` ``listenerMeasurement`` and xsens_dot_server
  ``bleHandler.js`` ``getAcceleration(data, 4)``, ``getAngularVelocity(data, 16)``,
  ``data.readUInt32LE(0)``).
* The timestamp is *SampleTimeFine*: 1 MHz ticks of the sensor's own clock, starting at power-on
  and wrapping at 2³² µs (≈ 71.6 min); it restarts from 0 when the sensor reboots (Xsens DOT
  User Manual XD0502P §4.2.5, PDF in adamkewley/xdc).
* Output rate: device control field *output rate* (uint16 at byte offset 24, after visit index,
  identifying, power options, 4 power-saving timeouts, tag length and the 16-byte tag) takes
  effect when bit 4 (``0x10``) of the *visit index* (byte 0) is set; other fields are ignored
  when their bit is 0. Real-time streaming rates: 1, 4, 10, 12, 15, 20, 30, 60 Hz (default 60;
  120 Hz only for recording); the rate cannot be changed after the measurement started
  (XD0506P §2.2 Table 7; User Manual Table 5; adamkewley/xdc ``xdc.py`` ``aset_output_rate``
  sets ``visit_index = 0x10`` and ``output_rate``).
* Ranges: accelerometer ±16 g, gyroscope ±2000 °/s (User Manual Tables 15 and 16).
* Recognition: advertised tag name "Xsens DOT" and the Bluetooth company identifier of Xsens,
  2182 = 0x0886, in the manufacturer data (XD0506P §1.2 Table 3).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from imu_pipeline.ble.errors import ConnectionFailedError
from imu_pipeline.ble.profile import (
    DEG_TO_RAD,
    STANDARD_GRAVITY_M_S2,
    DecodeError,
    DeviceProfile,
    ProfileLink,
    SampleBatch,
)


def dot_uuid(short: int) -> str:
    """The 128-bit UUID of DOT attribute ``short`` (e.g. ``0x2001``), lower case (XD0506P §1.1)."""
    return f"1517{short:04x}-4947-11e9-8646-d663bd873d93"


CONFIGURATION_SERVICE_UUID = dot_uuid(0x1000)
DEVICE_CONTROL_UUID = dot_uuid(0x1002)
MEASUREMENT_SERVICE_UUID = dot_uuid(0x2000)
MEASUREMENT_CONTROL_UUID = dot_uuid(0x2001)
LONG_PAYLOAD_UUID = dot_uuid(0x2002)
MEDIUM_PAYLOAD_UUID = dot_uuid(0x2003)
SHORT_PAYLOAD_UUID = dot_uuid(0x2004)

CONTROL_TYPE_MEASUREMENT = 0x01
ACTION_STOP = 0x00
ACTION_START = 0x01
PAYLOAD_MODE_RATE_QUANTITIES = 21
#: Rate quantities: uint32 µs timestamp, 3 float32 acc (m/s²), 3 float32 gyro (deg/s).
RATE_QUANTITIES = struct.Struct("<I3f3f")
MEDIUM_PAYLOAD_MAX = 40
DEVICE_CONTROL_LEN = 32
VISIT_OUTPUT_RATE = 0x10
OUTPUT_RATE_OFFSET = 24
STREAMING_RATES_HZ: tuple[float, ...] = (1.0, 4.0, 10.0, 12.0, 15.0, 20.0, 30.0, 60.0)
XSENS_COMPANY_ID = 0x0886
#: SampleTimeFine wraps at 2³² µs.
SAMPLE_TIME_FINE_WRAP_S = 2.0**32 * 1e-6


def measurement_control(start: bool, mode: int = PAYLOAD_MODE_RATE_QUANTITIES) -> bytes:
    """The 3 bytes written to the measurement control characteristic ``0x2001``."""
    return bytes([CONTROL_TYPE_MEASUREMENT, ACTION_START if start else ACTION_STOP, mode])


def device_control_output_rate(rate_hz: int) -> bytes:
    """The 32-byte device control write that sets only the output rate (visit index bit 4)."""
    out = bytearray(DEVICE_CONTROL_LEN)
    out[0] = VISIT_OUTPUT_RATE
    struct.pack_into("<H", out, OUTPUT_RATE_OFFSET, int(rate_hz))
    return bytes(out)


@dataclass
class MovellaDot(DeviceProfile):
    """Movella / Xsens DOT streaming *Rate quantities*: one sample per notification.

    Samples: specific force (m/s²) and angular rate (rad/s, converted from the device's °/s) in
    the DOT's sensor frame (right-handed, axes printed on the case; User Manual §4.1.1), with the
    device time of each sample from *SampleTimeFine* (s, wraps after 2³² µs).
    """

    name: ClassVar[str] = "movella-dot"
    model: ClassVar[str] = "Movella DOT (Xsens DOT)"
    service_uuid: ClassVar[str] = MEASUREMENT_SERVICE_UUID
    notify_uuid: ClassVar[str] = MEDIUM_PAYLOAD_UUID
    write_uuid: ClassVar[str | None] = MEASUREMENT_CONTROL_UUID
    write_with_response: ClassVar[bool] = True
    name_patterns: ClassVar[tuple[str, ...]] = (r"^Xsens DOT",)
    manufacturer_ids: ClassVar[tuple[int, ...]] = (XSENS_COMPANY_ID,)
    supported_rates_hz: ClassVar[tuple[float, ...]] = STREAMING_RATES_HZ
    default_rate_hz: ClassVar[float] = 60.0
    timing: ClassVar[str] = "device_time"
    timestamp_wrap_s: ClassVar[float | None] = SAMPLE_TIME_FINE_WRAP_S
    #: ±16 g and ±2000 °/s full scale; the floats are *calibrated*, so a clipped axis can read a
    #: little beyond the nominal full scale: 10 % margin before a value counts as implausible.
    acc_range_m_s2: ClassVar[float] = 1.1 * 16 * STANDARD_GRAVITY_M_S2
    gyr_range_rad_s: ClassVar[float] = 1.1 * 2000 * DEG_TO_RAD
    #: How long to wait for a read-back of the device control characteristic (s).
    reply_timeout_s: ClassVar[float] = 5.0

    def start_commands(self) -> list[bytes]:
        """The measurement-control write that starts *Rate quantities* (after the rate is set)."""
        return [measurement_control(True)]

    def stop_commands(self) -> list[bytes]:
        return [measurement_control(False)]

    async def configure(self, link: ProfileLink) -> None:
        """Set the output rate (device control), read it back, enable the medium-payload
        notifications, then start the measurement in *Rate quantities* mode.

        Raises
        ------
        BleError
            ``ConnectionFailedError`` when the device control read-back does not show the
            requested rate (the sensor is already measuring, or the firmware ignored it).
        """
        assert self.sample_rate_hz is not None
        rate = int(round(self.sample_rate_hz))
        await link.write(DEVICE_CONTROL_UUID, device_control_output_rate(rate), response=True)
        back = await link.read(DEVICE_CONTROL_UUID)
        got = struct.unpack_from("<H", back, OUTPUT_RATE_OFFSET)[0] if len(back) >= OUTPUT_RATE_OFFSET + 2 else None
        if got != rate:
            raise ConnectionFailedError(
                f"{link.label}: the {self.model} did not take the output rate {rate} Hz (device control reads "
                f"{'nothing usable' if got is None else f'{got} Hz'}); it cannot change rate while it is measuring "
                "or synchronising: switch it off and on (or stop it in the Movella DOT app) and try again")
        await link.start_notify(self.notify_uuid)
        for cmd in self.start_commands():
            await link.write_command(cmd)

    def decode(self, payload: bytes) -> SampleBatch:
        """Decode one *Rate quantities* notification (28 bytes, or up to 40 with zero padding).

        Raises :class:`DecodeError` for another length, non-zero padding, non-finite values or
        values beyond the full scale.
        """
        data = bytes(payload)
        n = RATE_QUANTITIES.size
        if not n <= len(data) <= MEDIUM_PAYLOAD_MAX:
            raise DecodeError(f"Movella DOT: payload of {len(data)} bytes; rate quantities are {n} bytes "
                              f"(up to {MEDIUM_PAYLOAD_MAX} with zero padding)")
        if any(data[n:]):
            raise DecodeError("Movella DOT: non-zero bytes after the rate-quantities payload (another payload mode?)")
        ts_us, ax, ay, az, gx, gy, gz = RATE_QUANTITIES.unpack_from(data, 0)
        acc = np.array([[ax, ay, az]], dtype=np.float64)
        gyr = np.array([[gx, gy, gz]], dtype=np.float64) * DEG_TO_RAD
        t = np.array([ts_us / 1e6])
        return self.check_plausible(SampleBatch(acc=acc, gyr=gyr, device_time_s=t))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "payload_mode": "rate quantities (21)"}
