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

from imu_pipeline.ble.demo import (
    DROP_SEPARATION_S,
    READER_SETTLE_S,
    DemoWorld,
    LinkDrop,
    max_link_drops,
    plan_link_drops,
    witmotion_frame,
)
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


@pytest.mark.parametrize("n, duration", [(20, 60.0), (4, 20.0), (8, 20.0), (6, 30.0), (24, 60.0)])
def test_link_drop_plan_gives_exactly_n_separate_drops_some_overlapping(n: int, duration: float) -> None:
    """Exactly N drops (issue 15: one sensor's drops overlapped, so fewer disconnects happened); one
    sensor's drops are DROP_SEPARATION_S apart (reconnect, ~2 s timing settle, then streaming again);
    the two sensors' drops overlap somewhere; none in the first or last 3 s."""
    for seed in range(12):
        drops = plan_link_drops(n, duration, seed=seed)
        assert len(drops) == n and {d.role for d in drops} == {"thigh", "pelvis"}
        assert all(3.0 <= d.at_s and d.at_s + d.down_s <= duration - 3.0 + 1e-9 for d in drops)
        assert all(0.5 - 1e-9 <= d.down_s <= 3.0 for d in drops)
        for role in ("thigh", "pelvis"):
            mine = [d for d in drops if d.role == role]
            assert all(b.at_s - (a.at_s + a.down_s) >= DROP_SEPARATION_S - 1e-9 for a, b in zip(mine, mine[1:]))
        overlapping = [(a, b) for a in drops for b in drops
                       if a.role != b.role and a.at_s <= b.at_s < a.at_s + a.down_s]
        assert overlapping, "some drops of the two sensors must overlap"
    assert DROP_SEPARATION_S >= 1.0 + READER_SETTLE_S and READER_SETTLE_S == pytest.approx(2.0)
    assert plan_link_drops(0, 60.0, 1) == []
    times = sorted(d.at_s for d in plan_link_drops(20, 60.0, seed=3))
    assert times[0] < 12.0 and times[-1] > 45.0, "spread over the session"


def test_more_link_drops_than_fit_are_refused_with_the_maximum(tmp_path: Path) -> None:
    """200 drops in a 20 s session were accepted; the maximum for 20 s is 8 (4 per sensor)."""
    assert max_link_drops(20.0) == 8 and max_link_drops(60.0) == 24 and max_link_drops(6.0) == 0
    assert len(plan_link_drops(8, 20.0, seed=1)) == 8
    with pytest.raises(ValueError, match="at most 8"):
        plan_link_drops(9, 20.0, seed=1)
    for n, duration, most in (("200", "20", 8), ("9", "20", 8), ("1", "6", 0)):
        with pytest.raises(UsageError, match=rf"--demo-disconnects {n} does not fit in a {duration} s session: "
                                             rf"at most {most} for --duration {duration} "):
            asyncio.run(record_async(_args(str(tmp_path / "x.csv"), "--demo", "--duration", duration,
                                           "--demo-disconnects", n)))
    assert not (tmp_path / "x.csv").exists()


def test_demo_frames_decode_with_the_production_profile() -> None:
    acc, gyr = np.array([0.5, -9.7, 1.25]), np.array([0.3, -1.0, 2.5])
    batch = make_profile("witmotion").decode(witmotion_frame(acc, gyr))
    np.testing.assert_allclose(batch.acc[0], acc, atol=ACC_LSB_M_S2)
    np.testing.assert_allclose(batch.gyr[0], gyr, atol=GYR_LSB_RAD_S)


def test_demo_session_with_a_disconnect_storm(tmp_path: Path) -> None:
    """20 link drops of either sensor (some overlapping, some mid-rep): the session ends normally, every
    planned drop cut an open connection (a real disconnect, then a reconnect: issue 15, one sensor's
    drops overlapped and fewer happened), every drop is an event pair in the sidecar, and the
    recording holds exactly the samples that were sent."""
    out = tmp_path / "storm.csv"
    clock = FastClock(6.0)
    worlds: list[DemoWorld] = []
    import imu_pipeline.cli.record as record_cli

    real = record_cli.demo_world

    def keep(args: argparse.Namespace, c: Any, *more: Any) -> DemoWorld | None:
        w = real(args, c, *more)
        if w is not None:
            worlds.append(w)
        return w

    lines: list[str] = []
    record_cli.demo_world = keep  # type: ignore[assignment]
    try:
        result = asyncio.run(record_async(_args(str(out), "--demo", "--duration", "60", "--demo-disconnects", "20",
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
        assert hit == sum(d.role == role for d in world.drops) == 10, (role, hit)
        kinds = [e["kind"] for e in events if e.get("sensor") == role]
        assert kinds.count("disconnected") == hit, (role, kinds, hit)
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


def test_demo_give_up_speaks_of_the_simulated_sensor_in_tenths_of_seconds(tmp_path: Path) -> None:
    """Issue 15: a demo sensor given up was reported with the reader's advice for real sensors
    ('switch it on ...') and unrounded seconds ('not found within 0.39871 s'). The demo says its
    planned link drop kept the simulated sensor off longer than --give-up, seconds to 0.1 s."""
    out = tmp_path / "lost.csv"
    lines: list[str] = []
    result = asyncio.run(record_async(_args(str(out), "--demo", "--duration", "30", "--demo-disconnects", "2",
                                            "--give-up", "0.43"), clock=FastClock(4.0), out=lines.append,
                                      status_out=lambda s: None))
    assert result.lost_sensor is not None
    reason = result.end_reason
    lost = result.lost_sensor
    assert reason.startswith(f"the demo's planned link drop kept the simulated {lost} sensor off "), reason
    assert reason.endswith("longer than --give-up 0.4 s"), reason  # 0.43 s, to 0.1 s
    assert "switch it on" not in reason and not re.search(r"\d\.\d\d", reason), reason
    assert any(ln.startswith("recorded ") and reason in ln for ln in lines)
    assert json.loads(sidecar_path(out).read_text())["end_reason"] == reason


def test_the_same_demo_seed_gives_the_same_person_and_straps_whatever_the_duration() -> None:
    """Issue 15: --demo-seed with another --duration changed the sensor mountings (the simulated
    session's rep count moved every later random draw). The declared mountings and the real strap
    orientation (gravity in each sensor's frame in the still start) are the seed's alone."""
    short, long = DemoWorld(20.0, seed=1), DemoWorld(300.0, seed=1)
    assert short.mounting == long.mounting
    for role in ("thigh", "pelvis"):
        g_short, g_long = (np.mean(w.sensors[role].acc[:150], axis=0) for w in (short, long))
        cos = g_short @ g_long / np.linalg.norm(g_short) / np.linalg.norm(g_long)
        assert np.degrees(np.arccos(min(1.0, cos))) < 2.0, role  # sensor biases differ; the strap does not
    assert DemoWorld(20.0, seed=2).mounting != short.mounting or not np.allclose(
        DemoWorld(20.0, seed=2).sensors["thigh"].acc[:150].mean(0), short.sensors["thigh"].acc[:150].mean(0), atol=0.5)
    assert len(long.sensors["thigh"].acc) >= 302 * 100 and long.duration_s == 300.0


def test_demo_says_it_is_preparing_before_simulating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: a long demo (--duration 600) was silent for seconds while the session was simulated.
    The first line comes before the simulation starts."""
    import imu_pipeline.ble.demo as demo_mod
    import imu_pipeline.cli.record as record_cli

    lines: list[str] = []

    class Stop(Exception):
        pass

    def simulating(*args: Any, **kwargs: Any) -> None:
        lines.append("<simulating>")
        raise Stop

    monkeypatch.setattr(demo_mod.DemoWorld, "__init__", simulating)
    monkeypatch.setattr(record_cli, "DemoWorld", demo_mod.DemoWorld)
    with pytest.raises(Stop):
        asyncio.run(record_async(_args(str(tmp_path / "long.csv"), "--demo", "--duration", "600"), out=lines.append))
    assert lines == ["preparing the simulated session (600 s, lying, seed 1) ...", "<simulating>"]


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
    (("--duration", "2400"), "--duration with --demo is at most 1800 s"),
    (("--exercise", "hanging-leg-raise", "--pose", "lying"),
     "--exercise hanging-leg-raise is a hanging exercise but --pose lying was given"),
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
        assert t[-1] > 3.5, (role, t)
        if fault == "disk-full":  # no link drops planned: ~100 Hz throughout
            assert t.size > 0.8 * 100 * (t[-1] - t[0]), (role, t)
        assert t[-1] < 20.0
    if fault == "read-only":  # rows went on being written after the fault, up to the stop (one sensor may have
        # been in a planned link drop then: the thigh's first one is at ~5 s)
        assert max(rows[r].time_s[-1] for r in rows) > 5.9
    json.loads(sidecar_path(out).read_text())  # the last good sidecar stays valid


def test_status_line_shows_bad_packets() -> None:
    from imu_pipeline.ble.reader import SensorStatus

    st = SensorStatus(decode_errors=7, connected=True)
    assert "bad 7" in format_status(3.0, {"thigh": st}, 3.0)
    assert "bad" not in format_status(3.0, {"thigh": SensorStatus(connected=True)}, 3.0)


def test_status_line_shows_a_rate_only_once_measured_over_a_second() -> None:
    """Issue 15: the first status line said 'thigh 49.5 Hz' for a 100 Hz sensor: the rate was the
    samples of the last 2 s divided by 2 s, 1 s after the connection. It is measured since the
    (re)connection once that is 1 s ago; before, and while reconnecting, it reads '—'."""
    from imu_pipeline.ble.reader import SensorStatus
    from imu_pipeline.report.coach_feed import parse_status_line

    def streaming(since: float, now: float) -> SensorStatus:
        st = SensorStatus(connected=True)
        for k in range(int((now - since) / 0.03)):  # 3 samples every 30 ms: 100 Hz
            st.note_samples(since + 0.03 * (k + 1), 3)
        return st

    early = format_status(1.3, {"thigh": streaming(0.4, 1.3)}, 1.3, {"thigh": 0.4})
    assert "thigh     — Hz loss" in early
    assert parse_status_line(early)["thigh"]["rate_hz"] is None
    st = streaming(0.3, 1.5)
    line = format_status(1.5, {"thigh": st}, 1.5, {"thigh": 0.3})
    assert parse_status_line(line)["thigh"]["rate_hz"] == pytest.approx(100.0, abs=3.0), line
    st = streaming(0.3, 5.0)
    assert parse_status_line(format_status(5.0, {"thigh": st}, 5.0, {"thigh": 0.3}))["thigh"]["rate_hz"] == \
        pytest.approx(100.0, abs=2.0)
    st.connected = False
    gone = format_status(5.0, {"thigh": st}, 5.0, {"thigh": None})
    assert "— Hz" in gone and "(reconnecting)" in gone and parse_status_line(gone)["thigh"]["connected"] is False
    bad = SensorStatus(decode_errors=3, connected=True)
    assert parse_status_line(format_status(3.0, {"thigh": bad}, 3.0))["thigh"]["loss_percent"] == 0.0


def test_first_status_lines_of_a_demo_never_show_half_the_rate(tmp_path: Path) -> None:
    """The recorder passes each sensor's (re)connection time: no status line shows a sensor far
    below its 100 Hz, neither at the start nor after a link drop."""
    from imu_pipeline.report.coach_feed import parse_status_line

    status: list[str] = []
    asyncio.run(record_async(_args(str(tmp_path / "s.csv"), "--demo", "--duration", "24", "--demo-disconnects", "4",
                                   "--demo-seed", "3"), clock=FastClock(3.0), out=lambda s: None,
                             status_out=status.append))
    rates = [r for line in status for r in (v["rate_hz"] for v in parse_status_line(line).values())]
    shown = [r for r in rates if r is not None]
    assert len(status) >= 20 and None in rates and len(shown) > 20
    # the bug showed ~50 Hz at the start and after each reconnect; a loaded machine delays a batch now and then
    assert min(shown) > 70.0, [ln for ln in status if "Hz" in ln][:8]


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
