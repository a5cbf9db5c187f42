"""The one interface every BLE sensor family implements.

A :class:`DeviceProfile` says how a family is recognised from its advertisement, which GATT
service and characteristics carry its data, which bytes start/stop the stream and set the
rate, and how a notification payload becomes samples in SI units (sensor frame):
specific force in m/s², angular rate in rad/s, plus the device's own timestamp or
sequence counter where it has one.

A decoder never guesses: a payload that does not follow the documented layout, or whose
values are outside the sensor's full-scale range or not finite, raises :class:`DecodeError`
(the reader counts it and goes on).

Starting and stopping the stream goes through :meth:`DeviceProfile.configure` and
:meth:`DeviceProfile.shutdown`, which talk to the device over a :class:`ProfileLink`. The
defaults do what simple families need (notifications on ``notify_uuid``, then the
:meth:`~DeviceProfile.start_commands`; at the end the stop commands, then notifications
off). Families with a request/response handshake (a module-info reply, a control-point
response carrying a conversion factor, a read-back of a setting) override them and use
:meth:`ProfileLink.request` / :meth:`ProfileLink.read`; a reply that does not come within
``timeout_s`` (on the stream's clock) or that reports an error becomes a
:class:`~imu_pipeline.ble.errors.BleError` naming the sensor, never a hang.
"""

from __future__ import annotations

import abc
import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from imu_pipeline.ble.clock import Clock, sleep_or_until
from imu_pipeline.ble.errors import ConnectionFailedError

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


#: Handler of one notification's bytes (a command reply, or samples for :meth:`DeviceProfile.decode`).
NotifyHandler = Callable[[bytes], None]


class ProfileLink(Protocol):
    """What :meth:`DeviceProfile.configure` / :meth:`DeviceProfile.shutdown` may do on a connected device.

    Attributes
    ----------
    label : who the device is, for error messages (e.g. ``"thigh sensor (AA:BB:…)"``)
    advertised_name : the name the device advertised (may be None)
    """

    label: str
    advertised_name: str | None

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None:
        """Write ``data`` to characteristic ``uuid``."""
        ...

    async def write_command(self, data: bytes) -> None:
        """Write ``data`` to the profile's ``write_uuid`` (with the profile's response mode)."""
        ...

    async def read(self, uuid: str) -> bytes:
        """Read characteristic ``uuid``."""
        ...

    async def start_notify(self, uuid: str, handler: NotifyHandler | None = None) -> None:
        """Enable notifications/indications on ``uuid``; ``handler=None`` feeds them to the sample
        path (:meth:`DeviceProfile.decode`, timing, callbacks)."""
        ...

    async def stop_notify(self, uuid: str) -> None:
        """Disable notifications on ``uuid``."""
        ...

    async def request(self, uuid: str, data: bytes, *, reply_uuid: str, match: Callable[[bytes], bool],
                      what: str, timeout_s: float = 5.0, response: bool = True) -> bytes:
        """Write ``data`` to ``uuid`` and return the first notification on ``reply_uuid`` for which
        ``match`` is true (notifications on ``reply_uuid`` must be enabled first). A matching
        notification is consumed: it does not reach the handler of ``reply_uuid``.

        Raises
        ------
        BleError
            ``ConnectionFailedError`` naming the sensor and ``what`` when no reply comes within
            ``timeout_s`` seconds (stream clock).
        """
        ...


class BleakProfileLink:
    """:class:`ProfileLink` over a connected :class:`bleak.BleakClient` (used by the reader).

    Parameters
    ----------
    client
        The connected client (``write_gatt_char``, ``read_gatt_char``, ``start_notify``, ``stop_notify``).
    profile
        The device profile (its ``write_uuid`` and response mode for :meth:`write_command`).
    on_samples
        Receives every notification of a ``handler=None`` subscription (the sample path).
    clock
        The stream's clock; reply timeouts are measured on it.
    label, advertised_name
        For messages, see :class:`ProfileLink`.
    write_command_fn
        Optional replacement for :meth:`write_command` (the reader passes its own write, which
        reports a profile without a write characteristic).
    """

    def __init__(self, client: Any, profile: DeviceProfile, *, on_samples: NotifyHandler, clock: Clock,
                 label: str, advertised_name: str | None = None,
                 write_command_fn: Callable[[bytes], Awaitable[None]] | None = None) -> None:
        self.client = client
        self.profile = profile
        self.on_samples = on_samples
        self.clock = clock
        self.label = label
        self.advertised_name = advertised_name
        self._write_command_fn = write_command_fn
        self._handlers: dict[str, NotifyHandler] = {}
        self._waiters: list[tuple[str, Callable[[bytes], bool], list[bytes], asyncio.Event]] = []

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None:
        await self.client.write_gatt_char(uuid, bytes(data), response=response)

    async def write_command(self, data: bytes) -> None:
        if self._write_command_fn is not None:
            await self._write_command_fn(bytes(data))
            return
        if self.profile.write_uuid is None:
            raise ConnectionFailedError(f"{self.label}: profile has commands but no write characteristic")
        await self.write(self.profile.write_uuid, data, response=self.profile.write_with_response)

    async def read(self, uuid: str) -> bytes:
        return bytes(await self.client.read_gatt_char(uuid))

    async def start_notify(self, uuid: str, handler: NotifyHandler | None = None) -> None:
        key = uuid.lower()
        self._handlers[key] = handler if handler is not None else self.on_samples
        await self.client.start_notify(uuid, lambda _char, data: self._dispatch(key, bytes(data)))

    async def stop_notify(self, uuid: str) -> None:
        self._handlers.pop(uuid.lower(), None)
        await self.client.stop_notify(uuid)

    def _dispatch(self, key: str, data: bytes) -> None:
        for i, (uuid, match, box, event) in enumerate(self._waiters):
            if uuid == key and not event.is_set():
                try:
                    ok = match(data)
                except Exception:  # a predicate failing on odd bytes is a non-match
                    ok = False
                if ok:
                    box.append(data)
                    event.set()
                    del self._waiters[i]
                    return
        handler = self._handlers.get(key)
        if handler is not None:
            handler(data)

    async def request(self, uuid: str, data: bytes, *, reply_uuid: str, match: Callable[[bytes], bool],
                      what: str, timeout_s: float = 5.0, response: bool = True) -> bytes:
        box: list[bytes] = []
        event = asyncio.Event()
        waiter = (reply_uuid.lower(), match, box, event)
        self._waiters.append(waiter)  # before writing: the reply may come at once
        try:
            await self.write(uuid, data, response=response)
            await sleep_or_until(self.clock, timeout_s, event)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        if not box:
            raise ConnectionFailedError(
                f"{self.label}: the {self.profile.model} did not answer {what} within {timeout_s:g} s; "
                "switch the sensor off and on, make sure no other app is connected to it, and try again")
        return box[0]


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

    async def configure(self, link: ProfileLink) -> None:
        """Start the stream on a connected device (after the GATT check).

        The default enables notifications on ``notify_uuid`` (fed to :meth:`decode`) and then
        writes :meth:`start_commands` in order. Families with a handshake override it; they
        should also reset any decoder state kept from a previous connection here.

        Raises
        ------
        BleError
            When the device refuses, does not answer in time, or is the wrong model; the message
            names ``link.label``.
        """
        await link.start_notify(self.notify_uuid)
        for cmd in self.start_commands():
            await link.write_command(cmd)

    async def shutdown(self, link: ProfileLink) -> None:
        """Stop the stream at the end: the default writes :meth:`stop_commands`, then disables
        notifications on ``notify_uuid``."""
        for cmd in self.stop_commands():
            await link.write_command(cmd)
        await link.stop_notify(self.notify_uuid)

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

