"""WitMotion Bluetooth 5.0 IMUs (WT901BLECL, WT9011DCL, BWT901BLE5.0).

Facts used (vendor documentation and the vendor's own SDK sources):

* GATT: service ``0000ffe5-0000-1000-8000-00805f9a34fb``, notify ``0000ffe4-…``, write
  ``0000ffe9-…`` — note WitMotion's base UUID ends in ``00805f9a34fb``, not the Bluetooth
  base ``…9b34fb`` (WITMOTION/WitBluetooth_BWT901BLE5_0, ``BleUUID.java`` and
  ``Python/BWT901BLE5.0_python_sdk/device_model.py``).
* Data packet, 20 bytes: ``0x55 0x61`` then 9 little-endian int16: acceleration x y z,
  angular velocity x y z, angle x y z. Scale: acc = raw/32768·16 g, gyro = raw/32768·2000 °/s
  (WT901BLECL datasheet v20-0707, §6.1.1; same formulas in the SDK's ``DeviceModel.java``).
  No timestamp and no counter: timing is spread at the nominal rate.
* Register read reply, 20 bytes: ``0x55 0x71``, start register (uint16 LE), 8 registers
  (int16 LE) (datasheet §6.1.2; example ``55 71 3A 00 68 01 69 00 7A 00 …`` = magnetic
  field 360, 105, 122). Register ``0x64`` is the battery voltage in 0.01 V; the SDK maps it to
  percent with a fixed table (``DeviceModel.java``, ``GetBatteryPercent``).
* Commands (5 bytes ``FF AA reg lo hi``): unlock ``FF AA 69 88 B5``; return rate register
  ``0x03`` with codes 1 Hz→0x03, 5→0x05, 10→0x06, 50→0x08, 100→0x09, 200→0x0B
  (``DeviceModel.java`` ``SetRRate``); read register ``FF AA 27 reg 00``.
* Advertised names start with ``WT`` (the SDK's scan filter).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from imu_pipeline.ble.profile import (
    DEG_TO_RAD,
    STANDARD_GRAVITY_M_S2,
    DecodeError,
    DeviceProfile,
    SampleBatch,
)

FRAME_LEN = 20
HEADER = 0x55
FLAG_DATA = 0x61
FLAG_REGISTER = 0x71
REG_RATE = 0x03
REG_BATTERY = 0x64
UNLOCK = bytes([0xFF, 0xAA, 0x69, 0x88, 0xB5])
#: Output-rate codes for register 0x03 (vendor SDK ``SetRRate``).
RATE_CODES: dict[float, int] = {1.0: 0x03, 5.0: 0x05, 10.0: 0x06, 50.0: 0x08, 100.0: 0x09, 200.0: 0x0B}
ACC_LSB_M_S2 = 16.0 * STANDARD_GRAVITY_M_S2 / 32768.0
GYR_LSB_RAD_S = 2000.0 * DEG_TO_RAD / 32768.0
#: (voltage threshold V, percent) from the vendor SDK, highest first.
BATTERY_TABLE: tuple[tuple[float, float], ...] = (
    (3.96, 100.0), (3.93, 90.0), (3.87, 75.0), (3.82, 60.0), (3.79, 50.0), (3.77, 40.0),
    (3.73, 30.0), (3.70, 20.0), (3.68, 15.0), (3.50, 10.0), (3.40, 5.0))

_DATA = struct.Struct("<2x9h")
_REGISTER = struct.Struct("<2xH8h")


def battery_percent_from_volts(v: float) -> float:
    """Battery percent from the cell voltage (V), the vendor's step table."""
    for threshold, pct in BATTERY_TABLE:
        if v > threshold:
            return pct
    return 0.0


def write_register(reg: int, value: int) -> bytes:
    """The 5-byte command that writes a 16-bit register."""
    return bytes([0xFF, 0xAA, reg & 0xFF, value & 0xFF, (value >> 8) & 0xFF])


@dataclass
class WitMotionBle5(DeviceProfile):
    """WitMotion BLE 5.0 IMU (WT901BLECL / WT9011DCL): one sample per 20-byte notification."""

    name: ClassVar[str] = "witmotion"
    model: ClassVar[str] = "WitMotion BLE 5.0 (WT901BLECL/WT9011DCL)"
    service_uuid: ClassVar[str] = "0000ffe5-0000-1000-8000-00805f9a34fb"
    notify_uuid: ClassVar[str] = "0000ffe4-0000-1000-8000-00805f9a34fb"
    write_uuid: ClassVar[str | None] = "0000ffe9-0000-1000-8000-00805f9a34fb"
    write_with_response: ClassVar[bool] = False
    name_patterns: ClassVar[tuple[str, ...]] = (r"^WT",)
    supported_rates_hz: ClassVar[tuple[float, ...]] = tuple(RATE_CODES)
    default_rate_hz: ClassVar[float] = 100.0
    timing: ClassVar[str] = "nominal"
    acc_range_m_s2: ClassVar[float] = 32767 * ACC_LSB_M_S2
    gyr_range_rad_s: ClassVar[float] = 32767 * GYR_LSB_RAD_S

    def start_commands(self) -> list[bytes]:
        """Unlock, then set the return rate (not saved to flash). Data flows once notify is on."""
        assert self.sample_rate_hz is not None
        return [UNLOCK, write_register(REG_RATE, RATE_CODES[float(self.sample_rate_hz)])]

    def stop_commands(self) -> list[bytes]:
        """The device has no stop command; disabling notifications stops the flow."""
        return []

    def battery_request(self) -> bytes:
        """Read register 0x64 (battery voltage); the reply is a ``55 71`` packet."""
        return bytes([0xFF, 0xAA, 0x27, REG_BATTERY, 0x00])

    def decode(self, payload: bytes) -> SampleBatch:
        """Decode one notification holding one or more whole 20-byte frames.

        ``55 61`` frames give samples (acc m/s², gyro rad/s; the angle fields are ignored);
        a ``55 71`` reply of register 0x64 gives the battery level; other register replies
        carry no samples. Anything else raises :class:`DecodeError`.
        """
        data = bytes(payload)
        if not data or len(data) % FRAME_LEN:
            raise DecodeError(f"WitMotion: payload of {len(data)} bytes; expected whole 20-byte frames")
        raw: list[tuple[int, ...]] = []
        battery: float | None = None
        for off in range(0, len(data), FRAME_LEN):
            frame = data[off:off + FRAME_LEN]
            if frame[0] != HEADER:
                raise DecodeError(f"WitMotion: frame starts with 0x{frame[0]:02X}, expected 0x55")
            if frame[1] == FLAG_DATA:
                raw.append(_DATA.unpack(frame)[:6])
            elif frame[1] == FLAG_REGISTER:
                reg, *values = _REGISTER.unpack(frame)
                if reg == REG_BATTERY:
                    volts = values[0] / 100.0
                    if not 0.0 <= volts <= 5.0:
                        raise DecodeError(f"WitMotion: battery voltage {volts:.2f} V is implausible")
                    battery = battery_percent_from_volts(volts)
            else:
                raise DecodeError(f"WitMotion: unknown frame flag 0x{frame[1]:02X}")
        if not raw:
            return SampleBatch.empty(battery)
        counts = np.asarray(raw, dtype=np.float64)
        batch = SampleBatch(acc=counts[:, 0:3] * ACC_LSB_M_S2, gyr=counts[:, 3:6] * GYR_LSB_RAD_S,
                            battery_percent=battery)
        return self.check_plausible(batch)
