"""Demo sensors: a simulated session streamed in real time through the real BLE stack.

``imu-pipeline record OUT.csv --demo`` needs no sensors. Two simulated WitMotion WT901BLECL
IMUs (thigh and pelvis) play a session from :mod:`imu_pipeline.simulate` (a person doing leg
raises, with its strap misalignment, noise and int16 quantisation) in real time. They are
reached through the real :class:`bleak.BleakClient` and :class:`bleak.BleakScanner`, whose
``backend=`` parameter takes the injected :class:`DemoClientBackend` and
:class:`DemoScannerBackend` classes. Every sample travels as the bytes a real WT901BLECL sends
(``55 61`` frames, see :mod:`imu_pipeline.ble.devices.witmotion`), one frame per notification,
delivered in bursts at BLE connection events; so advertisement recognition, the GATT check,
the start commands, decoding, timing, loss counting, reconnection, the recording writer and the
live analysis are the production code.

Faults on demand: ``disconnects`` link drops of either sensor (some overlapping, some in the
middle of a rep), during which the sensor neither streams nor advertises (what it did not send
is lost, as with a real sensor out of range), and ``silent`` sensors that accept a connection
but never send data.

All times are seconds on the injected :class:`~imu_pipeline.ble.clock.Clock` (monotonic in
production; a faster clock in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError

from imu_pipeline.ble.clock import Clock, MonotonicClock
from imu_pipeline.ble.devices.witmotion import ACC_LSB_M_S2, GYR_LSB_RAD_S, WitMotionBle5
from imu_pipeline.ble.profile import BATTERY_LEVEL_UUID, BATTERY_SERVICE_UUID
from imu_pipeline.ble.timing import SampleTimer
from imu_pipeline.config import ROLES, SensorSpec

#: Demo sensor addresses and advertised names (``WT…`` is how WitMotion devices advertise).
DEMO_ADDRESSES = {"thigh": "D3:40:00:00:00:01", "pelvis": "D3:40:00:00:00:02"}
DEMO_NAMES = {"thigh": "WT901BLE68 demo thigh", "pelvis": "WT901BLE68 demo pelvis"}
#: Output rate of the demo sensors (Hz), one of the WT901BLECL's rates.
DEMO_RATE_HZ = 100.0
#: Session length (s) when ``record --demo`` is given no ``--duration``.
DEMO_DEFAULT_DURATION_S = 90.0
#: Longest demo session (s): the simulator plays at most 500 reps (about 4 s each, rest included).
DEMO_MAX_DURATION_S = 1800.0
#: First guess of the seconds of session per simulated rep (rest included), to size the session.
SECONDS_PER_REP = 4.0
#: The simulated session runs this much longer than the demo session (s), so the sensors still
#: have samples to send when the recorder stops.
SIM_MARGIN_S = 2.0
#: BLE connection interval of the demo link (s): notifications arrive in bursts this far apart.
CONNECTION_INTERVAL_S = 0.015
#: How long a connection takes to set up (s).
CONNECT_LATENCY_S = 0.25
#: Advertising interval (s).
ADVERTISING_INTERVAL_S = 0.1
#: Link drops are drawn with down times in this range (s).
DOWN_S_RANGE = (0.5, 3.0)
#: No link drop starts in the session's first or ends in its last this many seconds.
DROP_EDGE_S = 3.0
#: How long the recorder takes to reconnect a sensor once it is back (s): it is found at its next
#: advertisement (:data:`ADVERTISING_INTERVAL_S`; the reconnect's first scan is already running,
#: and lasts longer than the longest drop, so no backoff wait comes in between) and connects in
#: :data:`CONNECT_LATENCY_S`; with room to spare on a loaded machine.
RECONNECT_S = 1.0
#: The reader holds a WT901BLECL's samples this long after each (re)connection while its timing
#: settles (s; the same :class:`~imu_pipeline.ble.timing.SampleTimer` the reader uses).
READER_SETTLE_S = SampleTimer(DEMO_RATE_HZ, WitMotionBle5.timing).settle_s
#: Settled streaming a sensor gets after that before its next link drop (s).
STREAM_BETWEEN_DROPS_S = 1.0
#: Between the end of one link drop of a sensor and the start of its next (s): reconnected, timing
#: settled and streaming again, so every planned drop is a real disconnect and reconnect.
DROP_SEPARATION_S = RECONNECT_S + READER_SETTLE_S + STREAM_BETWEEN_DROPS_S
#: Tries at a plan in which some drops of the two sensors overlap (from 4 drops on).
_OVERLAP_TRIES = 200

_FRAME = struct.Struct("<2B9h")


def witmotion_frame(acc_m_s2: np.ndarray, gyr_rad_s: np.ndarray) -> bytes:
    """One 20-byte WT901BLECL data frame (``55 61`` + int16 acc, gyro, angle; WitMotion's scales:
    acc raw·16 g/32768, gyro raw·2000 °/s/32768). The angle fields are sent as zero (the profile
    does not use them)."""
    a = np.clip(np.rint(np.asarray(acc_m_s2) / ACC_LSB_M_S2), -32768, 32767).astype(int)
    g = np.clip(np.rint(np.asarray(gyr_rad_s) / GYR_LSB_RAD_S), -32768, 32767).astype(int)
    return _FRAME.pack(0x55, 0x61, *a.tolist(), *g.tolist(), 0, 0, 0)


@dataclass(frozen=True)
class LinkDrop:
    """One sensor unreachable from ``at_s`` for ``down_s`` (seconds of demo time)."""

    role: str
    at_s: float
    down_s: float


def max_link_drops(duration_s: float) -> int:
    """The most link drops :func:`plan_link_drops` can fit in a session of ``duration_s`` seconds:
    per sensor, drops of the shortest down time (:data:`DOWN_S_RANGE`) :data:`DROP_SEPARATION_S`
    apart, none in the first or last :data:`DROP_EDGE_S`; the two sensors' drops may overlap."""
    span = float(duration_s) - 2 * DROP_EDGE_S
    if span < DOWN_S_RANGE[0]:
        return 0
    return 2 * int(math.floor((span + DROP_SEPARATION_S) / (DOWN_S_RANGE[0] + DROP_SEPARATION_S) + 1e-9))


def _one_sensor_drops(role: str, k: int, span: tuple[float, float], rng: np.random.Generator) -> list[LinkDrop]:
    """``k`` drops of one sensor in ``span`` (s), at random but each :data:`DROP_SEPARATION_S` after
    the end of the one before: down times drawn from :data:`DOWN_S_RANGE` (shortened together when
    they would not fit), the free time spread at random before, between and after them."""
    if k == 0:
        return []
    lo, hi = span
    down = rng.uniform(*DOWN_S_RANGE, size=k)
    room = hi - lo - (k - 1) * DROP_SEPARATION_S  # for the down times and the free time
    extra = float(np.sum(down - DOWN_S_RANGE[0]))
    if k * DOWN_S_RANGE[0] + extra > room:  # shorten the down times toward the minimum until they fit
        down = DOWN_S_RANGE[0] + (down - DOWN_S_RANGE[0]) * max(0.0, room - k * DOWN_S_RANGE[0]) / extra
    free = max(0.0, room - float(np.sum(down)))
    share = np.diff(np.concatenate([[0.0], np.sort(rng.uniform(0.0, 1.0, k)), [1.0]]))  # k + 1 random shares
    drops, t = [], lo
    for i in range(k):
        t += free * float(share[i])
        drops.append(LinkDrop(role, t, float(down[i])))
        t += float(down[i]) + DROP_SEPARATION_S
    return drops


def _overlapping(drops: list[LinkDrop]) -> bool:
    """Some drop of one sensor starts while the other sensor is down."""
    return any(a.role != b.role and a.at_s <= b.at_s < a.at_s + a.down_s for a in drops for b in drops)


def plan_link_drops(n: int, duration_s: float, seed: int) -> list[LinkDrop]:
    """Exactly ``n`` separate link drops spread over a session of ``duration_s`` seconds.

    The drops are split between the sensors (the thigh gets the odd one); their times are random
    (so some fall in the middle of a rep), none in the first or last :data:`DROP_EDGE_S`. Drops of
    one sensor are at least :data:`DROP_SEPARATION_S` apart (end to next start): each one is a real
    disconnect, reconnect and settled stream again. Drops of the two sensors may overlap; from 4
    drops on, the plan has at least one such overlap (both sensors down at once) when the
    session leaves room for one.

    Raises
    ------
    ValueError
        When ``n`` drops do not fit (more than :func:`max_link_drops`).
    """
    if n <= 0:
        return []
    most = max_link_drops(duration_s)
    if n > most:
        raise ValueError(f"{n} link drops do not fit in {duration_s:g} s (at most {most})")
    rng = np.random.default_rng(seed + 7919)
    span = (DROP_EDGE_S, float(duration_s) - DROP_EDGE_S)
    counts = {"thigh": (n + 1) // 2, "pelvis": n // 2}
    drops: list[LinkDrop] = []
    for _ in range(_OVERLAP_TRIES):
        drops = [d for role in ROLES for d in _one_sensor_drops(role, counts[role], span, rng)]
        if n < 4 or _overlapping(drops):
            break
    return sorted(drops, key=lambda d: d.at_s)


@dataclass
class DemoSensor:
    """One simulated WT901BLECL: advertises, takes one connection, streams its samples in real time.

    Sample ``k`` of ``acc``/``gyr`` (sensor frame, m/s² and rad/s) is due at ``k / rate_hz`` s
    of demo time; while connected with notifications on, every due sample is sent as one frame;
    samples due while it is not streaming are never sent.

    Attributes
    ----------
    sent : (M,) int
        Indices of the samples sent (in order), for checking that nothing sent was lost.
    writes : commands written to it
    link_drops_hit : link drops that cut an open connection
    """

    role: str
    address: str
    name: str
    acc: np.ndarray
    gyr: np.ndarray
    rate_hz: float = DEMO_RATE_HZ
    battery_percent: float = 96.0
    silent: bool = False
    available: bool = True
    client: DemoClientBackend | None = None
    streaming: bool = False
    writes: list[bytes] = field(default_factory=list)
    link_drops_hit: int = 0
    _next_k: int = 0
    _sent: list[np.ndarray] = field(default_factory=list)

    @property
    def sent(self) -> np.ndarray:
        return np.concatenate(self._sent) if self._sent else np.zeros(0, dtype=int)

    def services(self) -> BleakGATTServiceCollection:
        """WitMotion's GATT layout plus the standard Battery Service."""
        coll = BleakGATTServiceCollection()
        handles = itertools.count(1)
        layout = [(WitMotionBle5.service_uuid, [(WitMotionBle5.notify_uuid, ["notify"]),
                                                (WitMotionBle5.write_uuid, ["write-without-response"])]),
                  (BATTERY_SERVICE_UUID, [(BATTERY_LEVEL_UUID, ["read"])])]
        for svc_uuid, chars in layout:
            svc = BleakGATTService(None, next(handles), svc_uuid)
            coll.add_service(svc)
            for uuid, props in chars:
                coll.add_characteristic(BleakGATTCharacteristic(None, next(handles), str(uuid), props,
                                                                lambda: 244, svc))
        return coll

    def start_stream(self, t: float) -> None:
        self.streaming = not self.silent
        self._next_k = max(self._next_k, int(math.floor(t * self.rate_hz)) + 1)

    def stop_stream(self) -> None:
        self.streaming = False

    def due(self, t: float) -> range:
        """Indices of the samples due by demo time ``t`` and not yet sent (and marks them sent)."""
        k_end = min(len(self.acc), int(math.floor(t * self.rate_hz)) + 1)
        ks = range(self._next_k, k_end)
        self._next_k = max(self._next_k, k_end)
        return ks


class DemoWorld:
    """The demo's two sensors, their radio and their schedule of faults.

    Parameters
    ----------
    duration_s
        Session length (s, at most :data:`DEMO_MAX_DURATION_S`); the simulated person does about one
        rep per :data:`SECONDS_PER_REP` with still periods at both ends, for :data:`SIM_MARGIN_S`
        longer.
    pose
        ``"lying"`` or ``"hanging"``.
    seed
        Seed of the simulated session and of the fault schedule. The person and their straps
        (placements, declared mountings, misalignment) depend on it alone, not on ``duration_s``.
    disconnects
        Number of link drops (:func:`plan_link_drops`; at most :func:`max_link_drops`).
    silent
        Roles of sensors that connect but never send data.
    clock
        The host clock (default monotonic): the one the recorder reads.

    Attributes
    ----------
    sensors : role -> :class:`DemoSensor`
    mounting : role -> the simulated strap's declared mounting
    drops : the planned :class:`LinkDrop` list
    truth_reps : the simulated reps (``start_s``, ``end_s`` in demo time, kind, …)
    """

    def __init__(self, duration_s: float, *, pose: str = "lying", seed: int = 1, disconnects: int = 0,
                 silent: tuple[str, ...] = (), clock: Clock | None = None) -> None:
        from imu_pipeline.simulate import SimulationOptions, simulate_session

        if not 0 < duration_s <= DEMO_MAX_DURATION_S:
            raise ValueError(f"duration_s must be in (0, {DEMO_MAX_DURATION_S:g}] s, got {duration_s}")
        self.clock = clock or MonotonicClock()
        self.duration_s = float(duration_s)
        self.pose = pose
        self.seed = seed
        mix = ("hip-flexor", "abdominal", "fast", "drop", "bounce") + (("swing",) if pose == "hanging" else ())
        sim_s = self.duration_s + SIM_MARGIN_S
        n_reps = int(np.clip(round(sim_s / SECONDS_PER_REP), 1, 500))
        while True:  # enough reps to fill the duration (the session is cut there)
            sim = simulate_session(SimulationOptions(
                seed=seed, person_seed=seed, pose=pose, n_reps=n_reps, mix=mix, thigh_rate_hz=DEMO_RATE_HZ,
                pelvis_rate_hz=DEMO_RATE_HZ, packet_loss=0.0, jitter_s=0.0, clock_drift_ppm=0.0))
            if sim.duration_s >= sim_s or n_reps >= 500:
                break
            n_reps = min(500, int(math.ceil(n_reps * sim_s / max(sim.duration_s, 1.0))) + 1)
        self.sensors: dict[str, DemoSensor] = {}
        self.mounting: dict[str, dict[str, str] | None] = {}
        for role in ROLES:
            rec = sim.recording.sensors[role]
            self.sensors[role] = DemoSensor(role, DEMO_ADDRESSES[role], DEMO_NAMES[role], rec.acc, rec.gyr,
                                            silent=role in silent)
            self.mounting[role] = (sim.recording.meta.get("sensors", {}).get(role) or {}).get("mounting")
        self.truth_reps = sim.truth_reps
        self.drops = plan_link_drops(disconnects, self.duration_s, seed)
        self.t0: float | None = None

    # ------------------------------------------------------------------ what the recorder needs
    def loss_reason(self, role: str, give_up_s: float) -> str:
        """Why the recorder gave up the simulated ``role`` sensor, in the demo's terms (instead of the
        reader's advice to switch a real sensor on); seconds to 0.1 s."""
        sensor = self.sensors[role]
        if sensor.silent:
            return (f"the simulated {role} sensor connects but never sends data (a demo fault), and "
                    f"--give-up is {give_up_s:.1f} s")
        t = self.now()
        drop = next((d for d in reversed(self.drops) if d.role == role and d.at_s <= t), None)
        if drop is None:
            return f"the simulated {role} sensor did not reconnect within --give-up {give_up_s:.1f} s"
        if drop.down_s >= give_up_s:
            return (f"the demo's planned link drop kept the simulated {role} sensor off for {drop.down_s:.1f} s "
                    f"from {drop.at_s:.1f} s, longer than --give-up {give_up_s:.1f} s")
        return (f"the simulated {role} sensor did not reconnect within --give-up {give_up_s:.1f} s after the "
                f"demo's planned link drop at {drop.at_s:.1f} s ({drop.down_s:.1f} s off)")

    def sensor_specs(self) -> list[SensorSpec]:
        """The two sensors as a sensor config would give them (address, profile, rate, mounting)."""
        return [SensorSpec(role=r, address=DEMO_ADDRESSES[r], profile=WitMotionBle5.name,
                           sample_rate_hz=DEMO_RATE_HZ, mounting=self.mounting[r]) for r in ROLES]

    def describe(self) -> dict[str, Any]:
        """What the sidecar records about the demo (so a demo file is never taken for a real session)."""
        return {"simulated": True, "seed": self.seed, "pose": self.pose, "rate_hz": DEMO_RATE_HZ,
                "link_drops": [{"sensor": d.role, "at_s": round(d.at_s, 3), "down_s": round(d.down_s, 3)}
                               for d in self.drops],
                "note": "two simulated WitMotion sensors (imu_pipeline.simulate) streamed through bleak"}

    def client_backend(self) -> type[BaseBleakClient]:
        """A :class:`DemoClientBackend` subclass bound to this world, for ``BleakClient(backend=...)``."""
        return type("DemoClient", (DemoClientBackend,), {"world": self})

    def scanner_backend(self) -> type[BaseBleakScanner]:
        """A :class:`DemoScannerBackend` subclass bound to this world."""
        return type("DemoScanner", (DemoScannerBackend,), {"world": self})

    # ------------------------------------------------------------------ the radio
    def now(self) -> float:
        """Demo time (s since :meth:`running` started)."""
        return self.clock.now() - (self.t0 if self.t0 is not None else self.clock.now())

    def device(self, address: str) -> DemoSensor | None:
        return next((s for s in self.sensors.values() if s.address.lower() == address.lower()), None)

    def tick(self) -> None:
        """One connection event: apply the link drops due, send every due sample of every streaming sensor."""
        t = self.now()
        for d in self.drops:
            s = self.sensors[d.role]
            down = d.at_s <= t < d.at_s + d.down_s
            if down and s.available:
                s.available = False
                s.stop_stream()
                client, s.client = s.client, None
                if client is not None:
                    s.link_drops_hit += 1
                    client.link_lost()
            elif not down and not s.available and not any(
                    e.role == d.role and e.at_s <= t < e.at_s + e.down_s for e in self.drops):
                s.available = True
        for s in self.sensors.values():
            if s.client is None:
                continue
            if not s.streaming:
                s.due(t)  # samples due while not streaming are never sent
                continue
            ks = s.due(t)
            if len(ks):
                s._sent.append(np.arange(ks.start, ks.stop))
            for k in ks:
                if not s.client.deliver(WitMotionBle5.notify_uuid, witmotion_frame(s.acc[k], s.gyr[k])):
                    break

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[DemoWorld]:
        """Run the radio (connection events every :data:`CONNECTION_INTERVAL_S`) while the block runs."""
        self.t0 = self.clock.now()

        async def loop() -> None:
            while True:
                self.tick()
                await self.clock.sleep(CONNECTION_INTERVAL_S)

        task = asyncio.ensure_future(loop())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class DemoClientBackend(BaseBleakClient):
    """bleak client backend that connects to a :class:`DemoWorld`'s sensors."""

    world: DemoWorld

    def __init__(self, address_or_ble_device: Any, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=kwargs.pop("disconnected_callback", None),
                         timeout=kwargs.pop("timeout", 10.0), **kwargs)
        self._connected = False
        self._device: DemoSensor | None = None
        self._notify: dict[str, Callable[[bytearray], None]] = {}

    @property
    def mtu_size(self) -> int:
        return 247

    @property
    def name(self) -> str:
        return self._device.name if self._device else self.address

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        dev = self.world.device(self.address)
        if dev is None or not dev.available or dev.client is not None:
            raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address} was not found.")
        await self.world.clock.sleep(CONNECT_LATENCY_S)
        if not dev.available or dev.client is not None:
            raise BleakError(f"{self.address}: connection failed (device went away)")
        self.services = dev.services()
        self._connected = True
        self._device = dev
        dev.client = self

    async def disconnect(self) -> None:
        if self._connected and self._device is not None:
            self._connected = False
            self._notify.clear()
            if self._device.client is self:
                self._device.client = None
            self._device.stop_stream()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    def _dev(self) -> DemoSensor:
        if not self._connected or self._device is None:
            raise BleakError("Not connected")
        return self._device

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs: Any) -> bytearray:
        dev = self._dev()
        if characteristic.uuid == BATTERY_LEVEL_UUID:
            return bytearray([int(max(0.0, dev.battery_percent - self.world.now() / 120.0))])
        raise BleakError(f"read not permitted on {characteristic.uuid}")

    async def read_gatt_descriptor(self, descriptor: Any, **kwargs: Any) -> bytearray:
        raise BleakError("the demo sensor has no descriptors")

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any, response: bool) -> None:
        self._dev().writes.append(bytes(data))

    async def write_gatt_descriptor(self, descriptor: Any, data: Any) -> None:
        raise BleakError("the demo sensor has no descriptors")

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: Any, **kwargs: Any) -> None:
        dev = self._dev()
        self._notify[characteristic.uuid] = callback
        if characteristic.uuid == WitMotionBle5.notify_uuid:
            dev.start_stream(self.world.now())  # a WT901BLECL streams as soon as notifications are on

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        dev = self._dev()
        self._notify.pop(characteristic.uuid, None)
        dev.stop_stream()

    def deliver(self, uuid: str, payload: bytes) -> bool:
        """A notification from the device (False when nobody listens)."""
        cb = self._notify.get(uuid)
        if not self._connected or cb is None:
            return False
        cb(bytearray(payload))
        return True

    def link_lost(self) -> None:
        """The radio link dropped: bleak's disconnected callback fires, as on a real adapter."""
        self._connected = False
        self._notify.clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback()


class DemoScannerBackend(BaseBleakScanner):
    """bleak scanner backend: every available, unconnected demo sensor advertises every 100 ms."""

    world: DemoWorld

    def __init__(self, detection_callback: Any = None, service_uuids: Any = None, scanning_mode: str = "active",
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Future[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}

        async def advertise() -> None:
            while True:
                await self.world.clock.sleep(ADVERTISING_INTERVAL_S / 5)
                for dev in self.world.sensors.values():
                    if not dev.available or dev.client is not None:
                        continue
                    adv = AdvertisementData(local_name=dev.name, manufacturer_data={}, service_data={},
                                            service_uuids=[], tx_power=None, rssi=-55, platform_data=())
                    bd = self.create_or_update_device(dev.address, dev.address, dev.name, None, adv)
                    self.call_detection_callbacks(bd, adv)
                await self.world.clock.sleep(ADVERTISING_INTERVAL_S)

        self._task = asyncio.ensure_future(advertise())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
