"""``record --demo`` and the recorder's reliability: simulated sensors through the real BleakClient,
disconnect storms, give-up, a sensor that never sends, the same address twice, a full disk and a
folder turning read-only mid-session, and fuzzed packets through the reader.

The in-process tests run the demo on a clock that runs several times faster than real time (every
wait of the BLE layer and of the demo radio is on that clock), so a 45 s session takes seconds.
The process tests (SIGKILL, Ctrl-C twice) are in tests/test_ble_crash.py.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ble_fakes import FakeGenericNano33, FakeMovesense, FakeWitMotion, synthetic_motion

from imu_pipeline.ble.demo import DemoWorld, LinkDrop, plan_link_drops, witmotion_frame
from imu_pipeline.ble.devices import make_profile
from imu_pipeline.ble.devices.witmotion import ACC_LSB_M_S2, GYR_LSB_RAD_S
from imu_pipeline.ble.reader import ReconnectPolicy, SensorStream
from imu_pipeline.ble.recorder import Recorder, format_status
from imu_pipeline.cli import build_parser
from imu_pipeline.cli.record import record_async
from imu_pipeline.errors import OutputError, UsageError
from imu_pipeline.io.recording import read_recording, sidecar_path
from imu_pipeline.io.writer import RecordingWriter

ROOT = Path(__file__).resolve().parents[1]


class FastClock:
    """Monotonic time running ``speed`` times faster than real time."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.m0 = time.monotonic()

    def now(self) -> float:
        return 1000.0 + (time.monotonic() - self.m0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


def _args(*argv: str) -> argparse.Namespace:
    return build_parser(("record",)).parse_args(["record", *argv])


def _rows(out: Path) -> dict[str, Any]:
    rec = read_recording(out, warn=False)
    return {s: rec.sensors[s] for s in ("thigh", "pelvis")}


def _quantised(world: DemoWorld, role: str) -> tuple[np.ndarray, np.ndarray]:
    s = world.sensors[role]
    k = s.sent
    return (np.rint(s.acc[k] / ACC_LSB_M_S2) * ACC_LSB_M_S2, np.rint(s.gyr[k] / GYR_LSB_RAD_S) * GYR_LSB_RAD_S)


def test_link_drop_plan_overlaps_and_spreads() -> None:
    drops = plan_link_drops(20, 60.0, seed=3)
    assert len(drops) == 20 and {d.role for d in drops} == {"thigh", "pelvis"}
    assert all(3.0 <= d.at_s <= 57.0 and 0.5 <= d.down_s <= 3.0 for d in drops)
    overlapping = [(a, b) for a in drops for b in drops
                   if a.role != b.role and a.at_s <= b.at_s < a.at_s + a.down_s]
    assert overlapping, "some drops of the two sensors must overlap"
    assert plan_link_drops(0, 60.0, 1) == []


def test_demo_frames_decode_with_the_production_profile() -> None:
    acc, gyr = np.array([0.5, -9.7, 1.25]), np.array([0.3, -1.0, 2.5])
    batch = make_profile("witmotion").decode(witmotion_frame(acc, gyr))
    np.testing.assert_allclose(batch.acc[0], acc, atol=ACC_LSB_M_S2)
    np.testing.assert_allclose(batch.gyr[0], gyr, atol=GYR_LSB_RAD_S)


def test_demo_session_with_a_disconnect_storm(tmp_path: Path) -> None:
    """20 link drops of either sensor (some overlapping, some mid-rep): the session ends normally, every
    drop is an event pair in the sidecar, and the recording holds exactly the samples that were sent."""
    out = tmp_path / "storm.csv"
    clock = FastClock(6.0)
    worlds: list[DemoWorld] = []
    import imu_pipeline.cli.record as record_cli

    real = record_cli.demo_world

    def keep(args: argparse.Namespace, c: Any) -> DemoWorld | None:
        w = real(args, c)
        if w is not None:
            worlds.append(w)
        return w

    lines: list[str] = []
    record_cli.demo_world = keep  # type: ignore[assignment]
    try:
        result = asyncio.run(record_async(_args(str(out), "--demo", "--duration", "48", "--demo-disconnects", "20",
                                                "--demo-seed", "4"), clock=clock, out=lines.append,
                                          status_out=lambda s: None))
    finally:
        record_cli.demo_world = real  # type: ignore[assignment]
    world = worlds[0]
    assert result.end_reason == "duration" and result.lost_sensor is None
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["demo"]["simulated"] is True and len(meta["demo"]["link_drops"]) == 20
    events = meta["events"]
    rows = _rows(out)
    for role in ("thigh", "pelvis"):
        hit = world.sensors[role].link_drops_hit
        kinds = [e["kind"] for e in events if e.get("sensor") == role]
        assert kinds.count("disconnected") == hit >= 1, (role, kinds, hit)
        assert kinds.count("reconnected") == hit
        # nothing sent was lost: the recording holds exactly the sent samples, with their values
        acc, gyr = _quantised(world, role)
        # (how many were sent depends on how fast the reconnects were; at 6x real time a loaded machine
        # slows them down by as much: the count is a floor, the exact match is the point)
        assert rows[role].time_s.size == acc.shape[0] > 1500
        np.testing.assert_allclose(rows[role].acc, acc, atol=2e-5)
        np.testing.assert_allclose(rows[role].gyr, gyr, atol=2e-6)
        assert np.all(np.diff(rows[role].time_s) > 0)
    mid_rep = [d for d in world.drops if any(r["start_s"] < d.at_s < r["end_s"] for r in world.truth_reps)]
    assert mid_rep, "some drops fall in the middle of a rep"
    assert any("disconnected" in ln for ln in lines) and any("reconnected" in ln for ln in lines)
    from imu_pipeline.pipeline.offline import analyze_recording

    an = analyze_recording(read_recording(out, warn=False))
    assert len(an.reps) >= 4


@pytest.mark.parametrize("disconnects", [0, 3])
def test_live_reps_are_the_offline_reps_with_the_same_confidence(tmp_path: Path, disconnects: int) -> None:
    """The live feedback of a demo session gives the reps analyze gives on the file, with the same
    label and label confidence: the ~2 s of samples each reader holds after a (re)connection while
    its timing settles are waited for, not taken as that sensor missing (which shortened the live
    start pose and marked every live rep 'low')."""
    from imu_pipeline.pipeline.offline import analyze_recording

    out = tmp_path / "live.csv"
    lines: list[str] = []
    argv = ["--demo", "--duration", "40", "--demo-seed", "2"] + (["--demo-disconnects", str(disconnects)]
                                                                  if disconnects else [])
    asyncio.run(record_async(_args(str(out), *argv), clock=FastClock(2.0), out=lines.append,
                             status_out=lambda s: None))
    live = [re.search(r"s  (\S+)(?: (\(low\)))?", ln) for ln in lines if ln.startswith("rep ")]
    an = analyze_recording(read_recording(out, warn=False))
    assert len(an.reps) >= 5
    offline = [(r.label or "unlabelled", r.label_confidence) for r in an.reps]
    got = [(m[1] if m[1] in ("hip-flexor-only", "abdominal-engaging") else "unlabelled",
            "low" if m[2] else "normal" if m[1] in ("hip-flexor-only", "abdominal-engaging") else "none") for m in live]
    if disconnects == 0:
        assert got == offline, (got, offline, lines)
    else:  # a link drop may cut a rep live that the file (with the gap) still counts: most agree
        same = sum(a == b for a, b in zip(got, offline))
        assert abs(len(got) - len(offline)) <= 1 and same >= len(offline) - 2, (got, offline, lines)


def _recorder(world: DemoWorld, out: Path, clock: FastClock, policy: ReconnectPolicy,
              lines: list[str]) -> Recorder:
    specs = world.sensor_specs()
    profiles = {s.role: make_profile(s.profile, s.sample_rate_hz) for s in specs}
    writer = RecordingWriter(out, meta={"demo": world.describe()})
    return Recorder(specs, profiles, writer, backend=world.client_backend(), scanner_backend=world.scanner_backend(),
                    clock=clock, out=lines.append, status_out=lambda s: None, policy=policy, scan_timeout_s=5.0)


async def _run(world: DemoWorld, rec: Recorder, duration: float) -> Any:
    async with world.running():
        return await rec.run(duration)


def test_give_up_is_honoured_and_keeps_what_was_recorded(tmp_path: Path) -> None:
    clock = FastClock(5.0)
    world = DemoWorld(30.0, seed=2, clock=clock)
    world.drops = [LinkDrop("pelvis", 6.0, 60.0)]
    lines: list[str] = []
    rec = _recorder(world, tmp_path / "gone.csv", clock, ReconnectPolicy(give_up_after_s=4.0), lines)
    result = asyncio.run(_run(world, rec, 30.0))
    assert result.lost_sensor == "pelvis" and "did not come back within 4 s" in result.end_reason
    assert 9.0 < result.duration_s < 14.0
    rows = _rows(tmp_path / "gone.csv")
    assert rows["pelvis"].time_s[-1] == pytest.approx(6.0, abs=0.2)
    assert rows["thigh"].time_s[-1] > 9.0
    kinds = [e["kind"] for e in json.loads(sidecar_path(tmp_path / "gone.csv").read_text())["events"]]
    assert "gave_up" in kinds


def test_a_sensor_that_connects_but_never_sends_is_reported_and_given_up(tmp_path: Path) -> None:
    clock = FastClock(5.0)
    world = DemoWorld(40.0, seed=3, silent=("pelvis",), clock=clock)
    lines: list[str] = []
    policy = ReconnectPolicy(give_up_after_s=9.0, no_data_timeout_s=2.0)
    rec = _recorder(world, tmp_path / "mute.csv", clock, policy, lines)
    result = asyncio.run(_run(world, rec, 40.0))
    assert result.lost_sensor == "pelvis"
    assert "sent no data for" in result.end_reason
    assert any("pelvis no_data" in ln for ln in lines)
    events = json.loads(sidecar_path(tmp_path / "mute.csv").read_text())["events"]
    kinds = [e["kind"] for e in events if e.get("sensor") == "pelvis"]
    assert kinds.count("no_data") >= 2 and "reconnected" in kinds and kinds[-1] == "gave_up"
    import pandas as pd

    rows = pd.read_csv(tmp_path / "mute.csv")
    assert (rows["sensor"] == "thigh").sum() > 500 and (rows["sensor"] == "pelvis").sum() == 0  # thigh kept


def test_same_address_for_both_sensors_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="same address"):
        asyncio.run(record_async(_args(str(tmp_path / "x.csv"), "--thigh", "AA:BB:CC:DD:EE:01", "--pelvis",
                                       "aa:bb:cc:dd:ee:01", "--profile", "witmotion")))
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("extra, words", [
    (("--sensors", "configs/sensors.example.toml"), "takes no --sensors"),
    (("--demo-seed", "-1"), "--demo-seed must be"),
    (("--demo-disconnects", "-2"), "--demo-disconnects must be"),
])
def test_demo_option_errors(tmp_path: Path, extra: tuple[str, ...], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        asyncio.run(record_async(_args(str(tmp_path / "x.csv"), "--demo", *extra)))


def test_demo_disconnects_needs_demo(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs --demo"):
        asyncio.run(record_async(_args(str(tmp_path / "x.csv"), "--demo-disconnects", "3")))


@pytest.mark.parametrize("fault", ["disk-full", "read-only"])
def test_disk_full_or_read_only_mid_session_stops_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          fault: str) -> None:
    """The disk fills (writes fail with ENOSPC) or the folder turns read-only (the sidecar cannot be
    replaced) 6 s into the session: the session stops with one clear message and the file keeps
    what was written before."""
    import imu_pipeline.io.writer as writer_mod

    clock = FastClock(2.0)
    out = tmp_path / "full.csv"
    start = clock.now()
    real_flush, real_replace = writer_mod.RecordingWriter.flush, writer_mod.os.replace

    class FullFile:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str) -> Any:
            return getattr(self.fh, name)

    def flush(self: RecordingWriter) -> None:
        if clock.now() - start > 6.0 and not isinstance(self._fh, FullFile):
            self._fh = FullFile(self._fh)  # type: ignore[assignment]
        real_flush(self)

    def replace(src: Any, dst: Any) -> None:
        if clock.now() - start > 6.0:
            raise PermissionError(errno.EACCES, "Permission denied")
        real_replace(src, dst)

    if fault == "disk-full":
        monkeypatch.setattr(writer_mod.RecordingWriter, "flush", flush)
    else:
        monkeypatch.setattr(writer_mod.os, "replace", replace)
    args = _args(str(out), "--demo", "--duration", "40", "--demo-disconnects", "6" if fault == "read-only" else "0")
    with pytest.raises(OutputError) as err:
        asyncio.run(record_async(args, clock=clock, out=lambda s: None, status_out=lambda s: None))
    msg = str(err.value)
    assert ("No space left" in msg) if fault == "disk-full" else ("Permission denied" in msg)
    assert "keeps the" in msg and str(out) in msg
    monkeypatch.undo()
    rows = _rows(out)
    for role in ("thigh", "pelvis"):  # what was received before the fault (and, read-only, up to the stop) is kept
        t = rows[role].time_s
        assert t[-1] > (3.5 if fault == "disk-full" else 5.9), (role, t)
        if fault == "disk-full":  # no link drops planned: ~100 Hz throughout
            assert t.size > 0.8 * 100 * (t[-1] - t[0]), (role, t)
        assert t[-1] < 20.0
    json.loads(sidecar_path(out).read_text())  # the last good sidecar stays valid


def test_status_line_shows_bad_packets() -> None:
    from imu_pipeline.ble.reader import SensorStatus

    st = SensorStatus(decode_errors=7, connected=True)
    assert "bad 7" in format_status(3.0, {"thigh": st}, 3.0)
    assert "bad" not in format_status(3.0, {"thigh": SensorStatus(connected=True)}, 3.0)


# --------------------------------------------------------------------------- fuzzing through the reader


def _mutations(good: list[bytes], rng: np.random.Generator, n: int) -> list[bytes]:
    """Random and mutated packets: truncated, extra bytes, wrong headers, flipped bytes, NaN floats,
    counters/timestamps jumping back (the first bytes of an earlier packet), random bytes."""
    out: list[bytes] = []
    nan = np.array([np.nan], dtype="<f4").tobytes()
    for i in range(n):
        g = bytearray(good[int(rng.integers(len(good)))])
        kind = i % 8
        if kind == 0:
            g = g[: int(rng.integers(0, max(1, len(g))))]
        elif kind == 1:
            g += bytes(rng.integers(0, 256, int(rng.integers(1, 30)), dtype=np.uint8))
        elif kind == 2 and g:
            g[0] = int(rng.integers(256))
        elif kind == 3 and g:
            for _ in range(int(rng.integers(1, 5))):
                g[int(rng.integers(len(g)))] = int(rng.integers(256))
        elif kind == 4 and len(g) >= 8:
            at = int(rng.integers(0, len(g) - 3))
            g[at:at + 4] = nan
        elif kind == 5:
            earlier = good[int(rng.integers(len(good)))]
            g[:6] = earlier[:6]  # counter / device time from another packet: jumps back or ahead
        elif kind == 6:
            g = bytearray(rng.integers(0, 256, int(rng.integers(0, 250)), dtype=np.uint8).tobytes())
        out.append(bytes(g))  # kind 7 (and too-short cases): the good packet itself
    return out


FUZZ_DEVICES = {
    "witmotion": lambda m: FakeWitMotion("C1:00:00:00:00:01", "WT901", m, rate_hz=100.0),
    "movesense": lambda m: FakeMovesense("C1:00:00:00:00:02", "Movesense 1", m, rate_hz=52.0),
    "nano33": lambda m: FakeGenericNano33("C1:00:00:00:00:03", "Nano33IMU-1", m, rate_hz=119.0),
}


@pytest.mark.parametrize("family", sorted(FUZZ_DEVICES))
def test_fuzzed_packets_never_escape_the_reader(family: str, tmp_path: Path) -> None:
    """12,000 random and mutated packets per profile through SensorStream's notification path: nothing
    raises, bad packets are counted, what passes is finite and timed forward, and it records."""
    motion = synthetic_motion(100, 60, seed=5)
    dev = FUZZ_DEVICES[family](motion)
    profile = (make_profile("witmotion") if family == "witmotion" else make_profile("movesense", 52.0)
               if family == "movesense" else make_profile(str(ROOT / "configs/generic-arduino-nano33.toml")))
    dev.reference = getattr(profile, "reference", None)  # Movesense: the subscription reference it answers with
    per = dev.samples_per_packet
    good = [dev.encode_packet(i, list(range(i * per, i * per + per))) for i in range(400)]
    rng = np.random.default_rng(11)
    packets = _mutations(good, rng, 12_000)

    class Clock:
        t = 0.0

        def now(self) -> float:
            return self.t

        async def sleep(self, s: float) -> None:  # pragma: no cover - not awaited here
            self.t += s

    clock = Clock()
    got: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    stream = SensorStream("thigh", profile, on_samples=lambda r, t, a, g: got.append((t, a, g)),
                          on_event=lambda *a: None, clock=clock)
    for i, p in enumerate(packets):
        clock.t = i * per / float(profile.sample_rate_hz or 100.0)
        stream._on_notify(None, bytearray(p))
    stream.release()
    st = stream.status
    assert st.packets == 12_000
    assert 12_000 * 0.3 < st.decode_errors < 12_000, st.decode_errors
    t = np.concatenate([g[0] for g in got])
    acc = np.concatenate([g[1] for g in got])
    assert t.size == st.samples > 1000
    assert np.isfinite(t).all() and np.isfinite(acc).all()
    assert np.all(np.diff(t) >= 0), "times must run forward (format v1 needs non-decreasing time per sensor)"
    assert np.abs(acc).max() <= profile.acc_range_m_s2 * 1.001
