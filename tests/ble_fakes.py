"""A fake Bluetooth world for the BLE tests: no adapter, no hardware, no real time.

* :class:`FakeWorld` is a discrete-event simulation with a :class:`VirtualClock`; it is the
  clock the code under test reads (``clock=world.clock``), so a 30 s session runs in well
  under a second and every notification is received at an exactly known host time.
* ``world.client_backend()`` / ``world.scanner_backend()`` return subclasses of bleak's
  own backend base classes (:class:`bleak.backends.client.BaseBleakClient`,
  :class:`bleak.backends.scanner.BaseBleakScanner`) bound to the world; they are passed to
  the *real* ``bleak.BleakClient`` / ``bleak.BleakScanner`` through their ``backend=``
  parameter.
* :class:`FakeWitMotion`, :class:`FakeMovesense` and :class:`FakeGenericNano33` play the
  devices: advertising, GATT services, notify, the start/rate commands, notifications at the
  device's (slightly wrong) rate carrying the samples of a motion, with BLE-like latency
  (connection events, retries), injected packet losses, malformed packets and disconnects.
  Their encoders follow the vendors' documented byte layouts (see the profile modules),
  written independently of the decoders under test.
* Every delivered sample is kept as truth (true session time, values sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDeviceNotFoundError,
    BleakError,
)

G = 9.80665
DEG = math.pi / 180
BATTERY_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"


# --------------------------------------------------------------------------- world and clock


class VirtualClock:
    """The world's time; ``sleep`` waits for the world to reach it."""

    def __init__(self, world: "FakeWorld", start: float = 1000.0) -> None:
        self.world = world
        self.t = start

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.world.schedule(self.t + max(0.0, seconds), lambda: fut.done() or fut.set_result(None))
        await fut


class FakeWorld:
    """Events in time order; the clock jumps from one to the next.

    Attributes
    ----------
    adapter : ``"on"``, ``"off"``, ``"missing"`` or ``"denied"``
    devices : address (lower case) -> device
    """

    def __init__(self, seed: int = 0) -> None:
        self.clock = VirtualClock(self)
        self._heap: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = itertools.count()
        self.devices: dict[str, FakeDevice] = {}
        self.adapter = "on"
        self.rng = np.random.default_rng(seed)

    def add(self, device: "FakeDevice") -> "FakeDevice":
        device.world = self
        device.t_origin = self.clock.t - device.boot_age_s
        self.devices[device.address.lower()] = device
        return device

    def schedule(self, t: float, fn: Callable[[], object]) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), fn))

    async def _let_others_run(self) -> None:
        """Yield until no other callback is ready, so time only moves when everyone waits on it.

        Reads the event loop's ready queue (a CPython implementation detail; without it, a
        fixed number of yields is used).
        """
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)
        for _ in range(100_000):
            await asyncio.sleep(0)
            if ready is None:
                if _ >= 50:
                    return
            elif not ready:
                return

    async def run(self) -> None:
        while True:
            await self._let_others_run()
            if not self._heap:
                await asyncio.sleep(0.001)  # nothing scheduled: someone waits on real I/O or nothing
                continue
            t, _, fn = heapq.heappop(self._heap)
            self.clock.t = max(self.clock.t, t)
            fn()

    @contextlib.asynccontextmanager
    async def running(self):
        task = asyncio.ensure_future(self.run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def check_adapter(self) -> None:
        reasons = {"off": BleakBluetoothNotAvailableReason.POWERED_OFF,
                   "missing": BleakBluetoothNotAvailableReason.NO_BLUETOOTH,
                   "denied": BleakBluetoothNotAvailableReason.DENIED_BY_USER}
        if self.adapter in reasons:
            raise BleakBluetoothNotAvailableError(f"Bluetooth not available ({self.adapter})", reasons[self.adapter])

    def client_backend(self) -> type[BaseBleakClient]:
        return type("FakeClient", (FakeClientBackend,), {"world": self})

    def scanner_backend(self) -> type[BaseBleakScanner]:
        return type("FakeScanner", (FakeScannerBackend,), {"world": self})


# --------------------------------------------------------------------------- bleak backends


class FakeClientBackend(BaseBleakClient):
    """bleak client backend talking to the world's devices."""

    world: FakeWorld

    def __init__(self, address_or_ble_device, **kwargs) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=kwargs.pop("disconnected_callback", None),
                         timeout=kwargs.pop("timeout", 10.0), **kwargs)
        self._connected = False
        self._device: FakeDevice | None = None
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

    async def connect(self, pair: bool, **kwargs) -> None:
        self.world.check_adapter()
        dev = self.world.devices.get(self.address.lower())
        if dev is None or not dev.available:
            raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address} was not found.")
        self.services = dev.build_services()
        self._connected = True
        self._device = dev
        dev.attach(self)

    async def disconnect(self) -> None:
        if self._connected and self._device is not None:
            self._connected = False
            self._device.detach(self)

    async def pair(self, *args, **kwargs) -> None:
        return None

    async def unpair(self) -> None:
        return None

    def _dev(self) -> "FakeDevice":
        if not self._connected or self._device is None:
            raise BleakError("Not connected")
        return self._device

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False,
                             **kwargs) -> bytearray:
        return bytearray(self._dev().read(characteristic.uuid))

    async def read_gatt_descriptor(self, descriptor, *, use_cached: bool = False, **kwargs) -> bytearray:
        raise BleakError("the fake has no descriptors")

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data, response: bool) -> None:
        self._dev().write(characteristic.uuid, bytes(data))

    async def write_gatt_descriptor(self, descriptor, data) -> None:
        raise BleakError("the fake has no descriptors")

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback, **kwargs) -> None:
        dev = self._dev()
        self._notify[characteristic.uuid] = callback
        dev.notify_changed(characteristic.uuid, True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        dev = self._dev()
        self._notify.pop(characteristic.uuid, None)
        dev.notify_changed(characteristic.uuid, False)

    # world side
    def deliver(self, uuid: str, payload: bytes) -> bool:
        cb = self._notify.get(uuid)
        if not self._connected or cb is None:
            return False
        cb(bytearray(payload))
        return True

    def link_lost(self) -> None:
        self._connected = False
        self._notify.clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback()


class FakeScannerBackend(BaseBleakScanner):
    """bleak scanner backend: every available device advertises every 100 ms."""

    world: FakeWorld

    def __init__(self, detection_callback=None, service_uuids=None, scanning_mode="active", **kwargs) -> None:
        super().__init__(detection_callback, service_uuids)
        self._scanning = False

    async def start(self) -> None:
        self.world.check_adapter()
        self.seen_devices = {}
        self._scanning = True
        self.world.schedule(self.world.clock.t + 0.02, self._tick)

    async def stop(self) -> None:
        self._scanning = False

    def _tick(self) -> None:
        if not self._scanning:
            return
        for dev in list(self.world.devices.values()):
            if not (dev.available and dev.client is None):
                continue
            adv = AdvertisementData(local_name=dev.name, manufacturer_data=dict(dev.manufacturer_data),
                                    service_data={}, service_uuids=list(dev.adv_services), tx_power=None,
                                    rssi=dev.rssi, platform_data=())
            if not self.is_allowed_uuid(adv.service_uuids):
                continue
            bd = self.create_or_update_device(dev.address, dev.address, dev.name, None, adv)
            self.call_detection_callbacks(bd, adv)
        self.world.schedule(self.world.clock.t + 0.1, self._tick)


# --------------------------------------------------------------------------- motion


@dataclass
class Motion:
    """Samples to stream: row k is the k-th sample the device takes (SI units, sensor frame)."""

    acc: np.ndarray
    gyr: np.ndarray

    def __len__(self) -> int:
        return len(self.acc)


def synthetic_motion(rate_hz: float, duration_s: float, seed: int = 0) -> Motion:
    """A smooth rotation of a sensor about a tilted axis (leg-raise-like swings) with gravity.

    Orientation ``R(t) = rot(u, θ(t))`` with ``θ`` a sum of smooth raised-cosine swings; the
    accelerometer reads ``Rᵀ·(0, 0, g)`` and the gyro ``θ'·u`` (the axis is fixed in both frames).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    u = np.array([1.0, 0.3 * rng.uniform(-1, 1), 0.2 * rng.uniform(-1, 1)])
    u /= np.linalg.norm(u)
    period = rng.uniform(3.0, 4.0)
    amp = rng.uniform(60, 90) * DEG
    theta = 0.5 * amp * (1 - np.cos(2 * np.pi * t / period))
    dtheta = 0.5 * amp * (2 * np.pi / period) * np.sin(2 * np.pi * t / period)
    K = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    g = np.array([0.0, 0.0, G])
    acc = np.empty((len(t), 3))
    for i, th in enumerate(theta):
        R = np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * (K @ K)
        acc[i] = R.T @ g
    gyr = dtheta[:, None] * u[None, :]
    return Motion(acc, gyr)


# --------------------------------------------------------------------------- devices


@dataclass
class Truth:
    """Every sample delivered to the host: true session-clock time (world time) and values sent."""

    t: list[float]
    acc: list[np.ndarray]
    gyr: list[np.ndarray]
    k: list[int]

    def arrays(self, t0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.asarray(self.t) - t0, np.asarray(self.acc), np.asarray(self.gyr)


class FakeDevice:
    """Common device behaviour: advertising, GATT, streaming, latency, losses, disconnects.

    Parameters
    ----------
    address, name
        How it advertises.
    motion
        The samples it streams (row k at its k-th sample instant).
    rate_hz
        Initial nominal output rate.
    rate_error
        Relative error of the true output rate (true rate = nominal·(1 + rate_error)).
    connection_interval_s, jitter_s, p_retry
        Latency model: a packet leaves at the next connection event; with probability
        ``p_retry`` it needs 1–3 more events; plus up to ``jitter_s`` of host-side delay.
    lost_packets
        Packet numbers (0-based, per device) that are never delivered.
    malformed_every
        Every n-th packet is followed by a malformed one (0: never).
    boot_age_s
        How long the device has been on when the world starts (for device clocks).
    """

    service_uuid = ""
    notify_uuid = ""
    write_uuid = ""
    adv_services: tuple[str, ...] = ()
    manufacturer_data: dict[int, bytes] = {}
    samples_per_packet = 1

    def __init__(self, address: str, name: str, motion: Motion, *, rate_hz: float, rate_error: float = 0.0,
                 connection_interval_s: float = 0.0075, jitter_s: float = 0.002, p_retry: float = 0.02,
                 lost_packets: frozenset[int] = frozenset(), malformed_every: int = 0, rssi: int = -60,
                 battery: int | None = 80, boot_age_s: float = 5.0, seed: int = 0) -> None:
        self.address = address
        self.name = name
        self.motion = motion
        self.rate_hz = rate_hz
        self.rate_error = rate_error
        self.ci = connection_interval_s
        self.jitter_s = jitter_s
        self.p_retry = p_retry
        self.lost_packets = set(lost_packets)
        self.malformed_every = malformed_every
        self.rssi = rssi
        self.battery = battery
        self.boot_age_s = boot_age_s
        self.rng = np.random.default_rng(seed)
        self.world: FakeWorld | None = None
        self.t_origin = 0.0
        self.client: FakeClientBackend | None = None
        self.available = True
        self.streaming = False
        self.truth = Truth([], [], [], [])
        self.injected_lost_samples = 0
        self.packets_sent = 0
        self.malformed_sent = 0
        self.writes: list[bytes] = []
        self._generation = 0
        self._last_delivery = -math.inf
        self._k = 0
        self._k0: int | None = None  # sample number of the first sample streamed: motion row 0
        self._buffer: list[tuple[int, float]] = []

    # ----- GATT
    def gatt(self) -> list[tuple[str, list[tuple[str, list[str]]]]]:
        chars = [(self.notify_uuid, ["notify"])]
        if self.write_uuid:
            chars.append((self.write_uuid, ["write", "write-without-response"]))
        layout = [(self.service_uuid, chars)]
        if self.battery is not None:
            layout.append((BATTERY_SERVICE, [(BATTERY_LEVEL, ["read", "notify"])]))
        return layout

    def build_services(self) -> BleakGATTServiceCollection:
        coll = BleakGATTServiceCollection()
        handles = itertools.count(1)
        for svc_uuid, chars in self.gatt():
            svc = BleakGATTService(None, next(handles), svc_uuid)
            coll.add_service(svc)
            for uuid, props in chars:
                coll.add_characteristic(BleakGATTCharacteristic(None, next(handles), uuid, props, lambda: 244, svc))
        return coll

    def attach(self, client: FakeClientBackend) -> None:
        self.client = client

    def detach(self, client: FakeClientBackend) -> None:
        if self.client is client:
            self.client = None
        self.stop_stream()

    def read(self, uuid: str) -> bytes:
        if uuid == BATTERY_LEVEL and self.battery is not None:
            return bytes([self.battery])
        raise BleakError(f"read not permitted on {uuid}")

    def write(self, uuid: str, data: bytes) -> None:
        self.writes.append(data)
        self.on_command(data)

    def on_command(self, data: bytes) -> None:
        """Device-specific command handling."""

    def notify_changed(self, uuid: str, on: bool) -> None:
        """Device-specific reaction to notifications being enabled/disabled."""

    # ----- faults
    def schedule_drop(self, at: float, down_s: float) -> None:
        """The link drops at world time ``at``; the device is unreachable for ``down_s``."""
        assert self.world is not None

        def drop() -> None:
            client = self.client
            self.available = False
            self.client = None
            self.stop_stream()
            if client is not None:
                client.link_lost()
            assert self.world is not None
            self.world.schedule(self.world.clock.t + down_s, lambda: setattr(self, "available", True))

        self.world.schedule(at, drop)

    # ----- streaming
    def true_period(self) -> float:
        return 1.0 / (self.rate_hz * (1.0 + self.rate_error))

    def sample_time(self, k: int) -> float:
        return self.t_origin + k * self.true_period()

    def start_stream(self) -> None:
        assert self.world is not None
        if self.streaming:
            return
        self.streaming = True
        self._generation += 1
        now = self.world.clock.t
        self._k = max(self._k, int(math.ceil((now - self.t_origin) / self.true_period())))
        if self._k0 is None:
            self._k0 = self._k
        self._buffer = []
        self._schedule_sample(self._generation)

    def stop_stream(self) -> None:
        self.streaming = False
        self._generation += 1

    def _schedule_sample(self, gen: int) -> None:
        assert self.world is not None
        if self._k - (self._k0 or 0) >= len(self.motion):
            return
        self.world.schedule(self.sample_time(self._k), lambda: self._take_sample(gen))

    def _take_sample(self, gen: int) -> None:
        if gen != self._generation or not self.streaming:
            return
        k = self._k
        self._buffer.append((k, self.sample_time(k)))
        self._k += 1
        if len(self._buffer) >= self.samples_per_packet:
            batch, self._buffer = self._buffer, []
            self._send_packet(batch)
        self._schedule_sample(gen)

    def _delivery_time(self, t_ready: float) -> float:
        ce = math.ceil(t_ready / self.ci) * self.ci
        if self.rng.random() < self.p_retry:
            ce += self.ci * int(self.rng.integers(1, 4))
        t = max(ce + self.rng.uniform(0.0, self.jitter_s), self._last_delivery)
        self._last_delivery = t
        return t

    def _send_packet(self, batch: list[tuple[int, float]]) -> None:
        assert self.world is not None
        pkt_no = self.packets_sent
        self.packets_sent += 1
        assert self._k0 is not None
        ks = [k - self._k0 for k, _ in batch]  # motion rows
        payload = self.encode_packet(pkt_no, ks)
        if pkt_no in self.lost_packets:
            self.injected_lost_samples += len(ks)
            return
        client = self.client
        t_deliver = self._delivery_time(batch[-1][1] + 0.0005)

        def deliver() -> None:
            if client is not None and client is self.client and client.deliver(self.notify_uuid, payload):
                for k, (_, t) in zip(ks, batch, strict=True):
                    a, g = self.sent_values(k)
                    self.truth.t.append(t)
                    self.truth.acc.append(a)
                    self.truth.gyr.append(g)
                    self.truth.k.append(k)

        self.world.schedule(t_deliver, deliver)
        if self.malformed_every and pkt_no % self.malformed_every == self.malformed_every - 1:
            bad = self.malformed(payload)
            self.malformed_sent += 1
            self.world.schedule(self._delivery_time(t_deliver), lambda: client is not None and client.deliver(
                self.notify_uuid, bad))

    def reply(self, payload: bytes) -> None:
        """Send a non-sample notification (command reply) right away."""
        assert self.world is not None
        client = self.client
        t = self._delivery_time(self.world.clock.t + 0.0005)
        self.world.schedule(t, lambda: client is not None and client.deliver(self.notify_uuid, payload))

    # ----- per family
    def encode_packet(self, pkt_no: int, ks: list[int]) -> bytes:
        raise NotImplementedError

    def sent_values(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The values the host should decode for sample k (after the device's quantisation)."""
        raise NotImplementedError

    def malformed(self, good: bytes) -> bytes:
        return good[:-3]


class FakeWitMotion(FakeDevice):
    """WT901BLECL: 20-byte ``55 61`` frames, one per notification, no counter or timestamp."""

    service_uuid = "0000ffe5-0000-1000-8000-00805f9a34fb"
    notify_uuid = "0000ffe4-0000-1000-8000-00805f9a34fb"
    write_uuid = "0000ffe9-0000-1000-8000-00805f9a34fb"
    RATE_BY_CODE = {0x03: 1.0, 0x05: 5.0, 0x06: 10.0, 0x08: 50.0, 0x09: 100.0, 0x0B: 200.0}
    ACC_LSB = 16 * G / 32768
    GYR_LSB = 2000 * DEG / 32768

    def __init__(self, *args, battery_volts: float = 3.85, **kwargs) -> None:
        kwargs.setdefault("battery", None)  # no Battery Service: the battery is a register
        super().__init__(*args, **kwargs)
        self.battery_volts = battery_volts

    def notify_changed(self, uuid: str, on: bool) -> None:
        if on:
            self.start_stream()
        else:
            self.stop_stream()

    def on_command(self, data: bytes) -> None:
        if len(data) == 5 and data[:2] == b"\xff\xaa":
            if data[2] == 0x03 and data[3] in self.RATE_BY_CODE:
                was = self.streaming
                self.stop_stream()
                self.rate_hz = self.RATE_BY_CODE[data[3]]
                assert self.world is not None
                self.t_origin = self.world.clock.t  # the sampling timer restarts
                self._k = 0
                self._k0 = None
                if was:
                    self.start_stream()
            elif data[2] == 0x27 and data[3] == 0x64:
                regs = [int(round(self.battery_volts * 100))] + [0] * 7
                self.reply(struct.pack("<BBH8h", 0x55, 0x71, 0x64, *regs))

    def _raw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a = np.clip(np.round(self.motion.acc[k] / self.ACC_LSB), -32768, 32767).astype(int)
        g = np.clip(np.round(self.motion.gyr[k] / self.GYR_LSB), -32768, 32767).astype(int)
        return a, g

    def encode_packet(self, pkt_no: int, ks: list[int]) -> bytes:
        a, g = self._raw(ks[0])
        return struct.pack("<BB9h", 0x55, 0x61, *a, *g, 0, 0, 0)

    def sent_values(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a, g = self._raw(k)
        return a * self.ACC_LSB, g * self.GYR_LSB


class FakeMovesense(FakeDevice):
    """Movesense with the GATT SensorData app: ``/Meas/IMU6/<rate>`` with a ms timestamp.

    The device clock runs ``clock_drift_ppm`` fast and started ``boot_age_s`` before the
    world; ``timestamp_offset_ms`` shifts its zero (use values near 2³² to test wrapping).
    """

    service_uuid = "34802252-7185-4d5d-b431-630e7050e8f0"
    write_uuid = "34800001-7185-4d5d-b431-630e7050e8f0"
    notify_uuid = "34800002-7185-4d5d-b431-630e7050e8f0"

    def __init__(self, *args, clock_drift_ppm: float = 40.0, timestamp_offset_ms: int = 0, **kwargs) -> None:
        kwargs.setdefault("rate_hz", 52.0)
        super().__init__(*args, **kwargs)
        self.rate_error = clock_drift_ppm * 1e-6  # samples are timed by the device clock
        self.timestamp_offset_ms = timestamp_offset_ms
        self.reference: int | None = None

    @property
    def samples_per_packet(self) -> int:  # type: ignore[override]
        return max(1, int(round(self.rate_hz / 13)))

    def on_command(self, data: bytes) -> None:
        if len(data) >= 2 and data[0] == 1:
            path = data[2:].decode()
            rate = float(path.rsplit("/", 1)[1])
            self.reference = data[1]
            self.rate_hz = rate
            self.start_stream()
        elif len(data) >= 2 and data[0] == 2:
            self.stop_stream()
        elif len(data) >= 2 and data[0] == 0:
            self.reply(bytes([1, data[1]]) + b"Hello")

    def encode_packet(self, pkt_no: int, ks: list[int]) -> bytes:
        ts = (self.timestamp_offset_ms + int(round(1000.0 * (ks[0] + (self._k0 or 0)) / self.rate_hz))) % 2**32
        acc = np.asarray([self.motion.acc[k] for k in ks], dtype="<f4")
        gyr = np.asarray([self.motion.gyr[k] / DEG for k in ks], dtype="<f4")
        return bytes([2, self.reference or 0]) + struct.pack("<I", ts) + acc.tobytes() + gyr.tobytes()

    def sent_values(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return (self.motion.acc[k].astype("<f4").astype(float),
                (self.motion.gyr[k] / DEG).astype("<f4").astype(float) * DEG)


class FakeGenericNano33(FakeDevice):
    """Custom firmware as described by ``configs/generic-arduino-nano33.toml``.

    Packet: uint16 LE packet counter (starting near the wrap point), then ``samples_per_packet``
    × 6 int16 LE (acc at 0.122 mg/LSB, gyro at 70 mdps/LSB).
    """

    service_uuid = "19b10000-e8f2-537e-4f6c-d104768a1214"
    notify_uuid = "19b10001-e8f2-537e-4f6c-d104768a1214"
    write_uuid = "19b10002-e8f2-537e-4f6c-d104768a1214"
    ACC_LSB = 0.122e-3 * G
    GYR_LSB = 70e-3 * DEG

    def __init__(self, *args, counter_start: int = 65530, samples_per_packet: int = 1, **kwargs) -> None:
        kwargs.setdefault("rate_hz", 119.0)
        super().__init__(*args, **kwargs)
        self.counter_start = counter_start
        self.samples_per_packet = samples_per_packet  # type: ignore[misc]

    def on_command(self, data: bytes) -> None:
        if data == b"\x01":
            self.start_stream()
        elif data == b"\x00":
            self.stop_stream()

    def _raw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a = np.clip(np.round(self.motion.acc[k] / self.ACC_LSB), -32768, 32767).astype(int)
        g = np.clip(np.round(self.motion.gyr[k] / self.GYR_LSB), -32768, 32767).astype(int)
        return a, g

    def encode_packet(self, pkt_no: int, ks: list[int]) -> bytes:
        out = struct.pack("<H", (self.counter_start + pkt_no) % 65536)
        for k in ks:
            a, g = self._raw(k)
            out += struct.pack("<6h", *a, *g)
        return out

    def sent_values(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a, g = self._raw(k)
        return a * self.ACC_LSB, g * self.GYR_LSB
