"""Fake Movella DOT, MbientLab MetaMotion and Polar Verity Sense / H10 devices for the BLE tests.

They build on :mod:`ble_fakes` (the :class:`~ble_fakes.FakeWorld`, its virtual clock, the bleak
backends and :class:`~ble_fakes.FakeDevice`'s latency, loss and disconnect model) and play each
vendor's protocol from the vendor's documents, **written independently of the decoders under
test** (the byte layouts are packed here with ``struct`` from the documented tables; nothing is
imported from ``imu_pipeline``):

* :class:`FakeMetaMotion` — MetaWear boards (MetaWear-SDK-Cpp): module-info replies, the
  acc/gyro config, subscribe, enable and start commands, and separate ``03 04`` / ``13 05``
  (``13 04`` on the BMI270) int16 notifications per sample.
* :class:`FakeMovellaDot` — Xsens DOT BLE Services Specification XD0506P: device control
  ``0x1002`` (output rate at offset 24, visit bit 0x10), measurement control ``0x2001``
  (``01 01 15`` starts *Rate quantities*), 28-byte medium payloads on ``0x2003`` with a µs
  SampleTimeFine that wraps at 2³².
* :class:`FakePolarVerity` — Polar Verity Sense / H10 over PMD (polarofficial/polar-ble-sdk,
  ``BlePMDClient.kt``, ``PmdSetting.kt``, ``PmdControlPointResponse.kt``, ``PmdDataFrame.kt``):
  feature read, start/stop requests answered on the control point (the start response carries
  the FACTOR), and separate delta-compressed acc and gyro frames with nanosecond timestamps.
"""

from __future__ import annotations

import math
import struct

import numpy as np
from ble_fakes import BATTERY_LEVEL, BATTERY_SERVICE, DEG, FakeDevice

# --------------------------------------------------------------------------- Movella DOT


def _dot(short: int) -> str:
    return f"1517{short:04x}-4947-11e9-8646-d663bd873d93"


class FakeMovellaDot(FakeDevice):
    """A DOT in real-time streaming, payload mode 21 (*Rate quantities*), one sample per notification.

    Parameters (besides :class:`~ble_fakes.FakeDevice`'s)
    ----------
    clock_drift_ppm
        The sensor clock runs this much fast (its samples are timed by it).
    timestamp_offset_us
        SampleTimeFine at the sensor's power-on (use a value near 2³² to wrap mid-session).
    busy
        The sensor is "already measuring": it ignores output-rate writes (XD0506P §2.2: the rate
        cannot be changed after the measurement started).
    pad_to
        Send each notification padded with zeros to this length (the medium characteristic is
        40 bytes; unused bytes are 0x00), or 0 for the bare 28 bytes.
    """

    service_uuid = _dot(0x2000)
    write_uuid = _dot(0x2001)
    notify_uuid = _dot(0x2003)
    CONFIG_SERVICE = _dot(0x1000)
    DEVICE_CONTROL = _dot(0x1002)
    RATES = {1, 4, 10, 12, 15, 20, 30, 60}

    def __init__(self, *args, clock_drift_ppm: float = 30.0, timestamp_offset_us: int = 0, busy: bool = False,
                 pad_to: int = 0, **kwargs) -> None:
        kwargs.setdefault("rate_hz", 60.0)
        kwargs.setdefault("battery", None)  # the DOT's battery is its own service 0x3000
        super().__init__(*args, **kwargs)
        self.rate_error = clock_drift_ppm * 1e-6
        self.timestamp_offset_us = timestamp_offset_us
        self.busy = busy
        self.pad_to = pad_to
        # device control: visit index, identify, power, 4 timeouts, tag length, tag[16], rate, filter, 5 reserved
        tag = b"Xsens DOT"
        self.device_control = bytearray(struct.pack("<8B16sHB5s", 0, 0, 0, 10, 0, 30, 0, len(tag),
                                                    tag.ljust(16, b"\0"), 60, 0, bytes(5)))
        self.mode: int | None = None
        self.control_writes: list[bytes] = []

    def gatt(self) -> list[tuple[str, list[tuple[str, list[str]]]]]:
        layout = [(self.CONFIG_SERVICE, [(_dot(0x1001), ["read"]), (self.DEVICE_CONTROL, ["read", "write"]),
                                         (_dot(0x1004), ["notify"])]),
                  (self.service_uuid, [(self.write_uuid, ["read", "write"]), (_dot(0x2002), ["notify"]),
                                       (self.notify_uuid, ["notify"]), (_dot(0x2004), ["notify"])])]
        if self.battery is not None:
            layout.append((BATTERY_SERVICE, [(BATTERY_LEVEL, ["read", "notify"])]))
        return layout

    def read(self, uuid: str) -> bytes:
        if uuid == self.DEVICE_CONTROL:
            return bytes(self.device_control)
        return super().read(uuid)

    def write(self, uuid: str, data: bytes) -> None:
        self.writes.append(data)
        if uuid == self.DEVICE_CONTROL:
            self.control_writes.append(data)
            if len(data) == 32 and data[0] & 0x10 and not self.busy and not self.streaming:
                rate = struct.unpack_from("<H", data, 24)[0]
                if rate in self.RATES:
                    self.device_control[24:26] = struct.pack("<H", rate)
                    self.rate_hz = float(rate)
        elif uuid == self.write_uuid and len(data) == 3 and data[0] == 1:
            if data[1] == 1:
                self.mode = data[2]
                if data[2] == 21:
                    self.start_stream()
            elif data[1] == 0:
                self.stop_stream()

    def sample_time_fine(self, k_abs: int) -> int:
        """SampleTimeFine (µs, device clock) of the device's k-th sample since power-on."""
        return (self.timestamp_offset_us + int(round(k_abs * 1e6 / self.rate_hz))) % 2**32

    def encode_packet(self, pkt_no: int, ks: list[int]) -> bytes:
        k = ks[0]
        a = self.motion.acc[k]
        g = self.motion.gyr[k] / DEG
        out = struct.pack("<I3f3f", self.sample_time_fine(k + (self._k0 or 0)), *a, *g)
        return out.ljust(self.pad_to, b"\0") if self.pad_to else out

    def sent_values(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return (self.motion.acc[k].astype("<f4").astype(float),
                (self.motion.gyr[k] / DEG).astype("<f4").astype(float) * DEG)

    def malformed(self, good: bytes) -> bytes:
        return good[:20]

    def wrap_k(self) -> int:
        """The sample number (since power-on) at which SampleTimeFine wraps."""
        return int(math.ceil((2**32 - self.timestamp_offset_us) * self.rate_hz / 1e6))


# --------------------------------------------------------------------------- MbientLab MetaMotion


class FakeMetaMotion(FakeDevice):
    """A MetaWear board (MetaWear-SDK-Cpp ``test/common.py`` module tables, ``*_bosch.cpp`` registers).

    Each sample produces two notifications on ``326a9006``: the acceleration ``03 04 x y z`` then the
    rotation ``13 05 x y z`` (BMI160) / ``13 04 x y z`` (BMI270), int16 LE at ±16 g (2048 LSB/g) and
    ±2000 °/s (16.4 LSB per °/s). Packets are numbered 2k (acc of sample k) and 2k+1 (gyro), so
    ``lost_packets`` can lose either half of a sample. Streaming runs once both sensors are
    configured, subscribed, enabled and started, as the SDK's commands do it.

    Parameters (besides :class:`~ble_fakes.FakeDevice`'s)
    ----------
    board
        ``"R"`` / ``"RL"`` (BMI160), ``"S"`` (BMI270), ``"C-nogyro"`` (no gyro module) or
        ``"silent"`` (never answers module info).
    """

    service_uuid = "326a9000-85cb-9195-d9dd-464cfbbae75a"
    write_uuid = "326a9001-85cb-9195-d9dd-464cfbbae75a"
    notify_uuid = "326a9006-85cb-9195-d9dd-464cfbbae75a"
    INFO = {"R": {0x03: b"\x03\x80\x01\x01", 0x13: b"\x13\x80\x00\x01"},
            "RL": {0x03: b"\x03\x80\x01\x02", 0x13: b"\x13\x80\x00\x01"},
            "S": {0x03: b"\x03\x80\x04\x00", 0x13: b"\x13\x80\x01\x00"},
            "C-nogyro": {0x03: b"\x03\x80\x01\x01", 0x13: b"\x13\x80"}}
    ACC_LSB = 9.80665 / 2048
    GYR_LSB = DEG / 16.4
    ODR = {0x6: 25.0, 0x7: 50.0, 0x8: 100.0}

    def __init__(self, *args, board: str = "RL", **kwargs) -> None:
        kwargs.setdefault("rate_hz", 100.0)
        super().__init__(*args, **kwargs)
        self.board = board
        self.bmi270 = board == "S"
        self.state: dict[str, set[str]] = {"acc": set(), "gyr": set()}
        self.acc_rate: float | None = None
        self.gyr_rate: float | None = None
        self.acc_range_code: int | None = None
        self.gyr_range_code: int | None = None
        self.delivered_halves: dict[int, int] = {}
        self.incomplete: set[int] = set()

    # ----- commands
    def on_command(self, data: bytes) -> None:
        if len(data) < 2:
            return
        module, reg = data[0], data[1]
        kind = {0x03: "acc", 0x13: "gyr"}.get(module)
        if kind is None:
            return
        if reg == 0x80:
            if self.board != "silent":
                self.reply(self.INFO[self.board][module])
            return
        gyr_data = 0x04 if self.bmi270 else 0x05
        if reg == 0x03 and len(data) == 4:
            odr = self.ODR.get(data[2] & 0x0F)
            if kind == "acc":
                self.acc_rate, self.acc_range_code = odr, data[3]
            else:
                self.gyr_rate, self.gyr_range_code = odr, data[3]
            self.state[kind].add("config")
        elif (kind == "acc" and reg == 0x04) or (kind == "gyr" and reg == gyr_data):
            (self.state[kind].add if data[2:3] == b"\x01" else self.state[kind].discard)("subscribed")
        elif reg == 0x02 and len(data) == 4:
            (self.state[kind].add if data[2:] == b"\x01\x00" else self.state[kind].discard)("enabled")
        elif reg == 0x01 and len(data) == 3:
            (self.state[kind].add if data[2] else self.state[kind].discard)("started")
        ready = all(self.state[k] >= {"config", "subscribed", "enabled", "started"} for k in ("acc", "gyr"))
        if ready and not self.streaming:
            assert self.acc_rate == self.gyr_rate and self.acc_rate is not None
            assert self.acc_range_code == (0x03 if self.bmi270 else 0x0C) and self.gyr_range_code == 0
            self.rate_hz = self.acc_rate
            self.start_stream()
        elif not ready and self.streaming:
            self.stop_stream()

    def notify_changed(self, uuid: str, on: bool) -> None:
        if not on:
            self.stop_stream()

    # ----- data
    def _raw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a = np.clip(np.round(self.motion.acc[k] / self.ACC_LSB), -32768, 32767).astype(int)
        g = np.clip(np.round(self.motion.gyr[k] / self.GYR_LSB), -32768, 32767).astype(int)
        return a, g

    def sent_values(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a, g = self._raw(k)
        return a * self.ACC_LSB, g * self.GYR_LSB

    def _send_packet(self, batch: list[tuple[int, float]]) -> None:
        """Two notifications per sample (acc, then gyro); the sample counts as delivered (truth) when
        both halves were delivered."""
        assert self.world is not None and self._k0 is not None
        (k_abs, t_sample), = batch
        k = k_abs - self._k0
        a, g = self._raw(k)
        halves = [struct.pack("<BB3h", 0x03, 0x04, *a),
                  struct.pack("<BB3h", 0x13, 0x04 if self.bmi270 else 0x05, *g)]
        client = self.client
        for half, payload in enumerate(halves):
            pkt_no = self.packets_sent
            self.packets_sent += 1
            if pkt_no in self.lost_packets:
                self.incomplete.add(k)  # this sample can never be complete
                self.injected_lost_samples = len(self.incomplete)
                continue
            t_deliver = self._delivery_time(t_sample + 0.0005 + 0.0002 * half)

            def deliver(payload: bytes = payload, k: int = k, t: float = t_sample) -> None:
                if client is not None and client is self.client and client.deliver(self.notify_uuid, payload):
                    self.delivered_halves[k] = self.delivered_halves.get(k, 0) + 1
                    if self.delivered_halves[k] == 2:
                        sa, sg = self.sent_values(k)
                        self.truth.t.append(t)
                        self.truth.acc.append(sa)
                        self.truth.gyr.append(sg)
                        self.truth.k.append(k)

            self.world.schedule(t_deliver, deliver)


# --------------------------------------------------------------------------- Polar Verity Sense / H10


class FakePolarVerity(FakeDevice):
    """A Polar Verity Sense (or, with ``model="h10"``, an H10) streaming PMD acc and gyro frames.

    Control point ``fb005c81``: a read gives the feature bitmap (byte 1: 0x04 acc, 0x20 gyro);
    ``02 type settings…`` starts a stream and is answered ``F0 02 type 00 00 05 01 <factor f32>``;
    ``03 type`` stops it (``F0 03 type 00 00``). Data ``fb005c82``: per stream, frames of a few
    samples: ``type, uint64 ns timestamp of the frame's last sample, 0x81`` (acc, compressed type 1)
    or ``0x80`` (gyro, compressed type 0), then an int16 reference sample and delta blocks
    (bit width, count, LSB-first bit-packed signed deltas). Values are counts of ``ACC_FACTOR`` mG
    and ``GYR_FACTOR`` °/s. A sample is truth once both its acc and its gyro frame were delivered.

    Parameters (besides :class:`~ble_fakes.FakeDevice`'s)
    ----------
    model
        ``"verity"`` or ``"h10"`` (feature bitmap without gyroscope; refuses a gyro start).
    cp_mode
        ``"ok"``, ``"error"`` (every start answered with status 12, invalid state) or ``"silent"``
        (no control-point responses).
    lost_frames
        ``("acc" | "gyr", frame number)`` pairs that are never delivered.
    clock_drift_ppm
        The sensor clock runs this much fast (its samples are timed by it).
    frame_sizes
        Inclusive range of samples per frame (drawn per frame).
    shared_frames
        True: a gyro frame is sent with every acc frame and ends at the same sample (one IMU FIFO
        read split into two streams); False: each stream draws its own frame sizes.
    """

    service_uuid = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
    write_uuid = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
    notify_uuid = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
    ACC, GYR = 2, 5
    ACC_FACTOR = 8000 / 32768  # mG per count (exact in float32)
    GYR_FACTOR = 2000 / 32768  # °/s per count (exact in float32)
    #: Device time of sample 0 (ns since 2000-01-01): 2026-01-01 plus a bit.
    T0_NS = 820_454_400 * 10**9 + 123_456_789
    SIZES = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4, 6: 16}

    def __init__(self, *args, model: str = "verity", cp_mode: str = "ok",
                 lost_frames: frozenset[tuple[str, int]] = frozenset(), clock_drift_ppm: float = 30.0,
                 frame_sizes: tuple[int, int] = (6, 14), shared_frames: bool = True, **kwargs) -> None:
        kwargs.setdefault("rate_hz", 52.0)
        super().__init__(*args, **kwargs)
        self.rate_error = clock_drift_ppm * 1e-6
        self.model = model
        self.cp_mode = cp_mode
        self.lost_frames = set(lost_frames)
        self.frame_sizes = frame_sizes
        self.shared_frames = shared_frames
        self.features = bytes([0x0F, 0x6E, 0x02]) if model == "verity" else bytes([0x0F, 0x05, 0x00])
        self.active: dict[int, int] = {}  # stream -> first absolute sample number it carries
        self.pending: dict[int, list[int]] = {self.ACC: [], self.GYR: []}
        self.frame_target: dict[int, int] = {self.ACC: 0, self.GYR: 0}
        self.frames_sent: dict[int, int] = {self.ACC: 0, self.GYR: 0}
        self.delivered: dict[int, set[int]] = {self.ACC: set(), self.GYR: set()}
        self.frame_log: list[tuple[str, int, list[int], bool]] = []  # stream, frame no, motion rows, delivered?
        self.cp_writes: list[bytes] = []

    def gatt(self) -> list[tuple[str, list[tuple[str, list[str]]]]]:
        layout = [(self.service_uuid, [(self.write_uuid, ["read", "write", "indicate"]),
                                       (self.notify_uuid, ["notify"])])]
        if self.battery is not None:
            layout.append((BATTERY_SERVICE, [(BATTERY_LEVEL, ["read", "notify"])]))
        return layout

    def read(self, uuid: str) -> bytes:
        if uuid == self.write_uuid:
            return self.features
        return super().read(uuid)

    def _cp_reply(self, payload: bytes) -> None:
        assert self.world is not None
        client = self.client
        t = self._delivery_time(self.world.clock.t + 0.0005)
        self.world.schedule(t, lambda: client is not None and client.deliver(self.write_uuid, payload))

    def _settings(self, data: bytes) -> dict[int, int]:
        out, i = {}, 0
        while i + 2 <= len(data):
            kind, count = data[i], data[i + 1]
            size = self.SIZES[kind]
            out[kind] = int.from_bytes(data[i + 2:i + 2 + size], "little")
            i += 2 + count * size
        return out

    def write(self, uuid: str, data: bytes) -> None:
        self.writes.append(data)
        if uuid != self.write_uuid or len(data) < 2:
            return
        self.cp_writes.append(data)
        op, kind = data[0], data[1]
        if self.cp_mode == "silent":
            return
        if op == 2:
            if self.cp_mode == "error":
                self._cp_reply(bytes([0xF0, 2, kind, 12, 0]))
                return
            if kind not in (self.ACC, self.GYR) or (kind == self.GYR and self.model != "verity"):
                self._cp_reply(bytes([0xF0, 2, kind, 2, 0]))  # invalid measurement type
                return
            s = self._settings(data[2:])
            want_range = 8 if kind == self.ACC else 2000
            if s.get(0) != 52 or s.get(1) != 16 or s.get(2) != want_range:
                self._cp_reply(bytes([0xF0, 2, kind, 5, 0]))  # invalid parameter
                return
            if kind in self.active:
                self._cp_reply(bytes([0xF0, 2, kind, 6, 0]))  # already in state
                return
            factor = self.ACC_FACTOR if kind == self.ACC else self.GYR_FACTOR
            self._cp_reply(bytes([0xF0, 2, kind, 0, 0, 5, 1]) + struct.pack("<f", factor))
            if not self.streaming:
                self.start_stream()
            self.active[kind] = self._k
            self.pending[kind] = []
        elif op == 3:
            self.active.pop(kind, None)
            self._cp_reply(bytes([0xF0, 3, kind, 0, 0]))
            if not self.active:
                self.stop_stream()

    def notify_changed(self, uuid: str, on: bool) -> None:
        if uuid == self.notify_uuid and not on:
            self.active.clear()
            self.stop_stream()

    def detach(self, client) -> None:  # the sensor ends online streaming when the link goes
        self.active.clear()
        super().detach(client)

    # ----- data
    def _counts(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a = np.clip(np.round(self.motion.acc[k] / 9.80665 * 1000 / self.ACC_FACTOR), -32768, 32767).astype(int)
        g = np.clip(np.round(self.motion.gyr[k] / DEG / self.GYR_FACTOR), -32768, 32767).astype(int)
        return a, g

    def sent_values(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a, g = self._counts(k)
        return a * self.ACC_FACTOR / 1000 * 9.80665, g * self.GYR_FACTOR * DEG

    def device_time_ns(self, k_abs: int) -> int:
        return self.T0_NS + int(round(k_abs * 1e9 / self.rate_hz))

    @staticmethod
    def compress(counts: np.ndarray, block: int = 5) -> bytes:
        """Reference sample (3 × int16 LE), then blocks of up to ``block`` samples of deltas."""
        out = bytearray(struct.pack("<3h", *(int(v) for v in counts[0])))
        deltas = np.diff(np.asarray(counts, dtype=int), axis=0)
        for i in range(0, len(deltas), block):
            rows = deltas[i:i + block]
            width = 2
            while not all(-(1 << (width - 1)) <= int(d) < (1 << (width - 1)) for d in rows.ravel()):
                width += 1
            bits: list[int] = []
            for d in rows.ravel():
                u = int(d) & ((1 << width) - 1)
                bits.extend((u >> b) & 1 for b in range(width))
            packed = bytearray((len(bits) + 7) // 8)
            for j, bit in enumerate(bits):
                packed[j // 8] |= bit << (j % 8)
            out += bytes([width, len(rows)]) + packed
        return bytes(out)

    def _send_packet(self, batch: list[tuple[int, float]]) -> None:
        (k_abs, _t), = batch
        for kind in (self.ACC, self.GYR):
            if kind in self.active and k_abs >= self.active[kind]:
                if not self.pending[kind]:
                    self.frame_target[kind] = int(self.rng.integers(self.frame_sizes[0], self.frame_sizes[1] + 1))
                self.pending[kind].append(k_abs)
        acc_full = len(self.pending[self.ACC]) >= max(1, self.frame_target[self.ACC])
        for kind in (self.ACC, self.GYR):
            if not self.pending[kind]:
                continue
            if self.shared_frames:
                full = acc_full or (self.ACC not in self.active and len(self.pending[kind]) >= self.frame_target[kind])
            else:
                full = len(self.pending[kind]) >= self.frame_target[kind]
            if full:
                ks, self.pending[kind] = self.pending[kind], []
                self._send_frame(kind, ks)

    def _send_frame(self, kind: int, ks: list[int]) -> None:
        assert self.world is not None and self._k0 is not None
        rows = [k - self._k0 for k in ks]
        counts = np.array([self._counts(r)[0 if kind == self.ACC else 1] for r in rows])
        header = struct.pack("<BQB", kind, self.device_time_ns(ks[-1]), 0x81 if kind == self.ACC else 0x80)
        payload = header + self.compress(counts)
        name = "acc" if kind == self.ACC else "gyr"
        frame_no = self.frames_sent[kind]
        self.frames_sent[kind] += 1
        self.packets_sent += 1
        lost = (name, frame_no) in self.lost_frames
        self.frame_log.append((name, frame_no, rows, not lost))
        if lost:
            return
        other = self.GYR if kind == self.ACC else self.ACC
        client = self.client
        t_deliver = self._delivery_time(self.sample_time(ks[-1]) + 0.0005)

        def deliver() -> None:
            if client is not None and client is self.client and client.deliver(self.notify_uuid, payload):
                for k in ks:
                    self.delivered[kind].add(k)
                    if k in self.delivered[other]:
                        a, g = self.sent_values(k - self._k0)
                        self.truth.t.append(self.sample_time(k))
                        self.truth.acc.append(a)
                        self.truth.gyr.append(g)
                        self.truth.k.append(k - self._k0)

        self.world.schedule(t_deliver, deliver)
