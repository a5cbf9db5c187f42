"""The per-sample angles CSV (imu_pipeline/report/angles.py), read back with the csv module and
checked against the simulator's truth (degrees, session clock, empty cells where not measured)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from imu_pipeline.cli import main
from imu_pipeline.pipeline.offline import analyze_recording
from imu_pipeline.report.angles import write_angles_csv
from imu_pipeline.simulate import SimulationOptions, simulate_session, write_simulation

COLUMNS = ["time_s", "hip_flexion_deg", "pelvic_tilt_deg", "thigh_angle_deg"]


def read_columns(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == COLUMNS
    return {c: np.array([float(r[i]) if r[i] != "" else math.nan for r in rows[1:]]) for i, c in enumerate(COLUMNS)}


def test_angles_csv_is_the_true_motion_in_degrees(tmp_path: Path) -> None:
    """Lying, three reps (peaks 68-125°): hip flexion and pelvic tilt within a few degrees of the
    truth all along, and the thigh's elevation is their sum (GUIDE §3)."""
    sim = simulate_session(SimulationOptions(seed=1, n_reps=3))
    out = tmp_path / "a.csv"
    write_angles_csv(analyze_recording(sim.recording), out)
    a = read_columns(out)
    tr = sim.truth
    hip_true = np.interp(a["time_s"], tr["time_s"], tr["hip_flexion_deg"])
    tilt_true = np.interp(a["time_s"], tr["time_s"], tr["pelvic_tilt_deg"])
    ok = np.isfinite(a["hip_flexion_deg"])
    assert ok.mean() > 0.95
    assert np.sqrt(np.mean((a["hip_flexion_deg"] - hip_true)[ok] ** 2)) < 3.0
    assert np.sqrt(np.mean((a["pelvic_tilt_deg"] - tilt_true)[ok] ** 2)) < 2.0
    assert np.nanmax(a["hip_flexion_deg"]) == pytest.approx(max(r["peak_hip_flexion_deg"] for r in sim.truth_reps),
                                                            abs=3.0)
    np.testing.assert_allclose(a["thigh_angle_deg"][ok], (a["hip_flexion_deg"] + a["pelvic_tilt_deg"])[ok], atol=0.01)


def test_angles_csv_and_summary_json_agree_on_every_rep_peak(tmp_path: Path) -> None:
    """`analyze --angles --json`: the highest hip flexion in the CSV inside each rep is the rep's
    peak_hip_flexion_deg in the JSON (both files read with the standard library), and the true peak."""
    sim = simulate_session(SimulationOptions(seed=2, n_reps=3))
    rec = write_simulation(sim, tmp_path / "s.csv")["csv"]
    ang, js = tmp_path / "a.csv", tmp_path / "s.summary.json"
    assert main(["analyze", str(rec), "--angles", str(ang), "--json", str(js), "-q"]) == 0
    a = read_columns(ang)
    reps = json.loads(js.read_text(encoding="utf-8"))["reps"]
    assert len(reps) == len(sim.truth_reps) == 3
    for r, t in zip(reps, sim.truth_reps):
        inside = (a["time_s"] >= r["start_s"]) & (a["time_s"] <= r["end_s"])
        assert np.nanmax(a["hip_flexion_deg"][inside]) == pytest.approx(r["peak_hip_flexion_deg"], abs=0.01)
        assert r["peak_hip_flexion_deg"] == pytest.approx(t["peak_hip_flexion_deg"], abs=3.0)
