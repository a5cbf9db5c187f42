"""Many recordings at once: find them, analyse them in parallel (local processes or a Dask cluster),
and gather the sessions and reps tables researchers load directly.

One code path for every executor: sessions are submitted to a ``concurrent.futures`` executor —
inline for one job, a process pool for several, ``distributed.Client(address).get_executor()`` for
a Dask cluster — and their results are written as they finish. Each recording's outputs are keyed
by its path relative to the input root (``patientA/s1``), so recordings with the same file name in
different folders never overwrite each other.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imu_pipeline.config import PipelineConfig
from imu_pipeline.errors import ImuPipelineError, OutputError, UsageError

#: Folders never searched for recordings (besides hidden ones and virtual environments).
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "env"})
#: Files that are outputs, not recordings.
NOT_RECORDINGS = (".truth.csv", ".angles.csv")
TABLE_NAMES = ("sessions.csv", "reps.csv")


@dataclass
class BatchItem:
    """One recording: where it is and its key (its path relative to the input root, no suffix)."""

    path: Path
    key: str


@dataclass
class SessionResult:
    """What became of one recording: ``status`` 'ok', 'error' (with ``error``) or 'reused' (an
    up-to-date summary from an earlier run)."""

    key: str
    path: str
    status: str
    error: str = ""
    summary: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _skipped_dir(d: Path, out: Path | None) -> bool:
    return (d.name.startswith(".") or d.name in SKIP_DIRS or (d / "pyvenv.cfg").exists()
            or (out is not None and d.resolve() == out))


def discover(inputs: Iterable[str | Path], out: str | Path | None = None) -> list[BatchItem]:
    """The recordings under ``inputs`` (files, or folders searched recursively), each once, keyed by
    its path relative to its input folder. Hidden folders, virtual environments, the output folder
    and output files (truth, angles, tables) are skipped.

    Raises
    ------
    UsageError
        An input that does not exist, or no recording at all.
    """
    out_r = Path(out).resolve() if out is not None else None
    items: dict[Path, BatchItem] = {}
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                d = Path(dirpath)
                dirnames[:] = sorted(n for n in dirnames if not _skipped_dir(d / n, out_r))
                for name in sorted(filenames):
                    if name.endswith(".csv") and not name.endswith(NOT_RECORDINGS) and name not in TABLE_NAMES:
                        f = d / name
                        items.setdefault(f.resolve(), BatchItem(f, f.relative_to(p).with_suffix("").as_posix()))
        elif p.is_file():
            items.setdefault(p.resolve(), BatchItem(p, p.with_suffix("").name))
        else:
            raise UsageError(f"{p}: no such file or directory")
    found = list(items.values())
    if not found:
        raise UsageError("no recordings (.csv) found in " + ", ".join(str(i) for i in inputs))
    seen: dict[str, int] = {}
    for it in found:  # the same key from two inputs (two folders' s1.csv given as files): numbered
        n = seen[it.key] = seen.get(it.key, 0) + 1
        if n > 1:
            it.key = f"{it.key}-{n}"
    return found


def summary_path(out: Path, key: str) -> Path:
    return out / f"{key}.summary.json"


def up_to_date(item: BatchItem, out: Path, cfg: PipelineConfig | None = None, pose: str | None = None) -> bool:
    """A summary from an earlier run that is newer than the recording and its sidecar, and made
    with the same config and the same ``--pose`` (or none)."""
    from imu_pipeline.config import config_to_dict

    s = summary_path(out, item.key)
    if not s.exists():
        return False
    sources = [item.path, item.path.with_suffix(".json")]
    if not all(s.stat().st_mtime >= f.stat().st_mtime for f in sources if f.exists()):
        return False
    try:
        d = json.loads(s.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    by_option = d.get("calibration", {}).get("pose_source") == "option"
    same_pose = (pose is None and not by_option) or (pose is not None and by_option and d.get("exercise") == pose)
    return same_pose and d.get("config") == config_to_dict(cfg or PipelineConfig())


def angles_path(out: Path, key: str) -> Path:
    """Where a session's per-sample angles go in the partitioned Parquet dataset ``OUT/angles``
    (hive-style ``session=<key>``, '/' in the key written as '%2F' so each session is one partition)."""
    from urllib.parse import quote

    return out / "angles" / f"session={quote(key, safe='')}" / "part-0.parquet"


def analyze_one(path: str, key: str, cfg: PipelineConfig, pose: str | None, out: str | None,
                angles: bool = False) -> SessionResult:
    """Analyse one recording (offline path) and write its summary under ``out`` (when given). A
    recording that cannot be analysed is a result with status 'error', never an exception (this
    runs in worker processes)."""
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.report.summary import summary_dict, summary_json

    try:
        rec = read_recording(path, warn=False)
        an = analyze_recording(rec, cfg, pose=pose)
        d = summary_dict(an)
        if out is not None:
            from imu_pipeline.report.files import write_text

            target = summary_path(Path(out), key)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_text(target, summary_json(d), what="summary")
            if angles:
                from imu_pipeline.report.files import replacing

                ap = angles_path(Path(out), key)
                ap.parent.mkdir(parents=True, exist_ok=True)
                with replacing(ap, what="angles") as tmp:
                    an.angles.to_frame().to_parquet(tmp, index=False, engine="pyarrow")
    except OutputError:
        raise  # the output folder, not the recording: every other session would fail the same way
    except ImuPipelineError as e:
        return SessionResult(key, path, "error", str(e))
    except OSError as e:  # a file that vanished or cannot be read between discovery and analysis
        return SessionResult(key, path, "error", f"{path}: {e.strerror or e}")
    return SessionResult(key, path, "ok", "", d, _meta(rec.meta))


def _meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Subject and session metadata from the sidecar, where present (flat, for the tables)."""
    out = {}
    for k in ("subject", "session", "subject_id", "session_id", "started_at", "exercise", "notes"):
        v = meta.get(k)
        if isinstance(v, (str, int, float)):
            out[f"meta_{k}"] = v
    return out


def _reused(item: BatchItem, out: Path) -> SessionResult:
    d = json.loads(summary_path(out, item.key).read_text(encoding="utf-8"))
    meta: dict[str, Any] = {}
    side = item.path.with_suffix(".json")
    if side.exists():
        try:
            meta = _meta(json.loads(side.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            meta = {}
    return SessionResult(item.key, str(item.path), "reused", "", d, meta)


def make_executor(jobs: int, scheduler: str | None) -> tuple[Executor | None, Callable[[], None]]:
    """The executor for ``jobs`` local processes (None: inline) or a Dask ``scheduler`` address, and
    how to close it."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--scheduler needs the Dask cluster extra: pip install 'imu-pipeline[cluster]'") from None
        try:
            client = Client(scheduler, timeout="10s")
        except Exception as e:  # noqa: BLE001  a bad address, a refusal, or something else answering there
            raise UsageError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler there "
                             f"({type(e).__name__}: {str(e)[:200]}); expected e.g. tcp://host:8786") from None
        return client.get_executor(), client.close
    if jobs <= 1:
        return None, lambda: None
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=ctx)
    return pool, pool.shutdown


def run(items: list[BatchItem], *, cfg: PipelineConfig | None = None, pose: str | None = None,
        out: str | Path | None = None, jobs: int = 1, scheduler: str | None = None, force: bool = False,
        angles: bool = False,
        on_result: Callable[[SessionResult, int, int], None] | None = None) -> list[SessionResult]:
    """Analyse ``items`` (see the module docstring); results in the items' order.

    ``on_result(result, done, total)`` is called as each finishes (progress). With ``out``, a
    recording whose summary there is newer than it is reused unless ``force`` (or ``angles`` is
    asked and its angles are not there yet); ``angles`` also writes each session's per-sample angles
    into the partitioned Parquet dataset ``OUT/angles`` (:func:`angles_path`).
    """
    cfg = cfg or PipelineConfig()
    out_p = Path(out) if out is not None else None
    results: dict[str, SessionResult] = {}
    todo = []
    for it in items:
        if out_p is not None and not force and up_to_date(it, out_p, cfg, pose) and \
                (not angles or angles_path(out_p, it.key).exists()):
            results[it.key] = _reused(it, out_p)
        else:
            todo.append(it)
    done = 0
    for r in list(results.values()):
        done += 1
        if on_result:
            on_result(r, done, len(items))
    executor, close = make_executor(jobs, scheduler)
    try:
        if executor is None:
            for it in todo:
                r = analyze_one(str(it.path), it.key, cfg, pose, None if out_p is None else str(out_p), angles)
                results[it.key] = r
                done += 1
                if on_result:
                    on_result(r, done, len(items))
        else:
            futures: dict[Future, BatchItem] = {
                executor.submit(analyze_one, str(it.path), it.key, cfg, pose, None if out_p is None else str(out_p),
                                angles): it
                for it in todo}
            for fut in as_completed(futures):
                it = futures[fut]
                try:
                    r = fut.result()
                except OutputError:
                    for f in futures:
                        f.cancel()
                    raise
                except Exception as e:  # noqa: BLE001  a worker that died: reported, the rest go on
                    r = SessionResult(it.key, str(it.path), "error", f"{it.path}: the worker failed ({e!r})")
                results[it.key] = r
                done += 1
                if on_result:
                    on_result(r, done, len(items))
    finally:
        close()
    return [results[it.key] for it in items]


def tables(results: list[SessionResult]):  # -> tuple[pandas.DataFrame, pandas.DataFrame]
    """The ``sessions`` table (one row per recording, data quality, calibration, totals, sidecar
    metadata) and the ``reps`` table (one row per rep, with its label confidence), sorted by key."""
    import pandas as pd

    srows, rrows = [], []
    for r in sorted(results, key=lambda r: r.key):
        row: dict[str, Any] = {"key": r.key, "recording": r.path, "status": "ok" if r.status == "reused" else r.status,
                               "error": r.error}
        d = r.summary
        if d is not None:
            t, q, cal = d["totals"], d["data_quality"], d["calibration"]
            row.update({"exercise": d["exercise"], "duration_s": d["duration_s"],
                        "angles_coverage": d["angles_coverage"],
                        "calibration_confidence": cal["confidence"], "pose_source": cal["pose_source"],
                        "start_pose_s": cal["neutral_s"],
                        **{k: v for k, v in t.items() if isinstance(v, (int, float)) or v is None},
                        "outages": len(q["gaps"]), "outage_s": round(sum(g["duration_s"] for g in q["gaps"]), 3),
                        "suspected_clock_offset_s": q.get("suspected_clock_offset_s"),
                        "not_exercise_s": round(sum(x["end_s"] - x["start_s"]
                                                    for x in d.get("exercise_set", {}).get("not_exercise", [])), 2),
                        "warnings": len(d["warnings"])})
            for s, sq in q["sensors"].items():
                row.update({f"{s}_coverage": sq["coverage"], f"{s}_rate_hz": sq["rate_hz"],
                            f"{s}_effective_rate_hz": sq["effective_rate_hz"]})
            for rep in d["reps"]:
                rrows.append({"key": r.key, **{k: (";".join(v) if isinstance(v, list) else v)
                                               for k, v in rep.items() if k != "decided_by"}})
        row.update(r.meta)
        srows.append(row)
    return pd.DataFrame(srows), pd.DataFrame(rrows)


def write_tables(out: Path, sessions, reps) -> list[Path]:  # noqa: ANN001 (pandas DataFrames)
    """``sessions`` and ``reps`` as Parquet (pyarrow) and CSV in ``out``, each replaced whole."""
    from imu_pipeline.report.files import replacing

    written = []
    for name, df in (("sessions", sessions), ("reps", reps)):
        with replacing(out / f"{name}.csv", what="table") as tmp:
            df.to_csv(tmp, index=False)
        written.append(out / f"{name}.csv")
        with replacing(out / f"{name}.parquet", what="table") as tmp:
            df.to_parquet(tmp, index=False, engine="pyarrow")
        written.append(out / f"{name}.parquet")
    return written
