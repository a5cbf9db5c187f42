"""Batch at study scale (imu_pipeline.study, `imu-pipeline batch`): keys by relative path, the skip
rules, resume, a broken file among good ones, and identical tables on 1 and 2 local processes and on
a Dask LocalCluster."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from imu_pipeline.cli import main
from imu_pipeline.simulate import SimulationOptions, simulate_session, write_simulation
from imu_pipeline.study import discover, run, tables


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """Two subjects with the same session file names, a broken file, a hidden folder and a venv."""
    root = tmp_path_factory.mktemp("study")
    for subj, seed in (("patientA", 1), ("patientB", 2)):
        for k in (1, 2):
            sim = simulate_session(SimulationOptions(seed=seed * 10 + k, n_reps=3))
            write_simulation(sim, root / subj / f"s{k}.csv")
    (root / "patientB" / "broken.csv").write_text("time_s,sensor\n")
    for junk in (root / ".cache", root / ".venv" / "lib"):
        junk.mkdir(parents=True)
        (junk / "x.csv").write_text("a,b\n1,2\n")
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    venv2 = root / "myenv"
    venv2.mkdir()
    (venv2 / "pyvenv.cfg").write_text("home = /usr\n")
    (venv2 / "y.csv").write_text("a,b\n")
    return root


def test_keys_are_paths_relative_to_the_input_and_junk_is_skipped(study: Path) -> None:
    keys = sorted(i.key for i in discover([study], study / "results"))
    assert keys == ["patientA/s1", "patientA/s2", "patientB/broken", "patientB/s1", "patientB/s2"]


def test_cli_same_names_broken_file_resume_and_force(study: Path, tmp_path: Path, capsys) -> None:
    out = study / "results"  # inside the input: a re-run must not pick up its own tables
    assert main(["batch", str(study), "--out", str(out), "--jobs", "2"]) == 1  # the broken file
    for k in ("patientA/s1", "patientB/s1", "patientA/s2", "patientB/s2"):
        assert (out / f"{k}.summary.json").exists()
    sessions = pd.read_parquet(out / "sessions.parquet")
    assert sorted(sessions.key) == ["patientA/s1", "patientA/s2", "patientB/broken", "patientB/s1", "patientB/s2"]
    assert sessions.set_index("key").loc["patientB/broken", "status"] == "error"
    for col in ("calibration_confidence", "angles_coverage", "outages", "thigh_coverage", "pelvis_effective_rate_hz",
                "low_confidence_labels", "suspected_clock_offset_s"):
        assert col in sessions.columns, col
    reps = pd.read_parquet(out / "reps.parquet")
    assert {"key", "label", "label_confidence", "partial"} <= set(reps.columns)
    assert len(reps) == int(sessions.reps.fillna(0).sum())
    csv = pd.read_csv(out / "reps.csv")
    assert list(csv.columns) == list(reps.columns) and list(csv.label) == list(reps.label)
    printed = capsys.readouterr().out
    assert "broken.csv" in printed
    # re-run: summaries newer than their recording are reused, the broken file is tried again
    stamp = (out / "patientA/s1.summary.json").stat().st_mtime
    time.sleep(0.01)
    assert main(["batch", str(study), "--out", str(out), "--jobs", "1"]) == 1
    assert (out / "patientA/s1.summary.json").stat().st_mtime == stamp
    assert "4 up to date" in capsys.readouterr().out
    assert sorted(pd.read_csv(out / "sessions.csv").key) == sorted(sessions.key)  # nothing of its own picked up
    # a recording changed since: redone; --force redoes all
    os.utime(study / "patientA" / "s2.csv")
    assert main(["batch", str(study), "--out", str(out), "--jobs", "1"]) == 1
    assert "3 up to date" in capsys.readouterr().out
    assert main(["batch", str(study), "--out", str(out), "--jobs", "1", "--force"]) == 1
    assert "up to date" not in capsys.readouterr().out


def _tables(results):
    s, r = tables(results)
    return s.drop(columns=["recording"]), r


def test_identical_tables_on_1_and_2_processes_and_a_dask_local_cluster(study: Path) -> None:
    distributed = pytest.importorskip("distributed")
    items = discover([study / "patientA", study / "patientB"])
    s1, r1 = _tables(run(items, jobs=1))
    s2, r2 = _tables(run(items, jobs=2))
    pd.testing.assert_frame_equal(s1, s2)
    pd.testing.assert_frame_equal(r1, r2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        s3, r3 = _tables(run(items, scheduler=lc.scheduler_address))
    pd.testing.assert_frame_equal(s1, s3)
    pd.testing.assert_frame_equal(r1, r3)
    assert (s1.status == "error").sum() == 1 and (s1.status == "ok").sum() == 4


def test_python_api_for_notebooks(study: Path) -> None:
    import imu_pipeline

    res = imu_pipeline.analyze(study / "patientA" / "s1.csv")
    assert len(res.reps) == 3 and {"label", "label_confidence"} <= set(res.reps.columns)
    assert {"time_s", "hip_flexion_deg", "pelvic_tilt_deg"} <= set(res.angles.columns)
    assert res.summary["totals"]["reps"] == 3
    sessions, reps = imu_pipeline.batch([study / "patientA"], jobs=1)
    assert sorted(sessions.key) == ["s1", "s2"] and len(reps) == 6


def test_angles_as_a_partitioned_parquet_dataset(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    assert main(["batch", str(study / "patientA"), str(study / "patientB" / "s1.csv"), "--out", str(out),
                 "--jobs", "1", "--angles"]) == 0
    ds = pd.read_parquet(out / "angles")
    assert sorted(ds["session"].astype(str).unique()) == ["s1", "s1-2", "s2"]
    assert {"time_s", "hip_flexion_deg", "pelvic_tilt_deg"} <= set(ds.columns)
    one = ds[ds["session"].astype(str) == "s2"]
    assert len(one) > 1000 and one["hip_flexion_deg"].max() > 60


def test_a_changed_pose_or_config_is_not_served_from_old_summaries(study: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "res"
    assert main(["batch", str(study / "patientA"), "--out", str(out), "--jobs", "1"]) == 0
    assert main(["batch", str(study / "patientA"), "--out", str(out), "--jobs", "1"]) == 0
    assert "2 up to date" in capsys.readouterr().out
    cfg = tmp_path / "c.toml"
    cfg.write_text("[reps]\nmin_rep_deg = 40.0\n")
    assert main(["batch", str(study / "patientA"), "--out", str(out), "--jobs", "1", "--config", str(cfg)]) == 0
    assert "up to date" not in capsys.readouterr().out
    assert main(["batch", str(study / "patientA"), "--out", str(out), "--jobs", "1", "--pose", "lying"]) == 0
    assert "up to date" not in capsys.readouterr().out


def test_a_bad_scheduler_address_is_a_clear_error(study: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("distributed")
    assert main(["batch", str(study / "patientA"), "--out", str(tmp_path / "r"), "--scheduler", "notanaddress"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler notanaddress" in err and "Traceback" not in err
