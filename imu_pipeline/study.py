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
import math
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, as_completed, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imu_pipeline.config import PipelineConfig
from imu_pipeline.errors import ImuPipelineError, OutputError, UsageError

#: Folders never searched, by name (besides hidden folders, virtual environments and the output folder).
SKIP_DIR_NAMES = ("__pycache__", "node_modules", "site-packages")
#: Endings of the files our own commands write beside recordings (simulate, analyze --angles): skipped
#: unless their first line is the recording header after all.
OUTPUT_ENDINGS = {".truth.csv": "truth", ".angles.csv": "angles"}
#: The names of the batch tables (skipped unless their first line is the recording header).
TABLE_NAMES = ("sessions.csv", "reps.csv")
#: Why something was skipped -> how the closing note counts it (one, several).
SKIP_REASONS = {
    "output": ("the output folder", "output folders"),
    "hidden": ("hidden folder", "hidden folders"),
    "venv": ("virtual environment", "virtual environments"),
    "__pycache__": ("__pycache__ folder", "__pycache__ folders"),
    "node_modules": ("node_modules folder", "node_modules folders"),
    "site-packages": ("site-packages folder", "site-packages folders"),
    "link": ("link to a folder (links are not followed)", "links to folders (links are not followed)"),
    "unreadable": ("folder that could not be read", "folders that could not be read"),
    "truth": ("simulator truth file", "simulator truth files"),
    "angles": ("angles CSV", "angles CSVs"),
    "table": ("batch table (sessions.csv, reps.csv)", "batch tables (sessions.csv, reps.csv)"),
}


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


def _skip_reason(d: Path, out: Path | None) -> str | None:
    """Why the folder ``d`` is not searched (None: it is)."""
    if out is not None and _resolved(d) == out:
        return "output"
    if d.name.startswith("."):
        return "hidden"
    if d.name in SKIP_DIR_NAMES:
        return d.name
    if d.is_symlink():
        return "link"
    if (d / "pyvenv.cfg").exists() or (d / "conda-meta").is_dir():
        return "venv"
    return None


def _holds_a_recording(f: Path) -> bool:
    """Whether the first line of ``f`` is the format v1 header: a recording, whatever its name."""
    from imu_pipeline.io.recording import CSV_COLUMNS

    try:
        if not f.is_file():
            return True  # a named pipe or the like: not one of our outputs
        with open(f, "rb") as fh:
            head = fh.readline(4096)
    except OSError:
        return True  # analysed, so that the reason it cannot be read is reported
    fields = {h.strip() for h in head.decode("utf-8-sig", "replace").strip().split(",")}
    return set(CSV_COLUMNS) <= fields


def _output_file_reason(f: Path) -> str | None:
    """Why the .csv file ``f`` is not a recording: one of our own outputs (a simulator truth file, an
    angles CSV, a batch table) by its name *and* its content (None: it is taken as a recording)."""
    why = next((w for end, w in OUTPUT_ENDINGS.items() if f.name.endswith(end)), None)
    if why is None and f.name in TABLE_NAMES:
        why = "table"
    if why is None or _holds_a_recording(f):
        return None
    return why


def _resolved(p: Path) -> Path:
    try:
        return p.resolve()
    except OSError:
        return Path(os.path.abspath(p))


def skipped_note(skipped: Counter) -> str:
    """``skipped: 2 hidden folders, 1 virtual environment, ...`` ('' when nothing was skipped)."""
    parts = []
    for reason, (one, several) in SKIP_REASONS.items():
        n = skipped.get(reason, 0)
        if n:
            parts.append(one if reason == "output" and n == 1 else f"{n} {one if n == 1 else several}")
    return "skipped: " + ", ".join(parts) if parts else ""


@dataclass
class _Input:
    """One input as given: its recordings (path as found, resolved path, key relative to the input),
    ``depth`` (the outermost input owns a recording several inputs reach) and ``anchor``, the folder
    whose trailing parts name the input where its keys clash with another input's."""

    given: Path
    is_dir: bool
    anchor: Path
    depth: int
    files: list[tuple[Path, Path, str]]


def discover(inputs: Iterable[str | Path], out: str | Path | None = None,
             warn: Callable[[str], None] | None = None, skipped: Counter | None = None) -> list[BatchItem]:
    """The recordings under ``inputs`` (files, or folders searched recursively), each once, keyed by
    its path relative to its input folder (a file given by itself: its name without ``.csv``).

    Skipped: hidden folders, virtual environments (a ``pyvenv.cfg`` or ``conda-meta`` inside),
    ``__pycache__``, ``node_modules`` and ``site-packages`` folders, links to folders, the output
    folder, and our own output files — a simulator truth file, an angles CSV, a batch table — when
    their first line is not the recording header (a recording named ``sessions.csv`` is analysed).
    ``skipped`` (a Counter), when given, counts them by reason (:data:`SKIP_REASONS`,
    :func:`skipped_note`).

    A recording reached through several inputs (``study study/subjA``) belongs to the outermost one
    and is analysed once; ``warn`` is told about an input that is covered so, and about an input
    folder with no recording in it (when others have some).

    Where inputs give the same key (``siteA/p1/s1.csv`` and ``siteB/p1/s1.csv`` from the inputs
    ``siteA siteB``; ``st5/subjA/s1.csv`` and ``st6/subjA/s1.csv`` from ``st5/subjA st6/subjA``),
    every key of those inputs starts with the shortest trailing part of the input's path that tells
    them apart (``siteA/p1/s1``, ``siteB/p1/s1``; ``st5/subjA/s1``, ``st6/subjA/s1``): a key names
    the same recording whatever the order of the inputs, and never gets a made-up suffix that a real
    file name could have.

    Raises
    ------
    UsageError
        An input that does not exist, or no recording at all.
    """
    inputs = list(inputs)
    out_r = _resolved(Path(out)) if out is not None else None
    skips: dict[Path, str] = {}  # by absolute path: an overlap of two inputs counts once

    def unreadable(e: OSError) -> None:
        if e.filename:
            skips.setdefault(Path(os.path.abspath(e.filename)), "unreadable")

    parsed: list[_Input] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = []
            for dirpath, dirnames, filenames in os.walk(p, onerror=unreadable):
                d = Path(dirpath)
                keep = []
                for n in sorted(dirnames):
                    why = _skip_reason(d / n, out_r)
                    if why is None:
                        keep.append(n)
                    else:
                        skips[Path(os.path.abspath(d / n))] = why
                dirnames[:] = keep
                for name in sorted(filenames):
                    if not name.endswith(".csv"):
                        continue
                    f = d / name
                    why = _output_file_reason(f)
                    if why is None:
                        files.append((f, _resolved(f), f.relative_to(p).with_suffix("").as_posix()))
                    else:
                        skips[Path(os.path.abspath(f))] = why
            root = _resolved(p)
            parsed.append(_Input(p, True, root, len(root.parts), files))
        elif p.exists():  # a file (or a named pipe) given by itself
            r = _resolved(p)
            key = p.name[:-4] if p.name.endswith(".csv") else p.name
            parsed.append(_Input(p, False, r.parent, len(r.parts), [(p, r, key)]))
        else:
            raise UsageError(f"{p}: no such file or directory")
    if skipped is not None:
        skipped.update(skips.values())
    owner: dict[Path, int] = {}  # a recording reached by several inputs belongs to the outermost one
    for i, inp in enumerate(parsed):
        for _, r, _ in inp.files:
            j = owner.get(r)
            if j is None or inp.depth < parsed[j].depth:
                owner[r] = i
    groups: list[list[tuple[Path, str]]] = []
    notes = []
    for i, inp in enumerate(parsed):
        mine, seen = [], set()
        for f, r, key in inp.files:
            if owner[r] == i and r not in seen:
                seen.add(r)
                mine.append((f, key))
        groups.append(mine)
        if inp.is_dir and not inp.files:
            notes.append(f"{inp.given}: no recordings (.csv) in this folder")
        elif len(mine) < len(inp.files):
            by = parsed[next(owner[r] for _, r, _ in inp.files if owner[r] != i)].given
            if by == inp.given or _resolved(by) == _resolved(inp.given):
                notes.append(f"{inp.given}: given more than once; its recordings are analysed once")
            elif not mine:
                notes.append(f"{inp.given}: already covered by the input {by} (its recordings are analysed "
                             "once, keyed under that input)")
            else:
                notes.append(f"{inp.given}: {len(inp.files) - len(mine)} of its {len(inp.files)} recordings are "
                             f"already covered by the input {by} (analysed once, keyed under that input)")
    if not any(groups):
        note = skipped_note(Counter(skips.values()))
        raise UsageError("no recordings (.csv) found in " + ", ".join(str(i) for i in inputs)
                         + (f" ({note})" if note else ""))
    if warn is not None:
        for n in notes:
            warn(n)
    items = _keyed(parsed, groups)
    check_unique_keys(items)
    return items


def _keyed(parsed: list[_Input], groups: list[list[tuple[Path, str]]]) -> list[BatchItem]:
    """The items with their final keys: the inputs whose keys clash get the shortest trailing part
    of their path that tells them apart as a prefix (lengthened until no key clashes)."""
    level = [0] * len(parsed)
    parts = [inp.anchor.parts[1:] for inp in parsed]  # without the root ('/', 'C:\\')

    def keys(i: int) -> list[str]:
        prefix = "/".join(parts[i][len(parts[i]) - level[i]:]) if level[i] else ""
        return [f"{prefix}/{key}" if prefix else key for _, key in groups[i]]

    while True:
        users: dict[str, set[int]] = {}
        for i in range(len(parsed)):
            for k in keys(i):
                users.setdefault(k, set()).add(i)
        clashing = {i for us in users.values() if len(us) > 1 for i in us}
        longer = [i for i in sorted(clashing) if level[i] < len(parts[i])]
        if not longer:
            break  # no clash left (or none that a longer prefix could resolve: check_unique_keys says so)
        for i in longer:
            level[i] += 1
    return [BatchItem(f, k) for i in range(len(parsed)) for (f, _), k in zip(groups[i], keys(i))]


def check_unique_keys(items: list[BatchItem]) -> None:
    """Every key once: two recordings with one key would share (and overwrite) one summary. Keys come
    from :func:`discover`, which makes them unique, so a clash is a bug here, not the user's error."""
    seen: dict[str, Path] = {}
    for it in items:
        if it.key in seen:
            raise RuntimeError(f"internal error: the recordings {seen[it.key]} and {it.path} got the same key "
                               f"{it.key!r}; please report this")
        seen[it.key] = it.path


def check_jobs(jobs: Any) -> None:
    """The number of local processes: a whole number, at least 1 (the command line and the API say
    the same)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")


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


#: Sidecar keys that describe the recording itself, not the subject or the session: not in the tables.
NOT_META = frozenset({"format", "version", "sensors", "events"})


def _scalar(v: Any) -> bool:
    return isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


def _meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The sidecar's own keys for the tables (all but :data:`NOT_META`): ``meta_<key>`` for a text,
    number or true/false value, and one level of an object flattened (``participant: {age: 30}`` ->
    ``meta_participant_age``); lists, deeper objects and nulls are left out."""
    out: dict[str, Any] = {}
    for k, v in meta.items():
        if k in NOT_META:
            continue
        if _scalar(v):
            out.setdefault(f"meta_{k}", v)
        elif isinstance(v, dict):
            for k2, v2 in v.items():
                if _scalar(v2):
                    out.setdefault(f"meta_{k}_{k2}", v2)
    return out


def _sidecar_meta(recording: Path) -> dict[str, Any]:
    """:func:`_meta` of the sidecar beside ``recording`` ({} when there is none or it is not an object)."""
    side = recording.with_suffix(".json")
    try:
        d = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
    except (OSError, ValueError):
        return {}
    return _meta(d) if isinstance(d, dict) else {}


def _reused(item: BatchItem, out: Path) -> SessionResult:
    d = json.loads(summary_path(out, item.key).read_text(encoding="utf-8"))
    return SessionResult(item.key, str(item.path), "reused", "", d, _sidecar_meta(item.path))


def _retire(out: Path, key: str, summary: bool = True) -> None:
    """A session that failed this time: its summary from an earlier run is renamed
    ``<key>.summary.json.stale`` and its angles partition removed, so that nothing in ``out``
    contradicts the tables (``summary=False``: only the angles, for a session analysed again without
    ``angles``: they came from an earlier analysis)."""
    import shutil

    if summary:
        s = summary_path(out, key)
        if s.is_file():
            try:
                os.replace(s, s.with_name(s.name + ".stale"))
            except OSError as e:
                raise OutputError(f"cannot rename the outdated summary {s} to {s.name}.stale: {e.strerror or e}") \
                    from None
    part = angles_path(out, key).parent
    if part.is_dir():
        shutil.rmtree(part, ignore_errors=True)


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
    into the partitioned Parquet dataset ``OUT/angles`` (:func:`angles_path`). A session that fails
    has its summary from an earlier run renamed ``.stale`` and its angles removed (:func:`_retire`).
    ``executor``: one made beforehand with :func:`make_executor` (the command line connects to
    ``--scheduler`` before it creates the output folder), used instead of ``jobs``/``scheduler`` and
    not closed here. Recordings are analysed by their absolute paths (so each summary names its
    recording whatever the working folder), and ``out`` is absolute for a cluster's workers (they do
    not share this process's working folder; the folders must be reachable under the same path there).

    A local process pool is handed only as many sessions as it has processes, so those under way
    are the ones really running. Ctrl-C stops handing out sessions; on a local process pool the
    sessions under way are waited for (``on_interrupt(n_under_way)`` is told first; a second Ctrl-C
    at any point stops them at once: they are lost unless their summary was already complete), then
    :class:`BatchInterrupted` carries the sessions that finished — unless they were all the sessions
    left, and every result is returned as usual.
    """
    check_jobs(jobs)
    check_unique_keys(items)
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
        if out_p is not None and (r.status == "error" or (r.status == "ok" and not angles)):
            _retire(out_p, r.key, summary=r.status == "error")  # nothing in out that the tables contradict
        if r.status == "error":
            r.meta = _sidecar_meta(Path(r.path))
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
    local = isinstance(executor, ProcessPoolExecutor)
    remote = executor is not None and not local
    out_arg = None if out_p is None else str(out_p.resolve()) if remote else str(out_p)
    # a local pool gets one session per process at a time: a session handed over is one being worked on
    window = max(1, getattr(executor, "_max_workers", jobs)) if local else len(todo)
    futures: dict[Future, BatchItem] = {}
    try:
        if executor is None:
            for it in todo:
                finished(_as_given(analyze_one(str(it.path.resolve()), it.key, cfg, pose, out_arg, angles), it))
        else:
            waiting = list(reversed(todo))
            active: set[Future] = set()
            order = {it.key: i for i, it in enumerate(items)}

            def top_up() -> None:  # a Ctrl-C meanwhile waits: every session handed over is tracked
                with _sigint_deferred():
                    while waiting and len(active) < window:
                        it = waiting[-1]
                        fut = executor.submit(analyze_one, str(it.path.resolve()), it.key, cfg, pose, out_arg,
                                              angles)
                        futures[fut] = it
                        active.add(fut)
                        waiting.pop()

            top_up()
            while active:
                ready, _ = wait(active, return_when=FIRST_COMPLETED)
                active.difference_update(ready)
                top_up()  # before reporting: a session reported finished has its successor under way already
                for fut in sorted(ready, key=lambda f: order[futures[f].key]):
                    finished(_outcome(fut, futures[fut], futures))
    except KeyboardInterrupt:
        _after_interrupt(futures, results, finished, local, executor, out_p, out_arg, cfg, pose, angles,
                         on_interrupt)
        if len(results) < len(items):
            raise BatchInterrupted([results[it.key] for it in items if it.key in results], len(items)) from None
    finally:
        close()
    return [results[it.key] for it in items]


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Ctrl-C held back for the few statements inside (and raised as KeyboardInterrupt right after),
    so that a session handed to the executor is always in the bookkeeping (a Ctrl-C between the two
    left it running unseen, and closing the pool then waited for it). Only in the main thread with
    Python's own Ctrl-C handler; elsewhere a plain block."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    got: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if got:
            raise KeyboardInterrupt


def _after_interrupt(futures: dict[Future, BatchItem], results: dict[str, SessionResult],
                     finished: Callable[[SessionResult], None], local: bool, executor: Executor | None,
                     out_p: Path | None, out_arg: str | None, cfg: PipelineConfig, pose: str | None, angles: bool,
                     on_interrupt: Callable[[int], None] | None) -> None:
    """The first Ctrl-C: nothing more is handed out; the sessions that finished are collected and,
    on a local pool, the ones under way waited for. A second Ctrl-C anywhere in here (even while
    ``on_interrupt`` prints its note) stops those at once; a session stopped after its summary was
    complete counts as finished (its summary is on disk, so it is in the tables too)."""

    def collect() -> None:  # finished but not yet collected (never waits)
        for f, it in futures.items():
            if it.key not in results and f.done() and not f.cancelled():
                finished(_outcome(f, it, futures))

    under_way: dict[Future, BatchItem] = {}
    try:
        for f in futures:
            f.cancel()
        collect()
        under_way = {f: it for f, it in futures.items() if not f.done()}
        if under_way and local:
            if on_interrupt:
                on_interrupt(len(under_way))
            for f in as_completed(under_way):
                if not f.cancelled() and under_way[f].key not in results:
                    finished(_outcome(f, under_way[f], futures))
    except KeyboardInterrupt:
        if not local:
            return
        collect()
        _stop_workers(executor, out_arg)  # type: ignore[arg-type]
        for it in futures.values():
            if it.key not in results and out_p is not None and up_to_date(it, out_p, cfg, pose) and \
                    (not angles or angles_path(out_p, it.key).exists()):
                r = _reused(it, out_p)
                r.status = "ok"
                finished(r)


_BARE_NAME = r"(?<![\w./\\-]){}(?=[:,])"


def _name_once(text: str, it: BatchItem) -> str:
    """An error text naming the recording as the user gave it, once, at the start: the absolute path
    it was analysed by (and its folder, for the sidecar) becomes the given one, a bare file name the
    given path, and the later repetitions of that path as a prefix are dropped
    (``s1.csv: ... (s1.csv: no moment ...)`` -> ``study/s1.csv: ... (no moment ...)``)."""
    given = str(it.path)
    absolute = _resolved(it.path)
    t = text.replace(str(absolute), given)
    folder = str(it.path.parent)
    t = t.replace(str(absolute.parent) + os.sep, "" if folder == "." else folder + os.sep)
    t = re.sub(_BARE_NAME.format(re.escape(it.path.name)), lambda m: given, t)
    if not t.startswith(given):
        t = f"{given}: {t}"
    return given + t[len(given):].replace(f"{given}: ", "")


def _as_given(r: SessionResult, it: BatchItem) -> SessionResult:
    """The recording named as the user gave it (it was analysed by its absolute path)."""
    if r.error:
        r.error = _name_once(r.error, it)
    r.path = str(it.path)
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


def session_warnings(r: SessionResult) -> list[str]:
    """The summary's warnings without the recording's path in front (the row and the progress line
    already name the session): ``line 287 is cut off (...)``."""
    if r.summary is None:
        return []
    names = {str(r.summary.get("recording", "")), str(_resolved(Path(r.path))), r.path, Path(r.path).name}
    out = []
    for w in r.summary.get("warnings", []):
        for n in sorted((n for n in names if n), key=len, reverse=True):
            if w.startswith(n + ": "):
                w = w[len(n) + 2:]
                break
        out.append(w)
    return out


#: The sessions table: column -> pandas dtype, the same whatever the data (docs/batch-tables.md).
#: ``meta_*`` columns (the sidecars' own keys) follow these.
SESSION_COLUMNS: dict[str, str] = {
    "key": "string", "recording": "string", "status": "string", "error": "string",
    "exercise": "string", "duration_s": "float64", "angles_coverage": "float64",
    "calibration_confidence": "string", "pose_source": "string", "start_pose_s": "float64",
    "reps": "Int64", "abdominal_engaging": "Int64", "hip_flexor_only": "Int64", "unlabelled": "Int64",
    "low_confidence_labels": "Int64", "partial": "Int64", "momentum": "Int64", "controlled": "Int64",
    "back_arch": "Int64", "median_concentric_s": "float64", "median_eccentric_s": "float64",
    "median_peak_hip_flexion_deg": "float64",
    "outages": "Int64", "outage_s": "float64", "suspected_clock_offset_s": "float64", "not_exercise_s": "float64",
    "warnings": "Int64", "warnings_text": "string",
    **{f"{s}_{c}": "float64" for s in ("thigh", "pelvis") for c in ("coverage", "rate_hz", "effective_rate_hz")},
}
#: The columns of the sessions table taken from the summary's ``totals``.
TOTALS_COLUMNS = ("reps", "abdominal_engaging", "hip_flexor_only", "unlabelled", "low_confidence_labels", "partial",
                  "momentum", "controlled", "back_arch", "median_concentric_s", "median_eccentric_s",
                  "median_peak_hip_flexion_deg")
#: The reps table: column -> pandas dtype (every key of a summary's rep but ``decided_by``).
REP_COLUMNS: dict[str, str] = {
    "key": "string", "index": "Int64", "start_s": "float64", "peak_s": "float64", "end_s": "float64",
    "label": "string", "momentum": "boolean", "momentum_reasons": "string", "back_arch": "boolean",
    "peak_hip_flexion_deg": "float64", "thigh_elevation_at_peak_deg": "float64", "peak_posterior_tilt_deg": "float64",
    "hip_at_peak_tilt_deg": "float64", "tilt_onset_hip_deg": "float64", "peak_anterior_tilt_low_deg": "float64",
    "concentric_s": "float64", "top_s": "float64", "eccentric_s": "float64", "pause_before_next_s": "float64",
    "peak_rate_up_deg_s": "float64", "peak_rate_down_deg_s": "float64", "sparc_up": "float64", "sparc_down": "float64",
    "swing_amplitude_deg": "float64", "swing_after_amplitude_deg": "float64", "ended_by": "string",
    "has_gap": "boolean", "pelvis_coverage": "float64", "thigh_coverage": "float64", "label_confidence": "string",
    "partial": "boolean",
}


def _meta_dtype(values: list[Any]) -> str:
    """A ``meta_*`` column's dtype from the sidecars' JSON types: boolean if every value is true or
    false, Int64 if every one is a whole number, float64 if every one is a number, else string."""
    vs = [v for v in values if v is not None]
    if vs and all(isinstance(v, bool) for v in vs):
        return "boolean"
    if vs and all(isinstance(v, int) and not isinstance(v, bool) for v in vs):
        return "Int64"
    if vs and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vs):
        return "float64"
    return "string"


def _frame(rows: list[dict[str, Any]], dtypes: dict[str, str]):  # -> pandas.DataFrame
    import pandas as pd

    df = pd.DataFrame(rows, columns=list(dtypes), dtype=object)
    for c, t in dtypes.items():
        if t == "string":
            df[c] = [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in df[c]]
        df[c] = df[c].astype(t)
    return df


def tables(results: list[SessionResult]):  # -> tuple[pandas.DataFrame, pandas.DataFrame]
    """The ``sessions`` table (one row per recording, data quality, calibration, totals, warnings,
    sidecar metadata) and the ``reps`` table (one row per rep, with its label confidence), sorted by
    key, with the columns and dtypes of :data:`SESSION_COLUMNS` (then the ``meta_*`` columns, by
    name) and :data:`REP_COLUMNS` whatever the data (docs/batch-tables.md)."""
    srows, rrows = [], []
    for r in sorted(results, key=lambda r: r.key):
        row: dict[str, Any] = {"key": r.key, "recording": r.path, "status": "ok" if r.status == "reused" else r.status,
                               "error": r.error or None}
        d = r.summary
        if d is not None:
            t, q, cal = d["totals"], d["data_quality"], d["calibration"]
            warnings = session_warnings(r)
            row.update({"exercise": d["exercise"], "duration_s": d["duration_s"],
                        "angles_coverage": d["angles_coverage"],
                        "calibration_confidence": cal["confidence"], "pose_source": cal["pose_source"],
                        "start_pose_s": cal["neutral_s"],
                        **{k: t.get(k) for k in TOTALS_COLUMNS},
                        "outages": len(q["gaps"]), "outage_s": round(sum(g["duration_s"] for g in q["gaps"]), 3),
                        "suspected_clock_offset_s": q.get("suspected_clock_offset_s"),
                        "not_exercise_s": round(sum(x["end_s"] - x["start_s"]
                                                    for x in d.get("exercise_set", {}).get("not_exercise", [])), 2),
                        "warnings": len(warnings), "warnings_text": "; ".join(warnings) or None})
            for s, sq in q["sensors"].items():
                row.update({f"{s}_coverage": sq["coverage"], f"{s}_rate_hz": sq["rate_hz"],
                            f"{s}_effective_rate_hz": sq["effective_rate_hz"]})
            for rep in d["reps"]:
                rrows.append({"key": r.key, **{k: (";".join(v) if isinstance(v, list) else v)
                                               for k, v in rep.items() if k != "decided_by"}})
        row.update(r.meta)
        srows.append(row)
    meta = sorted({k for row in srows for k in row if k.startswith("meta_")})
    sdtypes = {**SESSION_COLUMNS, **{k: _meta_dtype([row.get(k) for row in srows]) for k in meta}}
    return _frame(srows, sdtypes), _frame(rrows, REP_COLUMNS)


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


#: Endings that make ``--out`` look like a file name (a table), not the folder it is.
FILE_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".json", ".parquet", ".pq", ".xlsx", ".xls", ".feather",
                           ".arrow", ".h5", ".hdf5", ".pkl", ".pickle", ".zip", ".gz", ".tar", ".npz", ".npy"})


def check_out(out: Path) -> None:
    """``--out`` (``out=``) names the folder the summaries and tables go into: not an existing file,
    and not a name that looks like one (``--out results.csv`` would otherwise become a folder)."""
    what = "give a folder (created if missing) to receive the sessions and reps tables (.parquet and .csv) " \
           "and one summary per recording"
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; {what}")
    if not out.exists() and out.suffix.lower() in FILE_SUFFIXES:
        raise OutputError(f"--out {out} looks like a file name; {what}, e.g. --out {out.with_suffix('')}")
