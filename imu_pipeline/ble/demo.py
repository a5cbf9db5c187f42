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
from imu_pipeline.config import ROLES, SensorSpec

#: Demo sensor addresses and advertised names (``WT…`` is how WitMotion devices advertise).
DEMO_ADDRESSES = {"thigh": "D3:40:00:00:00:01", "pelvis": "D3:40:00:00:00:02"}
DEMO_NAMES = {"thigh": "WT901BLE68 demo thigh", "pelvis": "WT901BLE68 demo pelvis"}
#: Output rate of the demo sensors (Hz), one of the WT901BLECL's rates.
DEMO_RATE_HZ = 100.0
#: Session length (s) when ``record --demo`` is given no ``--duration``.
DEMO_DEFAULT_DURATION_S = 90.0
#: First guess of the seconds of session per simulated rep (rest included), to size the session.
SECONDS_PER_REP = 4.0
#: BLE connection interval of the demo link (s): notifications arrive in bursts this far apart.
CONNECTION_INTERVAL_S = 0.015
#: How long a connection takes to set up (s).
CONNECT_LATENCY_S = 0.25
#: Advertising interval (s).
ADVERTISING_INTERVAL_S = 0.1
#: Link drops are drawn with down times in this range (s).
DOWN_S_RANGE = (0.5, 3.0)

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


def plan_link_drops(n: int, duration_s: float, seed: int) -> list[LinkDrop]:
    """``n`` link drops spread over the session (not in its first or last 3 s), on either sensor.

    Times are uniform at random, so some fall in the middle of a rep; from 4 drops on, every
    fourth drop of the thigh is paired with a pelvis drop that starts within 1 s of it, so
    some drops overlap (both sensors down at once).
    """
    if n <= 0:
        return []
    rng = np.random.default_rng(seed + 7919)
    lo, hi = 3.0, max(3.5, duration_s - 3.0 - DOWN_S_RANGE[1])
    drops: list[LinkDrop] = []
    while len(drops) < n:
        at = float(rng.uniform(lo, hi))
        role = ROLES[len(drops) % 2] if rng.random() < 0.5 else ROLES[int(rng.integers(2))]
        drops.append(LinkDrop(role, at, float(rng.uniform(*DOWN_S_RANGE))))
        if len(drops) % 4 == 0 and len(drops) < n:
            other = "pelvis" if role == "thigh" else "thigh"
            drops.append(LinkDrop(other, min(hi, at + float(rng.uniform(0.0, 1.0))),
                                  float(rng.uniform(*DOWN_S_RANGE))))
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
        Session length to simulate (s); the simulated person does about one rep per
        :data:`SECONDS_PER_REP` with still periods at both ends.
    pose
        ``"lying"`` or ``"hanging"``.
    seed
        Seed of the simulated session and of the fault schedule.
    disconnects
        Number of link drops (:func:`plan_link_drops`).
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

        self.clock = clock or MonotonicClock()
        self.duration_s = float(duration_s)
        self.pose = pose
        self.seed = seed
        mix = ("hip-flexor", "abdominal", "fast", "drop", "bounce") + (("swing",) if pose == "hanging" else ())
        n_reps = int(np.clip(round(duration_s / SECONDS_PER_REP), 1, 500))
        while True:  # enough reps to fill the duration (the session is cut there)
            sim = simulate_session(SimulationOptions(
                seed=seed, pose=pose, n_reps=n_reps, mix=mix, thigh_rate_hz=DEMO_RATE_HZ,
                pelvis_rate_hz=DEMO_RATE_HZ, packet_loss=0.0, jitter_s=0.0, clock_drift_ppm=0.0))
            if sim.duration_s >= duration_s or n_reps >= 500:
                break
            n_reps = min(500, int(math.ceil(n_reps * duration_s / max(sim.duration_s, 1.0))) + 1)
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
