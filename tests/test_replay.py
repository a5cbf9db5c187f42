"""``imu-pipeline replay`` (the live path, sample for sample) against ``imu-pipeline analyze``
(the offline path) on recordings they never saw: the same summary schema, the same reps, labels
and momentum reasons, peak hip flexion within 2°, and the same refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from imu_pipeline.cli import main
from imu_pipeline.simulate import SimulationOptions, simulate_session, write_simulation

#: Scattered loss (single samples), host jitter, rates that differ per sensor.
LOSSY = [
    SimulationOptions(seed=301, pose="lying", n_reps=6, thigh_rate_hz=200, pelvis_rate_hz=200, packet_loss=0.05,
                      packet_samples=1, jitter_s=0.0015),
    SimulationOptions(seed=302, pose="hanging", n_reps=6, thigh_rate_hz=104, pelvis_rate_hz=52, packet_loss=0.05,
                      packet_samples=1, jitter_s=0.0015, mix=("hip-flexor", "abdominal", "swing", "drop")),
    SimulationOptions(seed=303, pose="lying", n_reps=6, thigh_rate_hz=60, pelvis_rate_hz=208, packet_loss=0.05,
                      packet_samples=3, jitter_s=0.001, touch_and_go=0.5),
    SimulationOptions(seed=304, pose="hanging", n_reps=5, thigh_rate_hz=100, pelvis_rate_hz=100, packet_loss=0.05,
                      packet_samples=1, jitter_s=0.0015, disconnect=True),
]


def _both(tmp_path: Path, opts: SimulationOptions, capsys) -> tuple[dict, dict]:
    p = write_simulation(simulate_session(opts), tmp_path / f"s{opts.seed}.csv", overwrite=True)["csv"]
    out = {}
    for cmd in ("analyze", "replay"):
        js = tmp_path / f"{cmd}.summary.json"
        assert main([cmd, str(p), "--json", str(js), "-q"]) == 0, capsys.readouterr().err
        out[cmd] = json.loads(js.read_text(encoding="utf-8"))
    return out["analyze"], out["replay"]


@pytest.mark.parametrize("opts", LOSSY, ids=lambda o: f"seed{o.seed}")
def test_replay_json_equals_analyze_json_rep_for_rep(tmp_path: Path, opts: SimulationOptions, capsys) -> None:
    off, live = _both(tmp_path, opts, capsys)
    assert set(live) == set(off) and live["schema_version"] == off["schema_version"]
    assert (off["analysis_path"], live["analysis_path"]) == ("offline", "live")
    assert set(live["reps"][0]) == set(off["reps"][0]) if off["reps"] else True
    assert len(live["reps"]) == len(off["reps"]) >= opts.n_reps - 1
    for a, b in zip(live["reps"], off["reps"]):
        assert a["label"] == b["label"], (a, b)
        assert a["momentum_reasons"] == b["momentum_reasons"], (a, b)
        if a["peak_hip_flexion_deg"] is not None and b["peak_hip_flexion_deg"] is not None:
            assert abs(a["peak_hip_flexion_deg"] - b["peak_hip_flexion_deg"]) <= 2.0, (a, b)
        assert abs(a["peak_s"] - b["peak_s"]) < 0.3
    counts = {k: v for k, v in off["totals"].items() if isinstance(v, int)}
    assert counts and {k: live["totals"][k] for k in counts} == counts  # rep counts by label and flag
    assert live["config"] == off["config"]


@pytest.mark.parametrize("sensor", ["thigh", "pelvis"])
def test_a_mirrored_mounting_is_refused_by_replay_as_by_analyze(tmp_path: Path, sensor: str, capsys) -> None:
    """One axis sign flipped in the sidecar: the same 'up', the opposite flexion axis. Both paths
    must refuse the file with one error line naming the mounting, never report reps."""
    sim = simulate_session(SimulationOptions(seed=0, pose="lying", n_reps=4, misalignment_deg=15.0))
    p = write_simulation(sim, tmp_path / "m.csv", overwrite=True)["csv"]
    meta = json.loads(p.with_suffix(".json").read_text())
    m = meta["sensors"][sensor]["mounting"]
    flip = {"superior": "inferior", "inferior": "superior", "anterior": "posterior", "posterior": "anterior",
            "left": "right", "right": "left"}
    m["x"] = flip[m["x"]]
    p.with_suffix(".json").write_text(json.dumps(meta))
    for cmd in ("analyze", "replay"):
        rc = main([cmd, str(p), "--json", str(tmp_path / f"{cmd}.summary.json")])
        out, err = capsys.readouterr()
        assert rc == 2, f"{cmd} accepted a mirrored {sensor} mounting:\n{out}"
        assert "mounting" in err and "Traceback" not in err
        assert " rep " not in out and not (tmp_path / f"{cmd}.summary.json").exists()


@pytest.mark.parametrize("silent", ["pelvis:start", "pelvis:end", "thigh:middle"])
def test_a_sensor_silent_alone_through_analyze_replay_and_info(silent: str) -> None:
    """One sensor silent for 15 s (it starts late, dies, or drops out): analyze and replay count the
    same reps (those the thigh saw), neither gives a wrong label with 'normal' confidence, no hip
    flexion where the pelvis was silent, and info names the outage."""
    from imu_pipeline.evaluate import match_reps
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.pipeline.replay import live_session, replay
    from imu_pipeline.report.info import info_dict

    sim = simulate_session(SimulationOptions(seed=61, pose="lying", n_reps=10, silent=silent, misalignment_deg=20.0))
    sensor = silent.split(":")[0]
    a, b = sim.truth_meta["disconnect"]
    seen = [r for r in sim.truth_reps if r["observable"]]
    for an in (analyze_recording(sim.recording),
               live_session(sim.recording, replay(sim.recording, keep_angles=True)[0])):
        assert len(an.reps) == len(seen), (an.path, len(an.reps), len(seen))
        pairs = match_reps(seen, an.reps)
        assert len(pairs) == len(seen)
        assert not [f for t, f in pairs if f.label_confidence == "normal" and f.label != t["label"]], an.path
        t = an.angles.time_s
        inside = (t > a + 0.05) & (t < b - 0.05)
        if sensor == "pelvis":
            assert not np.isfinite(an.angles.hip_flexion[inside]).any(), an.path
        assert any(g.sensor == sensor and g.start_s < b and g.end_s > max(a, 0.0) for g in an.quality.outages)
    info = info_dict(sim.recording)
    assert any(g["sensor"] == sensor and g["start_s"] < b and g["end_s"] > max(a, 0.0) for g in info["gaps"])
    assert any(sensor in w for w in info["warnings"])
