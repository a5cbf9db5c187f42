"""``info``'s data (imu_pipeline/report/info.py): rates, coverage and every outage, ends included."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import moving_samples

from imu_pipeline.config import FrontConfig
from imu_pipeline.io.recording import CSV_COLUMNS, SensorSamples, read_recording
from imu_pipeline.io.writer import write_recording
from imu_pipeline.report.info import info_dict
from imu_pipeline.simulate import SimulationOptions, simulate_session


def _cut(ss: SensorSamples, keep: np.ndarray) -> SensorSamples:
    return SensorSamples(ss.time_s[keep], ss.acc[keep], ss.gyr[keep])


def test_rates_outages_and_coverage(tmp_path: Path) -> None:
    thigh = moving_samples(1000, 100.0, t0=0.0, seed=4)  # 0.00 .. 9.99 s
    keep = ~((thigh.time_s > 3.0) & (thigh.time_s < 3.5))  # 49 samples lost: 3.00 -> 3.50
    keep &= np.arange(1000) % 20 != 7  # isolated lost packets, too short to be outages
    thigh = _cut(thigh, keep)
    pelvis = moving_samples(520, 52.0, t0=0.004, seed=5)  # 0.004 .. 9.985 s
    pelvis_keep = ~((pelvis.time_s > 6.0) & (pelvis.time_s < 6.2))
    pelvis = _cut(pelvis, pelvis_keep)
    meta = {"sensors": {"thigh": {"sample_rate_hz": 100.0, "mounting": {"x": "superior", "y": "right"}}}}
    p = write_recording(tmp_path / "gaps.csv", {"thigh": thigh, "pelvis": pelvis}, meta)
    info = info_dict(read_recording(p))

    assert info["recording"] == "gaps.csv"
    assert info["duration_s"] == pytest.approx(9.99, abs=1e-6)
    th, pe = info["sensors"]["thigh"], info["sensors"]["pelvis"]
    assert th["samples"] == int(keep.sum()) and pe["samples"] == int(pelvis_keep.sum())
    assert th["rate_hz"] == pytest.approx(100.0, rel=1e-4)
    assert pe["rate_hz"] == pytest.approx(52.0, rel=1e-3)
    assert th["declared_rate_hz"] == 100.0 and pe["declared_rate_hz"] is None
    # coverage of the session grid: the thigh misses 0.5 s of 9.99 s, the pelvis ~0.23 s
    assert th["coverage"] == pytest.approx(1 - 0.5 / 9.99, abs=0.01)
    assert pe["coverage"] == pytest.approx(1 - 0.23 / 9.99, abs=0.01)
    gaps = sorted(info["gaps"], key=lambda g: g["start_s"])
    assert [(g["sensor"], g["where"]) for g in gaps] == [("thigh", "middle"), ("pelvis", "middle")]
    assert gaps[0]["start_s"] == pytest.approx(3.0) and gaps[0]["end_s"] == pytest.approx(3.5)
    assert gaps[0]["duration_s"] == pytest.approx(0.5)
    t_pe = pelvis.time_s
    assert gaps[1]["start_s"] == pytest.approx(t_pe[t_pe <= 6.0][-1], abs=1e-3)
    assert gaps[1]["end_s"] == pytest.approx(t_pe[t_pe >= 6.2][0], abs=1e-3)
    assert any("no mounting declared for the pelvis" in w for w in info["warnings"])
    assert any("the thigh sensor was silent for 0.5 s from 3.0 s" in w for w in info["warnings"])
    # a larger threshold hides the short outage
    wide = info_dict(read_recording(p), FrontConfig(max_gap_s=0.3))
    assert [g["sensor"] for g in wide["gaps"]] == ["thigh"]


def test_outages_at_the_start_and_the_end_are_reported(tmp_path: Path) -> None:
    thigh = moving_samples(2000, 100.0, t0=0.0, seed=1)  # 0 .. 20 s
    pelvis = moving_samples(2000, 100.0, t0=0.0, seed=2)
    late = _cut(pelvis, (pelvis.time_s >= 5.0) & (pelvis.time_s < 15.0))  # starts 5 s late, dies at 15 s
    p = write_recording(tmp_path / "late.csv", {"thigh": thigh, "pelvis": late})
    info = info_dict(read_recording(p))
    gaps = [(g["sensor"], g["where"], round(g["start_s"], 2), round(g["end_s"], 2)) for g in info["gaps"]]
    assert gaps == [("pelvis", "start", 0.0, 5.0), ("pelvis", "end", 14.99, 19.99)]
    assert info["sensors"]["pelvis"]["coverage"] == pytest.approx(0.5, abs=0.01)
    assert any("pelvis sensor started 5.0 s after the session began" in w for w in info["warnings"])
    assert any("pelvis sensor stopped 5.0 s before the session ended" in w for w in info["warnings"])


def test_complete_recording_has_no_outages(tmp_path: Path) -> None:
    thigh = moving_samples(300, 100.0, seed=1)
    pelvis = moving_samples(150, 50.0, seed=2)
    p = write_recording(tmp_path / "full.csv", {"thigh": thigh, "pelvis": pelvis})
    info = info_dict(read_recording(p))
    assert info["gaps"] == []
    for s in ("thigh", "pelvis"):
        assert info["sensors"][s]["coverage"] == pytest.approx(1.0, abs=0.02)


def test_dropped_time_stamps_and_a_wrong_declared_rate_are_reported(tmp_path: Path) -> None:
    """A host that stamps each 5-sample packet with its arrival time: 4 of 5 samples repeat a time
    stamp and are dropped; the sensor then delivers 20 samples/s against a declared 100 Hz. Both are
    said in plain words (info and the analysis summary use the same sentences)."""
    from imu_pipeline.report.info import info_dict

    sim = simulate_session(SimulationOptions(seed=3, n_reps=3))
    sensors = {}
    for s, ss in sim.recording.sensors.items():
        t = ss.time_s.copy()
        if s == "pelvis":
            t = np.repeat(t[4::5], 5)[: len(t)]  # each packet stamped with its last sample's time
            t = np.concatenate([t, ss.time_s[len(t):]])
        sensors[s] = SensorSamples(t, ss.acc, ss.gyr)
    p = tmp_path / "stamped.csv"
    write_recording(p, sensors, sim.recording.meta)
    warnings = info_dict(read_recording(p))["warnings"]
    dropped = [w for w in warnings if "pelvis sensor were dropped" in w]
    assert len(dropped) == 1 and re.search(r"\((79\.\d|80\.0) %\)", dropped[0]), warnings
    assert any(re.search(r"pelvis sensor delivered 20\.\d samples/s although 100 Hz is declared", w)
               for w in warnings), warnings
    assert not any("thigh" in w for w in warnings), warnings

def test_slow_sensor_with_single_lost_samples_has_no_outage(tmp_path: Path) -> None:
    """A 12.5 Hz pelvis that loses single samples (160 ms holes < 2.5 x 80 ms): no outage, full coverage."""
    thigh = moving_samples(1000, 100.0, seed=1)
    pelvis = moving_samples(125, 12.5, t0=0.004, seed=2)
    keep = np.arange(125) % 10 != 5
    p = write_recording(tmp_path / "slow.csv", {"thigh": thigh, "pelvis": _cut(pelvis, keep)})
    info = info_dict(read_recording(p))
    assert info["gaps"] == []
    assert info["sensors"]["pelvis"]["gap_threshold_s"] == pytest.approx(0.2)
    assert info["sensors"]["pelvis"]["coverage"] == pytest.approx(1.0, abs=0.02)


def test_repeated_time_stamps_are_counted_and_dropped(tmp_path: Path) -> None:
    """Three thigh rows repeat the time of the row before (written as text, not by the writer under
    test): info counts three dropped duplicates and the samples kept."""
    lines = [",".join(CSV_COLUMNS)]
    n = 0
    for i in range(300):
        t = i * 0.01
        lines.append(f"{t:.6f},thigh,0.0,0.0,9.81,0.0,0.0,0.0")
        if i in (10, 100, 200):
            lines.append(f"{t:.6f},thigh,1.0,0.0,9.81,0.1,0.0,0.0")
            n += 1
        lines.append(f"{t + 0.002:.6f},pelvis,0.0,0.0,9.81,0.0,0.0,0.0")
    p = tmp_path / "dup.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    info = info_dict(read_recording(p))
    th = info["sensors"]["thigh"]
    assert (th["dropped_duplicate"], th["samples"]) == (n, 300) == (3, 300)
    assert info["sensors"]["pelvis"]["dropped_duplicate"] == 0



def test_a_session_the_recorder_did_not_close_is_said_so(tmp_path: Path, capsys) -> None:
    """Issue 15: `record` killed mid-session leaves a sidecar without the keys it writes when it
    closes the session (duration_s, end_reason); info said nothing about it. A closed session and a
    recording that did not come from the recorder get no such warning."""
    import json

    from imu_pipeline.cli import main
    from imu_pipeline.io.writer import RecordingWriter

    def session(name: str, close: bool) -> Path:
        w = RecordingWriter(tmp_path / name, meta={"exercise": "lying-leg-raise"})
        w.update_meta(started_at="2026-12-02T18:23:09.123Z", recorder="imu-pipeline record")  # as Recorder.run
        for role, seed in (("thigh", 1), ("pelvis", 2)):
            s = moving_samples(300, 100.0, seed=seed)
            w.write(role, s.time_s, s.acc, s.gyr)
        w.flush()
        if close:  # as Recorder._finish
            w.update_meta(duration_s=3.0, end_reason="duration")
            w.close()
        else:  # killed: the last line cut off, the sidecar never finished
            with open(tmp_path / name, "a", encoding="utf-8") as f:
                f.write("3.01,thigh,0.1,9.8")
        return tmp_path / name

    killed = session("killed.csv", close=False)
    info = info_dict(read_recording(killed, warn=False))
    assert info["session_closed"] is False
    assert "the session was not closed normally" in info["warnings"][0]
    assert main(["info", str(killed)]) == 0
    text = capsys.readouterr().out
    assert "warning: the session was not closed normally (the recorder was killed or crashed, or is still " \
           "recording)" in text and "the last line may be cut off" in text
    assert main(["info", str(killed), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["session_closed"] is False

    closed = info_dict(read_recording(session("closed.csv", close=True), warn=False))
    assert closed["session_closed"] is True and not any("not closed" in w for w in closed["warnings"])
    sim = write_recording(tmp_path / "sim.csv", simulate_session(SimulationOptions(seed=1, n_reps=1)).recording.sensors,
                          {})
    other = info_dict(read_recording(sim, warn=False))
    assert other["session_closed"] is None and not any("not closed" in w for w in other["warnings"])


def test_analyze_also_says_a_session_was_not_closed_and_a_demo_is_simulated() -> None:
    """The notes info gives on how a recording came to be reach analyze's warnings too: a killed
    recorder's session (its last line may be cut off) and a simulated demo session."""
    from imu_pipeline.report.info import recording_notes

    killed = {"recorder": "imu-pipeline record", "sensors": {}}
    closed = {**killed, "duration_s": 12.0, "end_reason": "duration"}
    demo = {**closed, "demo": {"simulated": True}}
    assert any("not closed normally" in n for n in recording_notes(killed))
    assert recording_notes(closed) == [] and recording_notes({}) == []
    assert any("simulated session" in n for n in recording_notes(demo))
