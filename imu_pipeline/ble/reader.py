"""One BLE sensor as a stream of timed samples, over bleak, with automatic reconnection.

:class:`SensorStream` finds the sensor (:class:`bleak.BleakScanner`), connects
(:class:`bleak.BleakClient`), checks that the device really has its profile's GATT
service, starts the stream with the profile's start sequence (:meth:`DeviceProfile.configure`:
by default notifications on, then the start commands), decodes every notification,
places the samples on the session clock (:mod:`imu_pipeline.ble.timing`) and hands them
to a callback. When the link drops it reconnects with exponential backoff while the other
sensor keeps recording; after ``give_up_after_s`` without success it raises
:class:`~imu_pipeline.ble.errors.SensorLostError`.

Both bleak backends are injectable (``backend=`` for the client, ``scanner_backend=`` for
the scanner; ``None`` = the platform's), as is the :class:`~imu_pipeline.ble.clock.Clock`.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from imu_pipeline.ble.clock import Clock, MonotonicClock, sleep_or_until
from imu_pipeline.ble.errors import (
    BleError,
    DeviceNotFoundError,
    ProfileMismatchError,
    SensorLostError,
    explain_bleak_error,
)
from imu_pipeline.ble.profile import (
    BATTERY_LEVEL_UUID,
    Advertisement,
    BleakProfileLink,
    DecodeError,
    DeviceProfile,
    advertisement_from_bleak,
)
from imu_pipeline.ble.timing import SampleTimer

#: ``on_samples(sensor, time_s (N,), acc (N,3) m/s², gyr (N,3) rad/s)``
SamplesCallback = Callable[[str, np.ndarray, np.ndarray, np.ndarray], None]
#: ``on_event(time_s, sensor, kind, extra)``
EventCallback = Callable[[float, str, str, dict[str, Any]], None]


@dataclass
class ReconnectPolicy:
    """Exponential backoff for reconnection.

    Attributes
    ----------
    initial_delay_s : first wait after a failed attempt (s)
    factor : each further wait is this many times longer
    max_delay_s : waits never exceed this (s)
    give_up_after_s : the sensor counts as lost this long after the disconnect (s), or after its
        last sample when it stays connected but sends nothing
    scan_timeout_s : how long one attempt scans for the advertisement (s)
    no_data_timeout_s : a connected sensor that sends no sample this long (s) is disconnected and
        reconnected (a stalled stream; some sensors need their start command again)
    """

    initial_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 8.0
    give_up_after_s: float = 60.0
    scan_timeout_s: float = 5.0
    no_data_timeout_s: float = 5.0

    def delays(self) -> Iterator[float]:
        """The successive waits between attempts (s), capped at ``max_delay_s``."""
        d = self.initial_delay_s
        while True:
            yield min(d, self.max_delay_s)
            d *= self.factor


@dataclass
class SensorStatus:
    """Live counters of one sensor (what the status line prints).

    Attributes
    ----------
    samples : samples received and passed on
    packets : notifications received
    lost_samples : samples known to be missing (estimated for devices without counters)
    loss_is_estimate : True when the device sends neither counter nor timestamps
    decode_errors : notifications that did not decode or time (bad packets: counted, dropped)
    disconnects : unsolicited disconnections
    battery_percent : last battery reading (0-100) or None
    connected : link currently up
    last_error : last connection problem, for the status line
    last_data_s : session time (s) of the last notification that carried samples (None before the
        first); the no-data watchdog measures from it or from the last (re)connection, whichever is later
    stalls : times the stream stalled while connected (no data for the policy's ``no_data_timeout_s``)
    """

    samples: int = 0
    packets: int = 0
    lost_samples: int = 0
    loss_is_estimate: bool = False
    decode_errors: int = 0
    disconnects: int = 0
    battery_percent: float | None = None
    connected: bool = False
    last_error: str | None = None
    last_data_s: float | None = None
    stalls: int = 0
    _recent: collections.deque[tuple[float, int]] = field(default_factory=collections.deque, repr=False)

    @property
    def loss_fraction(self) -> float:
        """Lost / (received + lost)."""
        total = self.samples + self.lost_samples
        return self.lost_samples / total if total else 0.0

    def note_samples(self, t: float, n: int, window_s: float = 2.0) -> None:
        self._recent.append((t, n))
        while self._recent and self._recent[0][0] < t - window_s:
            self._recent.popleft()

    def rate_hz(self, now: float, window_s: float = 2.0) -> float:
        """Samples per second received over the last ``window_s`` seconds."""
        while self._recent and self._recent[0][0] < now - window_s:
            self._recent.popleft()
        return sum(n for _, n in self._recent) / window_s


def device_filter(address: str | None, name: str | None,
                  profile: DeviceProfile | None) -> Callable[[Advertisement], bool]:
    """Advertisement predicate: the address if given, else a name substring, else the profile."""
    if address:
        want = address.lower()
        return lambda adv: adv.address.lower() == want
    if name:
        return lambda adv: bool(adv.name) and name.lower() in str(adv.name).lower()
    if profile is not None:
        return profile.recognises
    raise ValueError("need an address, a name or a profile to find a sensor")


async def find_device(match: Callable[[Advertisement], bool], timeout_s: float, *,
                      scanner_backend: type[BaseBleakScanner] | None = None,
                      clock: Clock | None = None) -> tuple[BLEDevice, Advertisement] | None:
    """Scan until an advertisement matches, or ``timeout_s`` passes (then None).

    Raises
    ------
    BleError
        Bluetooth off, no adapter, permission denied (mapped from bleak's exceptions).
    """
    clock = clock or MonotonicClock()
    found: list[tuple[BLEDevice, Advertisement]] = []
    event = asyncio.Event()

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        if not found:
            a = advertisement_from_bleak(device, adv)
            if match(a):
                found.append((device, a))
                event.set()

    try:
        async with BleakScanner(detection_callback=on_adv, backend=scanner_backend):
            await sleep_or_until(clock, timeout_s, event)
    except Exception as e:  # bleak raises backend-specific exceptions here
        raise explain_bleak_error(e, "scanning for sensors") from None
    return found[0] if found else None


class SensorStream:
    """One sensor: find, connect, stream, reconnect.

    Parameters
    ----------
    role
        ``"thigh"`` or ``"pelvis"`` (the recording's sensor name).
    profile
        The configured device profile.
    on_samples, on_event
        Callbacks for timed samples and for connection events (session time in s).
    address, name
        How to find the sensor: Bluetooth address (macOS: UUID), or a substring of its
        advertised name; with neither, the first device the profile recognises.
    session_start
        Clock reading (s) that is time 0 of the session.
    clock
        Host clock (default :class:`~imu_pipeline.ble.clock.MonotonicClock`).
    backend, scanner_backend
        bleak backend classes passed to ``BleakClient(backend=...)`` and
        ``BleakScanner(backend=...)``; None selects the platform's.
    policy
        Reconnection backoff (:class:`ReconnectPolicy`).
    scan_timeout_s
        How long the first connection scans for the sensor (s).
    connect_timeout_s
        bleak's connection timeout (s).

    Attributes
    ----------
    status : SensorStatus
        Live counters.
    advertisement : Advertisement or None
        The advertisement the sensor was found by.
    """

    def __init__(self, role: str, profile: DeviceProfile, *, on_samples: SamplesCallback,
                 on_event: EventCallback, address: str | None = None, name: str | None = None,
                 session_start: float = 0.0, clock: Clock | None = None,
                 backend: type[BaseBleakClient] | None = None,
                 scanner_backend: type[BaseBleakScanner] | None = None,
                 policy: ReconnectPolicy | None = None, scan_timeout_s: float = 10.0,
                 connect_timeout_s: float = 20.0) -> None:
        self.role = role
        self.profile = profile
        self.on_samples = on_samples
        self.on_event = on_event
        self.address = address
        self.name = name
        self.session_start = session_start
        self.clock = clock or MonotonicClock()
        self.backend = backend
        self.scanner_backend = scanner_backend
        self.policy = policy or ReconnectPolicy()
        self.scan_timeout_s = scan_timeout_s
        self.connect_timeout_s = connect_timeout_s
        assert profile.sample_rate_hz is not None
        self.timer = SampleTimer(profile.sample_rate_hz, profile.timing, counter_modulus=profile.counter_modulus,
                                 counter_unit=profile.counter_unit, timestamp_wrap_s=profile.timestamp_wrap_s)
        self.status = SensorStatus(loss_is_estimate=self.timer.loss_is_estimate)
        self.advertisement: Advertisement | None = None
        self._client: BleakClient | None = None
        self._disconnected = asyncio.Event()
        self._closing = False
        self._battery_char = False
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._connected_at = 0.0  # session time (s) of the last (re)connection

    # ------------------------------------------------------------------ helpers
    def session_time(self) -> float:
        """Seconds since the session start."""
        return self.clock.now() - self.session_start

    @property
    def label(self) -> str:
        who = self.address or (f"name '{self.name}'" if self.name else self.profile.model)
        return f"{self.role} sensor ({who})"

    # ------------------------------------------------------------------ connecting
    async def open(self) -> None:
        """Find and connect the sensor and start streaming.

        Raises
        ------
        BleError
            With a message naming the sensor, the cause and the fix.
        """
        await self._connect_once(self.scan_timeout_s)
        self.on_event(self.session_time(), self.role, "connected",
                      {"address": self.advertisement.address if self.advertisement else self.address,
                       "name": self.advertisement.name if self.advertisement else None})

    async def _connect_once(self, scan_timeout_s: float) -> None:
        match = device_filter(self.address, self.name, self.profile)
        found = await find_device(match, scan_timeout_s, scanner_backend=self.scanner_backend, clock=self.clock)
        if found is None:
            raise DeviceNotFoundError(
                f"{self.label}: not found within {scan_timeout_s:g} s; switch it on (or wake it by moving it), "
                "keep it within a few metres, make sure no phone app is connected to it, and check the "
                "address with `imu-pipeline scan`")
        device, adv = found
        self.advertisement = adv
        self._disconnected.clear()
        client = BleakClient(device, disconnected_callback=self._on_disconnect, timeout=self.connect_timeout_s,
                             backend=self.backend)
        try:
            await client.connect()
        except Exception as e:
            raise explain_bleak_error(e, f"connecting to the {self.label}") from None
        self._client = client
        try:
            self._check_gatt(client)
            # the profile's start sequence (default: notify on notify_uuid, then its start commands)
            await self.profile.configure(self._link_for(client))
            if self._battery_char:
                await self._read_battery(client)
        except Exception as e:
            try:
                await client.disconnect()
            except Exception:  # already failing; report the first problem
                pass
            self._client = None
            raise explain_bleak_error(e, f"starting the stream of the {self.label}") from None
        self.status.connected = True
        self.status.last_error = None
        self._connected_at = self.session_time()

    def _link_for(self, client: BleakClient) -> BleakProfileLink:
        """The :class:`~imu_pipeline.ble.profile.ProfileLink` the profile's start/stop sequence uses:
        sample notifications go to :meth:`_on_notify`, reply timeouts run on the stream's clock."""
        return BleakProfileLink(client, self.profile, on_samples=lambda data: self._on_notify(None, bytearray(data)),
                                clock=self.clock, label=self.label,
                                advertised_name=self.advertisement.name if self.advertisement else None,
                                write_command_fn=lambda data: self._write(client, data))

    def _check_gatt(self, client: BleakClient) -> None:
        services = client.services
        svc = services.get_service(self.profile.service_uuid)
        needed = [self.profile.notify_uuid] + ([self.profile.write_uuid] if self.profile.write_uuid else [])
        missing = [u for u in needed if svc is None or svc.get_characteristic(u) is None]
        if svc is None or missing:
            what = f"service {self.profile.service_uuid}" if svc is None else f"characteristic(s) {', '.join(missing)}"
            adv_name = self.advertisement.name if self.advertisement else None
            raise ProfileMismatchError(
                f"{self.label}: the device found ({adv_name or 'unnamed'}) has no {what}, so it is not a "
                f"{self.profile.model}; check the address and the sensor's 'profile' in the config "
                "(`imu-pipeline scan` shows which profile each device looks like)")
        self._battery_char = services.get_characteristic(BATTERY_LEVEL_UUID) is not None

    async def _write(self, client: BleakClient, data: bytes) -> None:
        if self.profile.write_uuid is None:
            raise ProfileMismatchError(f"{self.label}: profile has commands but no write characteristic")
        await client.write_gatt_char(self.profile.write_uuid, data, response=self.profile.write_with_response)

    async def _read_battery(self, client: BleakClient) -> None:
        value = await client.read_gatt_char(BATTERY_LEVEL_UUID)
        if len(value) >= 1 and value[0] <= 100:
            self.status.battery_percent = float(value[0])

    async def poll_battery(self) -> None:
        """Ask for a battery reading (Battery Service, or the profile's own request); errors are ignored."""
        client = self._client
        if client is None or not self.status.connected:
            return
        try:
            if self._battery_char:
                await self._read_battery(client)
            else:
                req = self.profile.battery_request()
                if req is not None:
                    await self._write(client, req)
        except Exception as e:  # a failed battery read must not end the session
            self.status.last_error = f"battery: {e}"

    # ------------------------------------------------------------------ data path
    def _on_disconnect(self, client: BleakClient) -> None:
        if client is self._client and not self._closing:
            self.status.connected = False
            self._disconnected.set()

    def _on_notify(self, _char: object, data: bytearray) -> None:
        h = self.session_time()
        self.status.packets += 1
        try:
            batch = self.profile.decode(bytes(data))
            n = len(batch)
            if n and not (batch.acc.shape == (n, 3) and batch.gyr.shape == (n, 3)):
                raise DecodeError(f"{self.profile.model}: decoder gave acc {batch.acc.shape}, gyr {batch.gyr.shape}")
            if batch.battery_percent is not None:
                self.status.battery_percent = batch.battery_percent
            if n == 0:
                return
            ing = self.timer.ingest(n, h, batch.device_time_s, batch.counter)
        except Exception as e:  # noqa: BLE001 - a bad packet (or a decoder bug) must never end the session
            self.status.decode_errors += 1
            if not isinstance(e, DecodeError):
                self.status.last_error = f"bad packet: {type(e).__name__}: {e}"
            return
        self.status.last_data_s = h
        self.status.samples += n
        self.status.lost_samples += ing.lost_samples
        self.status.note_samples(h, n)
        self._pending.append((ing.device_t, batch.acc, batch.gyr))
        if self.timer.settled:
            self.release()

    @property
    def holding(self) -> bool:
        """Samples received but held back until the timer has settled (see :meth:`release`)."""
        return bool(self._pending)

    def release(self) -> None:
        """Time the held samples with the current clock mapping and pass them on.

        After each (re)connection samples are held until the timer has settled (about
        0.5–2 s), so the first ones get the same accuracy as the rest; :meth:`close` and a
        disconnection release whatever is held. The held samples go on as one batch: delivered
        packet by packet, the first ones looked to the live analysis like a sensor seconds behind
        (missing there) while the rest were still on their way.
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        t = np.concatenate([self.timer.to_session(p[0]) for p in pending])  # packet by packet: forward in time
        acc = np.concatenate([p[1] for p in pending])
        gyr = np.concatenate([p[2] for p in pending])
        self.on_samples(self.role, t, acc, gyr)

    # ------------------------------------------------------------------ supervision
    async def supervise(self, stopping: asyncio.Event) -> None:
        """Run until ``stopping`` is set; reconnect after every unsolicited disconnection, and after
        a stall (connected, but no data for the policy's ``no_data_timeout_s``).

        Raises
        ------
        SensorLostError
            When the sensor does not come back within ``policy.give_up_after_s``, or sends no data
            for that long although it connects.
        """
        while not stopping.is_set():
            stalled_s = await self._wait_for_trouble(stopping)
            if stopping.is_set():
                return
            t_drop = self.session_time()
            if stalled_s is not None:
                self.status.stalls += 1
                self.status.last_error = f"connected but no data for {stalled_s:.0f} s"
                self.on_event(t_drop, self.role, "no_data", {"silent_s": round(stalled_s, 3)})
                if stalled_s >= self.policy.give_up_after_s:
                    self.on_event(t_drop, self.role, "gave_up", {"reason": "no data"})
                    raise SensorLostError(
                        f"{self.label} stayed connected but sent no data for {stalled_s:.0f} s (reconnecting did "
                        "not help); check that no other app uses it, restart it, and check its profile")
                await self._hang_up()
            else:
                self.status.disconnects += 1
                self.on_event(t_drop, self.role, "disconnected", {})
            self.release()
            self.timer.restart()
            self._client = None
            await self._reconnect(stopping, t_drop)

    async def _wait_for_trouble(self, stopping: asyncio.Event) -> float | None:
        """Wait for a disconnection or ``stopping`` (None), or for a stall: connected with no data for
        ``no_data_timeout_s`` (returns the seconds since the last data)."""
        while not (stopping.is_set() or self._disconnected.is_set()):
            now = self.session_time()
            since = max(self._connected_at, self.status.last_data_s if self.status.last_data_s is not None else -1.0)
            silent = now - since
            if silent >= self.policy.no_data_timeout_s:
                return now - (self.status.last_data_s if self.status.last_data_s is not None else 0.0)
            disc = asyncio.ensure_future(self._disconnected.wait())
            stop = asyncio.ensure_future(stopping.wait())
            nap = asyncio.ensure_future(self.clock.sleep(self.policy.no_data_timeout_s - silent + 1e-3))
            try:
                await asyncio.wait({disc, stop, nap}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (disc, stop, nap):
                    if not t.done():
                        t.cancel()
                await asyncio.gather(disc, stop, nap, return_exceptions=True)
        return None

    async def _hang_up(self) -> None:
        """End a stalled connection ourselves (errors ignored: the link may be half dead)."""
        client, self._client = self._client, None
        self.status.connected = False
        if client is None:
            return
        try:
            await client.disconnect()
        except Exception as e:  # noqa: BLE001
            self.status.last_error = f"disconnecting a stalled sensor: {e}"

    async def _reconnect(self, stopping: asyncio.Event, t_drop: float) -> None:
        attempts = 0
        for delay in self.policy.delays():
            if stopping.is_set():
                return
            elapsed = self.session_time() - t_drop
            if elapsed >= self.policy.give_up_after_s:
                self.on_event(self.session_time(), self.role, "gave_up", {"attempts": attempts})
                raise SensorLostError(
                    f"{self.label} disconnected at {t_drop:.1f} s and did not come back within "
                    f"{self.policy.give_up_after_s:g} s ({attempts} attempts; last problem: "
                    f"{self.status.last_error or 'not found'})")
            attempts += 1
            try:
                await self._connect_once(min(self.policy.scan_timeout_s,
                                             max(0.1, self.policy.give_up_after_s - elapsed)))
            except BleError as e:
                self.status.last_error = str(e)
            else:
                self.on_event(self.session_time(), self.role, "reconnected",
                              {"attempts": attempts, "gap_s": round(self.session_time() - t_drop, 3)})
                return
            remaining = self.policy.give_up_after_s - (self.session_time() - t_drop)
            if await sleep_or_until(self.clock, max(0.0, min(delay, remaining)), stopping):
                return

    async def close(self) -> None:
        """Stop the stream (stop commands, notifications off) and disconnect; never raises."""
        self._closing = True
        self.release()
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                # the profile's stop sequence (default: its stop commands, then notifications off)
                await self.profile.shutdown(self._link_for(client))
        except Exception as e:  # the link may be gone already; disconnecting is what matters
            self.status.last_error = f"stopping: {e}"
        try:
            await client.disconnect()
        except Exception as e:
            self.status.last_error = f"disconnecting: {e}"
        self.status.connected = False
        self.release()
