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


def discover(inputs: Iterable[str | Path], out: str | Path | None = None,
             warn: Callable[[str], None] | None = None) -> list[BatchItem]:
    """The recordings under ``inputs`` (files, or folders searched recursively), each once, keyed by
    its path relative to its input folder (a file given by itself: its name). Hidden folders,
    virtual environments, the output folder and output files (truth, angles, tables) are skipped.

    Where two inputs give the same key (``siteA/p1/s1.csv`` and ``siteB/p1/s1.csv`` from the inputs
    ``siteA siteB``; ``patientA/s1.csv patientB/s1.csv`` given as files), every key of those inputs
    starts with the input's own name (``siteA/p1/s1``, ``siteB/p1/s1``), so a key names the same
    recording whatever the order of the inputs (a re-run with the inputs reordered must not serve
    one site's summary for the other's recording); only inputs that also share that name are
    numbered (``-2``). ``warn`` is told about an input folder with no recording in it (when others
    have some).

    Raises
    ------
    UsageError
        An input that does not exist, or no recording at all.
    """
    inputs = list(inputs)
    out_r = Path(out).resolve() if out is not None else None
    seen_paths: set[Path] = set()
    groups: list[tuple[str, list[BatchItem]]] = []  # (the input's name, its recordings)
    empty = []
    for item in inputs:
        p = Path(item)
        found: list[BatchItem] = []
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                d = Path(dirpath)
                dirnames[:] = sorted(n for n in dirnames if not _skipped_dir(d / n, out_r))
                for name in sorted(filenames):
                    if name.endswith(".csv") and not name.endswith(NOT_RECORDINGS) and name not in TABLE_NAMES:
                        f = d / name
                        if f.resolve() not in seen_paths:
                            seen_paths.add(f.resolve())
                            found.append(BatchItem(f, f.relative_to(p).with_suffix("").as_posix()))
            if not found:
                empty.append(str(p))
            label = p.resolve().name
        elif p.exists():  # a file (or a named pipe) given by itself
            if p.resolve() not in seen_paths:
                seen_paths.add(p.resolve())
                found.append(BatchItem(p, p.with_suffix("").name))
            label = p.resolve().parent.name
        else:
            raise UsageError(f"{p}: no such file or directory")
        groups.append((label, found))
    if not any(found for _, found in groups):
        raise UsageError("no recordings (.csv) found in " + ", ".join(str(i) for i in inputs))
    if warn is not None:
        for e in empty:
            warn(f"{e}: no recordings (.csv) in this folder")
    owners: dict[str, set[int]] = {}
    for g, (_, found) in enumerate(groups):
        for it in found:
            owners.setdefault(it.key, set()).add(g)
    clashing = {g for gs in owners.values() if len(gs) > 1 for g in gs}
    for g in sorted(clashing):
        label, found = groups[g]
        for it in found:
            it.key = f"{label}/{it.key}" if label else it.key
    result = [it for _, found in groups for it in found]
    seen: dict[str, int] = {}
    for it in result:  # still the same key (two inputs with the same name): numbered
        n = seen[it.key] = seen.get(it.key, 0) + 1
        if n > 1:
            it.key = f"{it.key}-{n}"
    return result


def summary_path(out: Path, key: str) -> Path:
    return out / f"{key}.summary.json"


def up_to_date(item: BatchItem, out: Path, cfg: PipelineConfig | None = None, pose: str | None = None) -> bool:
    """A summary from an earlier run that is newer than the recording and its sidecar, made from
    this very recording (not another one that had the same key in that run), with the same config
    and the same ``--pose`` (or none)."""
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
    try:
        same_file = Path(d["recording"]).resolve() == item.path.resolve()
    except (KeyError, TypeError, OSError):
        same_file = False
    if not same_file:
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


def _ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the main process (a terminal sends it to every process of
    the job): it stops handing out sessions, lets the ones under way finish and writes the tables."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_executor(jobs: int, scheduler: str | None) -> tuple[Executor | None, Callable[[], None]]:
    """The executor for ``jobs`` local processes (None: inline) or a Dask ``scheduler`` address, and
    how to close it. A scheduler is connected to here (a bad address is a :class:`UsageError`)."""
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
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_ignore_sigint)
    return pool, lambda: pool.shutdown(wait=True, cancel_futures=True)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run`. ``results`` are the sessions that finished (reused ones included),
    in the items' order — their summaries are written; ``total`` is how many were asked for. Left
    uncaught it is a plain KeyboardInterrupt."""

    def __init__(self, results: list[SessionResult], total: int) -> None:
        super().__init__(f"interrupted after {len(results)} of {total} sessions")
        self.results = results
        self.total = total


def _stop_workers(pool: ProcessPoolExecutor, out: str | None) -> None:
    """Stop a process pool's workers now (a second Ctrl-C while sessions were under way) and remove
    the temporary files they were writing (a summary is renamed into place only when complete)."""
    procs = dict(getattr(pool, "_processes", None) or {})  # pid -> process; there is no public way
    for proc in procs.values():
        proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    if out is not None and Path(out).is_dir():
        from imu_pipeline.report.files import remove_quietly

        for pid in procs:
            for tmp in Path(out).rglob(f".*.{pid}-*.tmp"):
                remove_quietly(tmp)


def run(items: list[BatchItem], *, cfg: PipelineConfig | None = None, pose: str | None = None,
        out: str | Path | None = None, jobs: int = 1, scheduler: str | None = None, force: bool = False,
        angles: bool = False, executor: Executor | None = None,
        on_result: Callable[[SessionResult, int, int], None] | None = None,
        on_interrupt: Callable[[int], None] | None = None) -> list[SessionResult]:
    """Analyse ``items`` (see the module docstring); results in the items' order.

    ``on_result(result, done, total)`` is called as each finishes (progress). With ``out``, a
    recording whose summary there is newer than it is reused unless ``force`` (or ``angles`` is
    asked and its angles are not there yet); ``angles`` also writes each session's per-sample angles
    into the partitioned Parquet dataset ``OUT/angles`` (:func:`angles_path`). ``executor``: one
    made beforehand with :func:`make_executor` (the command line connects to ``--scheduler`` before
    it creates the output folder), used instead of ``jobs``/``scheduler`` and not closed here.
    Recordings are analysed by their absolute paths (so each summary names its recording whatever
    the working folder), and ``out`` is absolute for a cluster's workers (they do not share this
    process's working folder; the folders must be reachable under the same path there).

    Ctrl-C stops handing out sessions; on a local process pool the sessions under way are waited for
    (``on_interrupt(n_under_way)`` is told first; a second Ctrl-C stops them at once, and they are
    lost), then :class:`BatchInterrupted` carries the sessions that finished.
    """
    cfg = cfg or PipelineConfig()
    out_p = Path(out) if out is not None else None
    results: dict[str, SessionResult] = {}
    reused, todo = [], []
    for it in items:
        if out_p is not None and not force and up_to_date(it, out_p, cfg, pose) and \
                (not angles or angles_path(out_p, it.key).exists()):
            reused.append(_reused(it, out_p))
        else:
            todo.append(it)
    done = 0

    def finished(r: SessionResult) -> None:
        nonlocal done
        results[r.key] = r
        done += 1
        if on_result:
            on_result(r, done, len(items))

    for r in reused:
        finished(r)
    close: Callable[[], None] = lambda: None  # noqa: E731
    if executor is None:
        executor, close = make_executor(jobs, scheduler)
    # The recording by its absolute path: the summary names it so (a re-run from another folder
    # still finds it up to date), and a cluster's workers do not share this process's working
    # folder (``out`` is absolute for them too; locally it stays as given, for the messages).
    remote = executor is not None and not isinstance(executor, ProcessPoolExecutor)
    out_arg = None if out_p is None else str(out_p.resolve()) if remote else str(out_p)
    futures: dict[Future, BatchItem] = {}
    try:
        if executor is None:
            for it in todo:
                finished(_as_given(analyze_one(str(it.path.resolve()), it.key, cfg, pose, out_arg, angles), it))
        else:
            futures = {executor.submit(analyze_one, str(it.path.resolve()), it.key, cfg, pose, out_arg, angles): it
                       for it in todo}
            for fut in as_completed(futures):
                finished(_outcome(fut, futures[fut], futures))
    except KeyboardInterrupt:
        for f in futures:
            f.cancel()
        for f, it in futures.items():  # finished before the Ctrl-C but not yet collected
            if it.key not in results and f.done() and not f.cancelled():
                finished(_outcome(f, it, futures))
        under_way = {f: it for f, it in futures.items() if not f.done()}
        if under_way and isinstance(executor, ProcessPoolExecutor):
            if on_interrupt:
                on_interrupt(len(under_way))
            try:
                for f in as_completed(under_way):
                    if not f.cancelled():
                        finished(_outcome(f, under_way[f], futures))
            except KeyboardInterrupt:
                _stop_workers(executor, out_arg)
        raise BatchInterrupted([results[it.key] for it in items if it.key in results], len(items)) from None
    finally:
        close()
    return [results[it.key] for it in items]


def _as_given(r: SessionResult, it: BatchItem) -> SessionResult:
    """The recording named as the user gave it (it was analysed by its absolute path)."""
    given = str(it.path)
    r.error = r.error.replace(str(it.path.resolve()), given)
    r.path = given
    return r


def _outcome(fut: Future, it: BatchItem, futures: dict[Future, BatchItem]) -> SessionResult:
    """The result of one finished future; an OutputError (the output folder, not the recording)
    cancels the rest and is raised."""
    try:
        return _as_given(fut.result(), it)
    except OutputError:
        for f in futures:
            f.cancel()
        raise
    except Exception as e:  # noqa: BLE001  a worker that died: reported, the rest go on
        return SessionResult(it.key, str(it.path), "error", f"{it.path}: the worker failed ({e!r})")


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
