"""Writing format v1 recordings crash-safely: rows appended and fsynced as they arrive, the JSON
sidecar replaced atomically (see docs/recording-format.md)."""

from __future__ import annotations

import copy
import errno
import io
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imu_pipeline.errors import OutputError, OutputExistsError
from imu_pipeline.io.recording import (
    CSV_COLUMNS,
    FORMAT_NAME,
    FORMAT_VERSION,
    SENSORS,
    SensorSamples,
    sidecar_path,
)
from imu_pipeline.report.files import output_error, remove_quietly


def _fmt_rows(sensor: str, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> str:
    buf = io.StringIO()
    for i in range(len(t)):
        a = acc[i]
        g = gyr[i]
        buf.write(f"{t[i]:.6f},{sensor},{a[0]:.5f},{a[1]:.5f},{a[2]:.5f},{g[0]:.6f},{g[1]:.6f},{g[2]:.6f}\n")
    return buf.getvalue()


class RecordingWriter:
    """Append-only, crash-safe writer of a format v1 recording.

    Rows are buffered in memory and written + ``fsync``-ed at least every
    ``flush_interval_s`` (wall clock) — call :meth:`maybe_flush` from a timer when no
    samples arrive. A crash therefore loses at most that interval; a cut-off last line
    is dropped by the reader with a warning. The sidecar is rewritten atomically
    (temporary file + rename) whenever metadata or events change.

    Example
    -------
    >>> with RecordingWriter("out.csv", meta={"exercise": "lying-leg-raise"}) as w:   # doctest: +SKIP
    ...     w.write("thigh", t, acc, gyr)
    """

    def __init__(self, path: str | os.PathLike[str], meta: Mapping[str, Any] | None = None,
                 *, flush_interval_s: float = 1.0, overwrite: bool = False, fsync: bool = True) -> None:
        self.path = Path(path)
        self.flush_interval_s = float(flush_interval_s)
        self.fsync = fsync
        self.meta: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
        self.meta.update(copy.deepcopy(dict(meta or {})))
        self.meta.setdefault("events", [])
        self.rows_written = 0
        self._pending: list[str] = []
        self._last_flush = time.monotonic()
        if self.path.exists() and not overwrite:
            raise OutputExistsError(f"{self.path}: already exists; choose another name or pass overwrite")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w", encoding="utf-8", newline="\n")
        except OSError as e:
            raise output_error(self.path, "recording", e) from None
        self._closed = False
        try:
            self._fh.write(",".join(CSV_COLUMNS) + "\n")
            self._fh.flush()
            self.write_sidecar()
        except BaseException:  # nothing recorded yet: leave no empty recording behind
            self._closed = True
            _close_quietly(self._fh)
            remove_quietly(self.path)
            raise

    def write(self, sensor: str, time_s: np.ndarray | float, acc: np.ndarray, gyr: np.ndarray) -> None:
        """Append samples of one sensor (arrays (N,), (N,3), (N,3) or a single sample)."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        if sensor not in SENSORS:
            raise ValueError(f"unknown sensor {sensor!r}; expected 'thigh' or 'pelvis'")
        t = np.atleast_1d(np.asarray(time_s, dtype=np.float64))
        a = np.atleast_2d(np.asarray(acc, dtype=np.float64))
        g = np.atleast_2d(np.asarray(gyr, dtype=np.float64))
        if not (a.shape == (t.size, 3) and g.shape == (t.size, 3)):
            raise ValueError(f"shapes do not match: time {t.shape}, acc {a.shape}, gyr {g.shape}")
        if not (np.isfinite(t).all() and np.isfinite(a).all() and np.isfinite(g).all()):
            raise ValueError(f"{self.path}: refusing to write NaN/inf samples of the {sensor} sensor "
                             "(format v1 never invents or blanks samples)")
        self._pending.append(_fmt_rows(sensor, t, a, g))
        self.rows_written += t.size
        self.maybe_flush()

    def write_text_rows(self, text: str, n_rows: int) -> None:
        """Append already formatted CSV rows (used by bulk writers)."""
        self._pending.append(text)
        self.rows_written += n_rows
        self.maybe_flush()

    def add_event(self, time_s: float, sensor: str | None, kind: str, **extra: Any) -> None:
        """Record an event (disconnect, reconnect, ...) in the sidecar, written at once."""
        ev: dict[str, Any] = {"time_s": round(float(time_s), 6), "kind": kind}
        if sensor is not None:
            ev["sensor"] = sensor
        ev.update(extra)
        self.meta["events"].append(ev)
        self.write_sidecar()

    def update_meta(self, **kv: Any) -> None:
        self.meta.update(kv)
        self.write_sidecar()

    def maybe_flush(self) -> None:
        if self._pending and time.monotonic() - self._last_flush >= self.flush_interval_s:
            self.flush()

    def flush(self) -> None:
        if self._closed:
            return
        text = "".join(self._pending)
        self._pending.clear()  # not written twice if this fails (a full disk) and close() flushes again
        try:
            if text:
                self._fh.write(text)
            self._fh.flush()
        except OSError as e:
            raise output_error(self.path, "recording", e) from None
        if self.fsync:
            try:
                os.fsync(self._fh.fileno())
            except OSError as e:  # pipes and special files cannot be synced; a full disk or I/O error is real
                if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EROFS):
                    raise output_error(self.path, "recording", e) from None
        self._last_flush = time.monotonic()

    def write_sidecar(self) -> None:
        """Replace the sidecar atomically: a temporary file, fsynced, renamed over it, and the folder
        fsynced so the rename itself survives a crash (with ``fsync``)."""
        sp = sidecar_path(self.path)
        tmp = sp.with_suffix(".json.tmp")
        text = json.dumps(self.meta, indent=2, default=_json_default) + "\n"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, sp)
        except OSError as e:  # the previous sidecar stays as it was
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise output_error(sp, "recording's sidecar", e) from None
        if self.fsync:
            _fsync_dir(sp.parent)

    def close(self) -> None:
        """Flush, close and write the final sidecar; a file that cannot be written is an
        :class:`~imu_pipeline.errors.OutputError` (the rows written so far stay)."""
        if self._closed:
            return
        try:
            self.flush()
        except BaseException:
            self._closed = True
            _close_quietly(self._fh)
            raise
        self._closed = True
        try:
            self._fh.close()
        except OSError as e:
            raise output_error(self.path, "recording", e) from None
        self.write_sidecar()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_quietly(fh: Any) -> None:
    """Close a file whose last write may have failed (a full disk): the error was already reported."""
    try:
        fh.close()
    except OSError:
        pass


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_recording(path: str | os.PathLike[str], sensors: Mapping[str, SensorSamples],
                    meta: Mapping[str, Any] | None = None, *, overwrite: bool = True) -> Path:
    """Write whole arrays as a recording, rows of both sensors interleaved by time."""
    path = Path(path)
    for s, ss in sensors.items():
        if s not in SENSORS:
            raise ValueError(f"unknown sensor {s!r}; expected 'thigh' or 'pelvis'")
        if not (np.isfinite(ss.time_s).all() and np.isfinite(ss.acc).all() and np.isfinite(ss.gyr).all()):
            raise ValueError(f"{path}: refusing to write NaN/inf samples of the {s} sensor "
                             "(format v1 never invents or blanks samples)")
    order = []
    for s, ss in sensors.items():
        order.append(pd.DataFrame({"t": ss.time_s, "s": s, "i": np.arange(len(ss))}))
    idx = pd.concat(order).sort_values("t", kind="stable")
    texts = {s: _fmt_rows(s, ss.time_s, ss.acc, ss.gyr).splitlines(keepends=True) for s, ss in sensors.items()}
    body = "".join(texts[s][i] for s, i in zip(idx["s"].to_numpy(), idx["i"].to_numpy()))
    w = RecordingWriter(path, meta, overwrite=overwrite, flush_interval_s=3600, fsync=False)
    try:
        with w:
            w.write_text_rows(body, len(idx))
    except OutputError:  # a full disk: no half recording left under the final name
        remove_quietly(path)
        remove_quietly(sidecar_path(path))
        raise
    return path
