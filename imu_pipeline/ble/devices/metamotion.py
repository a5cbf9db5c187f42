"""MbientLab MetaMotion S / RL / R / C (MetaWear firmware): accelerometer + gyroscope streaming.

Facts used, each with its source (github.com/mbientlab/MetaWear-SDK-Cpp unless named otherwise):

* GATT: service ``326a9000-85cb-9195-d9dd-464cfbbae75a``, command characteristic ``326a9001-…``
  (written *without* response except macro commands), notify characteristic ``326a9006-…``
  (``src/metawear/impl/cpp/metawearboard.cpp``: ``METAWEAR_SERVICE_NOTIFY_CHAR``,
  ``METAWEAR_COMMAND_CHAR``, the write type in ``send_command``). The service UUID identifies a
  MetaWear board in a scan (mbientlab/MetaWear-SDK-Android ``MetaWearBoard.java``,
  ``METAWEAR_SERVICE_UUID``: "can be used to filter non MetaWear devices"); boards advertise
  the name ``MetaWear`` unless renamed.
* Every command and notification starts ``[module, register]``; module 0x03 = accelerometer,
  0x13 = gyroscope. Module info: write ``[module, 0x80]``, the board answers
  ``[module, 0x80, implementation, revision, …]``, or just ``[module, 0x80]`` when the module is
  absent (``test/common.py`` board tables: MetaMotion R ``03 80 01 01`` / ``13 80 00 01``,
  RL ``03 80 01 02`` / ``13 80 00 01``, S ``03 80 04 00`` / ``13 80 01 00``; absent ``10 80``).
* Accelerometer implementation 1 = BMI160, 4 = BMI270; gyroscope 0 = BMI160, 1 = BMI270
  (``src/metawear/sensor/cpp/accelerometer_bosch.cpp`` ``MBL_MW_MODULE_ACC_TYPE_*``,
  ``gyro_bosch.cpp`` ``MBL_MW_MODULE_GYRO_TYPE_*``).
* Accelerometer registers (``accelerometer_bosch_register.h``): power mode 1, data-interrupt
  enable 2, data config 3, data 4; packed data 0x1C (BMI160) / 0x05 (BMI270). Gyro
  (``gyro_bosch_register.h``): power mode 1, data-interrupt enable 2, config 3, data 5 / packed 7
  (BMI160), data 4 / packed 5 (BMI270).
* Commands (``test/test_accelerometer_bmi160.py``, ``test_accelerometer_bmi270.py``,
  ``test_gyro_bmi160.py``): acc config ``03 03 <odr|bwp<<4|us<<7> <range>``, e.g. BMI160 100 Hz
  ±16 g ``03 03 28 0c``, BMI270 100 Hz ±16 g ``03 03 a8 03``; gyro config
  ``13 03 <odr|bwp<<4> <range>``, e.g. 200 Hz ``13 03 29 00`` (range index 0 = ±2000 °/s);
  subscribe ``03 04 01`` / ``13 05 01``, unsubscribe ``… 00``; enable sampling ``03 02 01 00`` /
  ``13 02 01 00``, disable ``… 00 01``; start ``03 01 01`` / ``13 01 01``, stop ``… 00``.
  ODR codes: 25 Hz = 6, 50 Hz = 7, 100 Hz = 8 (``gyro_bosch.h`` ``MBL_MW_GYRO_BOSCH_ODR_*``;
  acc ``0x26/0x27/0x28`` for BMI160 and ``0xa6/0xa7/0xa8`` for BMI270 in the tests).
* Data: int16 LE x, y, z after the 2-byte header; acc counts / (LSB per g) with 16384, 8192,
  4096, 2048 LSB/g for ±2, 4, 8, 16 g (``accelerometer_bosch.cpp`` ``BMI160_FSR_SCALE``,
  ``BMI270_FSR_SCALE``); gyro counts / (LSB per °/s) with 16.4, 32.8, 65.6, 131.2, 262.4 for
  ±2000, 1000, 500, 250, 125 °/s (``gyro_bosch.cpp`` ``FSR_SCALE``). Packed data holds three
  samples (20 bytes). Vectors: ``03 04 16 c4 94 a2 2a d0`` at ±4 g = (−1.872, −2.919, −1.495) g;
  ``13 05 3e 43 ff 7f 00 80`` at ±500 °/s = (262.409, 499.497, −499.512) °/s.
* Streamed notifications carry **no device timestamp and no counter**: samples are timed on
  receipt at the nominal rate (the SDK stamps them with the host's clock too). Acc and gyro come
  in separate notifications; this profile pairs them by order (see :class:`MetaMotion`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from imu_pipeline.ble.errors import ProfileMismatchError
from imu_pipeline.ble.profile import (
    DEG_TO_RAD,
    STANDARD_GRAVITY_M_S2,
    DecodeError,
    DeviceProfile,
    ProfileLink,
    SampleBatch,
)

SERVICE_UUID = "326a9000-85cb-9195-d9dd-464cfbbae75a"
COMMAND_UUID = "326a9001-85cb-9195-d9dd-464cfbbae75a"
NOTIFY_UUID = "326a9006-85cb-9195-d9dd-464cfbbae75a"

MODULE_ACC = 0x03
MODULE_GYRO = 0x13
REG_INFO = 0x80
REG_POWER = 0x01
REG_DATA_ENABLE = 0x02
REG_CONFIG = 0x03
ACC_REG_DATA = 0x04

ACC_IMPL_BMI160 = 1
ACC_IMPL_BMI270 = 4
GYRO_IMPL_BMI160 = 0
GYRO_IMPL_BMI270 = 1

#: Per chip: acc data registers (single, packed), gyro data registers (single, packed).
DATA_REGISTERS: dict[str, dict[str, tuple[int, int]]] = {
    "bmi160": {"acc": (0x04, 0x1C), "gyr": (0x05, 0x07)},
    "bmi270": {"acc": (0x04, 0x05), "gyr": (0x04, 0x05)},
}
#: ODR field codes (bits 0-3) for the rates offered here.
ODR_CODES: dict[float, int] = {25.0: 6, 50.0: 7, 100.0: 8}
BWP_NORMAL = 2
#: Accelerometer range (±g) -> (BMI160 code, BMI270 code, LSB per g) (``accelerometer_bosch.cpp``
#: ``FSR_BITMASKS``, ``BMI270_FSR_BITMASKS``, ``BMI160_FSR_SCALE``, ``BMI270_FSR_SCALE``).
ACC_RANGES: dict[int, tuple[int, int, float]] = {
    2: (0x3, 0x0, 16384.0), 4: (0x5, 0x1, 8192.0), 8: (0x8, 0x2, 4096.0), 16: (0xC, 0x3, 2048.0)}
#: Gyro range (±°/s) -> (code, LSB per °/s) (``gyro_bosch.h`` ``MBL_MW_GYRO_BOSCH_RANGE_*``,
#: ``gyro_bosch.cpp`` ``FSR_SCALE``).
GYRO_RANGES: dict[int, tuple[int, float]] = {
    2000: (0, 16.4), 1000: (1, 32.8), 500: (2, 65.6), 250: (3, 131.2), 125: (4, 262.4)}

_SINGLE_LEN = 8
_PACKED_LEN = 20


def acc_config_command(chip: str, rate_hz: float, range_g: int = 16) -> bytes:
    """``03 03 <odr|bwp<<4|us<<7> <range>``: normal filter bandwidth; on the BMI270 bit 7 (performance
    mode) is set, as in the SDK's default ``0xa8``."""
    conf = ODR_CODES[rate_hz] | (BWP_NORMAL << 4) | ((1 << 7) if chip == "bmi270" else 0)
    code160, code270, _ = ACC_RANGES[range_g]
    return bytes([MODULE_ACC, REG_CONFIG, conf, code270 if chip == "bmi270" else code160])


def gyro_config_command(rate_hz: float, range_dps: int = 2000) -> bytes:
    """``13 03 <odr|bwp<<4> <range>``: normal filter bandwidth (same layout on BMI160 and BMI270)."""
    return bytes([MODULE_GYRO, REG_CONFIG, ODR_CODES[rate_hz] | (BWP_NORMAL << 4), GYRO_RANGES[range_dps][0]])


def start_sequence(chip: str, rate_hz: float, range_g: int = 16, range_dps: int = 2000) -> list[bytes]:
    """Configure, subscribe, enable, start — acc then gyro (after the module-info handshake)."""
    gyr_data = DATA_REGISTERS[chip]["gyr"][0]
    return [acc_config_command(chip, rate_hz, range_g), gyro_config_command(rate_hz, range_dps),
            bytes([MODULE_ACC, ACC_REG_DATA, 1]), bytes([MODULE_GYRO, gyr_data, 1]),
            bytes([MODULE_ACC, REG_DATA_ENABLE, 1, 0]), bytes([MODULE_GYRO, REG_DATA_ENABLE, 1, 0]),
            bytes([MODULE_ACC, REG_POWER, 1]), bytes([MODULE_GYRO, REG_POWER, 1])]


def stop_sequence(chip: str) -> list[bytes]:
    """Stop, disable, unsubscribe — acc and gyro."""
    gyr_data = DATA_REGISTERS[chip]["gyr"][0]
    return [bytes([MODULE_ACC, REG_POWER, 0]), bytes([MODULE_GYRO, REG_POWER, 0]),
            bytes([MODULE_ACC, REG_DATA_ENABLE, 0, 1]), bytes([MODULE_GYRO, REG_DATA_ENABLE, 0, 1]),
            bytes([MODULE_ACC, ACC_REG_DATA, 0]), bytes([MODULE_GYRO, gyr_data, 0])]


@dataclass
class MetaMotion(DeviceProfile):
    """MetaMotion S (BMI270) or RL/R/C (BMI160): accelerometer and gyroscope at the same rate.

    Samples: specific force (m/s²) and angular rate (rad/s) in the board's sensor frame (the
    BMI160/BMI270 axes, printed on MbientLab's case diagrams). Acc and gyro arrive in separate
    notifications without timestamps or counters; :meth:`decode` pairs them **by order**. The
    board sends the two halves of a sample back to back, one kind first (the *leader*, learnt from
    the packets that open a pair: a majority of at least two). A leader waits for the next follower.
    When its follower was lost, the next leader finds the previous one still waiting: the waiting
    samples are dropped. When a leader was lost, its follower arrives with nothing waiting: it is
    dropped. Dropped samples are counted in :attr:`unpaired_acc` / :attr:`unpaired_gyr`; a sample
    is never paired with a partner from another instant because one packet went missing. Timing is ``nominal``: samples
    are spread at the nominal rate, anchored on receipt times.

    Parameters
    ----------
    sample_rate_hz
        25, 50 or 100 Hz (default 100) for both sensors.
    chip
        ``"bmi160"`` or ``"bmi270"``; None (default) = as the module-info reply says.
    acc_range_g
        Accelerometer full scale: 2, 4, 8 or 16 g (default 16).
    gyr_range_dps
        Gyroscope full scale: 125, 250, 500, 1000 or 2000 °/s (default 2000).

    Attributes
    ----------
    unpaired_acc, unpaired_gyr : int
        Samples dropped for want of a partner (since the profile was made).
    detected_chip : str or None
        What the last module-info handshake found.
    """

    chip: str | None = None
    acc_range_g: int = 16
    gyr_range_dps: int = 2000
    unpaired_acc: int = field(default=0, init=False)
    unpaired_gyr: int = field(default=0, init=False)
    detected_chip: str | None = field(default=None, init=False)

    name: ClassVar[str] = "metamotion"
    model: ClassVar[str] = "MbientLab MetaMotion (MetaWear)"
    service_uuid: ClassVar[str] = SERVICE_UUID
    notify_uuid: ClassVar[str] = NOTIFY_UUID
    write_uuid: ClassVar[str | None] = COMMAND_UUID
    write_with_response: ClassVar[bool] = False
    name_patterns: ClassVar[tuple[str, ...]] = (r"^MetaWear",)
    advertised_services: ClassVar[tuple[str, ...]] = (SERVICE_UUID,)
    supported_rates_hz: ClassVar[tuple[float, ...]] = tuple(ODR_CODES)
    default_rate_hz: ClassVar[float] = 100.0
    timing: ClassVar[str] = "nominal"
    acc_range_m_s2: ClassVar[float] = 16 * STANDARD_GRAVITY_M_S2
    gyr_range_rad_s: ClassVar[float] = 2000 * DEG_TO_RAD
    reply_timeout_s: ClassVar[float] = 3.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.chip not in (None, "bmi160", "bmi270"):
            raise ValueError(f"MetaMotion: chip must be 'bmi160' or 'bmi270', got {self.chip!r}")
        if self.acc_range_g not in ACC_RANGES:
            raise ValueError(f"MetaMotion: acc_range_g must be one of {sorted(ACC_RANGES)}, got {self.acc_range_g!r}")
        if self.gyr_range_dps not in GYRO_RANGES:
            raise ValueError(f"MetaMotion: gyr_range_dps must be one of {sorted(GYRO_RANGES)}, "
                             f"got {self.gyr_range_dps!r}")
        #: m/s² and rad/s per count for the configured ranges; the full scale is what int16 can hold
        self.acc_lsb_m_s2 = STANDARD_GRAVITY_M_S2 / ACC_RANGES[self.acc_range_g][2]
        self.gyr_lsb_rad_s = DEG_TO_RAD / GYRO_RANGES[self.gyr_range_dps][1]
        self.acc_range_m_s2 = 32768 * self.acc_lsb_m_s2  # type: ignore[misc]
        self.gyr_range_rad_s = 32768 * self.gyr_lsb_rad_s  # type: ignore[misc]
        self._acc: deque[tuple[float, float, float]] = deque()
        self._gyr: deque[tuple[float, float, float]] = deque()
        self._lead_votes: dict[str, int] = {"acc": 0, "gyr": 0}

    @property
    def active_chip(self) -> str:
        """The chip commands are built for: the configured one, else the detected one, else BMI160."""
        return self.chip or self.detected_chip or "bmi160"

    # ------------------------------------------------------------------ commands
    def start_commands(self) -> list[bytes]:
        assert self.sample_rate_hz is not None
        return start_sequence(self.active_chip, float(self.sample_rate_hz), self.acc_range_g, self.gyr_range_dps)

    def stop_commands(self) -> list[bytes]:
        return stop_sequence(self.active_chip)

    async def configure(self, link: ProfileLink) -> None:
        """Notifications on; ask the accelerometer and gyroscope modules which chip they are
        (module info); then configure, subscribe, enable and start both.

        Raises
        ------
        BleError
            ``ConnectionFailedError`` when a module-info reply does not come within
            :attr:`reply_timeout_s`; ``ProfileMismatchError`` when the board has no gyroscope, an
            unknown chip, or not the chip configured with ``chip``.
        """
        self._count_unpaired("acc", len(self._acc))  # held over from a previous connection
        self._count_unpaired("gyr", len(self._gyr))
        self._acc.clear()
        self._gyr.clear()
        self._lead_votes = {"acc": 0, "gyr": 0}
        await link.start_notify(self.notify_uuid)
        impl: dict[int, int | None] = {}
        for module, what in ((MODULE_ACC, "accelerometer"), (MODULE_GYRO, "gyroscope")):
            reply = await link.request(self.write_uuid or COMMAND_UUID, bytes([module, REG_INFO]),
                                       reply_uuid=self.notify_uuid, response=self.write_with_response,
                                       match=lambda d, m=module: len(d) >= 2 and d[0] == m and d[1] == REG_INFO,
                                       what=f"the {what} module-info request", timeout_s=self.reply_timeout_s)
            impl[module] = reply[2] if len(reply) >= 3 else None
        chips = {ACC_IMPL_BMI160: "bmi160", ACC_IMPL_BMI270: "bmi270"}
        acc_chip = chips.get(impl[MODULE_ACC]) if impl[MODULE_ACC] is not None else None
        gyro_chip = {GYRO_IMPL_BMI160: "bmi160", GYRO_IMPL_BMI270: "bmi270"}.get(impl[MODULE_GYRO]) \
            if impl[MODULE_GYRO] is not None else None
        if impl[MODULE_GYRO] is None:
            raise ProfileMismatchError(f"{link.label}: this MetaWear board has no gyroscope module (e.g. a "
                                       "MetaWear C without IMU); hip angles need acc + gyro: use a MetaMotion "
                                       "S, RL or R")
        if acc_chip is None or gyro_chip is None or acc_chip != gyro_chip:
            raise ProfileMismatchError(f"{link.label}: unsupported MetaWear accelerometer/gyroscope "
                                       f"(implementations {impl[MODULE_ACC]}/{impl[MODULE_GYRO]}); supported: "
                                       "BMI160 (MetaMotion RL/R/C) and BMI270 (MetaMotion S)")
        if self.chip is not None and self.chip != acc_chip:
            raise ProfileMismatchError(f"{link.label}: the board reports a {acc_chip.upper()}, but the sensor "
                                       f"config says chip = {self.chip!r}; remove the option or fix it")
        self.detected_chip = acc_chip
        for cmd in self.start_commands():
            await link.write_command(cmd)

    # ------------------------------------------------------------------ decoding
    def _kind(self, module: int, register: int, length: int) -> tuple[str, int] | None:
        """(``"acc"``/``"gyr"``, samples) for a data notification header, or None."""
        chips = [self.chip or self.detected_chip] if (self.chip or self.detected_chip) else ["bmi160", "bmi270"]
        for chip in chips:
            assert chip is not None
            for kind, mod in (("acc", MODULE_ACC), ("gyr", MODULE_GYRO)):
                single, packed = DATA_REGISTERS[chip][kind]
                if module == mod and register == single and length == _SINGLE_LEN:
                    return kind, 1
                if module == mod and register == packed and length == _PACKED_LEN:
                    return kind, 3
        return None

    def decode(self, payload: bytes) -> SampleBatch:
        """Decode one notification; return the acc+gyro pairs it completes (often none).

        Module-info replies carry no samples. Raises :class:`DecodeError` for a header that is not
        an acc/gyro data packet of the board's chip, or a wrong length.
        """
        data = bytes(payload)
        if len(data) < 2:
            raise DecodeError(f"MetaMotion: payload of {len(data)} bytes is too short")
        module, register = data[0], data[1]
        if register == REG_INFO and module in (MODULE_ACC, MODULE_GYRO):
            return SampleBatch.empty()
        kind = self._kind(module, register, len(data))
        if kind is None:
            raise DecodeError(f"MetaMotion: not an acc/gyro data packet (header {module:02x} {register:02x}, "
                              f"{len(data)} bytes)")
        what, n = kind
        raw = np.frombuffer(data, dtype="<i2", offset=2, count=3 * n).reshape(n, 3).astype(np.float64)
        vals = raw * (self.acc_lsb_m_s2 if what == "acc" else self.gyr_lsb_rad_s)
        mine, other = (self._acc, self._gyr) if what == "acc" else (self._gyr, self._acc)
        if not mine and not other:
            # a packet that opens a pair: learn which kind the board sends first
            leader = max(self._lead_votes, key=self._lead_votes.__getitem__)
            settled = abs(self._lead_votes["acc"] - self._lead_votes["gyr"]) >= 2
            if settled and what != leader:  # a follower with nothing to follow: its leader was lost
                self._count_unpaired(what, n)
                return SampleBatch.empty()
            self._lead_votes[what] += 1
        elif mine and not other:  # the previous packet of this kind never got its partner
            self._count_unpaired(what, len(mine))
            mine.clear()
        mine.extend(tuple(v) for v in vals)
        pairs = min(len(self._acc), len(self._gyr))
        acc = np.array([self._acc.popleft() for _ in range(pairs)], dtype=np.float64).reshape(pairs, 3)
        gyr = np.array([self._gyr.popleft() for _ in range(pairs)], dtype=np.float64).reshape(pairs, 3)
        return self.check_plausible(SampleBatch(acc=acc, gyr=gyr))

    def _count_unpaired(self, what: str, n: int) -> None:
        if what == "acc":
            self.unpaired_acc += n
        else:
            self.unpaired_gyr += n

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "chip": self.chip or self.detected_chip, "acc_range_g": self.acc_range_g,
                "gyr_range_dps": self.gyr_range_dps,
                "timing": "receipt time at the nominal rate (no device timestamps)",
                "unpaired_acc_samples": self.unpaired_acc, "unpaired_gyr_samples": self.unpaired_gyr}
