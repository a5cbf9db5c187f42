"""``imu-pipeline`` entry point: help, simulate -> info, and how user mistakes are reported (imu_pipeline/cli.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import HEADER, rest_rows
from imu_pipeline.cli import main
from imu_pipeline.io.recording import read_recording
from imu_pipeline.report.info import info_dict


@pytest.mark.parametrize("argv", [["--help"], ["info", "--help"], ["simulate", "--help"]])
def test_help_exits_0(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as ei:
        main(argv)
    assert ei.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: imu-pipeline")
    if argv[0] == "info":
        assert "--gap" in out and "recording" in out
    if argv[0] == "simulate":
        for opt in ("--seed", "--pose", "--reps", "--thigh-rate", "--pelvis-rate", "--packet-loss", "--disconnect"):
            assert opt in out
    if argv[0] == "--help":
        assert "info" in out and "simulate" in out


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert re.match(r"imu-pipeline \d+\.\d+", capsys.readouterr().out)


def test_simulate_then_info(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.csv"
    rc = main(["simulate", str(out), "--reps", "2", "--seed", "4", "--thigh-rate", "52", "--pelvis-rate", "100",
               "--disconnect"])
    assert rc == 0
    said = capsys.readouterr().out
    assert f"wrote {out}" in said and "2 reps" in said and "thigh 52 Hz, pelvis 100 Hz" in said
    for name in ("s.csv", "s.json", "s.truth.csv", "s.truth.json"):
        assert (tmp_path / name).is_file()

    rec = read_recording(out)
    info = info_dict(rec)
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "recording   s.csv" in text
    assert f"duration    {info['duration_s']:.2f} s" in text
    assert "exercise    lying-leg-raise" in text
    n_thigh, n_pelvis = len(rec.sensors["thigh"]), len(rec.sensors["pelvis"])
    assert re.search(rf"^thigh\s+{n_thigh} samples, 52\.0 Hz \(declared 52 Hz\)", text, re.M)
    assert re.search(rf"^pelvis\s+{n_pelvis} samples, 100\.0 Hz \(declared 100 Hz\)", text, re.M)
    assert "outages (no samples):" in text and "none" not in text.split("outages (no samples):")[1].splitlines()[0]
    (gap,) = [g for g in info["gaps"] if g["where"] == "middle"]
    assert re.search(rf"^\s+{gap['sensor']}\s+{gap['start_s']:9.3f} -> {gap['end_s']:9.3f} s  \({gap['duration_s']:.3f} s, middle\)",
                     text, re.M)
    assert 2.0 <= gap["duration_s"] <= 5.1
    assert text.count("event ") == 2 and "disconnected" in text and "reconnected" in text

    assert main(["info", str(out), "--json"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["sensors"]["thigh"]["samples"] == n_thigh and j["sensors"]["pelvis"]["samples"] == n_pelvis
    assert len(j["gaps"]) == 1


def test_info_without_gaps_says_none(tmp_path: Path, capsys) -> None:
    p = tmp_path / "r.csv"
    p.write_text(HEADER + rest_rows(20))
    assert main(["info", str(p)]) == 0
    text = capsys.readouterr().out
    assert "outages (no samples): none" in text
    assert "warning: no mounting declared for the thigh sensor" in text


def _assert_one_line_error(capsys, rc: int, *fragments: str) -> str:
    cap = capsys.readouterr()
    assert rc == 2
    err = cap.err.strip("\n")
    assert len(err.splitlines()) == 1, f"expected one line on stderr, got:\n{cap.err}"
    assert "error:" in err and "Traceback" not in cap.err + cap.out
    for f in fragments:
        assert f in err
    return err


def test_info_missing_file(tmp_path: Path, capsys) -> None:
    rc = main(["info", str(tmp_path / "nope.csv")])
    err = _assert_one_line_error(capsys, rc, str(tmp_path / "nope.csv"), "no such file")
    assert err.startswith("imu-pipeline info: error:")


@pytest.mark.parametrize("content, fragment", [
    ('{"format": "imu-pipeline-recording"}\n', "line 1"),
    (b"\x00\x01\x02binary\x00" * 10, "binary data"),
    (HEADER + "0.0,knee,0,0,9.81,0,0,0\n", "unknown sensor 'knee'"),
])
def test_info_on_a_file_that_is_not_a_recording(tmp_path: Path, capsys, content, fragment: str) -> None:
    p = tmp_path / "x.csv"
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    _assert_one_line_error(capsys, main(["info", str(p)]), str(p), fragment)


def test_info_on_a_directory(tmp_path: Path, capsys) -> None:
    _assert_one_line_error(capsys, main(["info", str(tmp_path)]), "is a directory")


def test_info_on_non_utf8_data_is_a_user_error(tmp_path: Path, capsys) -> None:
    p = tmp_path / "latin1.csv"
    p.write_bytes(HEADER.encode() + rest_rows(2).encode() + b"0.5,thigh,\xe9,0,9.81,0,0,0\n")
    try:
        rc = main(["info", str(p)])
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"BUG (recording.py _parse_body): `imu-pipeline info` on a file with non-UTF-8 bytes after the "
                    f"header ends in a traceback ({type(e).__name__}: {e}) instead of a one-line error, exit 2")
    _assert_one_line_error(capsys, rc, str(p))


def test_simulate_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.csv"
    assert main(["simulate", str(out), "--reps", "1"]) == 0
    capsys.readouterr()
    _assert_one_line_error(capsys, main(["simulate", str(out), "--reps", "1"]), "already exists", "--force")
    assert main(["simulate", str(out), "--reps", "1", "--force"]) == 0


@pytest.mark.parametrize("args, fragment", [
    (["--rest", "3", "1"], "--rest must be"),
    (["--mix", "hip-flexor,crunch"], "unknown --mix kind(s) ['crunch']"),
    (["--mix", "swing"], "only in hanging raises"),
    (["--thigh-rate", "5"], "--thigh-rate must be 10..2000 Hz"),
    (["--packet-loss", "0.9"], "--packet-loss must be in [0, 0.5)"),
    (["--seed", "-5"], "--seed must be >= 0"),
])
def test_simulate_bad_options(tmp_path: Path, capsys, args: list[str], fragment: str) -> None:
    rc = main(["simulate", str(tmp_path / "s.csv"), *args])
    err = _assert_one_line_error(capsys, rc, fragment)
    assert err.startswith("imu-pipeline simulate: error:")
    assert not (tmp_path / "s.csv").exists()


def test_simulate_output_name_without_csv_is_a_user_error(tmp_path: Path, capsys) -> None:
    try:
        rc = main(["simulate", str(tmp_path / "session.txt"), "--reps", "1"])
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"BUG cli.py _cmd_simulate: write_simulation's ValueError ({e}) escapes main() as a traceback; "
                    "wrap write_simulation in `except ValueError as e: raise UserError(str(e))` (or check the "
                    "suffix before simulating)")
    _assert_one_line_error(capsys, rc, "must end in .csv")


def test_simulate_same_seed_gives_identical_files(tmp_path: Path, capsys) -> None:
    for d in ("a", "b"):
        assert main(["simulate", str(tmp_path / d / "s.csv"), "--reps", "2", "--seed", "5", "--packet-loss", "0.05"]) == 0
    for name in ("s.csv", "s.json", "s.truth.csv", "s.truth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert main(["simulate", str(tmp_path / "c" / "s.csv"), "--reps", "2", "--seed", "6", "--packet-loss", "0.05"]) == 0
    assert (tmp_path / "c" / "s.csv").read_bytes() != (tmp_path / "a" / "s.csv").read_bytes()


def test_outputs_never_destroy_a_recording_or_each_other(tmp_path: Path, capsys) -> None:
    """Refused before any work (nothing written): a hard link to the recording, another recording,
    two outputs with one name, an output inside a file; an unreadable sidecar is one error line."""
    import os
    import shutil

    from imu_pipeline.cli import main

    src = Path(__file__).resolve().parent.parent / "recordings" / "lying-mixed.csv"
    rec = tmp_path / "rec.csv"
    shutil.copy(src, rec)
    shutil.copy(src.with_suffix(".json"), rec.with_suffix(".json"))
    other = tmp_path / "other.csv"
    shutil.copy(src, other)
    os.link(rec, tmp_path / "hard.csv")
    before = {p: p.read_bytes() for p in (rec, other)}
    cases = [(["--json", str(tmp_path / "hard.csv")], "overwrite the recording itself"),
             (["--json", str(other)], "is a recording"),
             (["--json", str(tmp_path / "a.out"), "--angles", str(tmp_path / "a.out")], "the same file as --json"),
             (["--json", str(tmp_path / "s.json"), "--plot", str(rec) + "/p.png"], "is a file, not a folder")]
    for extra, msg in cases:
        assert main(["analyze", str(rec), *extra]) == 2
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err, err
    assert not (tmp_path / "s.json").exists() and not (tmp_path / "a.out").exists()
    assert {p: p.read_bytes() for p in (rec, other)} == before
    bad = tmp_path / "d.csv"
    shutil.copy(src, bad)
    (tmp_path / "d.json").mkdir()
    assert main(["analyze", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "d.json" in err and "sidecar" in err and "Traceback" not in err

@pytest.mark.parametrize("kind, fragment", [("directory", "is not a file"), ("latin-1", "not UTF-8 text")])
def test_unusable_config_file_is_one_error_line(tmp_path: Path, capsys, kind: str, fragment: str) -> None:
    """`analyze --config X` where X is a folder or a Latin-1 file: exit 2 and one line naming X,
    before the recording is even read."""
    rec = tmp_path / "r.csv"
    rec.write_text(HEADER + rest_rows(20))
    cfg = tmp_path / "cfg.toml"
    if kind == "directory":
        cfg.mkdir()
    else:
        cfg.write_bytes(b"[reps]\n# r\xe9glage\nmin_rep_deg = 30\n")
    err = _assert_one_line_error(capsys, main(["analyze", str(rec), "--config", str(cfg)]), str(cfg), fragment)
    assert err.startswith("imu-pipeline analyze: error:")


def test_info_on_an_infinite_time_stamp_names_line_and_column(tmp_path: Path, capsys) -> None:
    p = tmp_path / "inf.csv"
    p.write_text(HEADER + rest_rows(3) + "inf,thigh,0,0,9.81,0,0,0\n")  # line 8
    _assert_one_line_error(capsys, main(["info", str(p)]), str(p), "line 8", "column 'time_s'")


# ------------------------------------------------------------------ a console that only takes ASCII

ROOT = Path(__file__).resolve().parent.parent
ASCII_CONSOLES = {"PYTHONIOENCODING=ascii": {"PYTHONIOENCODING": "ascii"},
                  "LC_ALL=C": {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
                               "PYTHONIOENCODING": ""}}


def _run(env_extra: dict[str, str], *args: str, cwd: Path) -> tuple[int, bytes, bytes]:
    """``python -m imu_pipeline ARGS`` with stdout and stderr piped (not a terminal)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_CTYPE", "LANG", "PYTHONUTF8",
                                                            "PYTHONIOENCODING")}
    env.update({k: v for k, v in env_extra.items() if v})
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, "-m", "imu_pipeline", *args], cwd=cwd, env=env, capture_output=True,
                       timeout=300, check=False)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("console", ASCII_CONSOLES)
def test_ascii_console_gets_ascii_stand_ins_and_files_stay_utf8(console: str, tmp_path: Path) -> None:
    """analyze on the bundled session with an ASCII-only console: no UnicodeEncodeError, "°" is
    " deg" and "±" "+/-" on the console; the JSON and CSV files are UTF-8 all the same, and
    --print-json is the same JSON (with \\u escapes)."""
    env = ASCII_CONSOLES[console]
    rec = ROOT / "recordings" / "lying-mixed.csv"
    rc, out, err = _run(env, "analyze", str(rec), "--json", "s.json", "--angles", "a.csv", cwd=tmp_path)
    assert rc == 0 and b"Traceback" not in err, err.decode(errors="replace")
    text = out.decode("ascii")  # nothing but ASCII reached the console
    assert re.search(r"hip +\d+\.\d deg", text) and "?" not in text
    summary = (tmp_path / "s.json").read_bytes()
    assert "–".encode() in summary  # "1–2 s" in the verdict, UTF-8 whatever the locale
    assert json.loads(summary.decode("utf-8"))["verdict"] in text.replace("1-2 s", "1–2 s")
    (tmp_path / "a.csv").read_bytes().decode("utf-8")

    rc, out, err = _run(env, "analyze", str(rec), "--print-json", cwd=tmp_path)
    assert rc == 0 and b"Traceback" not in err
    assert json.loads(out.decode("ascii")) == json.loads(summary.decode("utf-8"))

    rc, out, err = _run(env, "simulate", "--help", cwd=tmp_path)
    assert rc == 0 and b"up to +/- this" in out and not err

    rc, out, err = _run(env, "analyze", "missing°.csv", cwd=tmp_path)
    assert rc == 2 and b"Traceback" not in err and len(err.splitlines()) == 1
    assert err.startswith(b"imu-pipeline analyze: error: missing") and b"no such file" in err


def test_console_fallback_mapping() -> None:
    """The error handler the console streams use: meaning kept, "?" for the rest, undecodable bytes
    of a file name given back as they were."""
    import codecs

    from imu_pipeline.cli import CONSOLE_ERRORS, _tolerant_console

    _tolerant_console()  # registers the handler
    codecs.lookup_error(CONSOLE_ERRORS)
    assert "78.6° ±2 → 1–2 s, x° ≥ 3 ∑".encode("ascii", CONSOLE_ERRORS) == b"78.6 deg +/-2 -> 1-2 s, x? >= 3 ?"
    assert "r\udce9c.csv".encode("utf-8", CONSOLE_ERRORS) == b"r\xe9c.csv"
    assert "90°".encode("latin-1", CONSOLE_ERRORS) == "90°".encode("latin-1")  # only what cannot be encoded


def test_a_pose_option_that_gravity_contradicts_is_named_first(capsys) -> None:
    from pathlib import Path

    from imu_pipeline.cli import main

    rec = Path(__file__).resolve().parent.parent / "recordings" / "lying-mixed.csv"
    assert main(["analyze", str(rec), "--pose", "hanging"]) != 0
    err = capsys.readouterr().err
    assert "--pose hanging was given" in err and "it shows lying" in err and "Traceback" not in err
