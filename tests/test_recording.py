"""Recording format v1: reader, validator, crash-safe writer, (imu_pipeline/io/recording.py)."""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import HEADER, moving_samples, rest_row, rest_rows
from imu_pipeline.io.recording import (
    CSV_COLUMNS,
    Recording,
    RecordingError,
    SensorSamples,
    read_recording,
)
from imu_pipeline.io.writer import RecordingWriter, write_recording


def where(path: Path, line: int | None = None, column: str | None = None) -> str:
    """Regex for the 'FILE, line N, column 'C'' prefix the reader puts in every message."""
    s = re.escape(str(path))
    if line is not None:
        s += re.escape(f", line {line}")
    if column is not None:
        s += re.escape(f", column '{column}'")
    return s


def two_sensors(n_thigh: int = 300, n_pelvis: int = 150) -> dict[str, SensorSamples]:
    return {"thigh": moving_samples(n_thigh, 100.0, t0=0.003, seed=1),
            "pelvis": moving_samples(n_pelvis, 50.0, t0=0.011, seed=2, gyr_amp=0.6)}


# --------------------------------------------------------------------------- round trip


def test_round_trip_same_samples_to_written_precision(tmp_path: Path) -> None:
    src = two_sensors()
    p = write_recording(tmp_path / "rt.csv", src, {"exercise": "lying-leg-raise"})
    rec = read_recording(p)
    assert set(rec.sensors) == {"thigh", "pelvis"}
    for s, ss in src.items():
        got = rec.sensors[s]
        assert len(got) == len(ss)
        np.testing.assert_allclose(got.time_s, ss.time_s, rtol=0, atol=5e-7 + 1e-12)
        np.testing.assert_allclose(got.acc, ss.acc, rtol=0, atol=5e-6 + 1e-12)
        np.testing.assert_allclose(got.gyr, ss.gyr, rtol=0, atol=5e-7 + 1e-12)
    assert rec.warnings == []


def test_writer_number_formatting_is_6_5_6_decimals(tmp_path: Path) -> None:
    p = tmp_path / "fmt.csv"
    with RecordingWriter(p) as w:
        w.write("thigh", 1.23456789, [0.123456789, -9.87654321, 1.0], [0.123456789, -1e-9, 2.0])
    lines = p.read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert lines[1] == "1.234568,thigh,0.12346,-9.87654,1.00000,0.123457,-0.000000,2.000000"


def test_rows_are_interleaved_by_time(tmp_path: Path) -> None:
    src = two_sensors()
    p = write_recording(tmp_path / "il.csv", src)
    rows = [ln.split(",") for ln in p.read_text().splitlines()[1:]]
    t = np.array([float(r[0]) for r in rows])
    sensors = [r[1] for r in rows]
    assert np.all(np.diff(t) >= 0), "rows of write_recording must be sorted by time across sensors"
    assert len(rows) == 450
    # both sensors appear throughout, not one block after the other
    first_pelvis = sensors.index("pelvis")
    last_thigh = len(sensors) - 1 - sensors[::-1].index("thigh")
    assert first_pelvis < 5 and last_thigh > len(rows) - 5


def test_sidecar_preserved_with_unknown_keys(tmp_path: Path) -> None:
    meta = {
        "started_at": "2026-11-24T10:00:00Z", "exercise": "lying-leg-raise",
        "sensors": {"thigh": {"model": "X1", "address": "AA:BB", "sample_rate_hz": 100.0,
                              "mounting": {"x": "superior", "y": "right"}, "firmware": "1.2.3"},
                    "pelvis": {"sample_rate_hz": 50.0, "mounting": {"x": "right", "y": "anterior"}}},
        "operator": {"name": "kim", "notes": ["left leg", 3]},
        "x-custom": 42,
    }
    p = write_recording(tmp_path / "meta.csv", two_sensors(), meta)
    rec = read_recording(p)
    for k, v in meta.items():
        assert rec.meta[k] == v
    assert rec.meta["format"] == "imu-pipeline-recording" and rec.meta["version"] == 1
    assert rec.meta["events"] == []
    # columns: sensor x = right (+Z), y = anterior (+X), z = x cross y = superior (+Y)
    np.testing.assert_array_equal(rec.mounting("pelvis"), [[0, 1, 0], [0, 0, 1], [1, 0, 0]])


def test_events_written_at_once_and_atomically(tmp_path: Path) -> None:
    p = tmp_path / "ev.csv"
    w = RecordingWriter(p, {"exercise": "x"})
    try:
        w.add_event(31.2000004, "pelvis", "disconnected", rssi=-80)
        # visible on disk before close, and no temporary file left behind
        on_disk = json.loads(p.with_suffix(".json").read_text())
        assert on_disk["events"] == [{"time_s": 31.2, "kind": "disconnected", "sensor": "pelvis", "rssi": -80}]
        assert not list(tmp_path.glob("*.tmp"))
        w.add_event(33.0, None, "note")
        assert json.loads(p.with_suffix(".json").read_text())["events"][1] == {"time_s": 33.0, "kind": "note"}
    finally:
        w.close()


def test_writer_does_not_mutate_the_callers_meta(tmp_path: Path) -> None:
    meta = {"events": [{"time_s": 1.0, "kind": "start"}]}
    with RecordingWriter(tmp_path / "m.csv", meta) as w:
        w.add_event(2.0, "thigh", "disconnected")
    assert meta == {"events": [{"time_s": 1.0, "kind": "start"}]}, (
        "BUG recording.py RecordingWriter.__init__: self.meta.update(dict(meta)) is a shallow copy, so "
        "add_event() appends to the caller's meta['events'] list; deep-copy the meta (copy.deepcopy)")


def test_writer_refuses_to_overwrite_and_rejects_bad_input(tmp_path: Path) -> None:
    p = tmp_path / "o.csv"
    RecordingWriter(p).close()
    with pytest.raises(FileExistsError, match="already exists"):
        RecordingWriter(p)
    with RecordingWriter(p, overwrite=True) as w:
        with pytest.raises(ValueError, match="unknown sensor 'knee'"):
            w.write("knee", 0.0, [0, 0, 9.81], [0, 0, 0])
        with pytest.raises(ValueError, match="shapes do not match"):
            w.write("thigh", [0.0, 0.01], [[0, 0, 9.81]], [[0, 0, 0]])
    with pytest.raises(ValueError, match="closed"):
        w.write("thigh", 0.0, [0, 0, 9.81], [0, 0, 0])


# --------------------------------------------------------------------------- crash safety


def _rows_on_disk(p: Path) -> int:
    return p.read_bytes().count(b"\n") - 1


def test_writer_flushes_at_least_once_per_interval(tmp_path: Path) -> None:
    """Every row appended more than ``flush_interval_s`` before a later write() is on disk."""
    p = tmp_path / "live.csv"
    interval = 0.05
    w = RecordingWriter(p, flush_interval_s=interval, fsync=True)
    try:
        written_at: list[float] = []  # monotonic time just after each row was handed to the writer
        checks = 0
        t_end = time.monotonic() + 0.6
        i = 0
        while time.monotonic() < t_end:
            before = time.monotonic()  # <= the time write() checks whether to flush
            w.write("thigh" if i % 2 == 0 else "pelvis", i * 0.01, [0.0, 0.1, 9.8], [0.01, 0.0, -0.01])
            written_at.append(time.monotonic())
            must = sum(1 for a in written_at if a <= before - interval)
            on_disk = _rows_on_disk(p)  # read from disk while the writer is still open
            assert on_disk >= must, f"after {i + 1} writes only {on_disk} rows on disk, {must} are older than the interval"
            checks += must > 0
            i += 1
            time.sleep(0.005)
        assert checks > 10
        # the file on disk is a valid recording while the writer is open
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rec = read_recording(p)
        assert len(rec.sensors["thigh"]) + len(rec.sensors["pelvis"]) == _rows_on_disk(p) > 0
    finally:
        w.close()
    assert _rows_on_disk(p) == len(written_at)


def test_maybe_flush_from_a_timer_without_new_samples(tmp_path: Path) -> None:
    p = tmp_path / "timer.csv"
    w = RecordingWriter(p, flush_interval_s=0.05)
    try:
        w.write("thigh", 0.0, [0, 0, 9.81], [0, 0, 0])
        w.write("pelvis", 0.0, [0, 0, 9.81], [0, 0, 0])
        time.sleep(0.08)
        w.maybe_flush()
        assert _rows_on_disk(p) == 2
    finally:
        w.close()


def test_default_flush_interval_is_at_most_one_second(tmp_path: Path) -> None:
    w = RecordingWriter(tmp_path / "d.csv")
    w.close()
    assert 0 < w.flush_interval_s <= 1.0


def test_cut_off_last_line_loads_with_warning(tmp_path: Path) -> None:
    p = write_recording(tmp_path / "cut.csv", two_sensors(30, 30))
    raw = p.read_bytes()
    n_lines = raw.count(b"\n")  # header + 60 rows, last one ends with a newline
    last = raw[: -1].rsplit(b"\n", 1)[1]
    last_sensor = last.split(b",")[1].decode()
    os.truncate(p, len(raw) - 9)  # cut the last row mid-line (a crash while writing)
    with pytest.warns(UserWarning, match=re.escape(f"{p}: line {n_lines} is cut off") + ".*dropped it"):
        rec = read_recording(p)
    assert len(rec.sensors[last_sensor]) == 29
    assert sum(len(s) for s in rec.sensors.values()) == 59
    assert len(rec.warnings) == 1 and f"line {n_lines}" in rec.warnings[0]
    from imu_pipeline.report.info import info_dict

    assert info_dict(rec)["warnings"][0] == rec.warnings[0]


def test_blank_lines_are_tolerated(write_file) -> None:
    p = write_file(HEADER + rest_rows(3) + "\n" + rest_row(0.5, "thigh") + "\n\n" + rest_row(0.5, "pelvis") + "\n")
    rec = read_recording(p)
    assert len(rec.sensors["thigh"]) == 4 and len(rec.sensors["pelvis"]) == 4
    assert rec.warnings == []


def test_line_numbers_count_blank_lines(write_file) -> None:
    p = write_file(HEADER + rest_rows(2) + "\n" + "0.500000,thigh,abc,0,9.81,0,0,0\n")
    with pytest.raises(RecordingError, match=where(p, 7, "acc_x") + ".*'abc' is not a number"):
        read_recording(p)


def test_crlf_line_endings_and_bom_are_accepted(write_file) -> None:
    p = write_file(("\ufeff" + HEADER + rest_rows(4)).replace("\n", "\r\n"))
    rec = read_recording(p)
    assert len(rec.sensors["thigh"]) == 4
    np.testing.assert_allclose(rec.sensors["pelvis"].time_s, [0.001, 0.011, 0.021, 0.031])


# --------------------------------------------------------------------------- validation errors


def test_missing_column(write_file) -> None:
    p = write_file(HEADER.replace(",gyr_z", "") + "0.0,thigh,0,0,9.81,0,0\n")
    with pytest.raises(RecordingError, match=where(p, 1) + r": missing column\(s\) 'gyr_z'"):
        read_recording(p)


def test_extra_column(write_file) -> None:
    p = write_file(HEADER.strip() + ",temp_c\n" + "0.0,thigh,0,0,9.81,0,0,0,25\n")
    with pytest.raises(RecordingError, match=where(p, 1) + r": unexpected column\(s\) 'temp_c'"):
        read_recording(p)


def test_extra_field_in_a_row(write_file) -> None:
    p = write_file(HEADER + rest_rows(2) + "0.5,thigh,0,0,9.81,0,0,0,7\n")
    with pytest.raises(RecordingError, match=where(p, 6) + ": wrong number of fields"):
        read_recording(p)


def test_duplicate_column(write_file) -> None:
    p = write_file(HEADER.strip() + ",sensor\n")
    with pytest.raises(RecordingError, match=where(p, 1) + ": duplicate column"):
        read_recording(p)


@pytest.mark.parametrize("value", ["abc", "0x10", "1,5".replace(",", ";"), "nan"])
def test_non_numeric_value_names_line_and_column(write_file, value: str) -> None:
    p = write_file(HEADER + rest_rows(2) + f"0.500000,thigh,0.1,0.2,9.8,0.0,{value},0.0\n")
    with pytest.raises(RecordingError, match=where(p, 6, "gyr_y") + f".*{re.escape(repr(value))} is not a number"):
        read_recording(p)


def test_non_numeric_time(write_file) -> None:
    p = write_file(HEADER + rest_rows(1) + "12:00:01,pelvis,0,0,9.81,0,0,0\n")
    with pytest.raises(RecordingError, match=where(p, 4, "time_s") + ".*not a number"):
        read_recording(p)


def test_a_short_row_is_a_wrong_number_of_fields(write_file) -> None:
    p = write_file(HEADER + rest_rows(2) + "0.500000,thigh,0.1,0.2,9.8\n")
    with pytest.raises(RecordingError, match=where(p, 6) + ": wrong number of fields: expected 8 .* found 5"):
        read_recording(p)


@pytest.mark.parametrize("row, column", [
    ("0.500000,thigh,0.1,,9.8,0.0,0.0,0.0\n", "acc_y"),
    (",thigh,0.1,0.2,9.8,0.0,0.0,0.0\n", "time_s"),
    ("0.500000,thigh,0.1,0.2,inf,0.0,0.0,0.0\n", "acc_z"),
])
def test_empty_or_non_finite_cell(write_file, row: str, column: str) -> None:
    p = write_file(HEADER + rest_rows(2) + row)
    with pytest.raises(RecordingError, match=where(p, 6, column) + ": empty or non-finite value"):
        read_recording(p)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_time_that_is_not_a_finite_number_is_rejected(tmp_path: Path, value: str) -> None:
    """A time stamp of nan/inf (a logger that lost its clock) names its line and the time_s column;
    the file is written with the csv module, independently of the writer under test."""
    p = tmp_path / "t.csv"
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for i in range(3):
            w.writerow([f"{i * 0.01:.6f}", "thigh", 0.0, 0.0, 9.81, 0.0, 0.0, 0.0])
            w.writerow([f"{i * 0.01 + 0.001:.6f}", "pelvis", 0.0, 0.0, 9.81, 0.0, 0.0, 0.0])
        w.writerow([value, "pelvis", 0.0, 0.0, 9.81, 0.0, 0.0, 0.0])  # line 8
        w.writerow(["0.040000", "thigh", 0.0, 0.0, 9.81, 0.0, 0.0, 0.0])
    with pytest.raises(RecordingError, match=where(p, 8, "time_s") + ": (empty or non-finite value|'(nan|NaN)' is not a number)"):
        read_recording(p)


def test_empty_sensor_cell_is_reported_as_empty(write_file) -> None:
    p = write_file(HEADER + rest_rows(2) + "0.500000,,0.1,0.2,9.8,0.0,0.0,0.0\n")
    with pytest.raises(RecordingError, match=where(p, 6, "sensor")) as ei:
        read_recording(p)
    what = str(ei.value).split(f"{p}, line 6, column 'sensor': ", 1)[1]
    assert "empty" in what, (
        f"BUG recording.py read_recording (sensor = df[SENSOR_COL].astype(str)): an empty sensor cell is "
        f"reported as \"unknown sensor nan\" ({ei.value}); say the cell is empty (check isna() before astype(str))")


def test_unknown_sensor_name(write_file) -> None:
    p = write_file(HEADER + rest_rows(1) + rest_row(0.01, "left_thigh"))
    with pytest.raises(RecordingError, match=where(p, 4, "sensor") + ": unknown sensor 'left_thigh'"):
        read_recording(p)


def test_time_going_backwards_within_a_sensor(write_file) -> None:
    body = (rest_row(0.00, "thigh") + rest_row(0.00, "pelvis") + rest_row(0.02, "thigh")
            + rest_row(0.01, "pelvis") + rest_row(0.01, "thigh") + rest_row(0.02, "pelvis"))
    p = write_file(HEADER + body)
    with pytest.raises(RecordingError, match=where(p, 6, "time_s") + ".*backwards for sensor 'thigh'.*0.020000 s then 0.010000 s"):
        read_recording(p)


def test_equal_times_and_interleaving_across_sensors_are_allowed(write_file) -> None:
    # pelvis row at 0.005 after a thigh row at 0.01: arrival order, not time order, across sensors
    body = rest_row(0.0, "thigh") + rest_row(0.01, "thigh") + rest_row(0.005, "pelvis") + rest_row(0.01, "thigh") \
        + rest_row(0.015, "pelvis")
    rec = read_recording(write_file(HEADER + body))
    np.testing.assert_allclose(rec.sensors["thigh"].time_s, [0.0, 0.01, 0.01])
    np.testing.assert_allclose(rec.sensors["pelvis"].time_s, [0.005, 0.015])


@pytest.mark.parametrize("present, absent", [("thigh", "pelvis"), ("pelvis", "thigh")])
def test_one_sensor_absent(write_file, present: str, absent: str) -> None:
    p = write_file(HEADER + "".join(rest_row(i * 0.01, present) for i in range(5)))
    with pytest.raises(RecordingError, match=where(p, None, "sensor") + f": no samples from the {absent} sensor"):
        read_recording(p)
    rec = read_recording(p, require_both=False)
    assert len(rec.sensors[present]) == 5 and len(rec.sensors[absent]) == 0


def _rows_from(sensors: dict[str, SensorSamples]) -> str:
    out = []
    for s, ss in sensors.items():
        for t, a, g in zip(ss.time_s, ss.acc, ss.gyr):
            out.append(f"{t:.6f},{s},{a[0]:.5f},{a[1]:.5f},{a[2]:.5f},{g[0]:.6f},{g[1]:.6f},{g[2]:.6f}\n")
    return "".join(out)


def test_acc_in_g_is_rejected(write_file) -> None:
    src = two_sensors(50, 50)
    src["pelvis"] = SensorSamples(src["pelvis"].time_s, src["pelvis"].acc / 9.80665, src["pelvis"].gyr)
    p = write_file(HEADER + _rows_from(src))  # thigh rows are lines 2..51, pelvis starts at line 52
    with pytest.raises(RecordingError, match=where(p, 52, "acc_x") + r": sensor 'pelvis': median \|acc\| is 1.00; "
                                                                      r"that looks like g.*Multiply acc_\* by 9.80665"):
        read_recording(p)
    assert len(read_recording(p, check_units=False).sensors["pelvis"]) == 50


def test_acc_in_raw_counts_is_rejected(write_file) -> None:
    src = two_sensors(20, 20)
    src["thigh"] = SensorSamples(src["thigh"].time_s, src["thigh"].acc * 2048 / 9.81, src["thigh"].gyr)
    p = write_file(HEADER + _rows_from(src))
    with pytest.raises(RecordingError, match=where(p, 2, "acc_x") + ".*far above gravity"):
        read_recording(p)


def test_gyro_in_deg_per_s_is_rejected(write_file) -> None:
    src = two_sensors(200, 100)
    thigh = src["thigh"]
    src["thigh"] = SensorSamples(thigh.time_s, thigh.acc, np.degrees(thigh.gyr))
    worst = int(np.argmax(np.linalg.norm(np.round(np.degrees(thigh.gyr), 6), axis=1)))
    p = write_file(HEADER + _rows_from(src))
    with pytest.raises(RecordingError, match=where(p, 2 + worst, "gyr_x") + ".*looks like deg/s.*Multiply gyr_\\* by pi/180"):
        read_recording(p)


def test_plausible_fast_motion_in_rad_s_is_accepted(write_file) -> None:
    src = two_sensors(200, 100)
    src["thigh"] = moving_samples(200, 100.0, seed=3, gyr_amp=12.0)  # ~690 deg/s peaks: fast but real
    rec = read_recording(write_file(HEADER + _rows_from(src)))
    assert np.abs(rec.sensors["thigh"].gyr).max() > 11.0


def test_empty_file(write_file) -> None:
    for content in ("", "\n\n  \n"):
        p = write_file(content)
        with pytest.raises(RecordingError, match=where(p) + ": empty file; expected a header line 'time_s,sensor"):
            read_recording(p)


@pytest.mark.parametrize("content", [HEADER, HEADER.strip(), HEADER + "\n\n"])
def test_header_only(write_file, content: str) -> None:
    p = write_file(content)
    with pytest.raises(RecordingError, match=where(p) + ": no samples after the header line"):
        read_recording(p)


def test_json_file_is_not_a_recording(write_file) -> None:
    p = write_file(json.dumps({"format": "imu-pipeline-recording", "version": 1}, indent=2) + "\n", name="meta.csv")
    with pytest.raises(RecordingError, match=where(p, 1) + r": this is JSON .*not a recording CSV with the header"):
        read_recording(p)


def test_other_csv_is_not_a_recording(write_file) -> None:
    p = write_file("timestamp,ax,ay,az\n0,1,2,3\n")
    with pytest.raises(RecordingError, match=where(p, 1) + r": missing column\(s\).*unexpected column\(s\) 'timestamp'"):
        read_recording(p)


def test_binary_file_is_not_a_recording(write_file) -> None:
    p = write_file(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(RecordingError, match=where(p, 1) + ": binary data"):
        read_recording(p)


def test_non_utf8_header(write_file) -> None:
    p = write_file(b"\xff\xfe\xfd,sensor\n")
    with pytest.raises(RecordingError, match=where(p, 1) + ": not UTF-8"):
        read_recording(p)


def test_non_utf8_bytes_after_the_header_give_a_recording_error(write_file) -> None:
    p = write_file(HEADER.encode() + rest_rows(2).encode() + b"0.5,thigh,\xff\xfe,0,9.81,0,0,0\n")
    try:
        read_recording(p)
    except RecordingError as e:
        assert str(p) in str(e) and "line 6" in str(e)
    except Exception as e:  # noqa: BLE001
        pytest.fail(
            f"BUG recording.py _parse_body: invalid UTF-8 after line 1 escapes as {type(e).__name__}: {e}. "
            "The slow path only catches pd.errors.ParserError; decode the whole file once in read_recording "
            "(raw.decode('utf-8-sig'), reporting the line of e.start) before parsing")
    else:
        pytest.fail("a file with invalid UTF-8 bytes loaded without error")


def test_header_with_spaces_gives_a_recording_error(write_file) -> None:
    p = write_file(HEADER.replace(",", ", ") + rest_rows(2).replace(",", ", "))
    try:
        rec = read_recording(p)
    except RecordingError as e:
        assert str(p) in str(e) and "line 1" in str(e)
    except Exception as e:  # noqa: BLE001
        pytest.fail(
            f"BUG recording.py read_recording: the header check strips blanks around names but pandas keeps them, "
            f"so 'time_s, sensor, ...' passes the check and then fails with {type(e).__name__}: {e}. Either strip "
            "the column names after parsing (df.columns = df.columns.str.strip()) or reject the header at line 1")
    else:
        assert len(rec.sensors["thigh"]) == 2


def test_whitespace_only_line_is_blank_or_named(write_file) -> None:
    p = write_file(HEADER + rest_rows(2) + "   \n" + rest_row(0.5, "thigh"))
    try:
        rec = read_recording(p)
    except RecordingError as e:
        assert "line 6" in str(e), (
            f"BUG recording.py _parse_body: a line holding only spaces fails with '{e}' (no line number; the "
            "slow path ends in 'could not parse the file as CSV'). Treat whitespace-only lines as blank lines "
            "(they are tolerated) or name the line")
    else:
        assert len(rec.sensors["thigh"]) == 3


def test_no_such_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match=re.escape(str(tmp_path / "nope.csv")) + ": no such file"):
        read_recording(tmp_path / "nope.csv")
    with pytest.raises(RecordingError, match=re.escape(str(tmp_path)) + ": is a directory"):
        read_recording(tmp_path)


# --------------------------------------------------------------------------- sidecar validation


def test_bad_sidecar_json_names_line_and_column(write_file) -> None:
    p = write_file(HEADER + rest_rows(2), sidecar='{"exercise": "lying-leg-raise",\n  "sensors": }\n')
    with pytest.raises(RecordingError, match=where(p.with_suffix(".json"), 2) + re.escape(", column 14") + ": not valid JSON"):
        read_recording(p)


@pytest.mark.parametrize("mounting, message", [
    ({"x": "superior", "y": "inferior"}, r"sensors\.thigh\.mounting: x='superior' and y='inferior' are not perpendicular"),
    ({"x": "superior", "y": "superior"}, r"sensors\.thigh\.mounting: .*not perpendicular"),
    ({"x": "up", "y": "right"}, r"sensors\.thigh\.mounting\.x: unknown direction 'up'"),
    ({"x": "superior"}, r"sensors\.thigh\.mounting: missing 'y'"),
    ({"x": "superior", "y": "right", "z": "posterior"}, r"sensors\.thigh\.mounting\.z: 'posterior' contradicts"),
    ("superior", r"sensors\.thigh\.mounting: expected a table"),
])
def test_bad_mounting_in_sidecar(write_file, mounting, message: str) -> None:
    p = write_file(HEADER + rest_rows(2), sidecar={"sensors": {"thigh": {"mounting": mounting}}})
    with pytest.raises(RecordingError, match=re.escape(str(p.with_suffix(".json"))) + ": " + message):
        read_recording(p)


@pytest.mark.parametrize("rate", [0, -100.0, "100", True, None])
def test_bad_sample_rate(write_file, rate) -> None:
    p = write_file(HEADER + rest_rows(2), sidecar={"sensors": {"pelvis": {"sample_rate_hz": rate}}})
    if rate is None:  # null means "not given"
        assert read_recording(p).sensor_meta("pelvis")["sample_rate_hz"] is None
        return
    with pytest.raises(RecordingError, match=re.escape(str(p.with_suffix(".json")))
                       + r": sensors\.pelvis\.sample_rate_hz must be a positive number"):
        read_recording(p)


@pytest.mark.parametrize("sidecar, message", [
    ([1, 2], "expected a JSON object at the top level"),
    ({"version": 2}, "field 'version' is 2; this reader knows version 1"),
    ({"format": "other"}, "field 'format' is 'other'"),
    ({"sensors": []}, "field 'sensors' must be an object"),
    ({"sensors": {"knee": {}}}, r"sensors\.knee: unknown sensor"),
    ({"sensors": {"thigh": 5}}, r"sensors\.thigh must be an object"),
    ({"events": {}}, "field 'events' must be a list"),
    ({"events": [{"kind": "disconnected"}]}, r"events\[0\] must be an object with a numeric 'time_s'"),
])
def test_bad_sidecar_fields(write_file, sidecar, message: str) -> None:
    p = write_file(HEADER + rest_rows(2), sidecar=sidecar)
    with pytest.raises(RecordingError, match=re.escape(str(p.with_suffix(".json"))) + ": " + message):
        read_recording(p)


def test_sidecar_is_optional(write_file) -> None:
    rec = read_recording(write_file(HEADER + rest_rows(2)))
    assert rec.meta == {} and rec.mounting("thigh") is None and rec.events() == []


# --------------------------------------------------------------------------- property


@st.composite
def sensor_arrays(draw: st.DrawFn) -> SensorSamples:
    n = draw(st.integers(min_value=1, max_value=40))
    steps = draw(hnp.arrays(np.float64, n, elements=st.floats(1e-6, 0.5)))
    t0 = draw(st.floats(0.0, 1000.0))
    t = t0 + np.cumsum(steps)
    acc = draw(hnp.arrays(np.float64, (n, 3), elements=st.floats(-156.9, 156.9)))
    gyr = draw(hnp.arrays(np.float64, (n, 3), elements=st.floats(-34.9, 34.9)))
    return SensorSamples(t, acc, gyr)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(thigh=sensor_arrays(), pelvis=sensor_arrays(), exercise=st.text(max_size=20))
def test_property_random_samples_round_trip(thigh: SensorSamples, pelvis: SensorSamples, exercise: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = write_recording(Path(d) / "prop.csv", {"thigh": thigh, "pelvis": pelvis}, {"exercise": exercise})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rec = read_recording(p, check_units=False)
    assert rec.meta["exercise"] == exercise
    for s, src in (("thigh", thigh), ("pelvis", pelvis)):
        got = rec.sensors[s]
        assert len(got) == len(src)
        np.testing.assert_allclose(got.time_s, src.time_s, rtol=0, atol=5e-7 + 1e-9)
        np.testing.assert_allclose(got.acc, src.acc, rtol=0, atol=5e-6 + 1e-9)
        np.testing.assert_allclose(got.gyr, src.gyr, rtol=0, atol=5e-7 + 1e-9)
        assert np.all(np.diff(got.time_s) >= 0)


def test_recording_helpers(tmp_path: Path) -> None:
    p = write_recording(tmp_path / "h.csv", two_sensors(10, 5))
    rec = read_recording(p)
    assert isinstance(rec, Recording) and rec.name == "h.csv"
    tidy = rec.tidy()
    assert list(tidy.columns) == list(CSV_COLUMNS) and len(tidy) == 15
    assert np.all(np.diff(tidy["time_s"].to_numpy()) >= 0)
    assert rec.t_start == pytest.approx(0.003) and rec.t_end == pytest.approx(0.003 + 9 / 100)


def test_time_in_milliseconds_is_rejected_with_a_hint(tmp_path: Path) -> None:
    src = {s: SensorSamples(ss.time_s * 1000, ss.acc, ss.gyr) for s, ss in two_sensors().items()}
    p = write_recording(tmp_path / "ms.csv", src)
    with pytest.raises(RecordingError, match=where(p) + r", line \d+, column 'time_s'.*milliseconds, divide by 1000"):
        read_recording(p)


def test_epoch_timestamps_keep_their_precision(tmp_path: Path) -> None:
    src = {s: SensorSamples(ss.time_s + 1.7e9, ss.acc, ss.gyr) for s, ss in two_sensors().items()}
    rec = read_recording(write_recording(tmp_path / "epoch.csv", src))
    np.testing.assert_allclose(rec.sensors["thigh"].time_s, src["thigh"].time_s, rtol=0, atol=1e-6)


def test_sensor_names_are_case_insensitive(tmp_path: Path) -> None:
    p = tmp_path / "case.csv"
    rows = [HEADER] + [f"{i * 0.01:.2f},{'Thigh' if i % 2 else ' PELVIS'},0,0,9.81,0,0,0" for i in range(40)]
    p.write_text("\n".join(rows) + "\n")
    rec = read_recording(p)
    assert len(rec.sensors["thigh"]) == 20 and len(rec.sensors["pelvis"]) == 20


# --------------------------------------------------------------------------- fsync (crash safety)


class FsyncSpy:
    """Stands in for ``os.fsync``: records, for each call, which file or folder the descriptor is
    (device and inode, so a renamed file is still recognised) and the bytes of every watched file
    on disk at that moment; then calls the real fsync."""

    def __init__(self, monkeypatch, *watched: Path) -> None:
        self.real = os.fsync
        self.watched = watched
        self.calls: list[tuple[tuple[int, int], dict[Path, bytes]]] = []
        monkeypatch.setattr(os, "fsync", self)

    def __call__(self, fd: int) -> None:
        st = os.fstat(fd)
        self.calls.append(((st.st_dev, st.st_ino),
                           {p: p.read_bytes() for p in self.watched if p.is_file()}))
        self.real(fd)

    def synced(self, path: Path) -> list[dict[Path, bytes]]:
        """Disk contents seen at each fsync of ``path`` (matched by inode)."""
        st = os.stat(path)
        return [seen for ident, seen in self.calls if ident == (st.st_dev, st.st_ino)]


def _rows(n: int, t0: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = t0 + np.arange(n) * 0.01
    return t, np.tile([0.0, 0.1, 9.8], (n, 1)), np.tile([0.01, 0.0, -0.01], (n, 1))


def test_flush_fsyncs_the_csv_with_the_rows_in_it(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "rec.csv"
    spy = FsyncSpy(monkeypatch, p)
    w = RecordingWriter(p, flush_interval_s=3600.0)  # only an explicit flush writes
    try:
        w.write("thigh", *_rows(3))
        w.write("pelvis", *_rows(2, 0.005))
        before = len(spy.synced(p))
        w.flush()
        after = spy.synced(p)
        assert len(after) == before + 1, "flush() must fsync the CSV's descriptor once"
        on_disk = after[-1][p].decode("utf-8").splitlines()
        assert on_disk[0] == ",".join(CSV_COLUMNS) and len(on_disk) == 1 + 5  # the rows were written before the fsync
    finally:
        w.close()


def test_closing_the_writer_fsyncs_the_last_rows(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "rec.csv"
    spy = FsyncSpy(monkeypatch, p)
    with RecordingWriter(p, flush_interval_s=3600.0) as w:
        w.write("thigh", *_rows(4))
    seen = spy.synced(p)
    assert seen, "closing must fsync the CSV"
    assert seen[-1][p].count(b"\n") == 1 + 4


def test_timed_flushes_fsync_every_interval(tmp_path: Path, monkeypatch) -> None:
    """With a zero interval every write is due: each one reaches the disk with an fsync."""
    p = tmp_path / "rec.csv"
    spy = FsyncSpy(monkeypatch, p)
    with RecordingWriter(p, flush_interval_s=0.0) as w:
        for i in range(5):
            w.write("thigh", *_rows(1, i * 0.01))
            assert len(spy.synced(p)) >= i + 1
            assert spy.synced(p)[-1][p].count(b"\n") == 1 + i + 1


def test_sidecar_and_its_folder_are_fsynced_when_an_event_is_added(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "rec.csv"
    sidecar = p.with_suffix(".json")
    tmp = sidecar.with_suffix(".json.tmp")  # written, fsynced, then renamed over the sidecar
    spy = FsyncSpy(monkeypatch, sidecar, tmp)
    with RecordingWriter(p, flush_interval_s=3600.0) as w:
        w.write("thigh", *_rows(2))
        w.add_event(0.01, "pelvis", "disconnected")
        synced = spy.synced(sidecar)  # the renamed temporary file keeps its inode
        assert synced, "the sidecar's descriptor was never fsynced"
        seen = synced[-1].get(tmp) or synced[-1][sidecar]  # fsynced before or after the rename
        assert json.loads(seen)["events"][-1]["kind"] == "disconnected"
        assert spy.synced(tmp_path), "the folder was not fsynced after the rename"


@pytest.mark.parametrize("line, found", [("0.0,thigh,1,2,3,4,5,6,7,8", 10), ("0,01,thigh,0,1,9,8,0,0,0", 10),
                                         ("0.0,thigh,1,2,3", 5)])
def test_the_first_data_line_with_a_wrong_field_count_is_named(tmp_path: Path, line: str, found: int) -> None:
    """pandas takes extra fields on the first data line as an index and shifts every value: the
    reader must say 'line 2: wrong number of fields', not blame a later column."""
    p = tmp_path / "r.csv"
    body = "".join(f"{i / 100:.2f},{s},0,0,9.8,0,0,0\n" for i in range(1, 50) for s in ("thigh", "pelvis"))
    p.write_text(",".join(CSV_COLUMNS) + "\n" + line + "\n" + body)
    with pytest.raises(RecordingError, match=rf"line 2: wrong number of fields: expected 8 .* found {found}"):
        read_recording(p)


def test_a_full_disk_while_recording_is_an_output_error_naming_the_file(tmp_path: Path) -> None:
    """ENOSPC on a timed flush: an OutputError naming the recording (one line from the command
    line, not an OSError traceback); the rows already on disk stay (crash-safe append) and the
    ones that failed are not written twice when the writer is closed."""
    import errno

    from imu_pipeline.errors import OutputError

    p = tmp_path / "rec.csv"
    w = RecordingWriter(p, flush_interval_s=0.0, fsync=False)
    w.write("thigh", *_rows(2))
    real = w._fh

    class FullDisk:
        def write(self, s: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name: str):
            return getattr(real, name)

    w._fh = FullDisk()
    with pytest.raises(OutputError, match=rf"cannot write the recording {re.escape(str(p))}: .*disk is full"):
        w.write("thigh", *_rows(1, 0.02))
    w._fh = real
    w.close()
    assert _rows_on_disk(p) == 2
    assert json.loads(p.with_suffix(".json").read_text())["format"]


@pytest.mark.parametrize("names, thigh, pelvis", [
    (("left_thigh", "sacrum"), "left_thigh", "sacrum"),
    (("pelvis_imu", "thigh_imu"), "thigh_imu", "pelvis_imu"),
    (("thigh", "waist"), "thigh", "waist"),
])
def test_sensors_under_other_names_point_to_import(tmp_path: Path, names: tuple[str, str], thigh: str,
                                                   pelvis: str) -> None:
    p = tmp_path / "named.csv"
    p.write_text("time_s,sensor,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n"
                 + "".join(f"0.0,{n},0,0,9.8,0,0,0\n" for n in names))
    with pytest.raises(RecordingError) as e:
        read_recording(p)
    assert f"imu-pipeline import OUT.csv --thigh {p}:{thigh} --pelvis {p}:{pelvis}" in str(e.value)
