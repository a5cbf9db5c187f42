"""Writing outputs (imu_pipeline/report/files.py and every command that writes): a folder that
cannot be written, a name that is a folder, a missing folder, an unknown plot type or a full disk
is one error line naming the file and what was expected — never a traceback — exit status 2, and
never half a file under the final name.

A read-only folder is made two ways: ``chmod 555`` where permission bits bind (not as root), and
by making file creation in that folder fail with EACCES (the single place outputs create files,
``files._create``), which holds for root too. A full disk is a write that stops part way with
ENOSPC, through ``open`` itself, as the OS would report it.
"""

from __future__ import annotations

import builtins
import errno
import os
import shutil
import sys
from pathlib import Path

import pytest

from imu_pipeline.cli import main
from imu_pipeline.errors import OutputError
from imu_pipeline.report import files

REC = Path(__file__).resolve().parent.parent / "recordings" / "lying-mixed.csv"


@pytest.fixture
def rec(tmp_path: Path) -> Path:
    """The bundled lying session (CSV + sidecar) copied into its own folder."""
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(REC, d / REC.name)
    shutil.copy(REC.with_suffix(".json"), d / REC.with_suffix(".json").name)
    return d / REC.name


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch) -> Path:
    """A folder in which no file or folder can be created (EACCES, as in a ``chmod 555`` folder for
    a normal user)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    real_create, real_mkdir = files._create, os.mkdir

    def refuse(path) -> None:
        if Path(path).resolve().parent == ro.resolve():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    def create(path: Path) -> None:
        refuse(path)
        real_create(path)

    def mkdir(path, *a, **k) -> None:
        refuse(path)
        real_mkdir(path, *a, **k)

    monkeypatch.setattr(files, "_create", create)
    monkeypatch.setattr(os, "mkdir", mkdir)
    return ro


@pytest.fixture
def no_analysis(monkeypatch) -> None:
    """Fail the test if a recording is analysed (the checks must come first)."""
    def refuse(*a, **k):
        raise AssertionError("the analysis ran before the outputs were checked")

    monkeypatch.setattr("imu_pipeline.pipeline.offline.analyze_recording", refuse)
    monkeypatch.setattr("imu_pipeline.pipeline.replay.replay", refuse)
    monkeypatch.setattr("imu_pipeline.simulate.simulate_session", refuse)
    monkeypatch.setattr("imu_pipeline.evaluate.score_session", refuse)


class _FullDisk:
    """A file opened for writing on a disk that fills after ``room`` bytes (or characters)."""

    def __init__(self, fh, room: int) -> None:
        self._fh, self._room = fh, room

    def write(self, data):
        if len(data) > self._room:
            self._fh.write(data[:self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()

    def __iter__(self):
        return iter(self._fh)


@pytest.fixture
def disk_full(monkeypatch):
    """``disk_full(folder, room=100)``: files opened for writing in ``folder`` fail with ENOSPC
    after ``room`` bytes, through ``open`` itself (what json, csv, matplotlib and PIL all use)."""
    real_open = builtins.open

    def arm(folder: Path, room: int = 100) -> None:
        folder = Path(folder).resolve()

        def fake_open(file, mode="r", *args, **kwargs):
            fh = real_open(file, mode, *args, **kwargs)
            if isinstance(file, (str, os.PathLike)) and any(m in mode for m in "wax+") \
                    and Path(file).resolve().parent == folder:
                return _FullDisk(fh, room)
            return fh

        monkeypatch.setattr(builtins, "open", fake_open)

    return arm


def _one_error_line(capsys, rc: int, *fragments: str) -> str:
    cap = capsys.readouterr()
    assert rc == 2, (rc, cap.err)
    err = cap.err.strip("\n")
    assert "Traceback" not in cap.err + cap.out
    assert len(err.splitlines()) == 1 and err.startswith("imu-pipeline ") and ": error: " in err, cap.err
    for f in fragments:
        assert f in err, (f, err)
    return err


def _leftovers(folder: Path) -> list[str]:
    """Temporary files the writers left behind."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


# ------------------------------------------------------------------ a folder that cannot be written

COMMANDS = {  # name -> argv writing into FOLDER (the recording is REC)
    "analyze --json": ["analyze", "REC", "--json", "FOLDER/out.json"],
    "analyze --angles": ["analyze", "REC", "--angles", "FOLDER/out.csv"],
    "analyze --plot": ["analyze", "REC", "--plot", "FOLDER/out.png"],
    "analyze --plot .svg": ["analyze", "REC", "-q", "--plot", "FOLDER/out.svg"],
    "replay --json": ["replay", "REC", "--json", "FOLDER/out.json"],
    "replay --angles": ["replay", "REC", "--angles", "FOLDER/out.csv"],
    "simulate": ["simulate", "FOLDER/sim.csv", "--reps", "2"],
    "simulate (new subfolder)": ["simulate", "FOLDER/sub/sim.csv", "--reps", "2"],
    "evaluate --json": ["evaluate", "--sessions", "1", "--no-live", "--json", "FOLDER/scores.json"],
    "batch --out": ["batch", "REC", "--out", "FOLDER"],
    "batch --out (new subfolder)": ["batch", "REC", "--out", "FOLDER/sub"],
}


def _argv(name: str, rec: Path, folder: Path) -> list[str]:
    return [a.replace("FOLDER", str(folder)).replace("REC", str(rec)) for a in COMMANDS[name]]


@pytest.mark.parametrize("name", COMMANDS)
def test_read_only_folder_is_one_line_before_any_work(name: str, rec: Path, read_only: Path, no_analysis,
                                                      capsys) -> None:
    """Every output of every command: the message names the output and the folder, says what is
    wrong, and comes before the recording is analysed (or the session simulated)."""
    argv = _argv(name, rec, read_only)
    target = next(a for a in argv if a.startswith(str(read_only)))
    err = _one_error_line(capsys, main(argv), target, "read-only")
    assert str(read_only) in err
    assert list(read_only.iterdir()) == []


def _permission_bits_bind(folder: Path) -> bool:
    """Whether a ``chmod 555`` folder stops this process (not for root with CAP_DAC_OVERRIDE,
    whatever os.geteuid() says; never on Windows)."""
    if sys.platform == "win32":
        return False
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        return True
    (folder / "probe").unlink()
    folder.chmod(0o755)
    return False


@pytest.mark.parametrize("name", ["analyze --json", "analyze --plot", "replay --angles", "simulate",
                                  "simulate (new subfolder)", "evaluate --json", "batch --out",
                                  "batch --out (new subfolder)"])
def test_chmod_555_folder(name: str, rec: Path, tmp_path: Path, capsys) -> None:
    """The real thing where permission bits bind (as root: run under
    ``setpriv --bounding-set=-dac_override,-dac_read_search,-fowner --inh-caps=-all``)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if not _permission_bits_bind(ro):
        pytest.skip("permission bits do not bind this process (root): the monkeypatched test covers it")
    try:
        argv = _argv(name, rec, ro)
        _one_error_line(capsys, main(argv), next(a for a in argv if a.startswith(str(ro))), "Permission denied",
                        "read-only")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


# ------------------------------------------------------------------ plot types

@pytest.mark.parametrize("name, fragment", [("out.xyz", "unknown file type '.xyz'"), ("out", "no file extension"),
                                            ("out.png.bak", "unknown file type '.bak'")])
def test_unknown_plot_type_lists_the_formats_before_any_work(name: str, fragment: str, rec: Path, tmp_path: Path,
                                                             no_analysis, capsys) -> None:
    for cmd in ("analyze", "replay"):
        err = _one_error_line(capsys, main([cmd, str(rec), "--plot", str(tmp_path / name)]), str(tmp_path / name),
                              fragment, ".png, .pdf, .svg")
        assert err.startswith(f"imu-pipeline {cmd}: error: --plot ")
    assert not (tmp_path / name).exists()


def test_upper_case_plot_extension_is_written_in_that_format(rec: Path, tmp_path: Path, capsys) -> None:
    assert main(["analyze", str(rec), "-q", "--plot", str(tmp_path / "p.PNG"), "--json", str(tmp_path / "s.json")]) == 0
    assert (tmp_path / "p.PNG").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------ folders in the way, missing folders

def test_output_name_that_is_a_folder(rec: Path, tmp_path: Path, no_analysis, capsys) -> None:
    d = tmp_path / "taken"
    d.mkdir()
    for argv in (["analyze", str(rec), "--json", str(d)], ["analyze", str(rec), "--angles", str(d)],
                 ["replay", str(rec), "--plot", str(tmp_path / "taken.png"), "--json", str(d)],
                 ["evaluate", "--sessions", "1", "--json", str(d)]):
        _one_error_line(capsys, main(argv), str(d), "is a folder; give a file name")
    (tmp_path / "taken.csv").mkdir()
    _one_error_line(capsys, main(["simulate", str(tmp_path / "taken.csv")]), str(tmp_path / "taken.csv"), "is a folder")
    f = tmp_path / "file.txt"
    f.write_text("x")
    _one_error_line(capsys, main(["batch", str(rec), "--out", str(f)]), str(f), "is a file; give a folder")


def test_missing_folder_is_refused_for_files_and_created_by_simulate_and_batch(rec: Path, tmp_path: Path,
                                                                                capsys) -> None:
    """analyze, replay and evaluate outputs name the missing folder (they never create one); simulate
    and batch --out create theirs, as they always did."""
    missing = tmp_path / "missing"
    for argv in (["analyze", str(rec), "--angles", str(missing / "a.csv")],
                 ["replay", str(rec), "--json", str(missing / "s.json")],
                 ["evaluate", "--sessions", "1", "--json", str(missing / "e.json")]):
        _one_error_line(capsys, main(argv), str(missing), "does not exist")
    assert not missing.exists()
    assert main(["simulate", str(missing / "a" / "s.csv"), "--reps", "2"]) == 0
    assert (missing / "a" / "s.csv").is_file()
    assert main(["batch", str(rec), "--out", str(missing / "b")]) == 0
    assert (missing / "b" / "sessions.csv").is_file()
    assert _leftovers(tmp_path) == []


def test_output_inside_a_file(rec: Path, tmp_path: Path, capsys) -> None:
    f = tmp_path / "file.txt"
    f.write_text("x")
    _one_error_line(capsys, main(["evaluate", "--sessions", "1", "--json", str(f / "e.json")]), str(f),
                    "is a file, not a folder")
    _one_error_line(capsys, main(["simulate", str(f / "s.csv")]), str(f), "is a file, not a folder")


# ------------------------------------------------------------------ a full disk

@pytest.mark.parametrize("option, name, what", [("--json", "s.json", "summary"), ("--angles", "a.csv", "angles CSV"),
                                                ("--plot", "p.png", "plot"), ("--plot", "p.pdf", "plot")])
def test_disk_full_names_the_file_and_keeps_the_old_one(option: str, name: str, what: str, rec: Path, tmp_path: Path,
                                                        disk_full, capsys) -> None:
    """ENOSPC part way through: the message names the file, and the file under that name is still
    the previous one (no half file, no temporary file left)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_bytes(b"previous")
    disk_full(out, room=100)
    _one_error_line(capsys, main(["analyze", str(rec), "-q", option, str(out / name)]),
                    f"cannot write the {what} {out / name}", "No space left on device", "disk is full")
    assert (out / name).read_bytes() == b"previous"
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_disk_full_without_a_previous_file_leaves_nothing(rec: Path, tmp_path: Path, disk_full, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    disk_full(out, room=10)
    _one_error_line(capsys, main(["replay", str(rec), "-q", "--json", str(out / "s.json")]), str(out / "s.json"),
                    "disk is full")
    assert list(out.iterdir()) == []


def test_disk_full_in_batch_and_simulate(rec: Path, tmp_path: Path, disk_full, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    disk_full(out, room=200)
    _one_error_line(capsys, main(["batch", str(rec), "--out", str(out)]), str(out / "lying-mixed.summary.json"),
                    "disk is full")
    assert list(out.iterdir()) == []
    # the sidecar does not fit, then (more room) the rows do not: each names its file, nothing is left
    _one_error_line(capsys, main(["simulate", str(out / "s.csv"), "--reps", "2"]),
                    f"cannot write the recording's sidecar {out / 's.json'}", "disk is full")
    assert list(out.iterdir()) == []
    disk_full(out, room=5000)
    _one_error_line(capsys, main(["simulate", str(out / "s.csv"), "--reps", "2"]),
                    f"cannot write the recording {out / 's.csv'}", "disk is full")
    assert list(out.iterdir()) == []


def test_disk_full_writing_the_batch_tables(rec: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """The summaries fit, the tables do not: the table is named, none is left half written."""
    out = tmp_path / "out"
    real_open = builtins.open

    def fake_open(file, mode="r", *a, **k):
        fh = real_open(file, mode, *a, **k)
        if "w" in mode and Path(file).name.startswith(".sessions.csv."):
            return _FullDisk(fh, 20)
        return fh

    monkeypatch.setattr(builtins, "open", fake_open)
    _one_error_line(capsys, main(["batch", str(rec), "--out", str(out)]), f"table {out / 'sessions.csv'}",
                    "disk is full")
    assert sorted(p.name for p in out.iterdir()) == ["lying-mixed.summary.json"]


# ------------------------------------------------------------------ files.py itself

def test_write_text_is_utf8_whatever_the_locale(tmp_path: Path, monkeypatch) -> None:
    import locale

    monkeypatch.setattr(locale, "getpreferredencoding", lambda do_setlocale=True: "ascii")
    p = tmp_path / "t.txt"
    files.write_text(p, "90° ± 2° → ok\n", what="test")
    assert p.read_bytes() == "90° ± 2° → ok\n".encode()


def test_replacing_keeps_the_mode_of_an_existing_file_and_writes_through_a_link(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_text("old")
    p.chmod(0o640)
    files.write_text(p, "new", what="test")
    assert p.read_text() == "new" and (p.stat().st_mode & 0o777) == 0o640
    if sys.platform != "win32":
        link = tmp_path / "link.txt"
        link.symlink_to(p)
        files.write_text(link, "via link", what="test")
        assert link.is_symlink() and p.read_text() == "via link"
    assert _leftovers(tmp_path) == []


def test_replacing_removes_the_temporary_file_on_any_error(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    with pytest.raises(RuntimeError), files.replacing(p, what="test") as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match=r"cannot write the test .*t\.txt: .*a folder of that name is in the way"):
        p.mkdir()
        files.write_text(p, "x", what="test")
    assert [q.name for q in tmp_path.iterdir()] == ["t.txt"]


@pytest.mark.parametrize("err, hint", [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only"),
                                       (errno.EACCES, "no permission"), (errno.ENOTDIR, "not a folder")])
def test_output_error_names_file_reason_and_hint(err: int, hint: str) -> None:
    e = files.output_error("x/out.json", "summary", OSError(err, os.strerror(err)))
    assert str(e).startswith(f"cannot write the summary x/out.json: {os.strerror(err)} (") and hint in str(e)
