"""Movella DOT (Xsens DOT) profile: decoder on the specification's layout, fuzzing, commands, and a
session through the real ``bleak.BleakClient`` with a fake DOT (including the µs clock wrap).

Sources of the facts the vectors encode:

* Xsens DOT BLE Services Specification XD0506P rev. F (PDF in github.com/adamkewley/xdc):
  §1.1 base UUID ``1517xxxx-4947-11E9-8646-D663BD873D93``; §1.2 company identifier 0x0886 and
  tag name "Xsens DOT"; §1.3 little-endian; §2.2 Table 7 device control (visit index bit 4 =
  output rate, uint16 at offset 24, streaming rates 1–60 Hz); §3.1 Table 13 control
  ``[1, start/stop, mode]``, mode 21 = Rate quantities; §3.3 Table 15 Rate quantities = 28 bytes
  (timestamp, acceleration, angular velocity), unused bytes 0x00; §3.5 Table 17 timestamp µs,
  acceleration m/s² float32, angular velocity dps float32.
* github.com/xsens/xsens_dot_server ``bleHandler.js``: start ``[0x01, 0x01, payloadId]``,
  stop ``[0x01, 0x00, payloadId]``, ``readUInt32LE(0)``, acceleration at offset 4, gyro at 16.
* github.com/adamkewley/xdc ``xdc.py`` ``DeviceControlCharacteristic``: 8 single bytes, the
  16-byte tag, then ``output_rate`` (u16); ``aset_output_rate`` sets ``visit_index = 0x10``.
* Xsens DOT User Manual XD0502P §4.2.5: SampleTimeFine in µs wraps at 2³² (≈ 1.2 h).
"""

from __future__ import annotations

import asyncio
import math
import struct
from typing import Any

import numpy as np
import pytest
from ble_fakes import DEG, FakeWorld, synthetic_motion
from ble_fakes_vendors import FakeMovellaDot

from imu_pipeline.ble.devices import make_profile, recognise
from imu_pipeline.ble.devices.movella_dot import (
    DEVICE_CONTROL_UUID,
    MEASUREMENT_CONTROL_UUID,
    MEDIUM_PAYLOAD_UUID,
    MovellaDot,
    device_control_output_rate,
)
from imu_pipeline.ble.errors import BleError, ConnectionFailedError
from imu_pipeline.ble.profile import Advertisement, DecodeError
from imu_pipeline.ble.reader import ReconnectPolicy, SensorStream

G = 9.80665
DOT = "D0:70:00:00:00:01"

# A Rate-quantities notification laid out by hand from XD0506P Tables 15 and 17 (little-endian):
#   timestamp 16667 µs (0x0000411B; the User Manual's 60 Hz sample interval)
#   acc  (0.5, -0.25, 9.8125) m/s²  = 0x3F000000, 0xBE800000, 0x411D0000
#   gyr  (90.0, -45.0, 1.5) deg/s   = 0x42B40000, 0xC2340000, 0x3FC00000
SPEC_VECTOR = bytes.fromhex(
    "1b410000" "0000003f" "000080be" "00001d41" "0000b442" "000034c2" "0000c03f")


def test_rate_quantities_vector_from_the_specification_layout() -> None:
    assert len(SPEC_VECTOR) == 28  # XD0506P Table 15: "Rate quantities 28"
    batch = MovellaDot().decode(SPEC_VECTOR)
    assert len(batch) == 1 and batch.counter is None
    np.testing.assert_array_equal(batch.device_time_s, [0.016667])
    np.testing.assert_array_equal(batch.acc[0], [0.5, -0.25, 9.8125])
    np.testing.assert_allclose(batch.gyr[0], [math.pi / 2, -math.pi / 4, 1.5 * math.pi / 180], rtol=1e-15)


def test_medium_characteristic_padding_is_accepted_only_when_zero() -> None:
    p = MovellaDot()
    padded = SPEC_VECTOR + bytes(12)  # the medium characteristic is 40 bytes; unused bytes are 0x00
    np.testing.assert_array_equal(p.decode(padded).acc, p.decode(SPEC_VECTOR).acc)
    with pytest.raises(DecodeError, match="non-zero"):
        p.decode(SPEC_VECTOR + b"\x00\x01")  # e.g. Rate quantities *with mag* (34 bytes): not ours
    with pytest.raises(DecodeError):
        p.decode(SPEC_VECTOR + bytes(13))  # 41 bytes: longer than the characteristic


@pytest.mark.parametrize("payload", [
    b"", SPEC_VECTOR[:27], SPEC_VECTOR[:16],
    struct.pack("<I3f3f", 0, math.nan, 0, 0, 0, 0, 0),
    struct.pack("<I3f3f", 0, 0, 0, 0, 0, math.inf, 0),
    struct.pack("<I3f3f", 0, 0, 0, 18 * G, 0, 0, 0),  # beyond ±16 g (+10 % calibration margin)
    struct.pack("<I3f3f", 0, 0, 0, 0, 2300.0, 0, 0),  # beyond ±2000 °/s (+10 %)
])
def test_rejects_malformed(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        MovellaDot().decode(payload)


def test_commands_follow_the_specification() -> None:
    p = MovellaDot(sample_rate_hz=30)
    assert p.start_commands() == [bytes([0x01, 0x01, 21])]  # xsens_dot_server enableSensor, mode 21
    assert p.stop_commands() == [bytes([0x01, 0x00, 21])]
    cmd = device_control_output_rate(30)
    assert len(cmd) == 32 and cmd[0] == 0x10 and cmd[1:24] == bytes(23) and cmd[26:] == bytes(6)
    # the layout of adamkewley/xdc DeviceControlCharacteristic: 8 u8, tag[16], output_rate u16
    fields = struct.unpack("<8B16sHB5s", cmd)
    assert fields[0] == 0x10 and fields[9] == 30
    assert MEASUREMENT_CONTROL_UUID == "15172001-4947-11e9-8646-d663bd873d93"
    assert MEDIUM_PAYLOAD_UUID == "15172003-4947-11e9-8646-d663bd873d93"
    assert DEVICE_CONTROL_UUID == "15171002-4947-11e9-8646-d663bd873d93"
    assert p.timing == "device_time" and p.timestamp_wrap_s == pytest.approx(4294.967296)


def test_rates_recognition_and_configuration() -> None:
    assert make_profile("movella-dot").sample_rate_hz == 60.0
    assert make_profile("xsens-dot", 12).sample_rate_hz == 12.0
    with pytest.raises(Exception, match="choose one of 1, 4, 10, 12, 15, 20, 30, 60 Hz"):
        make_profile("movella-dot", 120)  # 120 Hz is for recording on the sensor only
    assert recognise(Advertisement("Xsens DOT", "AA")) == "movella-dot"
    assert recognise(Advertisement("my thigh", "AA", manufacturer_ids=(0x0886,))) == "movella-dot"
    assert recognise(Advertisement("my thigh", "AA", manufacturer_ids=(0x0887,))) is None


# --------------------------------------------------------------------------- fuzzing


def _plausible(p: MovellaDot, batch: Any) -> None:
    n = len(batch)
    assert n == 1 and batch.acc.shape == (1, 3) and batch.gyr.shape == (1, 3)
    assert np.all(np.isfinite(batch.acc)) and np.all(np.isfinite(batch.gyr))
    assert np.max(np.abs(batch.acc)) <= p.acc_range_m_s2 * 1.001
    assert np.max(np.abs(batch.gyr)) <= p.gyr_range_rad_s * 1.001
    assert batch.device_time_s is not None and batch.device_time_s.shape == (1,)
    assert 0 <= batch.device_time_s[0] < p.timestamp_wrap_s


def _mutations(rng: np.random.Generator, good: bytes) -> bytes:
    kind = int(rng.integers(0, 8))
    b = bytearray(good)
    if kind == 0:  # truncated
        return bytes(b[: int(rng.integers(0, len(b)))])
    if kind == 1:  # extra bytes (zero or not)
        extra = bytes(int(rng.integers(1, 20))) if rng.random() < 0.5 else rng.bytes(int(rng.integers(1, 20)))
        return bytes(b) + extra
    if kind == 2:  # bit flips anywhere
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(0, len(b)))
            b[i] ^= 1 << int(rng.integers(0, 8))
        return bytes(b)
    if kind == 3:  # NaN / inf / huge float in a random field
        struct.pack_into("<f", b, 4 + 4 * int(rng.integers(0, 6)),
                         [math.nan, math.inf, -math.inf, 3e38, -1e9][int(rng.integers(0, 5))])
        return bytes(b)
    if kind == 4:  # wrong "header": another payload mode's length
        return bytes(b[:16]) if rng.random() < 0.5 else bytes(b) + rng.bytes(6)
    if kind == 5:  # random bytes of a random length
        return rng.bytes(int(rng.integers(0, 64)))
    if kind == 6:  # random bytes of exactly the right length
        return rng.bytes(28)
    return bytes(b)  # unchanged


def test_fuzz_ten_thousand_random_and_mutated_packets() -> None:
    """Only DecodeError or one plausible sample; a valid packet decodes to exactly what was packed,
    whatever the timestamp does (jumping back, wrapping: that is the timing layer's job)."""
    rng = np.random.default_rng(20240601)
    p = MovellaDot()
    accepted = rejected = exact = 0
    ts = 2**32 - 50_000
    for i in range(12_000):
        ts = (ts + int(rng.integers(-2_000_000, 40_000))) % 2**32  # counters jumping back, wrapping
        acc = rng.normal(0, 40, 3).astype("<f4")
        gyr = rng.normal(0, 600, 3).astype("<f4")
        good = struct.pack("<I3f3f", ts, *acc, *gyr)
        payload = _mutations(rng, good)
        try:
            batch = p.decode(payload)
        except DecodeError:
            rejected += 1
            continue
        accepted += 1
        _plausible(p, batch)
        if payload == good:
            exact += 1
            np.testing.assert_array_equal(batch.acc[0], acc.astype(float))
            np.testing.assert_allclose(batch.gyr[0], gyr.astype(float) * DEG, rtol=1e-15)
            assert batch.device_time_s[0] == ts / 1e6
    assert accepted > 1000 and rejected > 3000 and exact > 500, (accepted, rejected, exact)


# --------------------------------------------------------------------------- end to end


class Sink:
    def __init__(self) -> None:
        self.t: list[np.ndarray] = []
        self.acc: list[np.ndarray] = []
        self.gyr: list[np.ndarray] = []
        self.events: list[tuple[float, str, str, dict[str, Any]]] = []

    def samples(self, sensor: str, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        self.t.append(t)
        self.acc.append(acc)
        self.gyr.append(gyr)

    def event(self, t: float, sensor: str, kind: str, extra: dict[str, Any]) -> None:
        self.events.append((t, sensor, kind, extra))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.concatenate(self.t), np.concatenate(self.acc), np.concatenate(self.gyr)


def _stream(world: FakeWorld, profile: MovellaDot, sink: Sink, **kwargs: Any) -> SensorStream:
    return SensorStream("thigh", profile, on_samples=sink.samples, on_event=sink.event, address=DOT,
                        session_start=world.clock.now(), clock=world.clock, backend=world.client_backend(),
                        scanner_backend=world.scanner_backend(), scan_timeout_s=2.0, **kwargs)


def test_session_through_bleak_with_rate_change_losses_and_the_microsecond_wrap() -> None:
    sink = Sink()
    rate = 30.0
    # SampleTimeFine wraps 9 s after power-on; the sensor was switched on 5 s before the session
    offset = 2**32 - 9_000_000

    async def main() -> tuple[SensorStream, FakeMovellaDot, float]:
        world = FakeWorld(seed=3)
        dot = world.add(FakeMovellaDot(DOT, "Xsens DOT", synthetic_motion(rate, 30, seed=5), clock_drift_ppm=-35,
                                       timestamp_offset_us=offset, lost_packets=frozenset({40, 41, 150}),
                                       malformed_every=60, pad_to=40, seed=6))
        t0 = world.clock.now()
        async with world.running():
            s = _stream(world, MovellaDot(sample_rate_hz=rate), sink)
            await s.open()
            assert dot.rate_hz == rate  # the device control write took effect before the start
            assert dot.writes[0] == device_control_output_rate(30) and dot.writes[1] == bytes([1, 1, 21])
            stop = asyncio.Event()
            sup = asyncio.ensure_future(s.supervise(stop))
            await world.clock.sleep(10.0)
            stop.set()
            await sup
            await s.close()
            assert dot.writes[-1] == bytes([1, 0, 21]) and not dot.streaming and dot.client is None
        return s, dot, t0

    s, dot, t0 = asyncio.run(main())
    t, acc, gyr = sink.arrays()
    truth_t, _, _ = dot.truth.arrays(t0)
    k = np.asarray(dot.truth.k)
    # the raw device time wrapped during the session
    first, last = dot.sample_time_fine(k[0] + dot._k0), dot.sample_time_fine(k[-1] + dot._k0)
    assert last < first and k[0] + dot._k0 < dot.wrap_k() < k[-1] + dot._k0
    assert len(t) == len(truth_t) == s.status.samples and 270 <= len(t) <= 300
    assert np.all(np.diff(t) > 0)
    err = np.abs(t - truth_t)
    assert err.max() < 0.005, f"timing error up to {1000 * err.max():.1f} ms"
    assert np.max(np.diff(t)) < 4.5 / rate  # across the wrap: no jump, only the 3 lost samples
    np.testing.assert_array_equal(acc, np.asarray(dot.truth.acc))
    np.testing.assert_allclose(gyr, np.asarray(dot.truth.gyr), rtol=1e-12)
    np.testing.assert_allclose(acc, dot.motion.acc[k], atol=1e-5)
    assert s.status.lost_samples == dot.injected_lost_samples == 3 and not s.status.loss_is_estimate
    assert s.status.decode_errors == dot.malformed_sent > 0
    assert 29.0 < len(t) / (t[-1] - t[0]) < 31.0


def test_reconnect_keeps_the_device_clock() -> None:
    sink = Sink()

    async def main() -> tuple[SensorStream, FakeMovellaDot, float]:
        world = FakeWorld(seed=4)
        dot = world.add(FakeMovellaDot(DOT, "Xsens DOT", synthetic_motion(60, 30, seed=7), seed=8))
        t0 = world.clock.now()
        async with world.running():
            s = _stream(world, MovellaDot(), sink, policy=ReconnectPolicy(initial_delay_s=0.2, give_up_after_s=20))
            await s.open()
            dot.schedule_drop(world.clock.now() + 3.0, down_s=1.5)
            stop = asyncio.Event()
            sup = asyncio.ensure_future(s.supervise(stop))
            await world.clock.sleep(8.0)
            stop.set()
            await sup
            await s.close()
        return s, dot, t0

    s, dot, t0 = asyncio.run(main())
    t, _, _ = sink.arrays()
    truth_t, _, _ = dot.truth.arrays(t0)
    assert [e[2] for e in sink.events] == ["connected", "disconnected", "reconnected"]
    assert len(t) == len(truth_t) and np.abs(t - truth_t).max() < 0.005
    assert s.status.lost_samples == 0 and np.max(np.diff(t)) > 1.0  # the gap stays a gap
    assert sum(1 for w in dot.writes if w == bytes([1, 1, 21])) == 2  # started again after reconnecting


def test_a_sensor_that_ignores_the_rate_is_a_clear_error_not_a_hang() -> None:
    async def main() -> tuple[float, FakeMovellaDot]:
        world = FakeWorld(seed=5)
        dot = world.add(FakeMovellaDot(DOT, "Xsens DOT", synthetic_motion(60, 5, seed=1), busy=True))
        async with world.running():
            t_start = world.clock.now()
            with pytest.raises(ConnectionFailedError, match=r"thigh sensor \(D0:70:00:00:00:01\).*output rate 30 Hz"
                                                            r".*reads 60 Hz") as info:
                await _stream(world, MovellaDot(sample_rate_hz=30), Sink()).open()
            assert isinstance(info.value, BleError)
            return world.clock.now() - t_start, dot

    elapsed, dot = asyncio.run(main())
    assert elapsed < 3.0 and dot.client is None and not dot.streaming
