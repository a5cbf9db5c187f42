"""Batch at study scale (imu_pipeline.study, `imu-pipeline batch`): keys by relative path, the skip
rules, resume, a broken file among good ones, and identical tables on 1 and 2 local processes and on
a Dask LocalCluster."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
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
    # s1 from both inputs: each input's keys start with its name
    assert sorted(ds["session"].astype(str).unique()) == ["patientA/s1", "patientA/s2", "patientB/s1"]
    assert {"time_s", "hip_flexion_deg", "pelvic_tilt_deg"} <= set(ds.columns)
    one = ds[ds["session"].astype(str) == "patientA/s2"]
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address", ["notanaddress", "tcp://127.0.0.1:{port}"])
def test_a_scheduler_that_cannot_be_reached_is_a_clear_error_and_leaves_nothing(
        study: Path, tmp_path: Path, capsys, address: str) -> None:
    pytest.importorskip("distributed")
    address = address.format(port=_free_port())  # nothing listening there
    out = tmp_path / "new" / "r"
    assert main(["batch", str(study / "patientA"), "--out", str(out), "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert f"--scheduler {address}" in err and "cannot connect" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()  # no output folder, nothing in it


# ----------------------------------------------------------------------------------------- progress

def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from imu_pipeline.cli import main; sys.exit(main())", *args]


@pytest.mark.parametrize("size", [(0, 0), (24, 100)], ids=["pty-without-a-size", "pty-100-columns"])
def test_a_terminal_shows_a_tqdm_bar(study: Path, tmp_path: Path, size: tuple[int, int]) -> None:
    """Under a pseudo-terminal (stdout and stderr): a bar, not the plain lines. A pty opened without
    a window size (``script`` from a non-terminal, docker exec -t, CI) reports 0 x 0, which made
    tqdm draw nothing at all."""
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(_cli("batch", str(study / "patientA"), "--out", str(tmp_path / "r"), "--jobs", "1"),
                            stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "100%" in text and "2/2" in text and "session" in text, text
    assert "[1/2]" not in text and "2 of 2 recordings analysed" in text


def test_a_pipe_gets_one_plain_line_per_session(study: Path, tmp_path: Path) -> None:
    proc = subprocess.run(_cli("batch", str(study / "patientA"), "--out", str(tmp_path / "r"), "--jobs", "2"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert sorted(lines[:2]) == ["[1/2] s1: 3 reps", "[2/2] s2: 3 reps"] or \
        sorted(lines[:2]) == ["[1/2] s2: 3 reps", "[2/2] s1: 3 reps"]
    assert lines[2].startswith("2 of 2 recordings analysed")
    assert "\r" not in proc.stdout + proc.stderr and "%|" not in proc.stderr


# ------------------------------------------------------------------------------------ awkward input

@pytest.mark.parametrize("name", ["x.csv", "tables.parquet", "results.JSON"])
def test_out_that_looks_like_a_file_is_refused(study: Path, tmp_path: Path, capsys, name: str) -> None:
    out = tmp_path / name
    assert main(["batch", str(study / "patientA"), "--out", str(out), "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--out is a folder for the tables" in err and f"--out {out.with_suffix('')}" in err
    assert not out.exists()


def test_out_that_is_an_existing_file_is_refused(study: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    out.write_text("not a folder\n")
    assert main(["batch", str(study / "patientA"), "--out", str(out), "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"--out {out} is a file; give a folder" in err and "--out is a folder for the tables" in err
    assert "Traceback" not in err
    assert out.read_text() == "not a folder\n"


def test_an_existing_folder_with_a_dot_in_its_name_is_fine(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.v2"
    out.mkdir()
    assert main(["batch", str(study / "patientA"), "--out", str(out), "--jobs", "1"]) == 0
    assert (out / "sessions.csv").exists()


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> Path:
    """Two sites with the same layout (p1/s1.csv) but different sessions (2 and 4 reps)."""
    root = tmp_path_factory.mktemp("sites")
    for site, reps in (("siteA", 2), ("siteB", 4)):
        write_simulation(simulate_session(SimulationOptions(seed=reps, n_reps=reps)), root / site / "p1" / "s1.csv")
    return root


def _reps_by_recording(out: Path) -> dict[str, int]:
    s = pd.read_csv(out / "sessions.csv")
    return {Path(r).parent.parent.name: int(n) for r, n in zip(s.recording, s.reps)}


def test_two_inputs_sharing_a_subfolder_are_keyed_by_their_names_and_never_mixed_up(
        sites: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    a, b = str(sites / "siteA"), str(sites / "siteB")
    assert main(["batch", b, "--out", str(out), "--jobs", "1"]) == 0
    assert (out / "p1" / "s1.summary.json").exists()
    # both sites into the same folder, in either order: siteA's recording is never served siteB's summary
    for inputs in ([a, b], [b, a]):
        assert main(["batch", *inputs, "--out", str(out), "--jobs", "1"]) == 0
        s = pd.read_csv(out / "sessions.csv")
        assert sorted(s.key) == ["siteA/p1/s1", "siteB/p1/s1"]
        assert _reps_by_recording(out) == {"siteA": 2, "siteB": 4}
    assert "2 up to date" in capsys.readouterr().out.splitlines()[-1]


def test_a_summary_from_another_recording_with_the_same_key_is_not_reused(sites: Path, tmp_path: Path) -> None:
    """The same --out for a second site with the same layout: p1/s1 is siteA's summary, newer than
    siteB's recording, but not made from it."""
    out = tmp_path / "r"
    assert main(["batch", str(sites / "siteA"), "--out", str(out), "--jobs", "1"]) == 0
    assert main(["batch", str(sites / "siteB"), "--out", str(out), "--jobs", "1"]) == 0
    assert _reps_by_recording(out) == {"siteB": 4}


def test_single_file_missing_sidecar_and_empty_folder_inputs(study: Path, tmp_path: Path, capsys) -> None:
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "s9.csv").write_bytes((study / "patientA" / "s1.csv").read_bytes())  # no sidecar beside it
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here\n")
    # a single .csv file instead of a folder; a recording without its sidecar
    assert main(["batch", str(lone / "s9.csv"), "--out", str(tmp_path / "r1"), "--jobs", "1"]) == 0
    assert (tmp_path / "r1" / "s9.summary.json").exists()
    assert pd.read_csv(tmp_path / "r1" / "sessions.csv").status.tolist() == ["ok"]
    capsys.readouterr()
    # a folder with no recordings among others: said, the rest go on
    assert main(["batch", str(lone), str(empty), "--out", str(tmp_path / "r2"), "--jobs", "1"]) == 0
    assert f"note: {empty}: no recordings (.csv) in this folder" in capsys.readouterr().err
    # only that folder, or a path that does not exist: a clear error, no output folder
    for bad, says in ((empty, "no recordings (.csv) found in"), (tmp_path / "nope", "no such file or directory")):
        assert main(["batch", str(bad), "--out", str(tmp_path / "r3"), "--jobs", "1"]) == 2
        err = capsys.readouterr().err
        assert says in err and str(bad) in err and "Traceback" not in err
        assert not (tmp_path / "r3").exists()


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_jobs_below_one_is_a_clear_error(study: Path, tmp_path: Path, capsys, jobs: str) -> None:
    assert main(["batch", str(study / "patientA"), "--out", str(tmp_path / "r"), "--jobs", jobs]) == 2
    assert f"--jobs must be at least 1, got {jobs}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------------- Ctrl-C

def _read_until(stream, needle: str) -> str:  # noqa: ANN001
    seen = []
    for line in stream:
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"{needle!r} never came; got {''.join(seen)!r}")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_keeps_the_finished_sessions_and_writes_their_tables(study: Path, tmp_path: Path, jobs: str) -> None:
    """Ctrl-C from a terminal (SIGINT to the whole process group) while the last recording cannot
    be read yet (a named pipe nobody writes to: no timing involved). The finished sessions keep
    their summaries and are in the tables; with worker processes the first Ctrl-C waits for the
    session under way and a second one stops it."""
    if not hasattr(os, "mkfifo") or not hasattr(os, "killpg"):
        pytest.skip("needs POSIX named pipes and process groups")
    rec = tmp_path / "rec"
    for k in ("s1", "s2"):
        (rec / k).mkdir(parents=True)
        for suffix in (".csv", ".json"):
            (rec / k / f"{k}{suffix}").write_bytes((study / "patientA" / f"{k}{suffix}").read_bytes())
    (rec / "zz").mkdir()
    os.mkfifo(rec / "zz" / "stuck.csv")
    out = tmp_path / "r"
    proc = subprocess.Popen(_cli("batch", str(rec), "--out", str(out), "--jobs", jobs), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _read_until(proc.stdout, "[2/3]")
        os.killpg(proc.pid, signal.SIGINT)
        if jobs != "1":
            _read_until(proc.stderr, "waiting for the 1 session(s) under way")
            os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = proc.stderr.read()
    assert "interrupted after 2 of 3 sessions" in err and "Traceback" not in err, err
    s = pd.read_parquet(out / "sessions.parquet")
    assert sorted(s.key) == ["s1/s1", "s2/s2"] and set(s.status) == {"ok"}
    assert len(pd.read_csv(out / "reps.csv")) == 6
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.summary.json")) == \
        ["s1/s1.summary.json", "s2/s2.summary.json"]
    assert not list(out.rglob("*.tmp"))
