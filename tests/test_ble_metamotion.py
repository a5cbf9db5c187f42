"""MbientLab MetaMotion (MetaWear) profile: the SDK's own test vectors, pairing, fuzzing, and sessions
through the real ``bleak.BleakClient`` with a fake board.

Vectors and command bytes are those of github.com/mbientlab/MetaWear-SDK-Cpp:

* ``test/test_accelerometer_bmi160.py``: ``03 04 16 c4 94 a2 2a d0`` at ±4 g = (−1.872, −2.919,
  −1.495) g; packed ``03 1c 62 b7 …`` at ±8 g = three samples; config ``03 03 28 0c`` (100 Hz,
  ±16 g), ``03 03 26 03`` (25 Hz, default ±2 g); enable ``03 02 01 00``, disable ``03 02 00 01``;
  subscribe ``03 04 01``, unsubscribe ``03 04 00``.
* ``test/test_accelerometer_bmi270.py``: packed ``03 05 62 b7 …`` (same three samples at ±8 g);
  config ``03 03 a8 03`` (100 Hz, ±16 g), ``03 03 a7 02`` (50 Hz, default ±8 g).
* ``test/test_gyro_bmi160.py``: ``13 05 3e 43 ff 7f 00 80`` at ±500 °/s = (262.409, 499.497,
  −499.512) °/s; packed ``13 07 09 15 …`` at ±1000 °/s; config ``13 03 28 03`` (100 Hz, ±250 °/s),
  ``13 03 27 04`` (50 Hz, ±125 °/s); ``13 01 01`` active, ``13 01 00`` standby; subscribe
  ``13 05 01``.
* ``test/common.py``: module-info replies of MetaMotion R/RL/S boards.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from ble_fakes import DEG, FakeWorld, synthetic_motion
from ble_fakes_vendors import FakeMetaMotion

from imu_pipeline.ble.devices import ProfileConfigError, make_profile, recognise
from imu_pipeline.ble.devices.metamotion import (
    MetaMotion,
    acc_config_command,
    gyro_config_command,
    start_sequence,
    stop_sequence,
)
from imu_pipeline.ble.errors import BleError, ConnectionFailedError, ProfileMismatchError
from imu_pipeline.ble.profile import Advertisement, DecodeError
from imu_pipeline.ble.reader import SensorStream

G = 9.80665
MMS = "D0:30:00:00:00:01"
ACC_VECTOR = bytes.fromhex("03 04 16 c4 94 a2 2a d0")
GYR_VECTOR = bytes.fromhex("13 05 3e 43 ff 7f 00 80")
PACKED_ACC_160 = bytes.fromhex("03 1c 62 b7 53 0d e9 fd 16 d0 4d 0e 57 02 8a ff a1 05 0a 01")
PACKED_ACC_270 = bytes.fromhex("03 05 62 b7 53 0d e9 fd 16 d0 4d 0e 57 02 8a ff a1 05 0a 01")
PACKED_GYR_160 = bytes.fromhex("13 07 09 15 ad 26 08 de 8a 1a 0d 26 65 e4 8d 20 ac 27 73 ec")
PACKED_ACC_G = [[-4.539, 0.833, -0.131], [-2.995, 0.894, 0.146], [-0.029, 0.352, 0.065]]
PACKED_GYR_DPS = [[164.177, 301.860, -265.122], [207.134, 296.982, -215.457], [254.055, 309.634, -152.591]]


def test_single_acc_and_gyro_vectors_from_the_sdk_pair_into_one_sample() -> None:
    p = MetaMotion(chip="bmi160", acc_range_g=4, gyr_range_dps=500)
    first = p.decode(ACC_VECTOR)
    assert len(first) == 0  # the acceleration waits for its rotation partner
    batch = p.decode(GYR_VECTOR)
    assert len(batch) == 1 and batch.device_time_s is None and batch.counter is None
    np.testing.assert_allclose(batch.acc[0] / G, [-1.872, -2.919, -1.495], atol=5e-4)
    np.testing.assert_allclose(batch.gyr[0] / DEG, [262.409, 499.497, -499.512], atol=5e-4)
    assert p.unpaired_acc == p.unpaired_gyr == 0


def test_packed_vectors_from_the_sdk() -> None:
    p = MetaMotion(chip="bmi160", acc_range_g=8, gyr_range_dps=1000)
    assert len(p.decode(PACKED_GYR_160)) == 0
    batch = p.decode(PACKED_ACC_160)
    assert len(batch) == 3
    np.testing.assert_allclose(batch.acc / G, PACKED_ACC_G, atol=5e-4)
    np.testing.assert_allclose(batch.gyr / DEG, PACKED_GYR_DPS, atol=5e-4)
    # the BMI270 sends its packed acceleration under register 0x05
    q = MetaMotion(chip="bmi270", acc_range_g=8)
    q.decode(PACKED_ACC_270)
    assert len(q._acc) == 3
    np.testing.assert_allclose(np.asarray(q._acc) / G, PACKED_ACC_G, atol=5e-4)
    with pytest.raises(DecodeError):  # 03 1c is not a BMI270 register
        q.decode(PACKED_ACC_160)


def test_commands_match_the_sdk_tests() -> None:
    assert acc_config_command("bmi160", 100.0, 16) == bytes.fromhex("03 03 28 0c")
    assert acc_config_command("bmi160", 25.0, 2) == bytes.fromhex("03 03 26 03")
    assert acc_config_command("bmi270", 100.0, 16) == bytes.fromhex("03 03 a8 03")
    assert acc_config_command("bmi270", 50.0, 8) == bytes.fromhex("03 03 a7 02")
    assert gyro_config_command(100.0, 250) == bytes.fromhex("13 03 28 03")
    assert gyro_config_command(50.0, 125) == bytes.fromhex("13 03 27 04")
    seq = start_sequence("bmi160", 100.0)
    assert seq[2:] == [bytes.fromhex(h) for h in ("03 04 01", "13 05 01", "03 02 01 00", "13 02 01 00",
                                                  "03 01 01", "13 01 01")]
    assert start_sequence("bmi270", 100.0)[3] == bytes.fromhex("13 04 01")  # GyroBmi270Register::DATA = 4
    assert stop_sequence("bmi160") == [bytes.fromhex(h) for h in ("03 01 00", "13 01 00", "03 02 00 01",
                                                                  "13 02 00 01", "03 04 00", "13 05 00")]
    p = MetaMotion()
    assert p.write_with_response is False and p.timing == "nominal" and p.supported_rates_hz == (25.0, 50.0, 100.0)


def test_pairing_drops_a_sample_whose_partner_was_lost() -> None:
    p = MetaMotion(chip="bmi160")
    acc = [bytes([0x03, 0x04]) + np.array([i, 0, 2048], "<i2").tobytes() for i in range(5)]
    gyr = [bytes([0x13, 0x05]) + np.array([i, 0, 0], "<i2").tobytes() for i in range(5)]
    sent = [acc[0], gyr[0], acc[1],  # gyr[1] lost
            acc[2], gyr[2],  # acc[3] lost
            gyr[3], acc[4], gyr[4]]
    out = [p.decode(b) for b in sent]
    pairs = [(round(b.acc[0, 0] / (G / 2048)), round(b.gyr[0, 0] / (DEG / 16.4))) for b in out if len(b)]
    assert pairs == [(0, 0), (2, 2), (4, 4)]  # never (1, 2) or (4, 3)
    assert p.unpaired_acc == 1 and p.unpaired_gyr == 1
    # a board that sends the gyro half first is learnt the same way
    q = MetaMotion(chip="bmi160")
    out = [q.decode(b) for b in (gyr[0], acc[0], gyr[1], acc[1], acc[2], gyr[3], acc[3])]
    pairs = [(round(b.acc[0, 0] / (G / 2048)), round(b.gyr[0, 0] / (DEG / 16.4))) for b in out if len(b)]
    assert pairs == [(0, 0), (1, 1), (3, 3)] and q.unpaired_acc == 1 and q.unpaired_gyr == 0


@pytest.mark.parametrize("payload", [
    b"", b"\x03", ACC_VECTOR[:-1], ACC_VECTOR + b"\x00", bytes.fromhex("03 06 00 00 00 00 00 00"),
    bytes.fromhex("14 04 00 00 00 00 00 00"), PACKED_ACC_160[:-2], bytes.fromhex("13 04 00 00 00 00 00 00"),
])
def test_rejects_malformed(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        MetaMotion(chip="bmi160").decode(payload)


def test_module_info_replies_carry_no_samples_and_options() -> None:
    assert len(MetaMotion().decode(bytes.fromhex("03 80 01 02"))) == 0
    assert make_profile("metamotion", 50, {"chip": "bmi270", "acc_range_g": 8}).acc_range_g == 8
    with pytest.raises(ProfileConfigError, match="known: chip"):
        make_profile("metamotion", options={"colour": 1})
    with pytest.raises(ProfileConfigError, match="acc_range_g"):
        make_profile("metamotion", options={"acc_range_g": 3})
    with pytest.raises(ProfileConfigError, match="25, 50, 100"):
        make_profile("metawear", 200)
    assert recognise(Advertisement("MetaWear", "AA")) == "metamotion"
    assert recognise(Advertisement("thigh", "AA", service_uuids=("326a9000-85cb-9195-d9dd-464cfbbae75a",))) \
        == "metamotion"


# --------------------------------------------------------------------------- fuzzing


def test_fuzz_ten_thousand_random_and_mutated_packets() -> None:
    """Only DecodeError or plausible pairs; every returned pair is made of values that were sent."""
    rng = np.random.default_rng(7)
    heads = [b"\x03\x04", b"\x13\x05", b"\x13\x04", b"\x03\x1c", b"\x13\x07", b"\x03\x05", b"\x03\x80", b"\x13\x80",
             b"\x03\x03", b"\x00\x00"]
    for chip in ("bmi160", "bmi270", None):
        p = MetaMotion(chip=chip, acc_range_g=int(rng.choice([2, 4, 8, 16])))
        accepted = rejected = samples = 0
        for _ in range(4000):
            r = rng.random()
            if r < 0.5:  # well-formed header, random (possibly wrong) length and values
                body = rng.bytes(int(rng.choice([6, 6, 18, 18, 5, 7, 17, 19, 0, 30])))
                payload = heads[int(rng.integers(0, len(heads)))] + body
            elif r < 0.8:  # a valid packet, mutated
                good = bytearray(ACC_VECTOR if rng.random() < 0.5 else PACKED_GYR_160)
                i = int(rng.integers(0, len(good)))
                good[i] ^= 1 << int(rng.integers(0, 8))
                payload = bytes(good[: int(rng.integers(len(good) - 2, len(good) + 1))])
            else:
                payload = rng.bytes(int(rng.integers(0, 40)))
            try:
                batch = p.decode(payload)
            except DecodeError:
                rejected += 1
                continue
            accepted += 1
            n = len(batch)
            samples += n
            assert batch.acc.shape == (n, 3) and batch.gyr.shape == (n, 3) and batch.device_time_s is None
            assert np.all(np.isfinite(batch.acc)) and np.all(np.isfinite(batch.gyr))
            assert np.all(np.abs(batch.acc) <= p.acc_range_m_s2) and np.all(np.abs(batch.gyr) <= p.gyr_range_rad_s)
            # values are whole counts of the configured resolution
            np.testing.assert_allclose(batch.acc / p.acc_lsb_m_s2, np.round(batch.acc / p.acc_lsb_m_s2), atol=1e-6)
        assert accepted > 500 and rejected > 1000 and samples > 50, (chip, accepted, rejected, samples)
        assert len(p._acc) <= 3 and len(p._gyr) <= 3  # bounded memory: never more than one packet waits


# --------------------------------------------------------------------------- end to end


class Sink:
    def __init__(self) -> None:
        self.t: list[np.ndarray] = []
        self.acc: list[np.ndarray] = []
        self.gyr: list[np.ndarray] = []
        self.events: list[str] = []

    def samples(self, sensor: str, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        self.t.append(t)
        self.acc.append(acc)
        self.gyr.append(gyr)

    def event(self, t: float, sensor: str, kind: str, extra: dict[str, Any]) -> None:
        self.events.append(kind)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.concatenate(self.t), np.concatenate(self.acc), np.concatenate(self.gyr)


def _stream(world: FakeWorld, profile: MetaMotion, sink: Sink) -> SensorStream:
    return SensorStream("pelvis", profile, on_samples=sink.samples, on_event=sink.event, address=MMS,
                        session_start=world.clock.now(), clock=world.clock, backend=world.client_backend(),
                        scanner_backend=world.scanner_backend(), scan_timeout_s=2.0)


@pytest.mark.parametrize("board, chip", [("S", "bmi270"), ("RL", "bmi160")])
def test_session_through_bleak_pairs_acc_and_gyro(board: str, chip: str) -> None:
    sink = Sink()
    rate = 50.0

    async def main() -> tuple[SensorStream, FakeMetaMotion, MetaMotion, float]:
        world = FakeWorld(seed=11)
        # packets 2k = acc of sample k, 2k+1 = its gyro: lose an acc half and a gyro half
        dev = world.add(FakeMetaMotion(MMS, "MetaWear", synthetic_motion(rate, 30, seed=3), board=board,
                                       rate_error=0.004, lost_packets=frozenset({200, 421}), seed=12))
        t0 = world.clock.now()
        profile = MetaMotion(sample_rate_hz=rate)
        async with world.running():
            s = _stream(world, profile, sink)
            await s.open()
            assert profile.detected_chip == chip and dev.streaming and dev.rate_hz == rate
            await world.clock.sleep(8.0)
            await s.close()
            assert not dev.streaming and dev.writes[-6:] == stop_sequence(chip)
        return s, dev, profile, t0

    s, dev, profile, t0 = asyncio.run(main())
    t, acc, gyr = sink.arrays()
    truth_t, truth_acc, truth_gyr = dev.truth.arrays(t0)
    assert dev.injected_lost_samples == 2 and profile.unpaired_acc + profile.unpaired_gyr == 2
    # every complete sample arrives, with its own partner (exactly the values sent)
    assert len(t) == len(truth_t) == s.status.samples and 380 <= len(t) <= 420
    np.testing.assert_allclose(acc, truth_acc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(gyr, truth_gyr, rtol=0, atol=1e-12)
    k = np.asarray(dev.truth.k)
    np.testing.assert_allclose(acc, dev.motion.acc[k], atol=G / 2048)
    np.testing.assert_allclose(gyr, dev.motion.gyr[k], atol=DEG / 16.4)
    # receipt-time stamping at the nominal rate: ordered, at the real rate, a few ms late at most.
    # The single lost samples are invisible to the timing (no counter), so later samples may sit
    # up to two periods early until the rate fit catches up: that is the documented caveat.
    assert np.all(np.diff(t) > 0)
    assert abs(len(t) / (t[-1] - t[0]) - rate * 1.004) < 0.5
    err = t - truth_t
    assert np.max(np.abs(err)) < 2.5 / rate and np.median(np.abs(err)) < 0.01
    assert s.status.loss_is_estimate


@pytest.mark.parametrize("board, error, words", [
    ("silent", ConnectionFailedError, r"pelvis sensor \(D0:30:00:00:00:01\).*did not answer the accelerometer "
                                      r"module-info request within 3 s"),
    ("C-nogyro", ProfileMismatchError, r"pelvis sensor.*no gyroscope"),
])
def test_handshake_failures_are_clear_errors_not_hangs(board: str, error: type, words: str) -> None:
    async def main() -> tuple[float, FakeMetaMotion]:
        world = FakeWorld(seed=2)
        dev = world.add(FakeMetaMotion(MMS, "MetaWear", synthetic_motion(100, 5, seed=1), board=board))
        async with world.running():
            t_start = world.clock.now()
            with pytest.raises(error, match=words) as info:
                await _stream(world, MetaMotion(), Sink()).open()
            assert isinstance(info.value, BleError)
            return world.clock.now() - t_start, dev

    elapsed, dev = asyncio.run(main())
    assert elapsed < 5.0 and dev.client is None and not dev.streaming


def test_configured_chip_must_match_the_board() -> None:
    async def main() -> None:
        world = FakeWorld(seed=2)
        world.add(FakeMetaMotion(MMS, "MetaWear", synthetic_motion(100, 5, seed=1), board="RL"))
        async with world.running():
            with pytest.raises(ProfileMismatchError, match="reports a BMI160.*chip = 'bmi270'"):
                await _stream(world, MetaMotion(chip="bmi270"), Sink()).open()

    asyncio.run(main())
