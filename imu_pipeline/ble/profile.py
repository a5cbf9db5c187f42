"""The one interface every BLE sensor family implements.

A :class:`DeviceProfile` says how a family is recognised from its advertisement, which GATT
service and characteristics carry its data, which bytes start/stop the stream and set the
rate, and how a notification payload becomes samples in SI units (sensor frame):
specific force in m/s², angular rate in rad/s, plus the device's own timestamp or
sequence counter where it has one.

A decoder never guesses: a payload that does not follow the documented layout, or whose
values are outside the sensor's full-scale range or not finite, raises :class:`DecodeError`
(the reader counts it and goes on).
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

#: Standard gravity (m/s²) used to convert "g" to m/s² (ISO 80000-3).
STANDARD_GRAVITY_M_S2 = 9.80665
DEG_TO_RAD = math.pi / 180.0

#: Bluetooth SIG Battery Service and Battery Level characteristic (uint8 percent).
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"


class DecodeError(ValueError):
    """A notification payload that does not decode to plausible samples."""


@dataclass
class SampleBatch:
    """Samples decoded from one notification.

    Attributes
    ----------
    acc : (N, 3) float64
        Specific force, m/s², sensor frame.
    gyr : (N, 3) float64
        Angular rate, rad/s, sensor frame (right-handed).
    device_time_s : (N,) float64 or None
        The device's own time of each sample, seconds on the device clock (still wrapped:
        the profile's ``timestamp_wrap_s`` tells the period). None when the device sends none.
    counter : int or None
        The packet's sequence counter (raw, wraps at the profile's ``counter_modulus``).
    battery_percent : float or None
        A battery reading carried by this notification (0–100), if any.
    """

    acc: np.ndarray
    gyr: np.ndarray
    device_time_s: np.ndarray | None = None
    counter: int | None = None
    battery_percent: float | None = None

    def __len__(self) -> int:
        return int(self.acc.shape[0])

    @classmethod
    def empty(cls, battery_percent: float | None = None) -> SampleBatch:
        """A notification that carries no samples (a command reply, a battery reading)."""
        return cls(np.zeros((0, 3)), np.zeros((0, 3)), None, None, battery_percent)


@dataclass(frozen=True)
class Advertisement:
    """What a scan shows of one device (bleak's ``AdvertisementData``, reduced).

    Attributes
    ----------
    name : advertised local name or the OS name (may be None)
    address : Bluetooth address (a UUID on macOS)
    rssi : signal strength, dBm
    service_uuids : advertised 128-bit service UUIDs, lower case
    manufacturer_ids : Bluetooth SIG company identifiers present in the manufacturer data
    """

    name: str | None
    address: str
    rssi: int | None = None
    service_uuids: tuple[str, ...] = ()
    manufacturer_ids: tuple[int, ...] = ()


@dataclass
class DeviceProfile(abc.ABC):
    """One family of BLE IMU: recognition, GATT layout, commands and decoding.

    Subclasses set the class attributes and implement :meth:`decode`,
    :meth:`start_commands` and :meth:`stop_commands`. An instance is configured for one
    sensor (its requested rate and options).

    Parameters
    ----------
    sample_rate_hz
        Requested output data rate (Hz). ``None`` uses the family's default.

    Attributes (class level)
    ------------------------
    name : profile name used in configs (``profile = "witmotion"``)
    model : human-readable family name
    service_uuid, notify_uuid, write_uuid : GATT UUIDs (lower-case, 128-bit)
    write_with_response : whether commands are written with response
    name_patterns : regular expressions matched against the advertised name
    advertised_services : service UUIDs that identify the family in an advertisement
    manufacturer_ids : Bluetooth SIG company identifiers whose manufacturer data identifies it
    supported_rates_hz : rates the device can be set to
    timing : ``"device_time"`` (per-sample device timestamps), ``"counter"`` (packet or sample
        counter) or ``"nominal"`` (neither: spread by the nominal rate)
    counter_modulus : counter wraps at this value (``None`` without counter)
    counter_unit : ``"packet"`` or ``"sample"``: what one counter step counts
    timestamp_wrap_s : device time wraps after this many seconds (``None``: never)
    acc_range_m_s2, gyr_range_rad_s : full-scale ranges; decoded values beyond them are rejected
    """

    sample_rate_hz: float | None = None

    name: ClassVar[str] = ""
    model: ClassVar[str] = ""
    service_uuid: ClassVar[str] = ""
    notify_uuid: ClassVar[str] = ""
    write_uuid: ClassVar[str | None] = None
    write_with_response: ClassVar[bool] = True
    name_patterns: ClassVar[tuple[str, ...]] = ()
    advertised_services: ClassVar[tuple[str, ...]] = ()
    manufacturer_ids: ClassVar[tuple[int, ...]] = ()
    supported_rates_hz: ClassVar[tuple[float, ...]] = ()
    default_rate_hz: ClassVar[float] = 100.0
    timing: ClassVar[str] = "nominal"
    counter_modulus: ClassVar[int | None] = None
    counter_unit: ClassVar[str] = "packet"
    timestamp_wrap_s: ClassVar[float | None] = None
    acc_range_m_s2: ClassVar[float] = 16 * STANDARD_GRAVITY_M_S2
    gyr_range_rad_s: ClassVar[float] = 2000 * DEG_TO_RAD

    def __post_init__(self) -> None:
        if self.sample_rate_hz is None:
            self.sample_rate_hz = float(self.default_rate_hz)
        rate = float(self.sample_rate_hz)
        if self.supported_rates_hz and not any(abs(rate - r) < 1e-6 for r in self.supported_rates_hz):
            rates = ", ".join(f"{r:g}" for r in self.supported_rates_hz)
            raise ValueError(f"{self.model}: sample_rate_hz = {rate:g} is not supported; choose one of {rates} Hz")
        self.sample_rate_hz = rate

    # ------------------------------------------------------------------ recognition
    def recognises(self, adv: Advertisement) -> bool:
        """True when the advertisement looks like this family (name pattern, service UUID or
        manufacturer-data company identifier)."""
        if adv.name and any(re.search(p, adv.name) for p in self.name_patterns):
            return True
        if any(m in adv.manufacturer_ids for m in self.manufacturer_ids):
            return True
        adv_services = {u.lower() for u in adv.service_uuids}
        return any(u.lower() in adv_services for u in self.advertised_services)

    # ------------------------------------------------------------------ commands
    @abc.abstractmethod
    def start_commands(self) -> list[bytes]:
        """Bytes to write (in order) to ``write_uuid`` after notifications are enabled."""

    @abc.abstractmethod
    def stop_commands(self) -> list[bytes]:
        """Bytes to write before notifications are disabled at the end."""

    def battery_request(self) -> bytes | None:
        """Bytes that ask the device for a battery reading over its own protocol (or None)."""
        return None

    # ------------------------------------------------------------------ decoding
    @abc.abstractmethod
    def decode(self, payload: bytes) -> SampleBatch:
        """Decode one notification payload.

        Raises
        ------
        DecodeError
            For any payload that is not a well-formed packet with plausible values.
        """

    def check_plausible(self, batch: SampleBatch) -> SampleBatch:
        """Reject non-finite values and values beyond the full-scale range (with a margin of 1 LSB)."""
        for what, arr, lim in (("acc", batch.acc, self.acc_range_m_s2), ("gyr", batch.gyr, self.gyr_range_rad_s)):
            if arr.size and (not np.all(np.isfinite(arr)) or float(np.max(np.abs(arr))) > lim * 1.001):
                raise DecodeError(f"{self.model}: {what} value outside the sensor's range or not finite")
        t = batch.device_time_s
        if t is not None and t.size and not np.all(np.isfinite(t)):
            raise DecodeError(f"{self.model}: non-finite device time")
        return batch

    # ------------------------------------------------------------------ description
    def describe(self) -> dict[str, object]:
        """What the sidecar records about the device family."""
        return {"model": self.model, "profile": self.name}


def normalise_uuid(u: str) -> str:
    """Lower-case 128-bit UUID; 16-bit (``"180f"``) and 32-bit forms use the Bluetooth base UUID."""
    s = str(u).strip().lower()
    if re.fullmatch(r"(0x)?[0-9a-f]{4}", s):
        s = s[-4:]
        return f"0000{s}-0000-1000-8000-00805f9b34fb"
    if re.fullmatch(r"[0-9a-f]{8}", s):
        return f"{s}-0000-1000-8000-00805f9b34fb"
    if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", s):
        raise ValueError(f"{u!r} is not a Bluetooth UUID (expected e.g. '180f' or "
                         "'0000ffe5-0000-1000-8000-00805f9a34fb')")
    return s


def advertisement_from_bleak(device: object, adv: object) -> Advertisement:
    """Reduce bleak's ``(BLEDevice, AdvertisementData)`` to an :class:`Advertisement`."""
    name = getattr(adv, "local_name", None) or getattr(device, "name", None)
    manu: Mapping[int, bytes] = getattr(adv, "manufacturer_data", {}) or {}
    services: Sequence[str] = getattr(adv, "service_uuids", []) or []
    return Advertisement(name=name, address=str(getattr(device, "address", "")),
                         rssi=getattr(adv, "rssi", None),
                         service_uuids=tuple(s.lower() for s in services),
                         manufacturer_ids=tuple(int(k) for k in manu))

