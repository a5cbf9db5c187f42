"""Recording format v1: reader, validator and crash-safe writer.

A recording is ``NAME.csv`` (one row per sample per sensor) plus an optional ``NAME.json``
sidecar; see ``docs/recording-format.md`` for the contract.  Everything is SI: time in s
(float64, session clock), specific force in m/s², angular rate in rad/s, both in the sensor
frame.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imu_pipeline.errors import MountingError, RecordingError
from imu_pipeline.frames import GRAVITY_M_S2, mounting_matrix

SENSORS: tuple[str, str] = ("thigh", "pelvis")
TIME_COL = "time_s"
SENSOR_COL = "sensor"
ACC_COLS: tuple[str, str, str] = ("acc_x", "acc_y", "acc_z")
GYR_COLS: tuple[str, str, str] = ("gyr_x", "gyr_y", "gyr_z")
NUMERIC_COLS: tuple[str, ...] = (TIME_COL,) + ACC_COLS + GYR_COLS
CSV_COLUMNS: tuple[str, ...] = (TIME_COL, SENSOR_COL) + ACC_COLS + GYR_COLS
FORMAT_NAME = "imu-pipeline-recording"
FORMAT_VERSION = 1

#: Median |acc| below this (m/s²) means the accelerometer is in g, not m/s².
ACC_G_UNITS_MAX_MEDIAN = 3.0
#: 99th percentile |gyr| above this (rad/s, ~1150 deg/s) means the gyro is in deg/s.
GYR_DEG_UNITS_MIN_P99 = 20.0
#: An IMU stream slower than this (Hz) means time_s is not in seconds (milliseconds?).
MIN_RATE_HZ = 1.0




@dataclass
class SensorSamples:
    """Samples of one sensor, sorted by time.

    Attributes
    ----------
    time_s : (N,) float64, seconds on the session clock
    acc : (N, 3) specific force, m/s², sensor frame
    gyr : (N, 3) angular rate, rad/s, sensor frame
    """

    time_s: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame({TIME_COL: self.time_s})
        for i, c in enumerate(ACC_COLS):
            df[c] = self.acc[:, i]
        for i, c in enumerate(GYR_COLS):
            df[c] = self.gyr[:, i]
        return df

    def slice(self, start: int, stop: int) -> SensorSamples:
        return SensorSamples(self.time_s[start:stop], self.acc[start:stop], self.gyr[start:stop])


@dataclass
class Recording:
    """A loaded recording.

    Attributes
    ----------
    sensors : mapping of sensor name (``thigh``/``pelvis``) to :class:`SensorSamples`
    meta : the sidecar dictionary (empty when there is none); unknown keys preserved
    path : the CSV path, if loaded from disk
    warnings : non-fatal problems found while loading (cut-off last line, ...)
    """

    sensors: dict[str, SensorSamples]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "<memory>"

    def frame(self, sensor: str) -> pd.DataFrame:
        """Samples of one sensor as a DataFrame with the format's column names."""
        return self.sensors[sensor].to_frame()

    def tidy(self) -> pd.DataFrame:
        """All samples in one frame (``time_s, sensor, acc_*, gyr_*``), sorted by time."""
        parts = []
        for s, ss in self.sensors.items():
            df = ss.to_frame()
            df.insert(1, SENSOR_COL, s)
            parts.append(df)
        return pd.concat(parts).sort_values(TIME_COL, kind="stable").reset_index(drop=True)

    @property
    def t_start(self) -> float:
        return min(float(s.time_s[0]) for s in self.sensors.values() if len(s))

    @property
    def t_end(self) -> float:
        return max(float(s.time_s[-1]) for s in self.sensors.values() if len(s))

    def sensor_meta(self, sensor: str) -> dict[str, Any]:
        return dict((self.meta.get("sensors") or {}).get(sensor) or {})

    def mounting(self, sensor: str) -> np.ndarray | None:
        """``R_seg_sensor`` from the sidecar's declared mounting, or None when not declared."""
        m = self.sensor_meta(sensor).get("mounting")
        if m is None:
            return None
        try:
            return mounting_matrix(m, where=f"{sidecar_path(self.path) if self.path else 'sidecar'}: sensors.{sensor}.mounting")
        except MountingError as e:
            raise RecordingError(str(e)) from None

    def events(self) -> list[dict[str, Any]]:
        return list(self.meta.get("events") or [])


#: Words in a sensor's own name that suggest its segment (only to order the names in a hint).
THIGH_WORDS = ("thigh", "femur", "leg", "knee", "quad")
PELVIS_WORDS = ("pelvis", "sacrum", "hip", "waist", "lumbar", "back", "trunk", "spine")

def sidecar_path(csv_path: str | os.PathLike[str]) -> Path:
    """``NAME.json`` beside ``NAME.csv``."""
    p = Path(csv_path)
    return p.with_suffix(".json")


# --------------------------------------------------------------------------- reading


def _fail(path: Path, line: int | None, column: str | None, what: str) -> RecordingError:
    where = str(path)
    if line is not None:
        where += f", line {line}"
    if column is not None:
        where += f", column '{column}'"
    return RecordingError(f"{where}: {what}")


def read_recording(
    path: str | os.PathLike[str],
    *,
    require_both: bool = True,
    check_units: bool = True,
    warn: bool = True,
) -> Recording:
    """Load and validate a format v1 recording and its sidecar.

    Parameters
    ----------
    path
        The ``.csv`` file. The sidecar ``.json`` beside it is read when present.
    require_both
        Reject a recording in which either ``thigh`` or ``pelvis`` has no samples.
    check_units
        Reject accelerometer data in g and gyro data in deg/s.
    warn
        Also issue the load warnings (cut-off last line, ...) with :func:`warnings.warn`; they
        are always in ``Recording.warnings`` (the CLI prints those and passes False).

    Raises
    ------
    RecordingError
        With the file, line and column of the first problem.
    """
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: no such file")
    if path.is_dir():
        raise RecordingError(f"{path}: is a directory, expected a recording .csv file")
    raw = path.read_bytes()
    raw_changed = False  # pandas reads the file itself (faster than from memory) unless we edited it
    notes: list[str] = []
    if not raw[:65536].strip() and not raw.strip():
        raise _fail(path, None, None, "empty file; expected a header line "
                    f"'{','.join(CSV_COLUMNS)}' followed by samples")
    if b"\x00" in raw[:4096]:
        raise _fail(path, 1, None, "binary data; this is not a recording CSV (format v1 is text)")
    if not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n")
        if cut < 0:
            raw, raw_changed = raw + b"\n", True  # a single header line without newline: let the header check speak
        else:
            nlines = raw.count(b"\n") + 1
            notes.append(f"{path}: line {nlines} is cut off (the session probably ended abruptly); dropped it")
            raw, raw_changed = raw[: cut + 1], True
    try:
        text_head = raw[: raw.find(b"\n")].decode("utf-8-sig")
    except UnicodeDecodeError:
        from imu_pipeline.io.vendor import import_hint  # a vendor export in another code page (GBK, cp1252)

        hint = import_hint(path)
        if hint is not None:
            raise _fail(path, 1, None, hint) from None
        raise _fail(path, 1, None, "not UTF-8 text (a byte that is not a character); this is not a "
                    "recording CSV, or the file is damaged") from None
    if text_head.lstrip().startswith(("{", "[")):
        hint = f"; pass the recording's .csv ({path.with_suffix('.csv').name})" if path.suffix == ".json" else ""
        raise _fail(path, 1, None, f"this is JSON (a sidecar or a summary?), not a recording CSV with the header "
                    f"'{','.join(CSV_COLUMNS)}'{hint}")
    header = [h.strip() for h in text_head.strip().split(",")]
    missing = [c for c in CSV_COLUMNS if c not in header]
    extra = [c for c in header if c not in CSV_COLUMNS]
    if missing or extra:
        from imu_pipeline.io.vendor import import_hint  # a vendor export: say how to convert it

        hint = import_hint(path)
        if hint is not None:
            raise _fail(path, 1, None, hint)
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(repr(c) for c in missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(repr(c) for c in extra)}")
        raise _fail(path, 1, None, "; ".join(parts) + f". Expected the header '{','.join(CSV_COLUMNS)}'")
    if len(set(header)) != len(header):
        raise _fail(path, 1, None, "duplicate column names in the header")

    if re.search(rb"\n[ \t\r]+\n", raw):  # lines of only spaces are blank lines
        raw, raw_changed = re.sub(rb"(?m)^[ \t\r]+$", b"", raw), True
    df = _parse_body(path, raw if raw_changed else None, header)
    # blank lines: tolerated and skipped
    blank = df[SENSOR_COL].isna() & df[list(NUMERIC_COLS)].isna().all(axis=1)
    lines = np.arange(len(df)) + 2
    if blank.any():
        keep = ~blank.to_numpy()
        df = df[keep]
        lines = lines[keep]
    if len(df) == 0:
        raise _fail(path, None, None, "no samples after the header line")

    cols = [df[c].to_numpy(dtype=np.float64) for c in NUMERIC_COLS]  # each a view of pandas' column
    for c, v in zip(NUMERIC_COLS, cols):
        if not np.isfinite(v.sum()) and not np.isfinite(v).all():  # the sum is a cheap first test
            r = int(np.flatnonzero(~np.isfinite(v))[0])
            found = _field_count(path, int(lines[r]))
            if found is not None and found != len(CSV_COLUMNS):  # a short line: pandas filled it with NaN
                raise _fail(path, int(lines[r]), None, f"wrong number of fields: expected {len(CSV_COLUMNS)} "
                            f"comma-separated values, found {found}")
            raise _fail(path, int(lines[r]), c, "empty or non-finite value; expected a number")
    # sensor id per row: index into SENSORS, -1 when unknown; names validated once per distinct value
    col = df[SENSOR_COL]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.fillna("").astype(str).astype("category")
    names = [str(c).strip().lower() for c in col.cat.categories] + [""]  # "Thigh" is thigh
    codes = col.cat.codes.to_numpy()
    codes = np.where(codes < 0, len(names) - 1, codes)
    lut = np.array([SENSORS.index(n) if n in SENSORS else -1 for n in names])
    sid = lut[codes]
    if (sid < 0).any():
        r = int(np.flatnonzero(sid < 0)[0])
        name = names[codes[r]]
        what = "empty sensor name" if name == "" else f"unknown sensor {name!r}"
        hint = ""
        others = sorted({n for n in names[:-1] if n and n not in SENSORS})
        known = [n for n in SENSORS if n in names[:-1]]
        if name and len(others) + len(known) >= 2:  # sensors under other names: import maps two of them
            from imu_pipeline.io.vendor import likely_names  # thigh-like names for the thigh, pelvis-like ...

            pick, pool = {k: k for k in known}, list(others)
            for role in (r for r in SENSORS if r not in known):
                best = likely_names(pool, role)[0]
                pick[role] = best
                pool.remove(best)
            hint = (f"; if these are the thigh and the pelvis under other names, map them with `imu-pipeline import "
                    f"OUT.csv --thigh {path}:{pick['thigh']} --pelvis {path}:{pick['pelvis']}`")
            if len(others) + len(known) > 2:
                hint += f" (the file holds {', '.join(map(repr, known + others))}: pick the two)"
        raise _fail(path, int(lines[r]), SENSOR_COL, f"{what}; expected 'thigh' or 'pelvis'{hint}")

    t = cols[0]
    sensors: dict[str, SensorSamples] = {}
    for s in SENSORS:
        m = sid == SENSORS.index(s)
        ts = t[m]
        if ts.size > 1:
            d = np.diff(ts)
            back = np.flatnonzero(d < 0)
            if back.size:
                r = int(np.flatnonzero(m)[back[0] + 1])
                raise _fail(path, int(lines[r]), TIME_COL,
                            f"time goes backwards for sensor '{s}' ({ts[back[0]]:.6f} s then {ts[back[0] + 1]:.6f} s); "
                            "time_s must be non-decreasing per sensor")
        idx = np.flatnonzero(m)
        acc = np.empty((idx.size, 3))
        gyr = np.empty((idx.size, 3))
        for j in range(3):
            acc[:, j] = cols[1 + j][idx]
            gyr[:, j] = cols[4 + j][idx]
        sensors[s] = SensorSamples(ts if ts.base is None else ts.copy(), acc, gyr)

    present = [s for s in SENSORS if len(sensors[s])]
    if require_both and len(present) < 2:
        absent = [s for s in SENSORS if s not in present]
        raise _fail(path, None, SENSOR_COL,
                    f"no samples from the {absent[0]} sensor (only {present[0]!r} rows); hip flexion and "
                    "pelvic tilt need both a thigh and a pelvis sensor — record both, or check the sensor names")
    if check_units:
        for s in present:
            _check_units(path, s, sensors[s], lines[sid == SENSORS.index(s)])

    meta = read_sidecar(path)
    rec = Recording(sensors=sensors, meta=meta, path=path, warnings=notes)
    for s in SENSORS:  # validate declared mounting early, with a clear message
        rec.mounting(s)
    if warn:
        for w in notes:
            _warnings.warn(w, stacklevel=2)
    return rec


def _parse_body(path: Path, edited: bytes | None, header: list[str]) -> pd.DataFrame:
    """The body as a DataFrame: from the file, or from ``edited`` bytes when the reader changed them."""
    try:
        return _read_csv(path, edited, header)
    except UnicodeDecodeError:
        raw = edited if edited is not None else path.read_bytes()
        try:
            raw.decode("utf-8-sig")
        except UnicodeDecodeError as e2:
            e = e2
        line = raw[: e.start].count(b"\n") + 1
        raise _fail(path, line, None, "not UTF-8 text (a byte that is not a character); this is not a "
                    "recording CSV, or the file is damaged") from None


def _read_csv(path: Path, edited: bytes | None, header: list[str]) -> pd.DataFrame:
    dtypes: dict[str, Any] = {c: np.float64 for c in NUMERIC_COLS}
    dtypes[SENSOR_COL] = "category"  # two distinct values: parsed and checked once each
    names = header  # stripped names: 'time_s, sensor' is read like 'time_s,sensor'
    try:
        df = pd.read_csv(io.BytesIO(edited) if edited is not None else path, dtype=dtypes, skip_blank_lines=False,
                         encoding="utf-8-sig", na_filter=True, keep_default_na=False, na_values=[""], engine="c",
                         header=0, names=names, skipinitialspace=True)
        if isinstance(df.index, pd.RangeIndex):  # else the first data line had extra fields (taken as index)
            return df
    except (ValueError, pd.errors.ParserError):
        pass
    raw = edited if edited is not None else path.read_bytes()
    # slow path: find the offending line and column; field counts first (a line with extra fields
    # shifts every value after it)
    lines = raw.decode("utf-8-sig").split("\n")
    for i, ln in enumerate(lines[1:], start=2):
        if ln.strip() and ln.count(",") != len(CSV_COLUMNS) - 1:
            found = ln.count(",") + 1
            hint = " (a decimal comma?)" if found > len(CSV_COLUMNS) else ""
            raise _fail(path, i, None, f"wrong number of fields: expected {len(CSV_COLUMNS)} comma-separated "
                        f"values, found {found}{hint}")
    try:
        df = pd.read_csv(io.BytesIO(raw), dtype=str, skip_blank_lines=False, encoding="utf-8-sig",
                         keep_default_na=False, header=0, names=names, skipinitialspace=True)
    except pd.errors.ParserError as e:
        msg = str(e)
        line = None
        m = re.search(r"line (\d+)", msg)
        if m:
            line = int(m.group(1))
        raise _fail(path, line, None, f"wrong number of fields ({msg.split(':')[-1].strip()}); "
                    f"every line needs {len(CSV_COLUMNS)} comma-separated values") from None
    for c in NUMERIC_COLS:
        col = df[c].fillna("").str.strip()
        conv = pd.to_numeric(col, errors="coerce")
        badm = conv.isna() & (col != "")
        if badm.any():
            r = int(np.flatnonzero(badm.to_numpy())[0])
            raise _fail(path, r + 2, c, f"{df[c].iloc[r]!r} is not a number")
    raise _fail(path, None, None, "could not parse the file as CSV")  # pragma: no cover


def _field_count(path: Path, line: int) -> int | None:
    """Comma-separated fields on one line of the file (1-based), for error messages only."""
    try:
        with open(path, "rb") as f:
            for i, ln in enumerate(f, start=1):
                if i == line:
                    return ln.count(b",") + 1
    except OSError:
        return None
    return None


def median_rate_hz(time_s: np.ndarray) -> float:
    """Sample rate (Hz) from the median positive interval (robust to losses); NaN without one."""
    d = np.diff(np.asarray(time_s, dtype=np.float64))
    d = d[d > 0]
    return float(1.0 / np.median(d)) if d.size else math.nan


#: The unit checks look at this many samples per sensor, spread over the recording.
UNIT_CHECK_SAMPLES = 20_000


def _check_units(path: Path, s: str, ss: SensorSamples, lines: np.ndarray) -> None:
    rate = median_rate_hz(ss.time_s)
    if np.isfinite(rate) and rate < MIN_RATE_HZ:
        raise _fail(path, int(lines[1]) if len(lines) > 1 else int(lines[0]), TIME_COL,
                    f"sensor '{s}': samples are {1 / rate:.3g} s apart ({rate:.3g} Hz); time_s must be seconds — "
                    "if these are milliseconds, divide by 1000")
    step = max(1, len(ss) // UNIT_CHECK_SAMPLES)  # a spread-out subset tells the units as well
    lines = lines[::step]
    acc_n = np.linalg.norm(ss.acc[::step], axis=1)
    med = float(np.median(acc_n))
    if med < ACC_G_UNITS_MAX_MEDIAN:
        raise _fail(path, int(lines[0]), "acc_x",
                    f"sensor '{s}': median |acc| is {med:.2f}; that looks like g, but format v1 wants m/s² "
                    f"(≈{GRAVITY_M_S2} at rest). Multiply acc_* by 9.80665")
    if med > 10 * GRAVITY_M_S2:
        raise _fail(path, int(lines[0]), "acc_x",
                    f"sensor '{s}': median |acc| is {med:.1f} m/s², far above gravity; expected m/s² "
                    f"(≈{GRAVITY_M_S2} at rest) — raw counts or mg? Convert to m/s²")
    gyr_n = np.linalg.norm(ss.gyr[::step], axis=1)
    p99 = float(np.percentile(gyr_n, 99))
    if p99 > GYR_DEG_UNITS_MIN_P99:
        r = int(np.argmax(gyr_n))
        raise _fail(path, int(lines[r]), "gyr_x",
                    f"sensor '{s}': angular rates up to {gyr_n.max():.0f} (99th percentile {p99:.0f}); that looks "
                    "like deg/s, but format v1 wants rad/s. Multiply gyr_* by pi/180")


def read_sidecar(csv_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load ``NAME.json`` beside ``NAME.csv``; ``{}`` when absent. Validates the known keys."""
    sp = sidecar_path(csv_path)
    if not sp.exists():
        return {}
    try:
        meta = json.loads(sp.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RecordingError(f"{sp}, line {e.lineno}, column {e.colno}: not valid JSON ({e.msg})") from None
    except UnicodeDecodeError:
        raise RecordingError(f"{sp}: not UTF-8 text; expected the recording's JSON sidecar") from None
    except OSError as e:  # a folder, no permission, ...
        raise RecordingError(f"{sp}: cannot read the recording's JSON sidecar ({e.strerror or e})") from None
    validate_meta(meta, str(sp))
    return meta


def validate_meta(meta: Any, where: str) -> None:
    """Check the types of the sidecar keys format v1 defines (unknown keys are allowed)."""
    if not isinstance(meta, dict):
        raise RecordingError(f"{where}: expected a JSON object at the top level")
    if "version" in meta and meta["version"] != FORMAT_VERSION:
        raise RecordingError(f"{where}: field 'version' is {meta['version']!r}; this reader knows version {FORMAT_VERSION}")
    if "format" in meta and meta["format"] != FORMAT_NAME:
        raise RecordingError(f"{where}: field 'format' is {meta['format']!r}; expected {FORMAT_NAME!r}")
    sensors = meta.get("sensors", {})
    if not isinstance(sensors, dict):
        raise RecordingError(f"{where}: field 'sensors' must be an object keyed by 'thigh'/'pelvis'")
    for name, sm in sensors.items():
        if name not in SENSORS:
            raise RecordingError(f"{where}: sensors.{name}: unknown sensor; expected 'thigh' or 'pelvis'")
        if not isinstance(sm, dict):
            raise RecordingError(f"{where}: sensors.{name} must be an object")
        rate = sm.get("sample_rate_hz")
        if rate is not None and (not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate < 1e5):
            raise RecordingError(f"{where}: sensors.{name}.sample_rate_hz must be a positive number, got {rate!r}")
        if "mounting" in sm and sm["mounting"] is not None:
            try:
                mounting_matrix(sm["mounting"], where=f"{where}: sensors.{name}.mounting")
            except MountingError as e:
                raise RecordingError(str(e)) from None
    events = meta.get("events", [])
    if not isinstance(events, list):
        raise RecordingError(f"{where}: field 'events' must be a list")
    for i, ev in enumerate(events):
        if not isinstance(ev, dict) or not isinstance(ev.get("time_s"), (int, float)):
            raise RecordingError(f"{where}: events[{i}] must be an object with a numeric 'time_s'")
