"""Batch at study scale (imu_pipeline.study, `imu-pipeline batch`): keys by relative path, the skip
rules, resume, a broken file among good ones, and identical tables on 1 and 2 local processes and on
a Dask LocalCluster."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import imu_pipeline.cli.batch as batch_cli
from imu_pipeline.cli import main
from imu_pipeline.errors import UsageError
from imu_pipeline.simulate import SimulationOptions, simulate_session, write_simulation
from imu_pipeline.study import (
    REP_COLUMNS,
    SESSION_COLUMNS,
    TABLE_FILES,
    TOTALS_COLUMNS,
    BatchInterrupted,
    BatchItem,
    discover,
    run,
    skipped_note,
    tables,
    write_tables,
)

REPO = Path(__file__).resolve().parents[1]


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
    printed = capsys.readouterr()
    # the failure: a short progress line, its reason once, after the run (not twice with 2>&1)
    assert f"patientB/broken: failed (see below: {study / 'patientB' / 'broken.csv'})\n" in printed.out
    assert printed.out.count("broken.csv") == 1 and printed.err.count("broken.csv") == 1
    assert printed.err.count("missing column") == 1
    # re-run: summaries of unchanged recordings are reused, the broken file is tried again
    stamp = (out / "patientA/s1.summary.json").stat().st_mtime
    time.sleep(0.01)
    assert main(["batch", str(study), "--out", str(out), "--jobs", "1"]) == 1
    assert (out / "patientA/s1.summary.json").stat().st_mtime == stamp
    assert "4 up to date" in capsys.readouterr().out
    assert sorted(pd.read_csv(out / "sessions.csv").key) == sorted(sessions.key)  # nothing of its own picked up
    # touched but the same bytes: still reused; a sidecar changed since (re-indented): redone; --force redoes all
    os.utime(study / "patientA" / "s2.csv")
    assert main(["batch", str(study), "--out", str(out), "--jobs", "1"]) == 1
    assert "4 up to date" in capsys.readouterr().out
    side = study / "patientA" / "s2.json"
    side.write_text(json.dumps(json.loads(side.read_text()), indent=1))
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
    if address.startswith("tcp"):  # said at once, not after the client's 10 s of retrying
        assert "ConnectionRefusedError" in err, err
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
    assert f"--out {out} looks like a file name; give a folder (created if missing) to receive the" in err
    assert f"e.g. --out {out.with_suffix('')}" in err and err.count("folder") == 1  # said once
    assert not out.exists()


def test_out_that_is_an_existing_file_is_refused(study: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    out.write_text("not a folder\n")
    assert main(["batch", str(study / "patientA"), "--out", str(out), "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"--out {out} is a file; give a folder (created if missing) to receive the sessions" in err
    assert err.count("folder") == 1  # said once
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
            _read_until(proc.stderr, "waiting for the 1 session under way")
            os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = proc.stderr.read()
    assert "interrupted: 2 of 3 sessions finished (2 analysed)" in err and "Traceback" not in err, err
    s = pd.read_parquet(out / "sessions.parquet")
    assert sorted(s.key) == ["s1/s1", "s2/s2"] and set(s.status) == {"ok"}
    assert len(pd.read_csv(out / "reps.csv")) == 6
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.summary.json")) == \
        ["s1/s1.summary.json", "s2/s2.summary.json"]
    assert not list(out.rglob("*.tmp"))



# ------------------------------------------------------------------------ keys of same-named inputs

def _copy(study: Path, src: str, dst: Path) -> Path:
    """A copy of study/<src>.csv (and its sidecar) at dst (.csv)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".csv", ".json"):
        (dst.with_suffix(suffix)).write_bytes((study / f"{src}{suffix}").read_bytes())
    return dst


@pytest.fixture()
def same_named(study: Path, tmp_path: Path) -> Path:
    """st5/subjA holds s1.csv; st6/subjA holds s1.csv and s1-2.csv (the trial's layout), three
    different recordings."""
    _copy(study, "patientA/s1", tmp_path / "st5" / "subjA" / "s1.csv")
    _copy(study, "patientA/s2", tmp_path / "st6" / "subjA" / "s1.csv")
    _copy(study, "patientB/s1", tmp_path / "st6" / "subjA" / "s1-2.csv")
    return tmp_path


def test_same_named_inputs_keep_every_recording_under_a_unique_stable_key(same_named: Path, capsys) -> None:
    a, b = same_named / "st5" / "subjA", same_named / "st6" / "subjA"
    want = {"st5/subjA/s1": a / "s1.csv", "st6/subjA/s1": b / "s1.csv", "st6/subjA/s1-2": b / "s1-2.csv"}
    for inputs in ([a, b], [b, a]):  # the order of the inputs changes nothing
        assert {i.key: i.path for i in discover(inputs)} == want
    out = same_named / "OUT"
    assert main(["batch", str(a), str(b), "--out", str(out), "--jobs", "1"]) == 0
    s = pd.read_csv(out / "sessions.csv")
    assert dict(zip(s.key, s.recording)) == {k: str(v) for k, v in want.items()}  # none lost, none twice
    for k, rec in want.items():
        assert json.loads((out / f"{k}.summary.json").read_text())["recording"] == str(rec.resolve())
    # reordered: every summary is reused, each for its own recording
    assert main(["batch", str(b), str(a), "--out", str(out), "--jobs", "1"]) == 0
    assert "3 up to date" in capsys.readouterr().out


def test_two_files_with_the_same_name_given_by_themselves(same_named: Path) -> None:
    a, b = same_named / "st5" / "subjA" / "s1.csv", same_named / "st6" / "subjA" / "s1.csv"
    assert sorted(i.key for i in discover([b, a])) == ["st5/subjA/s1", "st6/subjA/s1"]


def test_a_key_clash_is_an_internal_error_before_any_analysis(same_named: Path) -> None:
    out = same_named / "OUT"
    items = [BatchItem(same_named / "st5" / "subjA" / "s1.csv", "s1"),
             BatchItem(same_named / "st6" / "subjA" / "s1.csv", "s1")]
    with pytest.raises(RuntimeError, match="internal error: .* got the same key 's1'"):
        run(items, out=out)
    assert not out.exists()  # nothing was analysed


# ------------------------------------------------------------------------------------ what is skipped

def test_recordings_named_like_our_tables_are_analysed_and_our_own_tables_are_not(study: Path, tmp_path: Path,
                                                                                   capsys) -> None:
    root = tmp_path / "st"
    _copy(study, "patientA/s1", root / "subjD" / "sessions.csv")
    _copy(study, "patientA/s2", root / "subjD" / "reps.csv")
    assert main(["batch", str(root / "subjD"), "--out", str(root / "old"), "--jobs", "1"]) == 0  # real tables
    capsys.readouterr()
    skipped: Counter = Counter()
    keys = sorted(i.key for i in discover([root], root / "new", skipped=skipped))
    assert keys == ["subjD/reps", "subjD/sessions"]  # old/sessions.csv, old/reps.csv: ours, skipped
    assert skipped == {"table": 2}
    assert main(["batch", str(root), "--out", str(root / "new"), "--jobs", "1"]) == 0
    assert sorted(pd.read_csv(root / "new" / "sessions.csv").key) == keys
    assert "note: skipped: 2 batch tables" in capsys.readouterr().err


def test_ordinary_env_and_build_folders_are_analysed_and_every_skip_is_counted(study: Path, tmp_path: Path,
                                                                               capsys) -> None:
    root = tmp_path / "st"
    for folder in ("env", "build", ".hidden", "node_modules", "__pycache__", "site-packages", "venv1", "conda1"):
        _copy(study, "patientA/s1", root / folder / "s1.csv")
    (root / "venv1" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "conda1" / "conda-meta").mkdir()
    (root / "env" / "s1.truth.csv").write_text("time_s,hip_flexion_deg,pelvic_tilt_deg\n0.0,0.0,0.0\n")
    assert sorted(i.key for i in discover([root])) == ["build/s1", "env/s1"]
    assert main(["batch", str(root), "--out", str(root / "out"), "--jobs", "1"]) == 0
    assert main(["batch", str(root), "--out", str(root / "out"), "--jobs", "1"]) == 0  # now out/ is there
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("note: skipped: 1 hidden folder, 2 virtual environments, 1 __pycache__ folder, "
                      "1 node_modules folder, 1 site-packages folder, 1 simulator truth file")
    assert err[1] == ("note: skipped: the output folder, 1 hidden folder, 2 virtual environments, "
                      "1 __pycache__ folder, 1 node_modules folder, 1 site-packages folder, 1 simulator truth file")
    assert skipped_note(Counter()) == ""


def test_an_input_inside_another_is_said_to_be_covered(study: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "st"
    _copy(study, "patientA/s1", root / "subjA" / "s1.csv")
    _copy(study, "patientA/s2", root / "subjB" / "s2.csv")
    for inputs in ([root, root / "subjA"], [root / "subjA", root]):  # keyed under the outer input, either order
        assert sorted(i.key for i in discover(inputs, warn=print)) == ["subjA/s1", "subjB/s2"]
        out = capsys.readouterr().out
        assert f"{root / 'subjA'}: already covered by the input {root}" in out and "no recordings" not in out


# ------------------------------------------------------------------------------- warnings and errors

def test_a_truncated_recording_carries_its_warning_to_the_line_and_the_table(study: Path, tmp_path: Path,
                                                                            capsys) -> None:
    rec = _copy(study, "patientA/s1", tmp_path / "rec" / "trunc.csv")
    data = rec.read_bytes()
    rec.write_bytes(data[:-20])  # the last line cut off
    n = data.count(b"\n")
    assert main(["batch", str(rec.parent), "--out", str(tmp_path / "r"), "--jobs", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert re.fullmatch(rf"\[1/1\] trunc: \d+ reps; 1 warning: line {n} is cut off \(the session probably ended "
                        r"abruptly\); dropped it", line), line
    s = pd.read_parquet(tmp_path / "r" / "sessions.parquet")
    assert s.warnings.tolist() == [1]
    assert s.warnings_text.tolist() == [f"line {n} is cut off (the session probably ended abruptly); dropped it"]


def test_errors_name_the_recording_once_by_the_path_given(study: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    _copy(study, "patientA/s1", tmp_path / "rec" / "s1.csv")
    monkeypatch.chdir(tmp_path)
    assert main(["batch", "rec", "--out", "r", "--jobs", "1", "--pose", "hanging"]) == 1  # a lying session
    error = pd.read_csv(tmp_path / "r" / "sessions.csv").error[0]
    assert error.startswith("rec/s1.csv: --pose hanging was given") and error.count("s1.csv") == 1, error
    assert str(tmp_path) not in error
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "[1/1] s1: failed (see below: rec/s1.csv)"
    assert captured.err.count("s1.csv") == 1 and f"failed: {error}\n" in captured.err


def test_a_failed_rerun_leaves_no_summary_or_angles_that_contradict_the_table(study: Path, tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    _copy(study, "patientA/s1", rec / "s1.csv")
    out = tmp_path / "r"
    assert main(["batch", str(rec), "--out", str(out), "--jobs", "1", "--angles"]) == 0
    assert (out / "s1.summary.json").exists() and len(pd.read_parquet(out / "angles")) > 1000
    assert main(["batch", str(rec), "--out", str(out), "--jobs", "1", "--pose", "hanging"]) == 1
    assert pd.read_csv(out / "sessions.csv").status.tolist() == ["error"]
    assert not (out / "s1.summary.json").exists() and (out / "s1.summary.json.stale").exists()
    assert not list((out / "angles").rglob("*.parquet"))


# ------------------------------------------------------------------------------------- the schema

def test_the_tables_have_the_same_schema_with_and_without_a_failure(study: Path, tmp_path: Path) -> None:
    assert main(["batch", str(study / "patientA"), "--out", str(tmp_path / "ok"), "--jobs", "1"]) == 0
    assert main(["batch", str(study / "patientB"), "--out", str(tmp_path / "fail"), "--jobs", "1"]) == 1
    for name in ("sessions", "reps"):
        ok, fail = (pq.read_schema(tmp_path / d / f"{name}.parquet").remove_metadata() for d in ("ok", "fail"))
        assert ok.equals(fail), (name, ok, fail)
    s = pd.read_parquet(tmp_path / "fail" / "sessions.parquet")
    assert str(s.reps.dtype) == "Int64" and s.set_index("key").reps.isna().tolist() == [True, False, False]
    r = pd.read_parquet(tmp_path / "ok" / "reps.parquet")
    assert {c: str(r[c].dtype) for c in ("momentum", "back_arch", "partial", "has_gap", "index",
                                         "pause_before_next_s", "label")} == \
        {"momentum": "boolean", "back_arch": "boolean", "partial": "boolean", "has_gap": "boolean", "index": "Int64",
         "pause_before_next_s": "float64", "label": "string"}
    empty_s, empty_r = tables([])  # no data at all: still every column, with its type
    assert dict(empty_s.dtypes.astype(str)) == SESSION_COLUMNS and dict(empty_r.dtypes.astype(str)) == REP_COLUMNS


def test_nested_sidecar_metadata_is_flattened_one_level(study: Path, tmp_path: Path) -> None:
    rec = _copy(study, "patientA/s1", tmp_path / "rec" / "s1.csv")
    side = json.loads(rec.with_suffix(".json").read_text())
    side.update({"subject": "p01", "participant": {"age": 30, "sex": "F", "visits": [1, 2], "more": {"x": 1}},
                 "consented": True, "height_m": 1.72, "tags": ["a"]})
    rec.with_suffix(".json").write_text(json.dumps(side))
    _copy(study, "patientA/s2", tmp_path / "rec" / "s2.csv")
    (tmp_path / "rec" / "bad.csv").write_text("time_s,sensor\n")  # fails, but keeps its sidecar's metadata
    (tmp_path / "rec" / "bad.json").write_text(json.dumps({"subject": "p02", "participant": {"age": 41}}))
    assert main(["batch", str(tmp_path / "rec"), "--out", str(tmp_path / "r"), "--jobs", "1"]) == 1
    s = pd.read_parquet(tmp_path / "r" / "sessions.parquet").set_index("key")
    assert s.loc["s1", "meta_participant_age"] == 30 and s.loc["s1", "meta_participant_sex"] == "F"
    assert s.loc["bad", "meta_participant_age"] == 41 and s.loc["bad", "meta_subject"] == "p02"
    assert s.loc["s1", "meta_consented"] is True or s.loc["s1", "meta_consented"] == True  # noqa: E712
    assert str(s.meta_participant_age.dtype) == "Int64" and str(s.meta_height_m.dtype) == "float64"
    assert str(s.meta_consented.dtype) == "boolean" and str(s.meta_subject.dtype) == "string"
    meta = [c for c in s.columns if c.startswith("meta_")]
    assert not [c for c in meta if "visits" in c or "more" in c or "tags" in c or "sensors" in c]
    assert meta == sorted(meta)


# ------------------------------------------------------------------------ the documented columns

def _doc_columns(heading: str) -> list[tuple[str, str]]:
    """(column, type) of the table under a heading of docs/batch-tables.md."""
    text = (REPO / "docs" / "batch-tables.md").read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert m, f"docs/batch-tables.md has no section {heading!r}"
    rows = []
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 2:
            rows.append((cells[0].strip("`"), cells[1]))
    return rows


DOC_TYPES = {"count": "Int64", "flag": "boolean", "measurement": "float64", "text": "string"}


def test_the_documented_columns_are_the_real_ones(study: Path, tmp_path: Path) -> None:
    """docs/batch-tables.md lists every column of both tables, in order, with its type: the tables of
    a real run (with a failure) have exactly those."""
    assert main(["batch", str(study / "patientB"), "--out", str(tmp_path / "r"), "--jobs", "1"]) == 1
    sessions = pd.read_parquet(tmp_path / "r" / "sessions.parquet")
    reps = pd.read_parquet(tmp_path / "r" / "reps.parquet")
    doc_s = _doc_columns("`sessions`")
    assert doc_s[-1] == ("meta_*", "from the sidecar")
    real_s = [c for c in sessions.columns if not c.startswith("meta_")]
    assert [c for c, _ in doc_s[:-1]] == real_s
    assert [c for c in sessions.columns if c.startswith("meta_")] and list(sessions.columns)[len(real_s):] == \
        [c for c in sessions.columns if c.startswith("meta_")]  # meta_* last
    assert {c: DOC_TYPES[t] for c, t in doc_s[:-1]} == {c: str(sessions[c].dtype) for c in real_s}
    doc_r = _doc_columns("`reps`")
    assert [c for c, _ in doc_r] == list(reps.columns)
    assert {c: DOC_TYPES[t] for c, t in doc_r} == {c: str(reps[c].dtype) for c in reps.columns}


def test_the_table_columns_cover_every_summary_field(study: Path) -> None:
    """A rep key or a total added to the summary must not be dropped from the tables unnoticed."""
    d = json.loads(imu_pipeline_summary(study / "patientA" / "s1.csv"))
    assert set(REP_COLUMNS) == {"key"} | (set(d["reps"][0]) - {"decided_by"})
    assert set(TOTALS_COLUMNS) == {k for k, v in d["totals"].items() if not isinstance(v, dict)}
    assert set(TOTALS_COLUMNS) <= set(SESSION_COLUMNS)


def imu_pipeline_summary(path: Path) -> str:
    import imu_pipeline

    return json.dumps(imu_pipeline.analyze(path).summary)


# --------------------------------------------------------------------------------- Ctrl-C, more

def test_no_more_sessions_are_under_way_than_processes(study: Path) -> None:
    """Ctrl-C waits for 'the N sessions under way': a local pool is handed one per process, so N is
    never more than --jobs (it was up to 2 x jobs + 1 with everything queued at once)."""
    items = [BatchItem(study / f"patient{p}" / f"s{k}.csv", f"{p}{k}") for p in "AB" for k in (1, 2)]
    told = []

    def first_result_then_ctrl_c(r, done, total):  # noqa: ANN001
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(BatchInterrupted) as e:
        run(items, jobs=2, on_result=first_result_then_ctrl_c, on_interrupt=told.append)
    # the first one and at most the 2 under way finished; the rest were never handed out
    assert 1 <= len(e.value.results) <= 3 and e.value.total == 4
    assert all(n <= 2 for n in told)


def test_a_session_reported_finished_has_its_successor_under_way_already(study: Path) -> None:
    """The --jobs 2 Ctrl-C test reads '[2/3]' and presses Ctrl-C expecting the third session under
    way: the pool is topped up before a finished session is reported, never after."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    submitted: list[str] = []

    class CountingPool(ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            submitted.append(args[1])
            return super().submit(fn, *args, **kwargs)

    items = [BatchItem(study / f"patient{p}" / f"s{k}.csv", f"{p}{k}") for p, k in (("A", 1), ("A", 2), ("B", 1))]
    seen = []
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with CountingPool(2, mp_context=ctx) as pool:
        run(items, executor=pool, on_result=lambda r, done, total: seen.append((done, len(submitted))))
    assert [d for d, _ in seen] == [1, 2, 3]
    assert all(n >= min(3, done + 2) for done, n in seen), seen


def test_the_largest_recordings_are_handed_out_first(tmp_path: Path) -> None:
    """A long session handed out last runs alone on one core at the end: sessions go out largest
    first (equal sizes in their order), the results still come back in the inputs' order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    submitted: list[str] = []

    class CountingPool(ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            submitted.append(args[1])
            return super().submit(fn, *args, **kwargs)

    reps = {"short1": 2, "long": 6, "short2": 2, "mid": 4}
    items = []
    for i, (name, n) in enumerate(reps.items()):
        write_simulation(simulate_session(SimulationOptions(seed=70 + i, n_reps=n)), tmp_path / f"{name}.csv")
        items.append(BatchItem(tmp_path / f"{name}.csv", name))
    sizes = {it.key: it.path.stat().st_size for it in items}
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with CountingPool(2, mp_context=ctx) as pool:
        results = run(items, executor=pool)
    assert submitted[:2] == sorted(sizes, key=sizes.get, reverse=True)[:2] == ["long", "mid"]
    assert sorted(submitted, key=lambda k: -sizes[k]) == submitted
    assert [r.key for r in results] == list(reps)


def test_a_dask_workers_fixed_mmap_threshold_is_raised_for_a_pooled_session(tmp_path: Path) -> None:
    """A Dask nanny starts workers with MALLOC_TRIM_THRESHOLD_, which fixes glibc's mmap threshold at
    128 KiB: every larger array is a fresh mmap faulting in page by page (a 10-minute 200 Hz session
    took ~100 000 page faults and 0.7 s instead of ~2 000 and 0.45 s). A pooled session (fork False)
    runs with arrays up to 32 MiB from the heap; a session with that variable unset is left alone."""
    if not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"):
        pytest.skip("glibc only")
    rec = tmp_path / "s.csv"
    write_simulation(simulate_session(SimulationOptions(seed=3, n_reps=20, thigh_rate_hz=200.0, pelvis_rate_hz=200.0)),
                     rec)
    code = """
import resource, sys
from imu_pipeline.config import PipelineConfig
from imu_pipeline.study import analyze_one

def faults(fork):
    f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    assert analyze_one(sys.argv[1], "k", PipelineConfig(), None, None, fork=fork).status == "ok"
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f

faults(True)  # imports, first allocations
print(faults(True), faults(False))
"""

    def faults(**env: str) -> tuple[int, int]:
        e = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env
        out = subprocess.run([sys.executable, "-c", code, str(rec)], env=e, check=True, capture_output=True,
                             text=True).stdout.split()
        return int(out[0]), int(out[1])

    plain, pooled = faults(MALLOC_TRIM_THRESHOLD_="65536")
    assert pooled < plain / 2, (plain, pooled)
    plain, pooled = faults()  # glibc's dynamic threshold at work: nothing to mend
    assert pooled < 2 * plain, (plain, pooled)


def test_ctrl_c_while_a_session_is_handed_over_is_held_back_until_it_is_tracked() -> None:
    from imu_pipeline.study import _sigint_deferred

    if not hasattr(signal, "SIGINT") or os.name != "posix":
        pytest.skip("needs POSIX signals")
    tracked = []
    with pytest.raises(KeyboardInterrupt):
        with _sigint_deferred():
            os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle
            tracked.append("the future")
    assert tracked == ["the future"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _ctrl_c_after_the_first(on_note: Callable[[], None]) -> type:
    """The command's progress printer, with a Ctrl-C (KeyboardInterrupt) right after the first
    finished session and ``on_note()`` run after each note it prints (the 'waiting for ...' one)."""

    class CtrlCAfterTheFirst(batch_cli._Progress):
        def __call__(self, r, done: int, total: int) -> None:  # noqa: ANN001
            super().__call__(r, done, total)
            if done == 1:
                raise KeyboardInterrupt

        def note(self, text: str) -> None:
            super().note(text)
            on_note()

    return CtrlCAfterTheFirst


#: A named pipe the session keyed ``zz/s2`` waits on in :func:`_gated_analyze_one` (set before the
#: worker processes are forked, so they see it).
_GATE: Path | None = None


def _gated_analyze_one(path: str, key: str, *args, **kwargs):  # noqa: ANN002, ANN003
    """``study.analyze_one`` that, for ``zz/s2``, first waits until the test writes to the gate."""
    from imu_pipeline import study as study_mod

    if key == "zz/s2" and _GATE is not None:
        with open(_GATE, "rb") as fh:
            fh.read()
    return study_mod.__dict__["_real_analyze_one"](path, key, *args, **kwargs)


def test_everything_finished_during_the_wait_is_a_complete_run(study: Path, tmp_path: Path, monkeypatch,
                                                              capsys) -> None:
    """Ctrl-C after the first session while the last one is under way (held until the note is
    printed): it finishes, so nothing is missing — the tables are whole and the exit status is 0."""
    if not hasattr(os, "mkfifo") or "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("needs POSIX named pipes and forked workers")
    from imu_pipeline import study as study_mod

    rec = tmp_path / "rec"
    _copy(study, "patientA/s1", rec / "s1" / "s1.csv")
    _copy(study, "patientA/s2", rec / "zz" / "s2.csv")
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    monkeypatch.setattr(sys.modules[__name__], "_GATE", gate)
    monkeypatch.setattr(study_mod, "_real_analyze_one", study_mod.analyze_one, raising=False)
    monkeypatch.setattr(study_mod, "analyze_one", _gated_analyze_one)

    def open_the_gate() -> None:
        with open(gate, "wb") as fh:
            fh.write(b"go")

    monkeypatch.setattr(batch_cli, "_Progress", _ctrl_c_after_the_first(
        lambda: threading.Thread(target=open_the_gate, daemon=True).start()))
    assert main(["batch", str(rec), "--out", str(tmp_path / "r"), "--jobs", "2"]) == 0
    err = capsys.readouterr().err
    assert "waiting for the 1 session under way" in err
    assert "interrupted, but the session under way was the last one and finished: nothing is missing" in err
    assert sorted(pd.read_csv(tmp_path / "r" / "sessions.csv").key) == ["s1/s1", "zz/s2"]


def _fifo_study(study: Path, tmp_path: Path) -> tuple[Path, Path]:
    rec = tmp_path / "rec"
    _copy(study, "patientA/s1", rec / "s1" / "s1.csv")
    (rec / "zz").mkdir()
    os.mkfifo(rec / "zz" / "stuck.csv")
    return rec, rec / "zz" / "stuck.csv"


def test_a_second_ctrl_c_right_after_the_note_stops_at_once(study: Path, tmp_path: Path) -> None:
    """The CI failure of the --jobs 2 Ctrl-C test on a loaded machine: the second Ctrl-C arrived
    just after the note was printed, before the wait for the session under way had begun; it
    escaped as a plain KeyboardInterrupt and closing the pool then waited for the stuck worker
    forever. Here the second SIGINT is sent from inside the note, so it always lands there."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs POSIX named pipes")
    rec, _ = _fifo_study(study, tmp_path)
    code = f"""
import os, signal
from imu_pipeline.study import BatchInterrupted, discover, run
def on_result(r, done, total):
    if done == 1:
        raise KeyboardInterrupt  # the first Ctrl-C
try:
    run(discover([{str(rec)!r}]), jobs=2, out={str(tmp_path / 'r')!r}, on_result=on_result,
        on_interrupt=lambda n: os.kill(os.getpid(), signal.SIGINT))  # the second, during the note
except BatchInterrupted as e:
    print("stopped with", [r.key for r in e.results])
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"hung after the second Ctrl-C: {out} {err}")
    assert proc.returncode == 0 and out.strip() == "stopped with ['s1/s1']", (out, err)
    assert not list((tmp_path / "r").rglob("*.tmp"))


# ------------------------------------------------------------------------------------- Python API

def test_python_api_takes_the_command_line_options(study: Path, tmp_path: Path) -> None:
    import imu_pipeline
    from imu_pipeline.config import load_config

    for jobs in (0, -1):
        with pytest.raises(UsageError, match=rf"^jobs must be at least 1 \(--jobs on the command line\), got {jobs}$"):
            imu_pipeline.batch([study / "patientA"], jobs=jobs)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[reps]\nmin_rep_deg = 40.0\n")
    by_path, _ = imu_pipeline.batch([study / "patientA"], config=cfg)
    by_object, _ = imu_pipeline.batch([study / "patientA"], config=load_config(cfg))
    pd.testing.assert_frame_equal(by_path, by_object)
    out = tmp_path / "r"
    imu_pipeline.batch([study / "patientA"], out=out, config=cfg, angles=True)
    assert set(pd.read_parquet(out / "angles")["session"].astype(str)) == {"s1", "s2"}
    assert (out / "sessions.parquet").exists()
    summary = json.loads((out / "s1.summary.json").read_text())
    assert summary["config"]["reps"]["min_rep_deg"] == 40.0
    inode = (out / "s1.summary.json").stat().st_ino
    imu_pipeline.batch([study / "patientA"], out=out, config=cfg, angles=True)
    assert (out / "s1.summary.json").stat().st_ino == inode  # reused
    imu_pipeline.batch([study / "patientA"], out=out, config=cfg, angles=True, force=True)
    assert (out / "s1.summary.json").stat().st_ino != inode  # redone
    with pytest.raises(UsageError, match="pose must be"):
        imu_pipeline.batch([study / "patientA"], pose="sitting")


# ------------------------------------------------------------------------ null values in the tables

def test_missing_values_are_null_in_every_table_and_never_the_text_nan(study: Path, tmp_path: Path) -> None:
    """A failed session (no exercise, calibration, pose source, warnings) and a sidecar without the key
    another sidecar has (meta_subject): null in the Parquet file, the API and the CSV (an empty
    cell) — pandas fills such a cell with a float NaN, which json.dumps made the text "NaN"."""
    rec = tmp_path / "rec"
    side = json.loads(_copy(study, "patientA/s1", rec / "s1.csv").with_suffix(".json").read_text())
    (rec / "s1.json").write_text(json.dumps({**side, "subject": "p01"}))
    _copy(study, "patientA/s2", rec / "s2.csv")  # its sidecar has no subject
    (rec / "bad.csv").write_text("time_s,sensor\n")
    out = tmp_path / "r"
    assert main(["batch", str(rec), "--out", str(out), "--jobs", "1"]) == 1
    text = ["exercise", "calibration_confidence", "pose_source", "warnings_text"]
    for s in (pd.read_parquet(out / "sessions.parquet").set_index("key"),
              tables(run(discover([rec]), jobs=1))[0].set_index("key")):
        assert s.loc["bad", text].isna().all(), s.loc["bad", text]
        assert s.loc["s2", "meta_subject"] is pd.NA and s.loc["s1", "meta_subject"] == "p01"
        assert not (s.astype(str) == "NaN").any().any()
    import csv

    with open(out / "sessions.csv", newline="", encoding="utf-8") as fh:
        rows = {r["key"]: r for r in csv.DictReader(fh)}
    assert [rows["bad"][c] for c in text] == ["", "", "", ""] and rows["s2"]["meta_subject"] == ""
    assert "NaN" not in (out / "sessions.csv").read_text()


# ---------------------------------------------------------------------- what --out may be, and keys

def test_an_out_folder_that_holds_recordings_is_refused_before_any_analysis(study: Path, tmp_path: Path,
                                                                           capsys) -> None:
    s5 = tmp_path / "s5"
    _copy(study, "patientA/s1", s5 / "subjA" / "s1.csv")
    _copy(study, "patientA/s2", s5 / "subjB" / "s2.csv")
    assert main(["batch", str(s5), "--out", str(s5 / "subjA"), "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"--out {s5 / 'subjA'} holds recordings ({s5 / 'subjA' / 's1.csv'}); --out must be a folder for the " \
           "results" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not list(s5.rglob("*.summary.json")) and not list(s5.rglob("sessions.*"))  # nothing analysed
    import imu_pipeline

    with pytest.raises(UsageError, match=r"^out='.*subjA' holds recordings .*; out must be a folder for the results"):
        imu_pipeline.batch([s5], out=s5 / "subjA")
    # a folder with results and our own CSVs only is fine
    assert main(["batch", str(s5 / "subjB"), "--out", str(tmp_path / "res"), "--jobs", "1"]) == 0
    assert main(["batch", str(s5 / "subjB"), "--out", str(tmp_path / "res"), "--jobs", "1"]) == 0


def test_the_csv_ending_is_taken_in_any_case(study: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "st"
    _copy(study, "patientA/s1", root / "UP.csv").rename(root / "UP.CSV")  # its sidecar: UP.json
    _copy(study, "patientA/s2", root / "sub" / "s2.csv").rename(root / "sub" / "s2.Csv")
    (root / "UP.json").write_text(json.dumps({**json.loads((root / "UP.json").read_text()), "subject": "p9"}))
    skipped: Counter = Counter()
    assert sorted(i.key for i in discover([root], skipped=skipped)) == ["UP", "sub/s2"]
    assert [i.key for i in discover([root / "UP.CSV"])] == ["UP"]  # given by itself, as analyze takes it
    out = tmp_path / "r"
    assert main(["batch", str(root), "--out", str(out), "--jobs", "1"]) == 0
    s = pd.read_parquet(out / "sessions.parquet").set_index("key")
    assert sorted(s.index) == ["UP", "sub/s2"] and s.loc["UP", "meta_subject"] == "p9"
    assert (out / "UP.summary.json").exists() and (out / "sub" / "s2.summary.json").exists()
    # a simulator truth file ending in .CSV is one of ours, skipped and counted
    (root / "UP.truth.CSV").write_bytes((study / "patientA" / "s1.truth.csv").read_bytes())
    skipped = Counter()
    discover([root], skipped=skipped)
    assert skipped == {"truth": 1}
    # two recordings that differ only in the case of the ending: one key, one sidecar -> refused, named
    _copy(study, "patientA/s2", root / "x.csv")
    (root / "x.CSV").write_bytes((root / "x.csv").read_bytes())
    capsys.readouterr()
    assert main(["batch", str(root), "--out", str(tmp_path / "r2"), "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{root / 'x.CSV'} and {root / 'x.csv'} differ only in the case of their ending" in err or \
        f"{root / 'x.csv'} and {root / 'x.CSV'} differ only in the case of their ending" in err
    assert "internal error" not in err and not (tmp_path / "r2").exists()


@pytest.mark.parametrize("folder, angles", [("angles", True), ("sessions.parquet", False), ("Reps.csv", False),
                                            ("s1.summary.json", False)])
def test_study_folders_named_like_our_outputs_are_refused_before_any_analysis(
        study: Path, tmp_path: Path, capsys, folder: str, angles: bool) -> None:
    root = tmp_path / "st"
    _copy(study, "patientA/s1", root / "s1.csv")
    _copy(study, "patientA/s2", root / folder / "s2.csv")
    out = tmp_path / "r"
    assert main(["batch", str(root), "--out", str(out), "--jobs", "1", *(["--angles"] if angles else [])]) == 2
    err = capsys.readouterr().err
    assert f"the folder {root / folder} is named like" in err and "Traceback" not in err, err
    assert not out.exists()  # refused before any analysis
    import imu_pipeline

    with pytest.raises(UsageError, match=f"the folder .*{re.escape(folder)} is named like"):
        imu_pipeline.batch([root], out=out, jobs=1, angles=angles)
    assert not list(out.rglob("*.summary.json"))


def test_a_folder_named_angles_is_fine_without_angles(study: Path, tmp_path: Path) -> None:
    root = tmp_path / "st"
    _copy(study, "patientA/s1", root / "angles" / "s1.csv")
    assert main(["batch", str(root), "--out", str(tmp_path / "r"), "--jobs", "1"]) == 0
    assert (tmp_path / "r" / "angles" / "s1.summary.json").exists()


# ------------------------------------------------------------------------ what is skipped, by content

def test_our_own_csvs_are_skipped_by_their_content_whatever_their_name(study: Path, tmp_path: Path,
                                                                     capsys) -> None:
    root = tmp_path / "st"
    rec = _copy(study, "patientA/s1", root / "s1.csv")
    for name in ("s1-angles.csv", "angles.csv"):  # analyze --angles under names of the user's choosing
        assert main(["analyze", str(rec), "--angles", str(root / name), "-q"]) == 0
    (root / "t.csv").write_bytes((study / "patientA" / "s1.truth.csv").read_bytes())  # a renamed truth file
    _copy(study, "patientA/s2", tmp_path / "other" / "s2.csv")
    assert main(["batch", str(tmp_path / "other"), "--out", str(tmp_path / "o"), "--jobs", "1"]) == 0
    (root / "old-sessions.csv").write_bytes((tmp_path / "o" / "sessions.csv").read_bytes())  # a renamed table
    (root / "notes.csv").write_text("a,b\n1,2\n")  # neither a recording nor ours: analysed, and fails
    skipped: Counter = Counter()
    assert sorted(i.key for i in discover([root], skipped=skipped)) == ["notes", "s1"]
    assert skipped == {"angles": 2, "truth": 1, "table": 1}
    capsys.readouterr()
    assert main(["batch", str(root), "--out", str(tmp_path / "r"), "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    assert "failed: " in err and "notes.csv" in err
    assert "note: skipped: 1 simulator truth file, 2 angles CSVs, 1 batch table" in err


def test_hidden_files_are_skipped_and_counted(study: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "st"
    _copy(study, "patientA/s1", root / "s1.csv")
    (root / "._s1.csv").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")  # macOS AppleDouble
    (root / "sub").mkdir()
    (root / "sub" / ".x.csv").write_bytes((root / "s1.csv").read_bytes())  # even a real recording
    skipped: Counter = Counter()
    assert [i.key for i in discover([root], skipped=skipped)] == ["s1"]
    assert skipped == {"hidden file": 2}
    assert main(["batch", str(root), "--out", str(tmp_path / "r"), "--jobs", "1"]) == 0
    assert "note: skipped: 2 hidden files" in capsys.readouterr().err
    assert [i.key for i in discover([root / "sub" / ".x.csv"])] == [".x"]  # given by name: analysed


def test_an_input_reached_through_a_link_counts_its_skipped_files_once(study: Path, tmp_path: Path,
                                                                      capsys) -> None:
    root = tmp_path / "st"
    _copy(study, "patientA/s1", root / "s1.csv")
    (root / "s1.truth.csv").write_bytes((study / "patientA" / "s1.truth.csv").read_bytes())
    (root / ".cache").mkdir()
    link = tmp_path / "stlink"
    link.symlink_to(root, target_is_directory=True)
    skipped: Counter = Counter()
    assert [i.key for i in discover([root, link], skipped=skipped)] == ["s1"]
    assert skipped == {"truth": 1, "hidden": 1}
    assert main(["batch", str(root), str(link), "--out", str(tmp_path / "r"), "--jobs", "1"]) == 0
    assert "note: skipped: 1 hidden folder, 1 simulator truth file" in capsys.readouterr().err


# -------------------------------------------------------------------------------- reuse by content

def test_a_recording_replaced_with_an_older_modification_time_is_analysed_again(study: Path,
                                                                              tmp_path: Path) -> None:
    """``cp -p``, tar and rsync keep a file's (older) modification time: the summary of the file it
    replaced must not be served for it."""
    rec = _copy(study, "patientA/s1", tmp_path / "rec" / "s1.csv")  # 3 reps
    out = tmp_path / "r"
    assert main(["batch", str(rec.parent), "--out", str(out), "--jobs", "1"]) == 0
    summary = json.loads((out / "s1.summary.json").read_text())
    assert summary["source"]["recording_sha256"] and summary["source"]["recording_bytes"] == rec.stat().st_size
    other = simulate_session(SimulationOptions(seed=99, n_reps=5))
    write_simulation(other, tmp_path / "new" / "s1.csv")
    for suffix in (".csv", ".json"):  # like cp -p: the new content with an old time
        (tmp_path / "rec" / f"s1{suffix}").write_bytes((tmp_path / "new" / f"s1{suffix}").read_bytes())
        os.utime(tmp_path / "rec" / f"s1{suffix}", (1_000_000_000, 1_000_000_000))
    assert main(["batch", str(rec.parent), "--out", str(out), "--jobs", "1"]) == 0
    assert pd.read_parquet(out / "sessions.parquet").reps.tolist() == [5]
    # the sidecar alone replaced (an older time again): also analysed again
    side = json.loads(rec.with_suffix(".json").read_text())
    rec.with_suffix(".json").write_text(json.dumps({**side, "subject": "p7"}))
    os.utime(rec.with_suffix(".json"), (1_000_000_000, 1_000_000_000))
    assert not __import__("imu_pipeline.study", fromlist=["up_to_date"]).up_to_date(BatchItem(rec, "s1"), out)


# ------------------------------------------------------------------------------- sidecar metadata

def test_two_sidecar_keys_making_one_column_keep_the_top_level_one_and_warn(study: Path, tmp_path: Path,
                                                                            capsys) -> None:
    rec = _copy(study, "patientA/s1", tmp_path / "rec" / "s1.csv")
    side = json.loads(rec.with_suffix(".json").read_text())
    rec.with_suffix(".json").write_text(json.dumps({**side, "participant": {"age": 30, "sex": "F"},
                                                    "participant_age": 31}))
    out = tmp_path / "r"
    assert main(["batch", str(rec.parent), "--out", str(out), "--jobs", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    s = pd.read_parquet(out / "sessions.parquet").iloc[0]
    assert s.meta_participant_age == 31 and s.meta_participant_sex == "F"
    want = ("the sidecar keys participant_age (31) and participant.age (30) both make the column "
            "meta_participant_age, which holds participant_age's value; rename one in the sidecar")
    assert s.warnings == 1 and s.warnings_text == want
    assert line == f"[1/1] s1: 3 reps; 1 warning: {want}"
    # reused from the summary: the same row
    assert main(["batch", str(rec.parent), "--out", str(out), "--jobs", "1"]) == 0
    assert pd.read_parquet(out / "sessions.parquet").iloc[0].warnings_text == want


# ----------------------------------------------------------------------- the tables as one set

def test_the_four_tables_are_replaced_as_a_set(study: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "r"
    out.mkdir()
    write_tables(out, *tables([]))  # the old set: no rows
    before = {f: (out / f).read_bytes() for f in TABLE_FILES}
    new = tables(run(discover([study / "patientA"]), jobs=1))
    # Ctrl-C while the reps table is written: the old four stay, no temporary file is left
    real_to_parquet = pd.DataFrame.to_parquet

    def ctrl_c_on_the_reps(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if "start_s" in self.columns:
            raise KeyboardInterrupt
        return real_to_parquet(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", ctrl_c_on_the_reps)
    with pytest.raises(KeyboardInterrupt):
        write_tables(out, *new)
    monkeypatch.undo()
    assert {f: (out / f).read_bytes() for f in TABLE_FILES} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(TABLE_FILES)
    # Ctrl-C while they are renamed into place: all four are replaced, then it is raised
    if os.name != "posix":
        return
    real_replace = os.replace
    renamed: list[str] = []

    def replace_with_a_ctrl_c(src, dst):  # noqa: ANN001
        if not renamed:
            os.kill(os.getpid(), signal.SIGINT)
        renamed.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_with_a_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        write_tables(out, *new)
    monkeypatch.undo()
    assert sorted(renamed) == sorted(TABLE_FILES)
    for name in ("sessions", "reps"):
        assert len(pd.read_parquet(out / f"{name}.parquet")) == len(pd.read_csv(out / f"{name}.csv")) > 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ------------------------------------------------------------------------------ SIGTERM, kill -9

def _live_in_group(pgid: int) -> list[int]:
    """The processes of a process group that are not zombies (Linux /proc)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            pids.append(int(d.name))
    return pids


def _group_ends(pgid: int, patience_s: float = 30.0) -> list[int]:
    """The group's live processes once none is left, or after ``patience_s`` (a bound, not a measure)."""
    deadline = time.monotonic() + patience_s
    left = _live_in_group(pgid)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _live_in_group(pgid)
    return left


def _stuck_study(study: Path, tmp_path: Path) -> Path:
    """s1/s1, s2/s2 and zz/stuck: a named pipe nobody writes to (its session never ends by itself)."""
    rec = tmp_path / "rec"
    _copy(study, "patientA/s1", rec / "s1" / "s1.csv")
    _copy(study, "patientA/s2", rec / "s2" / "s2.csv")
    (rec / "zz").mkdir()
    os.mkfifo(rec / "zz" / "stuck.csv")
    return rec


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or not hasattr(os, "mkfifo"),
                    reason="needs Linux /proc and named pipes")
@pytest.mark.parametrize("to", ["main", "group"])
def test_sigterm_stops_at_once_writes_the_tables_and_leaves_no_worker(study: Path, tmp_path: Path, to: str) -> None:
    """SIGTERM to the main process (`kill PID`) or to the whole process group (`timeout`, SLURM): the
    same stop. The group's workers got it too and died at once: the session they were analysing was
    reported as a broken recording ('the worker failed (BrokenProcessPool ...)') and, with --force,
    its good summary from an earlier run renamed .stale."""
    rec, out = _stuck_study(study, tmp_path), tmp_path / "r"
    proc = subprocess.Popen(_cli("batch", str(rec), "--out", str(out), "--jobs", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _read_until(proc.stdout, "[2/3]")
        if to == "main":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=120) == 143
        err = proc.stderr.read()
        assert "terminated (SIGTERM): 2 of 3 sessions finished (2 analysed); the tables in" in err, err
        assert "do the other 1 " in err and "failed" not in err and "Traceback" not in err
        assert sorted(pd.read_parquet(out / "sessions.parquet").key) == ["s1/s1", "s2/s2"]
        assert _group_ends(proc.pid) == []  # no worker left analysing
        assert not list(out.rglob("*.tmp"))
    finally:
        if _live_in_group(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or not hasattr(os, "mkfifo"),
                    reason="needs Linux /proc and named pipes")
def test_local_workers_die_with_the_main_process_even_on_kill_9(study: Path, tmp_path: Path) -> None:
    rec = _stuck_study(study, tmp_path)
    proc = subprocess.Popen(_cli("batch", str(rec), "--out", str(tmp_path / "r"), "--jobs", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _read_until(proc.stdout, "[2/3]")
        proc.kill()  # SIGKILL: no handler runs in the main process
        proc.wait(timeout=60)
        assert _group_ends(proc.pid) == []
    finally:
        if _live_in_group(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
@pytest.mark.parametrize("delay_s", [0.01, 0.05, 0.1])
def test_a_ctrl_c_just_after_the_run_finished_does_not_kill_the_process(study: Path, tmp_path: Path,
                                                                       delay_s: float) -> None:
    """The run is over (its last line printed): a Ctrl-C then ends the program with its exit status
    (0, or 130), never kills it by the signal (Python hands SIGINT back to the system while exiting)."""
    proc = subprocess.Popen(_cli("batch", str(study / "patientA"), "--out", str(tmp_path / "r"), "--jobs", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _read_until(proc.stdout, "recordings analysed")
        time.sleep(delay_s)  # somewhere in the program's exit (not a measurement)
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        assert proc.wait(timeout=60) in (0, 130), proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert len(pd.read_csv(tmp_path / "r" / "sessions.csv")) == 2


# -------------------------------------------------------------------------------------- Dask

def test_ctrl_c_on_a_dask_cluster_waits_for_the_sessions_running_there(study: Path, tmp_path: Path) -> None:
    """As on local processes: the cluster is handed only as many sessions as it has worker threads,
    and the first Ctrl-C waits for those (it said 'N of M finished' while they went on writing)."""
    distributed = pytest.importorskip("distributed")
    items = [BatchItem(study / f"patient{p}" / f"s{k}.csv", f"{p}{k}") for p in "AB" for k in (1, 2)]
    told: list[int] = []

    def ctrl_c_after_the_first(r, done, total):  # noqa: ANN001
        if done == 1:
            raise KeyboardInterrupt

    out = tmp_path / "r"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        with pytest.raises(BatchInterrupted) as e:
            run(items, scheduler=lc.scheduler_address, out=out, on_result=ctrl_c_after_the_first,
                on_interrupt=told.append)
    assert told == [1] and e.value.left_running == 0
    finished = sorted(r.key for r in e.value.results)
    assert len(finished) == 2 and e.value.total == 4
    assert sorted(p.name.split(".")[0] for p in out.glob("*.summary.json")) == finished


def test_stopping_on_a_dask_cluster_says_that_running_sessions_may_still_write(study: Path, tmp_path: Path,
                                                                              monkeypatch, capsys) -> None:
    distributed = pytest.importorskip("distributed")
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs named pipes")
    rec = tmp_path / "rec"
    _copy(study, "patientA/s1", rec / "s1.csv")
    os.mkfifo(rec / "zz.csv")  # keyed after s1: handed out when s1 is done

    monkeypatch.setattr(batch_cli, "_Progress", _ctrl_c_after_the_first(lambda: os.kill(os.getpid(), signal.SIGINT)))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        try:
            assert main(["batch", str(rec), "--out", str(tmp_path / "r"), "--scheduler", lc.scheduler_address]) == 130
        finally:
            try:  # end of file for the worker still reading it (if it ever opened it)
                os.close(os.open(rec / "zz.csv", os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    err = capsys.readouterr().err
    assert "waiting for the 1 session running on the cluster" in err
    assert "interrupted: 1 of 2 sessions finished (1 analysed)" in err
    assert "1 session was still running on the cluster and may still write its summary into" in err


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_scheduler_lost_mid_run_is_one_clear_error_with_the_finished_sessions_tables(study: Path,
                                                                                      tmp_path: Path) -> None:
    """The scheduler killed while a session runs: the client gives up reconnecting (10 s) and cancels
    what was pending. That was reported as every pending recording failing ('the worker failed
    (CancelledError())'), rows with status error, after Dask's own log line. Now: one message, the
    tables of the finished sessions, exit status 1."""
    pytest.importorskip("distributed")
    rec, out = _stuck_study(study, tmp_path), tmp_path / "r"
    port = _free_port()
    code = "import sys; from distributed.cli.dask_{0} import main; sys.exit(main())"
    sched = subprocess.Popen([sys.executable, "-c", code.format("scheduler"), "--port", str(port), "--no-dashboard"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    worker = subprocess.Popen([sys.executable, "-c", code.format("worker"), f"tcp://127.0.0.1:{port}", "--nthreads",
                               "1", "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        proc = subprocess.Popen(_cli("batch", str(rec), "--out", str(out), "--scheduler", f"tcp://127.0.0.1:{port}"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            _read_until(proc.stdout, "[2/3]")
            os.killpg(sched.pid, signal.SIGKILL)
            assert proc.wait(timeout=120) == 1
            err = proc.stderr.read()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    finally:
        for p in (sched, worker):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert "lost the Dask scheduler: 2 of 3 sessions finished (2 analysed); the tables in" in err, err
    assert "do the other 1 " in err
    assert "failed" not in err and "CancelledError" not in err and "Traceback" not in err and "ERROR" not in err
    assert sorted(pd.read_parquet(out / "sessions.parquet").key) == ["s1/s1", "s2/s2"]


def test_a_session_stopped_under_force_is_not_passed_off_with_its_earlier_summary(study: Path, tmp_path: Path) -> None:
    """--force, stopped at once while a session runs: that session's summary from the earlier run is
    up to date (same recording, same config) but was not redone; it was counted 'analysed' and its
    old row put in the tables. Only a summary this run wrote counts."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    items = [BatchItem(study / "patientA" / f"s{k}.csv", f"A{k}") for k in (1, 2)]
    out = tmp_path / "r"
    run(items, out=out)  # the earlier, complete run
    release = threading.Event()

    def held(fn, *args):  # noqa: ANN001, ANN002
        release.wait(60)
        return fn(*args)

    class Pool(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            if args[1] == "A2":
                return super().submit(held, fn, *args)
            return super().submit(fn, *args, **kwargs)

    pressed: list[str] = []

    def ctrl_c(*args):  # noqa: ANN002  the first after A1 finished, the second at the note
        pressed.append(args[0].key if args and hasattr(args[0], "key") else "note")
        if len(pressed) <= 2:
            raise KeyboardInterrupt

    pool = Pool(2)
    try:
        with pytest.raises(BatchInterrupted) as e:
            run(items, out=out, force=True, executor=pool, on_result=ctrl_c, on_interrupt=ctrl_c)
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert pressed == ["A1", "note"]
    assert [r.key for r in e.value.results] == ["A1"]


def test_a_scheduler_without_workers_is_waited_for_a_bounded_time_then_refused(study: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    code = ("import sys; from imu_pipeline import study; from imu_pipeline.cli import main; "
            "study.WORKERS_WAIT_S = 1.0; sys.exit(main())")
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=None) as lc:
        address = lc.scheduler_address
        proc = subprocess.Popen([sys.executable, "-c", code, "batch", str(study / "patientA"), "--out",
                                 str(tmp_path / "r"), "--scheduler", address], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("hung waiting for workers")
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert lines[0] == f"waiting for workers on {address} (up to 1 s) ..."
    assert f"--scheduler {address}: no Dask worker joined the scheduler within 1 s" in lines[1]
    assert f"`dask worker {address}`" in lines[1] and "Traceback" not in err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------ the docs

def test_every_pose_source_seen_is_documented(study: Path, tmp_path: Path) -> None:
    """docs/batch-tables.md lists the values of pose_source; those a real run gives are among them."""
    rec = _copy(study, "patientA/s1", tmp_path / "rec" / "s1.csv")
    rec.with_suffix(".json").unlink()  # no sidecar: the pose from gravity, or guessed
    _copy(study, "patientA/s2", tmp_path / "rec" / "s2.csv")  # the sidecar's exercise, seen in gravity
    seen = set(tables(run(discover([tmp_path / "rec"]), jobs=1))[0].pose_source.dropna())
    seen |= set(tables(run(discover([tmp_path / "rec"]), jobs=1, pose="lying"))[0].pose_source.dropna())
    text = (REPO / "docs" / "batch-tables.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `pose_source` |"))
    documented = set(re.findall(r"`([^`]+)`", row.split("|")[4]))
    assert "sidecar exercise, seen in gravity" in seen and "option" in seen
    assert seen <= documented, seen - documented
