"""Vendor exports -> format v1: recognise a file by its content, read it into SI units.

One reader per format, each returning a :class:`VendorData` (time in float64 seconds on the
file's own clock, specific force in m/s², angular rate in rad/s, the rate, the model and the
warnings); :func:`read_sensor` picks the reader from the files' content (never the extension)
and :func:`align_sensors` puts the thigh and the pelvis on one session clock. The layouts, what
is assumed (synchronisation, units, clocks) and how to use ``imu-pipeline import``:
docs/recording-format.md, "Converting other data".

Formats:

* ``movella-dot`` — Movella (Xsens) DOT app / DOT SDK logger CSV: ``sep=,``, ``Key:,value`` lines,
  a blank line, ``PacketCounter,SampleTimeFine,...,Acc_X..Z (m/s²),Gyr_X..Z (deg/s)``; rows may
  end with a comma. SampleTimeFine is a uint32 µs counter (wraps every 71.6 min); synchronised
  sensors share it.
* ``metabase`` — MbientLab MetaBase: one CSV per sensor and quantity,
  ``epoch (ms),time (01:00),elapsed (s),x-axis (g),...`` / ``x-axis (deg/s)``.
* ``mt-manager`` — Xsens MT Manager text export: ``//`` comment lines, then ``PacketCounter``,
  ``SampleTimeFine`` (uint32, 10 kHz ticks), ``Acc_X..``, ``Gyr_X..`` (tab, ``;`` or ``,``).
* ``phyphox`` — phyphox CSV (``"Time (s)","Acceleration x (m/s^2)",...`` and
  ``"Gyroscope x (rad/s)"``; two files, or one export set holding both; ``,``/tab/``;`` with a
  decimal comma).
* ``witmotion`` — WitMotion PC software (``Time``, ``Device name``, ``Chip Time()``,
  ``Acceleration X(g)``, ``Angular velocity X(°/s)``) or its SDK sample logger (``Chiptime``,
  ``ax(g)``, ``wx(deg/s)``), tab or comma separated. ``Time`` is the PC's receive time (bursts of
  equal values): the chip time gives the spacing when strictly increasing, else the bursts are
  spread at the rate estimated from the whole file; no row is dropped.

Every reader drops a cut-off last line (no line break at the end) with a warning. After reading,
:func:`check_overlap` refuses two sensors that did not record together, :func:`gap_warnings`
reports gaps and :func:`swap_warning` flags a thigh and a pelvis file given the wrong way round.
* ``v1`` — a format v1 recording whose sensors have other names (``FILE:left_thigh``).
"""

from __future__ import annotations

import io
import json
import math
import re
import warnings as _warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imu_pipeline.config import FrontConfig
from imu_pipeline.errors import RecordingError
from imu_pipeline.io.recording import CSV_COLUMNS, SensorSamples, median_rate_hz, sidecar_path

STANDARD_GRAVITY = 9.80665
DEG = math.pi / 180.0
DOC = "docs/recording-format.md, section 'Converting other data'"

FORMAT_NAMES: dict[str, str] = {
    "movella-dot": "Movella DOT export",
    "metabase": "MbientLab MetaBase CSV",
    "mt-manager": "Xsens MT Manager text export",
    "phyphox": "phyphox CSV",
    "witmotion": "WitMotion export",
    "v1": "format v1 recording",
}

EXPECTED = (
    "a Movella DOT export ('sep=,' and 'Key:,value' lines, then PacketCounter,SampleTimeFine,...,Acc_X,...,Gyr_X,...), "
    "MbientLab MetaBase CSVs ('epoch (ms),time (..),elapsed (s),x-axis (g),...' and 'x-axis (deg/s)'), "
    "an Xsens MT Manager text export ('//' lines, PacketCounter, SampleTimeFine, Acc_X.., Gyr_X..), "
    "phyphox CSVs ('\"Time (s)\",\"Acceleration x (m/s^2)\",...' and '\"Gyroscope x (rad/s)\"'), "
    "a WitMotion export ('Acceleration X(g)', 'Angular velocity X(°/s)' or 'ax(g)', 'wx(deg/s)') "
    "or a format v1 recording ('time_s,sensor,acc_x,...')"
)

#: SampleTimeFine counters: uint32 of µs (DOT) or of 100 µs ticks (MT Manager).
U32 = 2**32


class VendorFileError(RecordingError):
    """A vendor export that cannot be imported; the message names the file, line and column."""


def _fail(path: Path, line: int | None, column: str | None, what: str) -> VendorFileError:
    where = str(path)
    if line is not None:
        where += f", line {line}"
    if column is not None:
        where += f", column '{column}'"
    return VendorFileError(f"{where}: {what}")


@dataclass
class VendorData:
    """One sensor read from a vendor export, in SI units.

    Attributes
    ----------
    time_s : (N,) float64 seconds on the file's clock (``clock``), non-decreasing
    acc : (N, 3) specific force, m/s², sensor frame
    gyr : (N, 3) angular rate, rad/s, sensor frame
    rate_hz : the sample rate (declared by the file, else the median interval)
    model : what the sensor is, as far as the file says
    fmt : the format key (:data:`FORMAT_NAMES`)
    files : the files read
    clock : files whose ``clock`` is equal share one time base (``time_s`` directly comparable);
        None when the clock is this file's own (the other sensor's cannot be compared with it)
    wrap_s : ``time_s`` comes from a counter that wraps with this period; two files on the same
        clock are aligned modulo it
    abs_start_s : the first sample's absolute time (Unix seconds), when the file says it
    clock_note : when aligning by the shared clock rests on an assumption, that assumption
    meta : top-level sidecar keys of the source to carry over (a format v1 source's ``exercise``, ...)
    warnings : what the reader assumed or dropped (printed by the command, kept in the sidecar)
    info : the file's own header (device tag, firmware, sync status, ...)
    """

    time_s: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray
    rate_hz: float
    model: str
    fmt: str
    files: list[Path]
    clock: str | None = None
    wrap_s: float | None = None
    abs_start_s: float | None = None
    clock_note: str | None = None
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    selection: str | None = None
    mounting: dict[str, str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


# --------------------------------------------------------------------------- text and detection


def _read_text(path: Path, notes: list[str] | None = None) -> str:
    """The file as text: UTF-8 (BOM tolerated), else Windows-1252 (vendor tools on Windows).

    A cut-off last line (the file does not end with a line break: an app that stopped mid-write,
    a copy cut short) is dropped, and ``notes`` gets a warning naming it — as the format v1
    reader does; a damaged line in the middle stays an error."""
    return _drop_cut_off(path.name, _decode(path), notes)


def _drop_cut_off(name: str, text: str, notes: list[str] | None) -> str:
    if not text or text.endswith(("\n", "\r")):
        return text
    cut = max(text.rfind("\n"), text.rfind("\r"))
    if cut < 0:  # one line and no line break: the header checks speak
        return text
    if text[cut + 1:].strip() and notes is not None:
        notes.append(f"{name}: line {len(_lines(text))} is cut off (the export probably ended abruptly, or the "
                     "copy is incomplete); dropped it")
    return text[: cut + 1]


def _decode(path: Path) -> str:
    if not path.exists():
        raise VendorFileError(f"{path}: no such file")
    if path.is_dir():
        raise VendorFileError(f"{path}: is a directory, expected an exported file")
    raw = path.read_bytes()
    if not raw.strip():
        raise _fail(path, None, None, f"empty file; expected {EXPECTED}. See {DOC}")
    if b"\x00" in raw[:4096]:
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return raw.decode("utf-16")
        raise _fail(path, 1, None, f"binary data, not a text export; expected {EXPECTED}. See {DOC}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _first_line(lines: list[str]) -> tuple[int, str]:
    for i, ln in enumerate(lines):
        if ln.strip():
            return i, ln
    return 0, ""


def _split(line: str, sep: str) -> list[str]:
    return [c.strip().strip('"').strip() for c in line.split(sep)]


def _sniff_sep(line: str) -> str:
    for sep in ("\t", ";", ","):
        if sep in line:
            return sep
    return ","


def _detect_lines(lines: list[str]) -> str | None:
    head = lines[:60]
    _, first = _first_line(head)
    low = first.strip().lower()
    if low.startswith("sep="):
        return "movella-dot"
    non_comment = [ln for ln in head if ln.strip() and not ln.lstrip().startswith("//")]
    has_comments = any(ln.lstrip().startswith("//") for ln in head)
    for ln in non_comment[:30]:
        cells = [c.lower() for c in _split(ln, _sniff_sep(ln))]
        data_cols = ("acc_", "gyr_", "quat", "euler", "freeacc", "dq_", "dv[")
        if ("sampletimefine" in cells or "packetcounter" in cells) and any(c.startswith(data_cols) for c in cells):
            if has_comments or _sniff_sep(ln) != ",":
                return "mt-manager"
            return "movella-dot"
        if ln.lstrip().lower().startswith(("devicetag:", "measurement mode:", "firmwareversion:")):
            return "movella-dot"
    if has_comments and non_comment:
        cells = [c.lower() for c in _split(non_comment[0], _sniff_sep(non_comment[0]))]
        if any(c.startswith(("acc_", "gyr_")) for c in cells):
            return "mt-manager"
    cells = [c.lower() for c in _split(first, _sniff_sep(first))]
    if cells and cells[0] == "epoch (ms)" and any(c.startswith("elapsed") for c in cells):
        return "metabase"
    if any(re.match(r"^time \(s\)$", c) for c in cells) and any(
            re.match(r"^(linear )?acceleration [xyz] \(m/s\^2\)$", c) or re.match(r"^gyroscope [xyz] \(rad/s\)$", c)
            for c in cells):
        return "phyphox"
    if any(_WIT_ACC.match(c) for c in cells) and any(_WIT_GYR.match(c) for c in cells):
        return "witmotion"
    if set(cells) == set(CSV_COLUMNS):
        return "v1"
    return None


def detect_format(path: str | Path) -> str | None:
    """The format key of an export (:data:`FORMAT_NAMES`) from its content, or None."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(65536)
    except OSError:
        return None
    if raw.startswith(b"PK\x03\x04"):
        return "phyphox" if _phyphox_zip_members(path) else None
    if b"\x00" in raw[:4096] and raw[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        return None
    try:
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return _detect_lines(_lines(text))


def import_hint(path: str | Path) -> str | None:
    """For the recording reader: when ``path`` is a vendor export, what to run instead."""
    fmt = detect_format(path)
    if fmt is None or fmt == "v1":
        return None
    p = str(path)
    q = f"'{p}'" if re.search(r"\s", p) else p
    files = f"{q} GYRO_FILE" if fmt in ("metabase",) else q
    if fmt == "phyphox" and not str(path).lower().endswith(".zip"):
        files = f"{q} [GYRO_FILE]"
    out = Path(path).with_name(Path(path).stem + "-v1.csv")
    devices = _witmotion_devices(Path(path)) if fmt == "witmotion" else []
    if len(devices) > 1:
        th = likely_names(devices, "thigh")[0]
        pe = next((n for n in likely_names(devices, "pelvis") if n != th), next(n for n in devices if n != th))
        return (f"this is a {FORMAT_NAMES[fmt]} holding devices {', '.join(devices)}, not a format v1 recording; "
                f"convert it first with 'imu-pipeline import {out} --thigh \"{p}:{th}\" --pelvis \"{p}:{pe}\"' "
                f"(FILE:NAME picks a device; swap the names if {th} is the pelvis sensor), then analyse {out}. "
                f"See {DOC}")
    return (f"this is a {FORMAT_NAMES[fmt]}, not a format v1 recording; convert it first with "
            f"'imu-pipeline import {out} --thigh {files} --pelvis PELVIS_FILE' (this file as the thigh, or swap "
            f"the two), then analyse {out}. See {DOC}")


def _witmotion_devices(path: Path) -> list[str]:
    """The 'Device name' values of a WitMotion export, in order of appearance ([] when none)."""
    try:
        text = _decode(path)
        lines = _lines(text)
        hi, first = _first_line(lines)
        sep = "\t" if "\t" in first else ","
        head = _split(first, sep)
        j = next(i for i, c in enumerate(head) if c.lower() == "device name")
    except (VendorFileError, OSError, StopIteration):
        return []
    names: dict[str, None] = {}
    for ln in lines[hi + 1:]:
        cells = ln.split(sep)
        if len(cells) > j and cells[j].strip():
            names.setdefault(cells[j].strip().strip('"'), None)
    return list(names)


def unknown_file(path: Path, lines: list[str]) -> VendorFileError:
    i, first = _first_line(lines)
    shown = first.strip()
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return _fail(path, i + 1, None, f"not an export this importer recognises (it starts {shown!r}); expected "
                 f"{EXPECTED}. Other data: convert it as {DOC} shows")


# --------------------------------------------------------------------------- shared helpers


def _numeric(path: Path, df: pd.DataFrame, cols: Sequence[str], lines: np.ndarray) -> np.ndarray:
    """Columns as float64 (N, k); a cell that is not a number -> an error naming line and column
    (``lines``: the file line of each row of ``df``)."""
    out = np.empty((len(df), len(cols)))
    for j, c in enumerate(cols):
        s = df[c]
        if not pd.api.types.is_numeric_dtype(s.dtype):
            txt = s.astype(str).str.strip()
            v = pd.to_numeric(txt, errors="coerce")
            bad = v.isna() & ~txt.str.lower().isin(["", "nan", "none"])
            if bad.any():
                r = int(np.flatnonzero(bad.to_numpy())[0])
                raise _fail(path, int(lines[r]), c, f"{s.iloc[r]!r} is not a number")
            out[:, j] = v.to_numpy(dtype=np.float64)
        else:
            out[:, j] = s.to_numpy(dtype=np.float64)
    return out


def _table(path: Path, text: str, header_idx: int, sep: str, *, decimal: str = ".") -> pd.DataFrame:
    """The table whose header is line ``header_idx`` (0-based); one DataFrame row per file line
    after it (blank lines kept as all-NaN rows so row i is line header_idx + 2 + i)."""
    body = "\n".join(_lines(text)[header_idx:])
    try:
        with _warnings.catch_warnings():  # rows ending in a separator (DOT): the extra empty field is dropped
            _warnings.simplefilter("ignore", pd.errors.ParserWarning)
            df = pd.read_csv(io.StringIO(body), sep=sep, header=0, index_col=False, skipinitialspace=True,
                             skip_blank_lines=False, dtype=str, keep_default_na=False, decimal=decimal,
                             engine="python" if len(sep) > 1 else "c", on_bad_lines="error")
    except pd.errors.ParserError as e:
        m = re.search(r"line (\d+)", str(e))
        line = header_idx + int(m.group(1)) if m else None
        raise _fail(path, line, None, f"wrong number of fields ({str(e).split(':')[-1].strip()})") from None
    df.columns = [str(c).strip().strip('"').strip() for c in df.columns]
    return df


def _drop_empty(df: pd.DataFrame, cols: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows whose ``cols`` are all empty/NaN dropped; returns the frame and the kept row indices."""
    vals = df[list(cols)].astype(str).apply(lambda s: s.str.strip().str.lower())
    empty = vals.isin(["", "nan"]).all(axis=1).to_numpy()
    keep = np.flatnonzero(~empty)
    return df.iloc[keep].reset_index(drop=True), keep


def _rows_complete(path: Path, arr: np.ndarray, lines: np.ndarray, names: Sequence[str]) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise _fail(path, int(lines[r]), names[c], "empty or non-finite value; expected a number (a damaged export?)")


def _monotonic(path: Path, t: np.ndarray, lines: np.ndarray, col: str, warnings: list[str],
               arrays: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Time must not go back (an error naming the line); repeated instants keep the first sample."""
    d = np.diff(t)
    back = np.flatnonzero(d < 0)
    if back.size:
        r = int(back[0]) + 1
        raise _fail(path, int(lines[r]), col, f"time goes backwards ({t[r - 1]:.6f} s then {t[r]:.6f} s)")
    dup = np.concatenate([[False], d == 0])
    if dup.any():
        warnings.append(f"{path.name}: {int(dup.sum())} sample(s) repeat the time of the one before; kept the first")
        keep = ~dup
        return t[keep], [a[keep] for a in arrays]
    return t, arrays


def unwrap_counter(raw: np.ndarray, period: int) -> np.ndarray:
    """A wrapping counter (e.g. uint32 µs) as a monotonic int64 sequence starting at ``raw[0]``."""
    raw = np.asarray(raw, dtype=np.int64)
    if raw.size == 0:
        return raw
    d = np.diff(raw)
    d = (d + period // 2) % period - period // 2  # steps across the wrap become small positive steps
    return np.concatenate([[raw[0]], raw[0] + np.cumsum(d)])


def gap_threshold_s(time_s: np.ndarray, front: FrontConfig | None = None) -> float:
    """An interval longer than this is a gap, as the front half defines an outage:
    ``max([front] max_gap_s, [front] gap_intervals / rate)``."""
    front = front or FrontConfig()
    rate = median_rate_hz(time_s)
    thr = front.max_gap_s
    if np.isfinite(rate) and rate > 0:
        thr = max(thr, front.gap_intervals / rate)
    return thr


def merge_acc_gyr(t_acc: np.ndarray, acc: np.ndarray, t_gyr: np.ndarray, gyr: np.ndarray,
                  front: FrontConfig | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, int]:
    """Accelerometer and gyroscope sampled at different instants -> one sample clock.

    The faster stream's instants are the clock (the accelerometer's when equal); the other stream
    is interpolated linearly onto them, but only between two of its samples that are no further
    apart than its gap threshold (:func:`gap_threshold_s`) — an instant inside a gap of either
    stream, or outside the other stream's span, is dropped, never filled. Returns ``time_s, acc,
    gyr``, which stream gave the clock (``"accelerometer"``/``"gyroscope"``) and how many of its
    instants were dropped.
    """
    r_acc, r_gyr = median_rate_hz(t_acc), median_rate_hz(t_gyr)
    acc_clock = not (np.isfinite(r_gyr) and np.isfinite(r_acc) and r_gyr > r_acc * 1.001)
    t_b, v_b, t_o, v_o = (t_acc, acc, t_gyr, gyr) if acc_clock else (t_gyr, gyr, t_acc, acc)
    thr = gap_threshold_s(t_o, front)
    i = np.searchsorted(t_o, t_b, side="right") - 1
    inside = (i >= 0) & (i < len(t_o) - 1)
    at_end = (i == len(t_o) - 1) & (t_b == t_o[-1])
    ii = np.clip(i, 0, max(len(t_o) - 2, 0))
    span = t_o[np.minimum(ii + 1, len(t_o) - 1)] - t_o[ii]
    ok = (inside & (span <= thr)) | at_end
    t = t_b[ok]
    other = np.empty((t.size, 3))
    for j in range(3):
        other[:, j] = np.interp(t, t_o, v_o[:, j])
    base = v_b[ok]
    acc_out, gyr_out = (base, other) if acc_clock else (other, base)
    return t, acc_out, gyr_out, "accelerometer" if acc_clock else "gyroscope", int((~ok).sum())


def _unit_factor_acc(unit: str) -> float | None:
    u = unit.strip().lower().replace("²", "^2").replace(" ", "")
    if u in ("g",):
        return STANDARD_GRAVITY
    if u in ("mg",):
        return STANDARD_GRAVITY / 1000.0
    if u in ("m/s^2", "m/s2", "m/s/s", "ms^-2"):
        return 1.0
    return None


def _unit_factor_gyr(unit: str) -> float | None:
    u = unit.strip().lower().replace(" ", "").replace("°", "deg").replace("º", "deg")
    if u in ("deg/s", "dps", "degree/s", "degrees/s"):
        return DEG
    if u in ("rad/s", "rads^-1"):
        return 1.0
    return None


def check_si(path: Path, what: str, acc: np.ndarray, gyr: np.ndarray) -> None:
    """After conversion: accelerometer about gravity at rest, gyro in a body's range (else the
    units assumed were wrong; the message says which)."""
    if len(acc) == 0:
        raise _fail(path, None, None, f"{what}: no samples")
    step = max(1, len(acc) // 20000)
    med = float(np.median(np.linalg.norm(acc[::step], axis=1)))
    if med < 3.0:
        raise _fail(path, None, None, f"{what}: median |acc| is {med:.2f} m/s² after conversion, far below gravity; "
                    "is the accelerometer gravity-free (linear acceleration), or in another unit than the header says?")
    if med > 10 * STANDARD_GRAVITY:
        raise _fail(path, None, None, f"{what}: median |acc| is {med:.1f} m/s² after conversion, far above gravity; "
                    "raw counts or mg? Export calibrated data")
    p99 = float(np.percentile(np.linalg.norm(gyr[::step], axis=1), 99))
    if p99 > 20.0:
        raise _fail(path, None, None, f"{what}: angular rates up to {p99:.0f} rad/s (99th percentile) after "
                    "conversion; the gyroscope unit is not what the file says (deg/s read as rad/s?)")


def infer_acc_unit(acc_raw: np.ndarray, path: Path, col: str) -> tuple[float, str]:
    """m/s² or g from the values: median |acc| near 1 -> g, near 9.8 -> m/s² (the warning says so)."""
    med = float(np.median(np.linalg.norm(acc_raw, axis=1))) if len(acc_raw) else math.nan
    if 0.5 <= med <= 2.0:
        return STANDARD_GRAVITY, (f"{path.name}: {col}: the export does not state the accelerometer unit; median "
                                  f"|acc| is {med:.2f}, so it is g (converted to m/s²)")
    if 5.0 <= med <= 20.0:
        return 1.0, (f"{path.name}: {col}: the export does not state the accelerometer unit; median |acc| is "
                     f"{med:.2f}, so it is m/s²")
    raise _fail(path, None, col, f"the export does not state the accelerometer unit and median |acc| = {med:.3g} "
                "is neither about 1 (g) nor about 9.8 (m/s²); export calibrated acceleration")


def infer_gyr_unit(gyr_raw: np.ndarray, path: Path, col: str) -> tuple[float, str]:
    """rad/s or deg/s from the values: a body turning faster than 20 units is deg/s (20 rad/s is
    1150 deg/s, beyond any leg raise); the warning says what was decided and why."""
    n = np.linalg.norm(gyr_raw, axis=1)
    p = float(np.percentile(n, 99.9)) if n.size else 0.0
    if p > 20.0:
        return DEG, (f"{path.name}: {col}: the export does not state the gyroscope unit; angular rates reach "
                     f"{p:.0f} (99.9th percentile), beyond any body movement in rad/s (20 rad/s = 1150 deg/s), "
                     "so they are deg/s (converted to rad/s)")
    if p >= 1.0:
        return 1.0, (f"{path.name}: {col}: the export does not state the gyroscope unit; angular rates reach only "
                     f"{p:.2f} (99.9th percentile), a leg raise in deg/s would exceed 20, so they are rad/s")
    return 1.0, (f"{path.name}: {col}: the export does not state the gyroscope unit and the sensor hardly turns "
                 f"(99.9th percentile {p:.2f}); assumed rad/s — check it")


def epoch_iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------- Movella DOT

DOT_ACC = ("Acc_X", "Acc_Y", "Acc_Z")
DOT_GYR = ("Gyr_X", "Gyr_Y", "Gyr_Z")


#: Time-zone abbreviations the DOT app writes after StartTime (Java's ``z``), as UTC offsets in
#: hours. Ambiguous ones (CST: US Central or China; IST: India, Ireland or Israel; AST: Atlantic
#: or Arabia) are left out on purpose: they are reported as unknown rather than guessed.
ZONE_OFFSETS_H: dict[str, float] = {
    "UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "MET": 1, "MEST": 2,
    "EET": 2, "EEST": 3, "MSK": 3, "TRT": 3, "GST": 4, "PKT": 5, "WIB": 7, "ICT": 7, "HKT": 8, "SGT": 8, "AWST": 8,
    "PHT": 8, "JST": 9, "KST": 9, "ACST": 9.5, "ACDT": 10.5, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
    "NST": -3.5, "NDT": -2.5, "ADT": -3, "BRT": -3, "ART": -3, "EST": -5, "EDT": -4, "CDT": -5, "MST": -7,
    "MDT": -6, "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10,
}


def _parse_dot_start(s: str) -> tuple[float | None, str | None]:
    """StartTime as the DOT app ('2025-07-11_20:06:00_086 WEST') or the SDK logger
    ('2023-05-04 10:11:12.123 +0200') writes it -> (Unix seconds, a warning or None).

    The time is the phone's local time; the zone after it is an offset (``+0200``, ``+02:00``,
    ``GMT+02:00``) or an abbreviation (:data:`ZONE_OFFSETS_H`), and the result is UTC. A zone
    that is missing or unknown: the time is read as UTC and the warning says so."""
    s = s.strip()
    m = re.match(r"(\d{4})-(\d{1,2})-(\d{1,2})[_ T](\d{1,2}):(\d{2}):(\d{2})(?:[._,](\d{1,6}))?\s*(.*)$", s)
    if not m:
        return None, None
    y, mo, d, h, mi, se = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or "0"
    try:
        dt = datetime(y, mo, d, h, mi, se, tzinfo=timezone.utc)
    except ValueError:
        return None, None
    t = dt.timestamp() + int(frac) / 10 ** len(frac)
    zone = m.group(8).strip()
    off = _zone_offset_s(zone)
    if off is None:
        what = f"its time zone {zone!r} is not one this importer knows" if zone else "it names no time zone"
        return t, (f"StartTime {s!r}: {what}; the time was read as UTC, so started_at (and the alignment with a file "
                   "of another app) may be off by the zone's offset")
    return t - off, None


def _zone_offset_s(zone: str) -> float | None:
    """'+0200', '+02:00', '-05', 'GMT+2', 'UTC', 'CEST' -> seconds east of UTC; None when unknown."""
    z = zone.strip().upper()
    m = re.fullmatch(r"(?:UTC|GMT|UT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", z)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes >= 60:
            return None
        return (1 if m.group(1) == "+" else -1) * (hours * 3600 + minutes * 60)
    if z in ZONE_OFFSETS_H:
        return ZONE_OFFSETS_H[z] * 3600.0
    return None


def read_movella_dot(path: Path) -> VendorData:
    warnings: list[str] = []
    text = _read_text(path, warnings)
    lines = _lines(text)
    info: dict[str, str] = {}
    header_idx = None
    for i, ln in enumerate(lines[:200]):
        cells = _split(ln, ",")
        if any(c.lower() == "sampletimefine" for c in cells) or (cells and cells[0].lower() == "packetcounter"):
            header_idx = i
            break
        if len(cells) >= 2 and cells[0].endswith(":"):
            info[cells[0][:-1].strip()] = cells[1]
    if header_idx is None:
        raise _fail(path, None, None, "a Movella DOT export without its data header line (PacketCounter,"
                    "SampleTimeFine,...); the file is cut short or not a DOT export")
    df = _table(path, text, header_idx, ",")
    cols = list(df.columns)
    mode = info.get("Measurement Mode", "not stated")
    missing = [c for c in ("SampleTimeFine",) + DOT_ACC + DOT_GYR if c not in cols]
    if missing:
        raise _fail(path, header_idx + 1, None,
                    f"this Movella DOT export has no {', '.join(missing)} column(s) (measurement mode: {mode}; "
                    f"columns: {','.join(c for c in cols if c)}); imu-pipeline needs the calibrated accelerometer and "
                    "gyroscope: export the recording with Acceleration and Angular velocity ticked (or record in a "
                    "mode that has them, e.g. 'Rate quantities' or 'Custom mode 5')")
    need = ["SampleTimeFine", *DOT_ACC, *DOT_GYR]
    df, kept = _drop_empty(df, need)
    lines_no = header_idx + 2 + kept
    if len(df) == 0:
        raise _fail(path, None, None, "no samples after the header line")
    arr = _numeric(path, df, need, lines_no)
    _rows_complete(path, arr, lines_no, need)
    stf = arr[:, 0].astype(np.int64)
    if (stf < 0).any() or (stf >= U32).any():
        r = int(np.flatnonzero((stf < 0) | (stf >= U32))[0])
        raise _fail(path, int(lines_no[r]), "SampleTimeFine", "not a uint32 microsecond counter")
    ticks = unwrap_counter(stf, U32)
    wraps = int((np.diff(stf) < -(U32 // 2)).sum())
    if wraps:
        warnings.append(f"{path.name}: SampleTimeFine wrapped around {wraps} time(s) (a uint32 µs counter, every "
                        "71.6 min); unwrapped")
    t = ticks / 1e6
    acc = arr[:, 1:4].copy()
    gyr = arr[:, 4:7] * DEG
    t, (acc, gyr, lines_no) = _monotonic(path, t, lines_no, "SampleTimeFine", warnings, [acc, gyr, lines_no])
    check_si(path, "Movella DOT (Acc_* m/s², Gyr_* deg/s)", acc, gyr)
    sync = info.get("SyncStatus")
    if "SyncStatus" in cols:
        sv = df["SyncStatus"].astype(str).str.strip().str.lower()
        sync = "Synced" if sv.isin(["synced", "1", "true", "yes"]).all() else "Un-synced"
    synced = None if sync is None else sync.strip().lower() == "synced"
    rate = median_rate_hz(t)
    m = re.match(r"\s*([\d.]+)\s*hz", info.get("OutputRate", ""), flags=re.I)
    if m and float(m.group(1)) > 0:
        rate = float(m.group(1))
    start, zone_note = _parse_dot_start(info.get("StartTime", ""))
    if zone_note:
        warnings.append(f"{path.name}: {zone_note}")
    tag = info.get("DeviceTag")
    model = "Movella DOT" + (f" (DeviceTag {tag})" if tag else "")
    if synced is None:
        note = ("the DOT exports do not say whether the sensors were synchronised (no SyncStatus); their "
                "SampleTimeFine clocks were assumed to be one")
    else:
        note = None
    keys = ("DeviceTag", "FirmwareVersion", "AppVersion", "SyncStatus", "OutputRate", "FilterProfile",
            "Measurement Mode", "StartTime")
    kept_info = {k: v for k, v in info.items() if k in keys}
    return VendorData(t, acc, gyr, rate, model, "movella-dot", [path],
                      clock=None if synced is False else "movella-dot-sync", wrap_s=U32 / 1e6,
                      abs_start_s=start, clock_note=note, warnings=warnings,
                      info={**kept_info, "synced": synced})


# --------------------------------------------------------------------------- MbientLab MetaBase


def _metabase_one(path: Path) -> tuple[str, np.ndarray, np.ndarray, str, list[str]]:
    """One MetaBase file -> ('acc'|'gyr', epoch seconds, values in SI, unit, warnings)."""
    warnings: list[str] = []
    text = _read_text(path, warnings)
    lines = _lines(text)
    hi, first = _first_line(lines)
    df = _table(path, text, hi, ",")
    cols = list(df.columns)
    axes = [c for c in cols if re.match(r"^[xyz]-axis \(", c)]
    if "epoch (ms)" not in cols or len(axes) != 3:
        raise _fail(path, hi + 1, None, "a MetaBase file needs 'epoch (ms)' and x-axis/y-axis/z-axis columns; "
                    f"found {', '.join(cols)}")
    unit = re.match(r"^x-axis \((.*)\)$", axes[0]).group(1)  # type: ignore[union-attr]
    fa, fg = _unit_factor_acc(unit), _unit_factor_gyr(unit)
    if fa is None and fg is None:
        raise _fail(path, hi + 1, axes[0], f"unit '{unit}' is neither an acceleration (g, m/s^2) nor an angular rate "
                    "(deg/s, rad/s); MetaBase writes one file per quantity — give the Accelerometer and the "
                    "Gyroscope files")
    need = ["epoch (ms)", *axes]
    df, kept = _drop_empty(df, need)
    lines_no = hi + 2 + kept
    arr = _numeric(path, df, need, lines_no) if len(df) else np.empty((0, 4))
    if len(df):
        bad = ~np.isfinite(arr)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise _fail(path, int(lines_no[r]), need[c], "empty or non-finite value; expected a number")
    if len(arr) < 2:
        raise _fail(path, None, None, "fewer than two samples")
    t = arr[:, 0] / 1000.0
    v = arr[:, 1:4] * (fa if fa is not None else fg)  # type: ignore[operator]
    t, (v, lines_no) = _monotonic(path, t, lines_no, "epoch (ms)", warnings, [v, lines_no])
    return ("acc" if fa is not None else "gyr"), t, v, unit, warnings


def read_metabase(paths: Sequence[Path], role: str = "sensor", front: FrontConfig | None = None) -> VendorData:
    parts = [_metabase_one(p) for p in paths]
    kinds = {k: (p, t, v, u) for p, (k, t, v, u, _) in zip(paths, parts)}
    warnings = [w for part in parts for w in part[4]]
    given = ", ".join(str(p) for p in paths)
    if len(paths) == 1 or len(kinds) < 2:
        have = parts[0][0]
        want = "gyroscope (…_Gyroscope_….csv, 'x-axis (deg/s)')" if have == "acc" else \
            "accelerometer (…_Accelerometer_….csv, 'x-axis (g)')"
        what = "accelerometer" if have == "acc" else "gyroscope"
        if len(paths) > 1:
            other = "gyroscope" if have == "acc" else "accelerometer"
            macs = [_metabase_mac(p.name) for p in paths]
            devs = f" (from {len(set(macs))} devices: {', '.join(dict.fromkeys(m for m in macs if m))})" \
                if all(macs) and len(set(macs)) > 1 else ""
            raise VendorFileError(
                f"{given}: {len(paths)} {what} files{devs} and no {other} file for the {role}; MbientLab MetaBase "
                "writes the accelerometer and the gyroscope of one sensor to separate files: give one of each, "
                f"--{role} ACC.csv GYRO.csv")
        raise VendorFileError(
            f"{given}: MbientLab MetaBase writes the accelerometer and the gyroscope to separate files and "
            f"only the {what} was given for the {role}; add the {want} file: --{role} ACC.csv GYRO.csv")
    if len(paths) > 2:
        raise VendorFileError(f"{', '.join(map(str, paths))}: give the {role} exactly two MetaBase files (its "
                              "accelerometer and its gyroscope)")
    macs = [_metabase_mac(p.name) for p in paths]
    if len(paths) == 2 and macs[0] and macs[1] and macs[0] != macs[1]:
        raise VendorFileError(f"{given}: the {role}'s two MetaBase files come from different devices ({paths[0].name}: "
                              f"{macs[0]}, {paths[1].name}: {macs[1]}, by the MAC address in their names); give the "
                              f"accelerometer and the gyroscope file of one sensor: --{role} "
                              f"MetaWear_..._{macs[0].replace(':', '')}_Accelerometer_....csv "
                              f"MetaWear_..._{macs[0].replace(':', '')}_Gyroscope_....csv")
    pa, ta, va, _ = kinds["acc"]
    pg, tg, vg, _ = kinds["gyr"]
    t, acc, gyr, clock_from, dropped = merge_acc_gyr(ta, va, tg, vg, front)
    other = "gyroscope" if clock_from == "accelerometer" else "accelerometer"
    off = _instant_offset(ta, tg)
    warnings.append(f"{pa.name} + {pg.name}: accelerometer {median_rate_hz(ta):.1f} Hz and gyroscope "
                    f"{median_rate_hz(tg):.1f} Hz{off}; the {other} was interpolated onto the {clock_from}'s instants")
    if dropped:
        warnings.append(f"{pa.name} + {pg.name}: {dropped} {clock_from} sample(s) fell into a gap of the {other} (or "
                        "outside its span) and were dropped, not filled")
    if len(t) < 2:
        raise VendorFileError(f"{pa} + {pg}: the accelerometer and the gyroscope files do not overlap in time "
                              "(are they from the same sensor and session?)")
    check_si(pa, "MetaBase", acc, gyr)
    mac = _metabase_mac(pa.name) or _metabase_mac(pg.name)
    return VendorData(t, acc, gyr, median_rate_hz(t), "MbientLab MetaWear (MetaBase export)", "metabase", [pa, pg],
                      clock="unix-epoch", abs_start_s=float(t[0]), warnings=warnings,
                      info={"address": mac} if mac else {})


def _instant_offset(ta: np.ndarray, tg: np.ndarray) -> str:
    if len(ta) < 2 or len(tg) < 2:
        return ""
    i = np.clip(np.searchsorted(tg, ta[: min(len(ta), 200)]), 0, len(tg) - 1)
    d = np.abs(tg[i] - ta[: len(i)])
    med = float(np.median(d))
    return f", sampled {med * 1000:.1f} ms apart" if med > 0.0005 else ", sampled at the same instants"


def _metabase_mac(name: str) -> str | None:
    """The MAC address in a MetaBase file name (``MetaWear_<stamp>_C42732BE255C_Accelerometer_…``,
    or written with colons/dashes) as ``C4:27:32:BE:25:5C``; None when the name has none."""
    mac = _mac_in_name(name)
    if mac:
        return mac
    m = re.search(r"(?:^|_)([0-9A-Fa-f]{12})(?=_|\.|$)", name)
    return ":".join(re.findall("..", m.group(1).upper())) if m else None


def _mac_in_name(name: str) -> str | None:
    m = re.search(r"([0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5})", name)
    return m.group(1).upper().replace("-", ":") if m else None


# --------------------------------------------------------------------------- Xsens MT Manager


def read_mt_manager(path: Path) -> VendorData:
    warnings: list[str] = []
    text = _read_text(path, warnings)
    lines = _lines(text)
    comments = []
    hi = None
    for i, ln in enumerate(lines):
        s = ln.strip()
        if not s:
            continue
        if s.startswith("//"):
            comments.append(s.lstrip("/").strip())
            continue
        hi = i
        break
    if hi is None:
        raise _fail(path, None, None, "an MT Manager export without a column header line")
    sep = _sniff_sep(lines[hi])
    df = _table(path, text, hi, sep, decimal="," if sep == ";" and _decimal_comma(lines[hi + 1:hi + 5]) else ".")
    cols = list(df.columns)
    acc_c = [c for c in ("Acc_X", "Acc_Y", "Acc_Z") if c in cols]
    gyr_c = [c for c in ("Gyr_X", "Gyr_Y", "Gyr_Z") if c in cols]
    if len(acc_c) < 3 or len(gyr_c) < 3:
        raise _fail(path, hi + 1, None, "this MT Manager export lacks Acc_X/Y/Z or Gyr_X/Y/Z (found "
                    f"{', '.join(cols)}); export 'Acceleration' and 'Rate of turn' (calibrated data)")
    head = "\n".join(comments)
    if "SampleTimeFine" in cols:
        tcol = "SampleTimeFine"
    elif "PacketCounter" in cols:
        tcol = "PacketCounter"
    else:
        raise _fail(path, hi + 1, None, "no SampleTimeFine or PacketCounter column; export 'Sample Time Fine' too")
    need = [tcol, *acc_c, *gyr_c]
    df, kept = _drop_empty(df, need)
    lines_no = hi + 2 + kept
    arr = _numeric(path, df, need, lines_no)
    _rows_complete(path, arr, lines_no, need)
    rate_hdr = None
    m = re.search(r"(?:update|sample|output)\s*rate\s*[:=]\s*([\d.]+)", head, flags=re.I)
    if m and float(m.group(1)) > 0:
        rate_hdr = float(m.group(1))
    if tcol == "SampleTimeFine":
        ticks = unwrap_counter(arr[:, 0].astype(np.int64), U32)
        t = ticks / 1e4
        wrap_s: float | None = U32 / 1e4
        clock: str | None = "xsens-sampletimefine"
    else:
        if rate_hdr is None:
            raise _fail(path, hi + 1, None, "only a PacketCounter and no sample rate in the header: the time of a "
                        "sample is unknown; export SampleTimeFine")
        t = unwrap_counter(arr[:, 0].astype(np.int64), 2**16) / rate_hdr
        warnings.append(f"{path.name}: no SampleTimeFine; time from PacketCounter at the header's {rate_hdr:g} Hz")
        wrap_s, clock = None, None
    acc_raw, gyr_raw = arr[:, 1:4], arr[:, 4:7]
    acc_f = gyr_f = None
    um = re.search(r"acc\w*[^\n]*?(m/s\^?2|m/s²|\bg\b)", head, flags=re.I)
    if um:
        acc_f = _unit_factor_acc(um.group(1))
    gm = re.search(r"(?:gyr|rate of turn)[^\n]*?(deg/s|rad/s|dps)", head, flags=re.I)
    if gm:
        gyr_f = _unit_factor_gyr(gm.group(1))
    if acc_f is None:
        acc_f, w = infer_acc_unit(acc_raw, path, "Acc_X..Z")
        warnings.append(w)
    if gyr_f is None:
        gyr_f, w = infer_gyr_unit(gyr_raw, path, "Gyr_X..Z")
        warnings.append(w)
    acc, gyr = acc_raw * acc_f, gyr_raw * gyr_f
    t, (acc, gyr, lines_no) = _monotonic(path, t, lines_no, tcol, warnings, [acc, gyr, lines_no])
    check_si(path, "MT Manager", acc, gyr)
    dev = re.search(r"(?:device\s*id|deviceid)\s*[:=]\s*([0-9A-Fa-f]{8,})", head, flags=re.I)
    dev_id = dev.group(1) if dev else (re.search(r"MT_([0-9A-Fa-f]{8,})", path.name) or [None, None])[1]
    prod = re.search(r"product\s*code\s*[:=]\s*(\S+)", head, flags=re.I)
    model = "Xsens " + (prod.group(1) if prod else "MTi/MTw") + (f" ({dev_id})" if dev_id else "")
    return VendorData(t, acc, gyr, rate_hdr or median_rate_hz(t), model, "mt-manager", [path], clock=clock,
                      wrap_s=wrap_s, warnings=warnings,
                      clock_note="the two MT Manager files' SampleTimeFine counters were taken as one clock (trackers "
                                 "of one Awinda session share it)",
                      info={k: v for k, v in (("device_id", dev_id),) if v})


def _decimal_comma(sample: list[str]) -> bool:
    return any(re.search(r"\d,\d", ln) for ln in sample)


# --------------------------------------------------------------------------- phyphox

_PX_TIME = re.compile(r"^time \(s\)(\.\d+)?$", re.I)
_PX_ACC = re.compile(r"^acceleration ([xyz]) \(m/s\^2\)(\.\d+)?$", re.I)
_PX_LIN = re.compile(r"^linear acceleration ([xyz]) \(m/s\^2\)", re.I)
_PX_GYR = re.compile(r"^gyroscope ([xyz]) \(rad/s\)(\.\d+)?$", re.I)


def _phyphox_zip_members(path: Path) -> list[str]:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return [n for n in z.namelist() if n.lower().endswith(".csv") and not n.startswith("meta/")]
    except (zipfile.BadZipFile, OSError):
        return []


def _phyphox_frames(path: Path, notes: list[str]) -> list[tuple[str, str]]:
    """(name, text) of the export sets in a phyphox file: the CSV itself, or each CSV of a zip."""
    if path.read_bytes()[:4] == b"PK\x03\x04":
        import zipfile

        out = []
        with zipfile.ZipFile(path) as z:
            for n in _phyphox_zip_members(path):
                name = f"{path.name}/{n}"
                out.append((name, _drop_cut_off(name, z.read(n).decode("utf-8-sig", errors="replace"), notes)))
        return out
    return [(path.name, _read_text(path, notes))]


def _phyphox_zip_start(path: Path) -> float | None:
    """The system time of the experiment's START (meta/time.csv of a phyphox zip), Unix seconds."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            txt = z.read("meta/time.csv").decode("utf-8-sig", errors="replace")
    except (KeyError, zipfile.BadZipFile, OSError):
        return None
    lines = [ln for ln in _lines(txt) if ln.strip()]
    if len(lines) < 2:
        return None
    sep = _sniff_sep(lines[0])
    for ln in lines[1:]:
        cells = _split(ln, sep)
        if cells and cells[0].upper() == "START" and len(cells) >= 3:
            try:
                return float(cells[2].replace(",", ".")) - float(cells[1].replace(",", "."))
            except ValueError:
                return None
    return None


def _phyphox_quantities(path: Path, name: str, text: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    lines = _lines(text)
    hi, first = _first_line(lines)
    sep = _sniff_sep(first)
    df = _table(path, text, hi, sep, decimal="," if sep == ";" else ".")
    cols = list(df.columns)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind, rx in (("acc", _PX_ACC), ("gyr", _PX_GYR)):
        idx = [i for i, c in enumerate(cols) if rx.match(c)]
        if not idx:
            continue
        if len(idx) != 3:
            raise _fail(path, hi + 1, None, f"{name}: expected x, y and z columns of the {kind}; found "
                        f"{', '.join(cols[i] for i in idx)}")
        tcols = [i for i, c in enumerate(cols[: idx[0]]) if _PX_TIME.match(c)]
        if not tcols:
            raise _fail(path, hi + 1, cols[idx[0]], f"{name}: no 'Time (s)' column before it")
        need = [cols[tcols[-1]]] + [cols[i] for i in idx]
        sub, kept = _drop_empty(df, need[1:])
        arr = _numeric(path, sub, need, hi + 2 + kept)
        ok = np.isfinite(arr).all(axis=1)  # phyphox pads a shorter column with NaN
        arr = arr[ok]
        lines_no = (hi + 2 + kept)[ok]
        warnings: list[str] = []
        t, (v,) = _monotonic(path, arr[:, 0], lines_no, need[0], warnings, [arr[:, 1:4]])
        out[kind] = (t, v)
    if not out and any(_PX_LIN.match(c) for c in cols):
        raise _fail(path, hi + 1, None, f"{name}: 'Linear Acceleration' has gravity removed, so no orientation can "
                    "be found from it; record phyphox's 'Acceleration with g' (and 'Gyroscope') instead")
    return out


def read_phyphox(paths: Sequence[Path], role: str = "sensor", front: FrontConfig | None = None) -> VendorData:
    found: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
    start = None
    warnings: list[str] = []
    for p in paths:
        for name, text in _phyphox_frames(p, warnings):
            for kind, (t, v) in _phyphox_quantities(p, name, text).items():
                if kind in found:
                    raise VendorFileError(f"{p}: a second {kind} ({name}) for the {role}; give one accelerometer and "
                                          "one gyroscope")
                found[kind] = (t, v, name)
        if p.read_bytes()[:4] == b"PK\x03\x04":
            start = _phyphox_zip_start(p)
    given = ", ".join(map(str, paths))
    if "acc" not in found or "gyr" not in found:
        miss = "gyroscope ('Gyroscope x (rad/s)', phyphox's Gyroscope.csv)" if "acc" in found else \
            "accelerometer ('Acceleration x (m/s^2)', phyphox's 'Acceleration with g' Accelerometer.csv)"
        raise VendorFileError(f"{given}: the phyphox data for the {role} has no {miss}; give both files "
                              f"(--{role} Accelerometer.csv Gyroscope.csv) or one export holding both")
    ta, va, na = found["acc"]
    tg, vg, ng = found["gyr"]
    if len(ta) == len(tg) and np.array_equal(ta, tg):
        t, acc, gyr = ta, va, vg
    else:
        t, acc, gyr, clock_from, dropped = merge_acc_gyr(ta, va, tg, vg, front)
        other = "gyroscope" if clock_from == "accelerometer" else "accelerometer"
        warnings.append(f"{na} + {ng}: accelerometer {median_rate_hz(ta):.1f} Hz and gyroscope "
                        f"{median_rate_hz(tg):.1f} Hz sampled at different instants; the {other} was interpolated "
                        f"onto the {clock_from}'s instants")
        if dropped:
            warnings.append(f"{na} + {ng}: {dropped} {clock_from} sample(s) fell into a gap of the {other} (or "
                            "outside its span) and were dropped, not filled")
    check_si(paths[0], "phyphox", acc, gyr)
    if start is not None:
        return VendorData(t + start, acc, gyr, median_rate_hz(t), "smartphone (phyphox)", "phyphox", list(paths),
                          clock="unix-epoch", abs_start_s=float(t[0] + start), warnings=warnings)
    return VendorData(t, acc, gyr, median_rate_hz(t), "smartphone (phyphox)", "phyphox", list(paths),
                      clock="phyphox-experiment-time", warnings=warnings,
                      clock_note="phyphox counts 'Time (s)' from each experiment's start: the two were assumed to "
                                 "have been started at the same moment (a zip export's meta/time.csv would say)")


# --------------------------------------------------------------------------- WitMotion

_WIT_ACC = re.compile(r"^(?:acceleration\s*|a)([xyz])\s*\((g|m/s\^?2|m/s²)\)$", re.I)
_WIT_GYR = re.compile(r"^(?:angular\s*velocity\s*|w)([xyz])\s*\(([^)]*/s)\)$", re.I)


def _clock_seconds(s: pd.Series) -> np.ndarray:
    """'HH:MM:SS.fff' (time of day) -> seconds, unwrapped across midnight; NaN where unreadable."""
    td = pd.to_timedelta(s.astype(str).str.strip(), errors="coerce")
    v = td.dt.total_seconds().to_numpy(dtype=np.float64)
    d = np.diff(v)
    jumps = np.concatenate([[0.0], np.where(d < -43200, 86400.0, 0.0)])
    return v + np.cumsum(jumps)


def _datetime_seconds(s: pd.Series) -> np.ndarray:
    dt = pd.to_datetime(s.astype(str).str.strip(), errors="coerce", format="mixed")
    v = (dt - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(dtype=np.float64)
    return v


def _local_wall_to_utc(wall_s: float) -> tuple[float, str]:
    """A wall-clock time without a zone (seconds as if it were UTC) -> (Unix seconds, 'UTC+02:00'),
    taking it as this computer's local time (the WitMotion software writes the recording
    computer's local time and no zone)."""
    naive = datetime(1970, 1, 1) + timedelta(seconds=float(wall_s))
    try:
        off = naive.astimezone().utcoffset() or timedelta(0)
    except (OverflowError, OSError, ValueError):
        off = timedelta(0)
    mins = int(round(off.total_seconds() / 60))
    sign = "+" if mins >= 0 else "-"
    return float(wall_s) - off.total_seconds(), f"UTC{sign}{abs(mins) // 60:02d}:{abs(mins) % 60:02d}"


def _onto_envelope(d: np.ndarray, h: np.ndarray, max_drift: float) -> np.ndarray:
    """Device times ``d`` (s, increasing) onto receive times ``h``: ``t = c + (1 + e)·d`` fitted to
    the lower envelope of ``h - d`` (the least-delayed rows, per 1 s of device time), so latency
    jitter does not enter the times and no sample is placed after it was received — the live
    recorder's :class:`~imu_pipeline.ble.timing.ClockMapper`, in one pass over the whole file. The
    drift ``e`` is fitted from 30 s of data on and clamped to ``±max_drift``."""
    d = d - d[0]
    o = h - d
    seg = np.floor(d).astype(np.int64)
    starts = np.flatnonzero(np.concatenate([[True], seg[1:] != seg[:-1]]))
    ends = np.concatenate([starts[1:], [len(d)]])
    idx = np.array([a + int(np.argmin(o[a:b])) for a, b in zip(starts, ends)])
    e = 0.0
    if idx.size >= 3 and d[-1] >= 30.0:
        e = float(np.clip(np.polyfit(d[idx], o[idx], 1)[0], -max_drift, max_drift))
    c = float(np.min(o - e * d))
    return c + (1.0 + e) * d


def _burst_rate(h: np.ndarray) -> float:
    """The output rate (Hz) from receive times that come in bursts: the samples received after
    each stretch's first burst over the stretch's span, stretches split at silences > 1 s."""
    n, span = 0, 0.0
    for seg in np.split(h, np.flatnonzero(np.diff(h) > 1.0) + 1):
        if seg.size and seg[-1] > seg[0]:
            n += int((seg > seg[0]).sum())
            span += float(seg[-1] - seg[0])
    return n / span if span > 0 else math.nan


def _spread_bursts(h: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Rows whose times come in bursts of equal values (BLE notifications stamped on arrival) ->
    strictly increasing sample times: each burst is one notification, its samples spread at the
    output rate estimated from the whole file and placed on the lower envelope of the receive
    times, as ``imu-pipeline record`` times WitMotion (:class:`~imu_pipeline.ble.timing.SampleTimer`,
    nominal mode; a silence longer than its gap is an estimated loss, never filled). Returns the
    times, the rate and the samples estimated lost."""
    from imu_pipeline.ble.timing import NOMINAL_RATE_MAX_DRIFT, SampleTimer

    rate = _burst_rate(h)
    starts = np.flatnonzero(np.concatenate([[True], np.diff(h) != 0]))
    ends = np.concatenate([starts[1:], [len(h)]])
    timer = SampleTimer(rate, "nominal")
    d = np.empty(len(h))
    for a, b in zip(starts, ends):
        d[a:b] = timer.ingest(int(b - a), float(h[a])).device_t
    return _onto_envelope(d, h, NOMINAL_RATE_MAX_DRIFT), rate, int(timer.lost_samples)


def _witmotion_times(path: Path, df: pd.DataFrame, lines_no: np.ndarray, pc_col: str | None,
                     chip_col: str | None) -> tuple[np.ndarray, str | None, str, float | None]:
    """One device's rows -> (times in s, the clock key, how they were timed, the first sample's
    wall-clock time (no zone; seconds as if UTC) or None).

    The receive time ``Time`` (the recording computer's clock, time of day) is the time base when
    present: two devices of one file share it. Within it, the device's own ``Chip Time()`` gives
    the spacing when it is readable and strictly increasing; otherwise bursts of equal receive
    times are spread at the rate estimated from the whole file. No sample is dropped."""
    from imu_pipeline.ble.timing import DEVICE_CLOCK_MAX_DRIFT

    chip = _datetime_seconds(df[chip_col]) if chip_col is not None else None
    chip_ok, why = False, "the file has no chip time"
    if chip is not None:
        dc = np.diff(chip)
        if not np.isfinite(chip).all():
            why = f"its chip time ('{chip_col}') is not a date and time in every row"
        elif not (dc > 0).all():
            why = (f"its chip time ('{chip_col}') is not strictly increasing ({int((dc <= 0).sum())} row(s) repeat or "
                   "go back)")
        else:
            chip_ok = True
    if pc_col is None:
        if chip_col is None or chip is None:
            raise _fail(path, None, None, "no time column ('Time', 'Chip Time()' or 'Chiptime'); the samples' times "
                        "are unknown")
        _times_readable(path, df, lines_no, chip_col, chip)
        if chip_ok:
            return chip, None, f"timed by its chip time ('{chip_col}', the sensor's own clock)", float(chip[0])
        t, how = _spread_or_keep(path, chip, chip_col, why)
        return t, None, how, float(t[0])
    h = _clock_seconds(df[pc_col])
    _times_readable(path, df, lines_no, pc_col, h)
    wall0 = None
    if chip is not None and np.isfinite(chip[0]):  # the date: from the chip time; the time of day: from 'Time'
        wall0 = math.floor(chip[0] / 86400.0) * 86400.0
    if chip_ok:
        span_c, span_h = float(chip[-1] - chip[0]), float(h[-1] - h[0])
        if abs(span_c - span_h) <= max(1.0, 0.01 * span_h):
            t = _onto_envelope(chip, h, DEVICE_CLOCK_MAX_DRIFT)
            how = (f"timed by its chip time ('{chip_col}', the sensor's own clock, strictly increasing), placed on "
                   f"the recording computer's receive time ('{pc_col}')")
            return t, "witmotion-pc-clock", how, _wall(wall0, t[0], chip[0])
        why = (f"its chip time ('{chip_col}') spans {span_c:.1f} s where the receive times ('{pc_col}') span "
               f"{span_h:.1f} s (was the sensor's clock set during the recording?)")
    t, how = _spread_or_keep(path, h, pc_col, why)
    return t, "witmotion-pc-clock", how, _wall(wall0, t[0], chip[0] if chip is not None else None)


def _wall(day0: float | None, tod: float, chip0: float | None) -> float | None:
    """The date of the chip time with the time of day of the receive time (the nearer day)."""
    if day0 is None or chip0 is None:
        return None
    w = day0 + tod
    return w + 86400.0 * round((chip0 - w) / 86400.0)


def _spread_or_keep(path: Path, h: np.ndarray, col: str, why: str) -> tuple[np.ndarray, str]:
    rep = int((np.diff(h) == 0).sum())
    if rep == 0:
        return h, f"timed by '{col}' ({why})"
    t, rate, lost = _spread_bursts(h)
    if not np.isfinite(rate):
        raise _fail(path, None, col, "every row has the same time; the samples' times are unknown")
    how = (f"{rep} of {len(h)} rows share the '{col}' time of the row before (BLE notifications arrive in "
           f"bursts, stamped on arrival) and {why}: each burst's samples were spread at {rate:.2f} Hz, the rate "
           "estimated from the whole file, as imu-pipeline record times WitMotion; no sample was dropped")
    if lost:
        how += f"; ~{lost} sample(s) estimated lost in silences (left as gaps)"
    return t, how


def _times_readable(path: Path, df: pd.DataFrame, lines_no: np.ndarray, col: str, t: np.ndarray) -> None:
    if not np.isfinite(t).all():
        r = int(np.flatnonzero(~np.isfinite(t))[0])
        raise _fail(path, int(lines_no[r]), col, f"{df[col].iloc[r]!r} is not a time")
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        r = int(back[0]) + 1
        raise _fail(path, int(lines_no[r]), col, f"time goes backwards ({df[col].iloc[r - 1]} then {df[col].iloc[r]})")


def read_witmotion(path: Path, selection: str | None, role: str = "sensor") -> VendorData:
    warnings: list[str] = []
    text = _read_text(path, warnings)
    lines = _lines(text)
    hi, first = _first_line(lines)
    sep = "\t" if "\t" in first else ","
    df = _table(path, text, hi, sep)
    cols = list(df.columns)
    acc_c = {m.group(1).lower(): (c, m.group(2)) for c in cols if (m := _WIT_ACC.match(c))}
    gyr_c = {m.group(1).lower(): (c, m.group(2)) for c in cols if (m := _WIT_GYR.match(c))}
    if set(acc_c) != {"x", "y", "z"} or set(gyr_c) != {"x", "y", "z"}:
        raise _fail(path, hi + 1, None, "a WitMotion export needs acceleration and angular velocity X, Y and Z; "
                    f"found {', '.join(cols)}")
    lines_no = hi + 2 + np.arange(len(df))
    dev_col = next((c for c in cols if c.lower() == "device name"), None)
    device = None
    if dev_col is not None:
        names = [n for n in pd.unique(df[dev_col].astype(str).str.strip()) if n]
        if selection:
            sl = selection.lower()
            match = ([n for n in names if n.lower() == sl] or [n for n in names if n.lower().startswith(sl)]
                     or [n for n in names if sl in n.lower()])
            if len(match) != 1:
                how = "matches no" if not match else "matches more than one"
                raise _fail(path, None, dev_col, f"{selection!r} {how} device; the file holds {', '.join(names)}")
            device = match[0]
        elif len(names) > 1:
            raise _fail(path, None, dev_col, f"the file holds {len(names)} devices ({', '.join(names)}); say which "
                        f"one is the {role}: --{role} '{path}:{names[0]}'")
        elif names:
            device = names[0]
        if device is not None:
            m = (df[dev_col].astype(str).str.strip() == device).to_numpy()
            df, lines_no = df[m].reset_index(drop=True), lines_no[m]
    elif selection:
        raise _fail(path, None, None, f"selection {selection!r} given, but this WitMotion file has no 'Device name' "
                    "column (one sensor per file)")
    acc_cols = [acc_c[a][0] for a in "xyz"]
    gyr_cols = [gyr_c[a][0] for a in "xyz"]
    df, kept = _drop_empty(df, acc_cols + gyr_cols)
    lines_no = lines_no[kept]
    if len(df) < 2:
        raise _fail(path, None, None, f"fewer than two samples{f' of {device}' if device else ''}")
    arr = _numeric(path, df, acc_cols + gyr_cols, lines_no)
    _rows_complete(path, arr, lines_no, acc_cols + gyr_cols)
    fa = _unit_factor_acc(acc_c["x"][1])
    fg = _unit_factor_gyr(gyr_c["x"][1])
    if fg is None:  # '°/s' written in another code page
        fg = DEG if "rad" not in gyr_c["x"][1].lower() else 1.0
    acc, gyr = arr[:, :3] * fa, arr[:, 3:] * fg
    pc_col = next((c for c in cols if c.strip().lower() == "time"), None)
    chip_col = next((c for c in cols if re.match(r"^chip\s*time", c, re.I)), None)
    if chip_col is None and cols and cols[0] == "" and re.match(r"\s*\d{4}-\d{1,2}-\d{1,2}", str(df.iloc[0, 0])):
        chip_col = cols[0]  # the SDK sample logger's unnamed first column holds the chip time
    t, clock, how, wall0 = _witmotion_times(path, df, lines_no, pc_col, chip_col)
    abs_start = None
    who = f"{path.name}: {device}" if device else path.name
    if wall0 is not None:
        abs_start, zone = _local_wall_to_utc(wall0)
        how += (f"; its times carry no time zone and were read as this computer's local time ({zone}) for "
                "started_at")
    warnings.append(f"{who}: {how}")
    note = ("the WitMotion files' 'Time' columns (the recording computer's clock) were taken as one clock"
            if clock else None)
    check_si(path, "WitMotion (acc g, gyro °/s)", acc, gyr)
    model = "WitMotion" + (f" {device}" if device else "")
    info = {"device": device} if device else {}
    mac = _mac_in_name(device or path.name)
    if mac:
        info["address"] = mac
    return VendorData(t, acc, gyr, median_rate_hz(t), model, "witmotion", [path], clock=clock,
                      abs_start_s=abs_start, clock_note=note, warnings=warnings, info=info, selection=device)


# --------------------------------------------------------------------------- format v1, other names


#: Top-level sidecar keys of a format v1 source that describe the source file itself and are not
#: carried over by the import (the rest — exercise, subject, notes, your own keys — is).
V1_SOURCE_ONLY_KEYS = ("format", "version", "sensors", "events", "started_at", "imported_from", "ble_summary",
                       "duration_s")


def role_rank(name: str, role: str) -> int:
    """0: the name looks like the role's segment (THIGH_WORDS / PELVIS_WORDS of the recording
    reader), 2: like the other segment's, 1: like neither (to suggest ``FILE:NAME``)."""
    from imu_pipeline.io.recording import PELVIS_WORDS, THIGH_WORDS

    mine, theirs = (THIGH_WORDS, PELVIS_WORDS) if role == "thigh" else (PELVIS_WORDS, THIGH_WORDS)
    low = name.lower()
    return 0 if any(w in low for w in mine) else 2 if any(w in low for w in theirs) else 1


def likely_names(names: Sequence[str], role: str) -> list[str]:
    """The names that best fit the role (all of the best rank), in the file's order."""
    if not names:
        return []
    best = min(role_rank(n, role) for n in names)
    return [n for n in names if role_rank(n, role) == best]


def read_v1_named(path: Path, selection: str | None, role: str) -> VendorData:
    warnings: list[str] = []
    text = _read_text(path, warnings)
    lines = _lines(text)
    hi, _ = _first_line(lines)
    df = _table(path, text, hi, ",")
    names = [n for n in pd.unique(df["sensor"].astype(str).str.strip()) if n and n.lower() != "nan"]
    want = selection or role
    match = [n for n in names if n.lower() == want.lower()]
    if not match:
        likely = likely_names(names, role)
        choose = " or ".join(f"'{path}:{n}'" for n in likely) if likely else f"'{path}:NAME'"
        raise _fail(path, None, "sensor", f"no sensor named {want!r}; the file holds {', '.join(map(repr, names))}. "
                    f"Choose the {role}'s: --{role} {choose}")
    name = match[0]
    m = (df["sensor"].astype(str).str.strip() == name).to_numpy()
    sub = df[m].reset_index(drop=True)
    lines_no = (hi + 2 + np.arange(len(df)))[m]
    num = ["time_s", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
    arr = _numeric(path, sub, num, lines_no)
    _rows_complete(path, arr, lines_no, num)
    t, (acc, gyr, lines_no) = _monotonic(path, arr[:, 0], lines_no, "time_s", warnings, [arr[:, 1:4], arr[:, 4:7],
                                                                                        lines_no])
    check_si(path, f"sensor {name!r}", acc, gyr)
    meta: dict[str, Any] = {}
    sp = sidecar_path(path)
    if sp.exists():
        try:
            meta = json.loads(sp.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            warnings.append(f"{sp.name}: not readable JSON ({e}); its metadata was not carried over")
    sm = ((meta.get("sensors") or {}) if isinstance(meta, dict) else {}).get(name) or {}
    sm = sm if isinstance(sm, dict) else {}
    rate = sm.get("sample_rate_hz")
    rate = float(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0 else \
        median_rate_hz(t)
    mounting = sm.get("mounting") if isinstance(sm.get("mounting"), dict) else None
    info = {k: sm[k] for k in ("address",) if k in sm}
    meta = meta if isinstance(meta, dict) else {}
    carry = {k: v for k, v in meta.items() if k not in V1_SOURCE_ONLY_KEYS}
    abs_start = None
    if isinstance(meta.get("started_at"), str):
        try:
            st = datetime.fromisoformat(meta["started_at"].strip().replace("Z", "+00:00"))
        except ValueError:
            warnings.append(f"{sp.name}: started_at {meta['started_at']!r} is not an ISO 8601 time; not carried over")
        else:
            if st.tzinfo is None:
                warnings.append(f"{sp.name}: started_at {meta['started_at']!r} has no time zone; read as UTC")
                st = st.replace(tzinfo=timezone.utc)
            abs_start = st.timestamp() + float(t[0])  # started_at is time 0 of time_s
    return VendorData(t, acc, gyr, rate, str(sm.get("model", f"format v1 sensor '{name}'")), "v1", [path],
                      clock="v1-time_s", clock_note="two format v1 files: their time_s were assumed to count from the "
                      "same session start", abs_start_s=abs_start, warnings=warnings, info=info, selection=name,
                      mounting=mounting, meta=carry)


# --------------------------------------------------------------------------- dispatch and alignment


def split_selection(arg: str) -> tuple[Path, str | None]:
    """``FILE`` or ``FILE:NAME`` (a sensor inside a multi-sensor file); a path that exists as
    given wins (so ``C:\\data\\x.csv`` is a path)."""
    p = Path(arg)
    if p.exists() or ":" not in arg:
        return p, None
    for m in re.finditer(":", arg):  # the name may hold colons too (a MAC address): the first file wins
        left = Path(arg[: m.start()])
        if m.start() and left.is_file():
            return left, arg[m.end():] or None
    return p, None


def read_sensor(args: Sequence[str], role: str, front: FrontConfig | None = None) -> VendorData:
    """The files given for one sensor (``--thigh FILE [FILE ...]``) -> :class:`VendorData`."""
    if not args:
        raise VendorFileError(f"no file given for the {role}")
    items = [split_selection(a) for a in args]
    fmts = []
    for p, _ in items:
        if not p.exists():
            raise VendorFileError(f"{p}: no such file (given for the {role})")
        fmt = detect_format(p)
        if fmt is None:
            raise unknown_file(p, _lines(_read_text(p)))
        fmts.append(fmt)
    if len(set(fmts)) > 1:
        raise VendorFileError(f"the {role}'s files are of different formats ("
                              f"{', '.join(f'{p.name}: {FORMAT_NAMES[f]}' for (p, _), f in zip(items, fmts))}); give "
                              "the files of one sensor from one app")
    fmt = fmts[0]
    paths = [p for p, _ in items]
    sel = next((s for _, s in items if s), None)
    if fmt in ("metabase", "phyphox"):
        data = read_metabase(paths, role, front) if fmt == "metabase" else read_phyphox(paths, role, front)
    else:
        if len(paths) != 1:
            raise VendorFileError(f"{', '.join(map(str, paths))}: a {FORMAT_NAMES[fmt]} holds the whole sensor in one "
                                  f"file; give the {role} one file")
        p = paths[0]
        if fmt == "movella-dot":
            data = read_movella_dot(p)
        elif fmt == "mt-manager":
            data = read_mt_manager(p)
        elif fmt == "witmotion":
            data = read_witmotion(p, sel, role)
        else:
            data = read_v1_named(p, sel, role)
    if sel and fmt not in ("witmotion", "v1"):
        raise VendorFileError(f"{args[0]}: ':{sel}' selects a sensor inside a multi-sensor file, but a "
                              f"{FORMAT_NAMES[fmt]} holds one sensor")
    if len(data) < 2:
        raise VendorFileError(f"{', '.join(map(str, paths))}: fewer than two samples for the {role}")
    return data


def align_sensors(data: dict[str, VendorData]) -> tuple[dict[str, SensorSamples], list[str], float | None]:
    """Both sensors on one session clock (seconds from the earlier first sample).

    Same shared clock -> compared directly (a wrapping counter modulo its period); else by the
    absolute start times the files record; else their first samples are taken as simultaneous.
    Every assumption is returned as a warning. Also returns the session start in Unix seconds
    when known."""
    th, pe = data["thigh"], data["pelvis"]
    warnings: list[str] = []
    t_th, t_pe = th.time_s.astype(np.float64), pe.time_s.astype(np.float64)
    abs_zero: float | None = None
    if th.clock is not None and th.clock == pe.clock:
        if th.wrap_s:
            d = t_pe[0] - t_th[0]
            d_mod = (d + th.wrap_s / 2) % th.wrap_s - th.wrap_s / 2
            t_pe = t_pe + (d_mod - d)
        if th.clock_note and set(th.files) != set(pe.files):
            warnings.append(f"clock: {th.clock_note}")
        if th.clock == "unix-epoch":
            abs_zero = min(t_th[0], t_pe[0])
    elif th.abs_start_s is not None and pe.abs_start_s is not None:
        t_th = t_th - t_th[0] + th.abs_start_s
        t_pe = t_pe - t_pe[0] + pe.abs_start_s
        abs_zero = min(th.abs_start_s, pe.abs_start_s)
        why = _why_not_shared(th, pe)
        warnings.append(f"clock: {why}; aligned by the start times the files record (thigh "
                        f"{epoch_iso(th.abs_start_s)}, pelvis {epoch_iso(pe.abs_start_s)}, ~1 ms resolution); "
                        "the sensors' own clocks may drift apart over the session")
    else:
        t_th, t_pe = t_th - t_th[0], t_pe - t_pe[0]
        why = _why_not_shared(th, pe)
        warnings.append(f"clock: {why} and no start time in both files; their FIRST SAMPLES were taken as "
                        "simultaneous — if one sensor started recording later, hip flexion will be wrong")
    zero = min(t_th[0], t_pe[0])
    if abs_zero is None and th.clock is not None and th.clock == pe.clock:
        # a shared clock without a date (synchronised DOT, WitMotion 'Time', format v1): the absolute
        # start of the sensor that started first (DOT StartTime, the WitMotion date, started_at)
        starts = [d.abs_start_s - (t[0] - zero) for d, t in sorted(((th, t_th), (pe, t_pe)), key=lambda x: x[1][0])
                  if d.abs_start_s is not None]
        if starts:
            abs_zero = float(starts[0])
    out = {"thigh": SensorSamples(t_th - zero, th.acc, th.gyr), "pelvis": SensorSamples(t_pe - zero, pe.acc, pe.gyr)}
    return out, warnings, abs_zero


def check_overlap(data: dict[str, VendorData], sensors: dict[str, SensorSamples], abs_zero: float | None,
                  min_overlap_s: float) -> None:
    """Refuse two sensors that, once on one clock, recorded together for less than
    ``min_overlap_s`` (``[calibration] min_overlap_s``): the message gives both files' spans (UTC
    when known) and what to check."""
    th, pe = sensors["thigh"].time_s, sensors["pelvis"].time_s
    overlap = float(min(th[-1], pe[-1]) - max(th[0], pe[0]))
    if overlap >= min_overlap_s:
        return

    def span(role: str, t: np.ndarray) -> str:
        files = " + ".join(p.name for p in data[role].files)
        if abs_zero is not None:
            return f"{role} ({files}) {epoch_iso(abs_zero + t[0])} to {epoch_iso(abs_zero + t[-1])} UTC"
        return f"{role} ({files}) {t[0]:.1f} s to {t[-1]:.1f} s on the session clock"
    a, b = data["thigh"], data["pelvis"]
    if a.clock is not None and a.clock == b.clock:
        how = "their shared clock"
    elif a.abs_start_s is not None and b.abs_start_s is not None:
        how = "the start times the files record"
    else:
        how = "their first samples"
    what = "do not overlap in time at all" if overlap <= 0 else f"overlap for only {overlap:.2f} s"
    raise VendorFileError(
        f"the thigh's and the pelvis's recordings {what}, aligned by {how} (at least {min_overlap_s:g} s together is "
        f"needed, [calibration] min_overlap_s): {span('thigh', th)}; {span('pelvis', pe)}. Check that both "
        "files are from the same session, the time zones of their start times (a missing or wrong zone shifts a file "
        "by whole hours) and the clocks of the phones or computers that recorded them; nothing was written")


def gap_warnings(sensors: dict[str, SensorSamples], front: FrontConfig | None = None) -> list[str]:
    """One warning per sensor whose samples have gaps longer than the front half's gap rule
    (:func:`gap_threshold_s`): how many, and the longest (they stay gaps, never filled)."""
    out = []
    for role, ss in sensors.items():
        t = ss.time_s
        if len(t) < 2:
            continue
        thr = gap_threshold_s(t, front)
        d = np.diff(t)
        big = d > thr
        if big.any():
            i = int(np.argmax(d))
            out.append(f"{role}: {int(big.sum())} gap(s) longer than {thr:.3g} s (the [front] gap rule), the longest "
                       f"{d[i]:.2f} s from {t[i]:.2f} s on the session clock; gaps stay gaps (never filled)")
    return out


def swing_deg(ss: SensorSamples) -> float:
    """How far the sensor tilts: the 99th percentile of the angle between gravity's direction (the
    accelerometer averaged over 0.5 s) and its median direction, in degrees."""
    if len(ss) < 3:
        return math.nan
    rate = median_rate_hz(ss.time_s)
    w = int(max(1, round(0.5 * rate))) if np.isfinite(rate) else 1
    c = np.cumsum(np.vstack([np.zeros((1, 3)), ss.acc]), axis=0)
    if len(ss) <= w:
        return math.nan
    g = (c[w:] - c[:-w]) / w
    n = np.linalg.norm(g, axis=1)
    g = g[n > 0] / n[n > 0, None]
    ref = np.median(g, axis=0)
    if not np.linalg.norm(ref) > 0:
        return math.nan
    ref /= np.linalg.norm(ref)
    return float(np.degrees(np.percentile(np.arccos(np.clip(g @ ref, -1.0, 1.0)), 99)))


def swap_warning(sensors: dict[str, SensorSamples]) -> str | None:
    """'The thigh and pelvis files look swapped' when the sensor given as the pelvis swings (> 60°)
    while the one given as the thigh tilts less than 45° and less than half as far: a thigh sensor
    turns more than 60° during leg raises, a pelvis sensor far less (its posterior tilt)."""
    th, pe = swing_deg(sensors["thigh"]), swing_deg(sensors["pelvis"])
    if pe > 60.0 and th < 45.0 and pe > 2.0 * th:
        return (f"the thigh and pelvis files look swapped: the sensor given as the thigh tilts at most ~{th:.0f}° "
                f"while the one given as the pelvis tilts ~{pe:.0f}° (a thigh sensor turns more than 60° during leg "
                "raises, a pelvis sensor far less); if they are, import again with the --thigh and --pelvis files "
                "exchanged")
    return None


def _why_not_shared(th: VendorData, pe: VendorData) -> str:
    if th.fmt == pe.fmt == "movella-dot":
        st = [f"{r}: {d.info.get('SyncStatus', 'not stated')}" for r, d in (("thigh", th), ("pelvis", pe))]
        return (f"the Movella DOT sensors were not synchronised ({'; '.join(st)}), so their SampleTimeFine clocks "
                "are unrelated (sync them in the DOT app before recording)")
    if th.fmt != pe.fmt:
        return (f"the sensors come from different apps ({FORMAT_NAMES[th.fmt]}, {FORMAT_NAMES[pe.fmt]}) with "
                "unrelated clocks")
    return f"the two {FORMAT_NAMES[th.fmt]} files have independent clocks"
