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
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imu_pipeline.config import PipelineConfig
from imu_pipeline.errors import ImuPipelineError, OutputError, UsageError

#: Folders never searched, by name (besides hidden folders, virtual environments and the output folder).
SKIP_DIR_NAMES = ("__pycache__", "node_modules", "site-packages")
#: The header lines of the CSV files our own commands write (``simulate``'s truth, ``analyze --angles``,
#: the batch tables): such a file is skipped by its content, whatever its name.
TRUTH_HEADER = ("time_s", "hip_flexion_deg", "pelvic_tilt_deg")
ANGLES_HEADER = ("time_s", "hip_flexion_deg", "pelvic_tilt_deg", "thigh_angle_deg")
#: The file names of the batch tables in the output folder.
TABLE_FILES = ("sessions.parquet", "sessions.csv", "reps.parquet", "reps.csv")
#: The folder of the per-sample angles dataset in the output folder (``--angles``).
ANGLES_DIR = "angles"
#: Why something was skipped -> how the closing note counts it (one, several).
SKIP_REASONS = {
    "output": ("the output folder", "output folders"),
    "hidden": ("hidden folder", "hidden folders"),
    "hidden file": ("hidden file", "hidden files"),
    "venv": ("virtual environment", "virtual environments"),
    "__pycache__": ("__pycache__ folder", "__pycache__ folders"),
    "node_modules": ("node_modules folder", "node_modules folders"),
    "site-packages": ("site-packages folder", "site-packages folders"),
    "link": ("link to a folder (links are not followed)", "links to folders (links are not followed)"),
    "unreadable": ("folder that could not be read", "folders that could not be read"),
    "truth": ("simulator truth file", "simulator truth files"),
    "angles": ("angles CSV", "angles CSVs"),
    "table": ("batch table", "batch tables"),
}
#: How long ``--scheduler`` waits for a first worker when the scheduler has none (seconds).
WORKERS_WAIT_S = 60.0
#: How often the main process looks at its Ctrl-C / SIGTERM flags while sessions run (seconds).
POLL_S = 0.2


@dataclass
class BatchItem:
    """One recording: where it is and its key (its path relative to the input root, no suffix)."""

    path: Path
    key: str


@dataclass
class SessionResult:
    """What became of one recording: ``status`` 'ok', 'error' (with ``error``) or 'reused' (an
    up-to-date summary from an earlier run). ``meta`` are its ``meta_*`` columns and
    ``meta_warnings`` what was wrong with them (two sidecar keys making one column)."""

    key: str
    path: str
    status: str
    error: str = ""
    summary: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    meta_warnings: list[str] = field(default_factory=list)


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


def _is_csv(name: str) -> bool:
    """A recording's name ends with ``.csv`` in any case (``UP.CSV``), as ``analyze`` takes it."""
    return name.lower().endswith(".csv")


def _csv_kind(f: Path) -> str:
    """What the .csv file ``f`` is by its first line: 'recording' (the format v1 header), one of our
    own outputs ('truth', 'angles', 'table') or 'other' (analysed, so that why it is not a recording
    is reported; so is a file that cannot be read, or a named pipe)."""
    from imu_pipeline.io.recording import CSV_COLUMNS

    try:
        if not f.is_file():
            return "other"
        with open(f, "rb") as fh:
            head = fh.readline(65536)
    except OSError:
        return "other"
    fields = tuple(h.strip() for h in head.decode("utf-8-sig", "replace").strip().split(","))
    if set(CSV_COLUMNS) <= set(fields):
        return "recording"
    if fields == TRUTH_HEADER:
        return "truth"
    if fields == ANGLES_HEADER:
        return "angles"
    if fields == tuple(REP_COLUMNS) or (fields[:len(SESSION_COLUMNS)] == tuple(SESSION_COLUMNS)
                                        and all(c.startswith("meta_") for c in fields[len(SESSION_COLUMNS):])):
        return "table"
    return "other"


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
    its path relative to its input folder without the ``.csv`` ending, in any case (a file given by
    itself: its name without it).

    Skipped in folders: hidden folders and hidden files (``._s1.csv`` from macOS), virtual
    environments (a ``pyvenv.cfg`` or ``conda-meta`` inside), ``__pycache__``, ``node_modules`` and
    ``site-packages`` folders, links to folders, the output folder, and our own output files by their
    first line, whatever their name: a simulator truth file, an angles CSV (``analyze --angles``), a
    batch table (a recording named ``sessions.csv`` is analysed; any other CSV is analysed too, and
    fails with its reason). ``skipped`` (a Counter), when given, counts them by reason
    (:data:`SKIP_REASONS`, :func:`skipped_note`), each once however many inputs reach it.

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
        No input, an input that does not exist, no recording at all, or two recordings that differ
        only in the case of their ending (``s1.csv``, ``s1.CSV``: one key, one sidecar).
    """
    inputs = list(inputs)
    if not inputs:
        raise UsageError("no inputs given: give recording .csv files or folders to search")
    out_r = _resolved(Path(out)) if out is not None else None
    skips: dict[Path, str] = {}  # by real path: an overlap of two inputs (or a link to one) counts once

    def where(d: Path, name: str) -> Path:
        return _resolved(d) / name

    def unreadable(e: OSError) -> None:
        if e.filename:
            skips.setdefault(_resolved(Path(e.filename)), "unreadable")

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
                        skips[where(d, n)] = why
                dirnames[:] = keep
                for name in sorted(filenames):
                    if not _is_csv(name):
                        continue
                    f = d / name
                    why = "hidden file" if name.startswith(".") else _csv_kind(f)
                    if why in ("recording", "other"):
                        files.append((f, _resolved(f), f.relative_to(p).with_suffix("").as_posix()))
                    else:
                        skips[where(d, name)] = why
            root = _resolved(p)
            parsed.append(_Input(p, True, root, len(root.parts), files))
        elif p.exists():  # a file (or a named pipe) given by itself
            r = _resolved(p)
            key = p.name[:-4] if _is_csv(p.name) else p.name
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
    _check_ending_case(items)
    check_unique_keys(items)
    return items


def _check_ending_case(items: list[BatchItem]) -> None:
    """Two recordings whose paths differ only in the case of the ending (``s1.csv``, ``s1.CSV``) would
    share one key, one summary and one sidecar (``s1.json``): refused, naming both."""
    seen: dict[str, Path] = {}
    for it in items:
        other = seen.setdefault(it.key, it.path)
        if other is not it.path and other.with_suffix("") == it.path.with_suffix(""):
            raise UsageError(f"{other} and {it.path} differ only in the case of their ending: both would be keyed "
                             f"{it.key!r} and share one summary and the sidecar {it.path.with_suffix('.json')}; "
                             "rename one of them")


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


def _given(option: str, value: Any) -> str:
    """An option and its value as the user gave them: ``--out x`` on the command line, ``out='x'`` in
    Python (the API's messages name its own arguments)."""
    return f"{option} {value}" if option.startswith("--") else f"{option}={str(value)!r}"


def _flag(option: str) -> str:
    """`` (--jobs on the command line)`` after an argument of the API ('' for a command-line option)."""
    return "" if option.startswith("--") else f" (--{option} on the command line)"


def check_jobs(jobs: Any, option: str = "jobs") -> None:
    """The number of local processes: a whole number, at least 1. ``option`` names it in the message:
    ``--jobs`` for the command line, ``jobs`` (the default) for the API."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"{option} must be at least 1{_flag(option)}, got {jobs}")


def summary_path(out: Path, key: str) -> Path:
    return out / f"{key}.summary.json"


def _sha256(f: Path) -> str:
    import hashlib

    with open(f, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def source_fingerprint(recording: Path) -> dict[str, Any] | None:
    """The size and SHA-256 of a recording and of its sidecar (null when it has none), stored in its
    batch summary as ``source``: a summary is reused only for the very same bytes, whatever the
    files' modification times (``cp -p``, tar and rsync keep older ones). None for a file that is
    not a regular file (a named pipe) or cannot be read: never reused."""
    side = recording.with_suffix(".json")
    try:
        if not recording.is_file():
            return None
        fp: dict[str, Any] = {"recording_bytes": recording.stat().st_size, "recording_sha256": _sha256(recording),
                              "sidecar_bytes": None, "sidecar_sha256": None}
        if side.is_file():
            fp.update(sidecar_bytes=side.stat().st_size, sidecar_sha256=_sha256(side))
    except OSError:
        return None
    return fp


def _same_source(stored: Any, recording: Path) -> bool:
    """Whether ``stored`` (a summary's ``source``) is this recording and sidecar now; the sizes are
    compared first (no hashing for a file that grew)."""
    if not isinstance(stored, dict) or stored.get("recording_sha256") is None:
        return False
    side = recording.with_suffix(".json")
    try:
        if recording.stat().st_size != stored.get("recording_bytes") or \
                (side.stat().st_size if side.is_file() else None) != stored.get("sidecar_bytes"):
            return False
    except OSError:
        return False
    return source_fingerprint(recording) == stored


def up_to_date(item: BatchItem, out: Path, cfg: PipelineConfig | None = None, pose: str | None = None) -> bool:
    """A summary from an earlier run made from this very recording (its path, and the same size and
    SHA-256 of the recording and its sidecar: :func:`source_fingerprint`), with the same config and
    the same ``--pose`` (or none)."""
    from imu_pipeline.config import config_to_dict

    s = summary_path(out, item.key)
    try:
        d = json.loads(s.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(d, dict):
        return False
    try:
        same_file = Path(d["recording"]).resolve() == item.path.resolve()
    except (KeyError, TypeError, OSError):
        same_file = False
    if not same_file:
        return False
    cal = d.get("calibration")
    by_option = isinstance(cal, dict) and cal.get("pose_source") == "option"
    same_pose = (pose is None and not by_option) or (pose is not None and by_option and d.get("exercise") == pose)
    return same_pose and d.get("config") == config_to_dict(cfg or PipelineConfig()) and \
        _same_source(d.get("source"), item.path)


def angles_path(out: Path, key: str) -> Path:
    """Where a session's per-sample angles go in the partitioned Parquet dataset ``OUT/angles``
    (hive-style ``session=<key>``, '/' in the key written as '%2F' so each session is one partition)."""
    from urllib.parse import quote

    return out / ANGLES_DIR / f"session={quote(key, safe='')}" / "part-0.parquet"


def check_layout(items: list[BatchItem], out: Path, angles: bool = False, option: str = "out") -> None:
    """Before any analysis: no recording's summary ``OUT/<key>.summary.json`` may land where the run
    writes something else — in a folder named like a table (a study folder ``sessions.parquet``), in
    the angles dataset (a study folder ``angles`` with ``angles``), or where another recording's
    summary is (a folder ``s1.summary.json`` beside ``s1.csv``). Names are compared ignoring case (a
    case-insensitive disk would mix them up). ``option`` names ``--out``/``out`` in the message."""
    tables = {t.casefold() for t in TABLE_FILES}
    folders: dict[str, BatchItem] = {}  # every folder a summary goes into (casefolded) -> one item
    for it in items:
        parts = it.key.split("/")
        for i in range(1, len(parts)):
            folders.setdefault("/".join(parts[:i]).casefold(), it)

    def folder_of(it: BatchItem, level: int) -> str:
        try:
            return str(it.path.parents[len(it.key.split("/")) - 1 - level])
        except IndexError:
            return "/".join(it.key.split("/")[:level])

    for it in items:
        first = it.key.split("/")[0]
        if "/" in it.key and first.casefold() in tables:
            raise UsageError(f"the folder {folder_of(it, 1)} is named like the table {out / first} that the run "
                             f"writes: the summaries of its recordings would go into a folder of that name and the "
                             f"table could not be written; rename the folder, or give it as an input of its own")
        if angles and "/" in it.key and first.casefold() == ANGLES_DIR:
            ang = "--angles" if option.startswith("--") else "angles=True"
            raise UsageError(f"the folder {folder_of(it, 1)} is named like the angles dataset {out / ANGLES_DIR} that "
                             f"{ang} writes: the summaries of its recordings would go into that dataset and break it; "
                             f"rename the folder, give it as an input of its own, or leave out {ang}")
        for name in (f"{it.key}.summary.json", f"{it.key}.summary.json.stale"):
            other = folders.get(name.casefold())
            if other is not None:
                level = len(name.split("/"))
                raise UsageError(f"the folder {folder_of(other, level)} is named like the summary of {it.path} "
                                 f"({out / name}): the two would collide in {_given(option, out)}; rename that folder")


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one thread: numpy's BLAS (threadpoolctl) and pandas' multi-threaded CSV reader
    (``mode.max_threads``, pandas 3.1 and later) limited to one thread each. For a session in a pool
    of processes, one per core: their threads only contend there (measured on 2 cores: 2 jobs ran no
    faster than 1 until BLAS was limited; the parallel CSV parse cost another ~20 % per session)."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    try:
        pd.get_option("mode.max_threads")
        pandas_threads: Any = pd.option_context("mode.max_threads", 1)
    except (KeyError, pd.errors.OptionError):  # a pandas without threaded readers
        pandas_threads = nullcontext()
    with threadpool_limits(limits=1), pandas_threads:
        yield


#: glibc's mallopt parameter numbers (malloc.h) and its default mmap threshold on 64-bit machines.
_M_MMAP_THRESHOLD = -3
_DEFAULT_MMAP_THRESHOLD = 128 * 1024
#: A session's arrays up to this size come from the heap (glibc's own dynamic threshold goes up to 32 MiB).
_SESSION_MMAP_THRESHOLD = 32 * 1024 * 1024


@contextmanager
def arrays_on_heap() -> Iterator[None]:
    """On a Dask worker (and anywhere ``MALLOC_TRIM_THRESHOLD_`` is set), run the block with glibc
    allocating arrays up to 32 MiB from the heap, then put the fixed 128 KiB threshold back.

    A Dask nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_`` set, which also switches off
    glibc's dynamic mmap threshold: every array above 128 KiB is then a fresh ``mmap`` whose pages
    fault in one by one. A 10-minute 200 Hz session took ~100 000 page faults and 0.7 s instead of
    ~2 000 and 0.45 s. Only that case is touched: the threshold is the fixed 128 KiB again after
    the block (memory the session freed inside the heap stays there for reuse; its top is still
    trimmed back to the system); elsewhere, or without glibc, a plain block."""
    import sys

    env = os.environ
    fixed = ("MALLOC_TRIM_THRESHOLD_" in env and "MALLOC_MMAP_THRESHOLD_" not in env
             and "mmap_threshold" not in env.get("GLIBC_TUNABLES", ""))
    mallopt = None
    if fixed and sys.platform.startswith("linux"):
        try:
            import ctypes

            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):
            pass
    if mallopt is None or mallopt(_M_MMAP_THRESHOLD, _SESSION_MMAP_THRESHOLD) != 1:
        yield
        return
    try:
        yield
    finally:
        mallopt(_M_MMAP_THRESHOLD, _DEFAULT_MMAP_THRESHOLD)


@contextmanager
def pooled_session() -> Iterator[None]:
    """How a session runs in a pool of processes (local or Dask): :func:`one_thread` and
    :func:`arrays_on_heap`."""
    with one_thread(), arrays_on_heap():
        yield


def load_analysis() -> None:
    """Import the analysis (``batch`` does before it forks its workers, so that they do not each
    import it, ~0.4 s)."""
    import imu_pipeline.pipeline.offline  # noqa: F401
    import imu_pipeline.report.summary  # noqa: F401


def analyze_one(path: str, key: str, cfg: PipelineConfig, pose: str | None, out: str | None,
                angles: bool = False, fork: bool = True) -> SessionResult:
    """Analyse one recording (offline path) and write its summary under ``out`` (when given), with the
    recording's :func:`source_fingerprint` as ``source`` (taken before it is read: a file changed
    meanwhile is not reused next time). A recording that cannot be analysed is a result with status
    'error', never an exception (this runs in worker processes). ``fork``: a long recording's two
    orientation filters may use a second process (False in a pool of workers: the cores are taken)."""
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.report.summary import summary_dict, summary_json

    try:
        source = source_fingerprint(Path(path)) if out is not None else None
        with nullcontext() if fork else pooled_session():
            rec = read_recording(path, warn=False)
            an = analyze_recording(rec, cfg, pose=pose, fork=fork)
        d = summary_dict(an)
        if out is not None:
            from imu_pipeline.report.files import write_text

            d["source"] = source
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
    meta, clashes = _meta(rec.meta)
    return SessionResult(key, path, "ok", "", d, meta, clashes)


#: Sidecar keys that describe the recording itself, not the subject or the session: not in the tables.
NOT_META = frozenset({"format", "version", "sensors", "events"})


def _scalar(v: Any) -> bool:
    return isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


def _meta(meta: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The sidecar's own keys for the tables (all but :data:`NOT_META`): ``meta_<key>`` for a text,
    number or true/false value, and one level of an object flattened (``participant: {age: 30}`` ->
    ``meta_participant_age``); lists, deeper objects and nulls are left out. Two keys making the
    same column (``participant: {age: 30}`` and ``participant_age: 31``): the top-level key's value
    is kept, and a warning for the session's ``warnings_text`` names both (the second list)."""
    cols: dict[str, tuple[str, Any]] = {}  # column -> (the sidecar key, as a dotted path; its value)
    clashes = []

    def put(col: str, name: str, v: Any) -> None:
        if col in cols:
            kept, kv = cols[col]
            clashes.append(f"the sidecar keys {kept} ({json.dumps(kv)}) and {name} ({json.dumps(v)}) both make the "
                           f"column {col}, which holds {kept}'s value; rename one in the sidecar")
        else:
            cols[col] = (name, v)

    items = [(k, v) for k, v in meta.items() if k not in NOT_META]
    for k, v in items:  # top-level keys first: they win
        if _scalar(v):
            put(f"meta_{k}", k, v)
    for k, v in items:
        if isinstance(v, dict):
            for k2, v2 in v.items():
                if _scalar(v2):
                    put(f"meta_{k}_{k2}", f"{k}.{k2}", v2)
    return {c: v for c, (_, v) in cols.items()}, clashes


def _sidecar_meta(recording: Path) -> tuple[dict[str, Any], list[str]]:
    """:func:`_meta` of the sidecar beside ``recording`` ({} when there is none or it is not an object)."""
    side = recording.with_suffix(".json")
    try:
        d = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
    except (OSError, ValueError):
        return {}, []
    return _meta(d) if isinstance(d, dict) else ({}, [])


def _reused(item: BatchItem, out: Path) -> SessionResult:
    d = json.loads(summary_path(out, item.key).read_text(encoding="utf-8"))
    meta, clashes = _sidecar_meta(item.path)
    return SessionResult(item.key, str(item.path), "reused", "", d, meta, clashes)


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


#: A local worker that got SIGTERM ends this long after it unless the main process stopped it first, s.
WORKER_TERM_GRACE_S = 2


def _worker_init(parent: int) -> None:
    """A local worker process: Ctrl-C is left to the main process (a terminal sends it to every
    process of the job: the main one stops handing out sessions, lets the ones under way finish and
    writes the tables); so is SIGTERM at first (``timeout`` and job schedulers signal the whole
    group: a worker that died at once had its session reported as a broken recording before the main
    process had seen the signal), and the worker ends :data:`WORKER_TERM_GRACE_S` later by itself,
    or at once on a second SIGTERM (a pool ending its workers); and on Linux it dies with the main
    process however that ends (even ``kill -9``), so no worker goes on analysing for nobody."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGTERM") and hasattr(signal, "alarm"):
        signal.signal(signal.SIGTERM, _worker_sigterm)
    elif hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)


def _worker_sigterm(signum: int, frame: object) -> None:
    """SIGTERM in a local worker: the next one ends it, and SIGALRM does in WORKER_TERM_GRACE_S."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(WORKER_TERM_GRACE_S)


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this process when its parent ends (``prctl(PR_SET_PDEATHSIG)``);
    elsewhere, or without a usable libc, nothing (the main process stops its workers itself)."""
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        pr_set_pdeathsig = 1
        if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)


def _note_stderr(text: str) -> None:
    import sys

    print(text, file=sys.stderr, flush=True)


def make_executor(jobs: int, scheduler: str | None, *, option: str = "scheduler",
                  note: Callable[[str], None] | None = None,
                  workers_wait_s: float | None = None) -> tuple[Executor | None, Callable[[], None]]:
    """The executor for ``jobs`` local processes (None: inline) or a Dask ``scheduler`` address, and
    how to close it. A scheduler is connected to here (a bad address is a :class:`UsageError`); one
    without workers is waited on for ``workers_wait_s`` (default :data:`WORKERS_WAIT_S`), after
    ``note`` (default: stderr) says so, then refused with how to start workers. ``option`` names the
    address in messages (``--scheduler`` on the command line)."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError(f"{option} needs the Dask cluster extra: pip install 'imu-pipeline[cluster]'") from None
        try:
            _refused_at_once(scheduler)
            client = Client(scheduler, timeout="10s")
        except Exception as e:  # noqa: BLE001  a bad address, a refusal, or something else answering there
            raise UsageError(f"{_given(option, scheduler)}: cannot connect to a Dask scheduler there "
                             f"({type(e).__name__}: {str(e)[:200]}); expected e.g. tcp://host:8786") from None
        try:
            _wait_for_workers(client, scheduler, option, note or _note_stderr,
                              WORKERS_WAIT_S if workers_wait_s is None else workers_wait_s)
        except BaseException:
            client.close()
            raise
        return client.get_executor(), client.close
    if jobs <= 1:
        return None, lambda: None
    forking = "fork" in multiprocessing.get_all_start_methods()
    if forking:
        load_analysis()
    ctx = multiprocessing.get_context("fork" if forking else "spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),))
    return pool, lambda: pool.shutdown(wait=True, cancel_futures=True)


def _refused_at_once(scheduler: str) -> None:
    """A ``tcp://host:port`` where nothing listens: ConnectionRefusedError now (Dask's client keeps
    trying for its whole 10 s timeout). Anything else — another protocol, a host that does not
    answer, a name that does not resolve — is left to the client."""
    import socket

    m = re.fullmatch(r"tcp://\[?([^\]/]+?)\]?:(\d+)/?", scheduler.strip())
    if m is None:
        return
    try:
        with socket.create_connection((m.group(1), int(m.group(2))), timeout=2.0):
            return
    except ConnectionRefusedError:
        raise
    except (OSError, ValueError, OverflowError):
        return


def _wait_for_workers(client: Any, scheduler: str, option: str, note: Callable[[str], None], wait_s: float) -> None:
    """A scheduler with no worker: say so, wait up to ``wait_s`` for one, else a clear UsageError."""
    if client.nthreads():
        return
    note(f"waiting for workers on {scheduler} (up to {wait_s:g} s) ...")
    try:
        client.wait_for_workers(1, timeout=wait_s)
    except TimeoutError:
        raise UsageError(f"{_given(option, scheduler)}: no Dask worker joined the scheduler within {wait_s:g} s; "
                         f"start workers that can read the recordings and the output folder under the same paths, "
                         f"e.g. `dask worker {scheduler}` on each machine (pip install 'imu-pipeline[cluster]' "
                         "there), then run again") from None
    except Exception as e:  # noqa: BLE001  the scheduler went away meanwhile
        raise UsageError(f"{_given(option, scheduler)}: lost the Dask scheduler while waiting for workers "
                         f"({type(e).__name__}: {str(e)[:200]})") from None


def _cluster_threads(executor: Executor) -> int | None:
    """The worker threads of a Dask cluster now (None: not a Dask executor, or no answer)."""
    client = getattr(executor, "_client", None)
    if client is None:
        return None
    try:
        return int(sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001  the scheduler did not answer: keep the window as it was
        return None


class Terminated(KeyboardInterrupt):
    """SIGTERM to the command (``kill``, a job scheduler's time limit): stop at once, like a second
    Ctrl-C — the sessions under way are not waited for. Raised by the command's SIGTERM handler;
    :func:`run` turns it into :class:`BatchInterrupted` with ``terminated`` set."""


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM to the command) during :func:`run`. ``results`` are the sessions that
    finished (reused ones included), in the items' order — their summaries are written; ``total`` is
    how many were asked for; ``terminated``: it was SIGTERM; ``left_running``: sessions that were
    still running on a Dask cluster when it stopped (a cluster cannot stop a running task: they may
    still write their summaries, which the next run reuses). A KeyboardInterrupt: code that handles
    Ctrl-C handles it (left uncaught in a script, Python's exit status is 1, not the 130 it gives
    KeyboardInterrupt itself)."""

    def __init__(self, results: list[SessionResult], total: int, terminated: bool = False,
                 left_running: int = 0) -> None:
        super().__init__(f"interrupted after {len(results)} of {total} sessions")
        self.results = results
        self.total = total
        self.terminated = terminated
        self.left_running = left_running


class SchedulerLost(ImuPipelineError):
    """The Dask scheduler went away during :func:`run` (its sessions came back cancelled). ``results``
    are the sessions that finished before, in the items' order (their summaries are written);
    ``total`` how many were asked for. Sessions still running on the workers may yet write their
    summaries; the next run reuses complete ones."""

    def __init__(self, results: list[SessionResult], total: int) -> None:
        super().__init__(f"lost the Dask scheduler after {len(results)} of {total} sessions had finished")
        self.results = results
        self.total = total


class _Lost(Exception):
    """Raised inside :func:`run` when a cluster's session comes back cancelled without a stop."""


@dataclass
class _Stop:
    """The stop requests that reached :func:`run`: Ctrl-Cs counted, SIGTERM, or a stop at once."""

    ints: int = 0
    term: bool = False
    forced: bool = False

    def press(self, e: BaseException | None = None) -> None:
        """A KeyboardInterrupt caught (:class:`Terminated`: SIGTERM)."""
        if isinstance(e, Terminated):
            self.term = True
        else:
            self.ints += 1

    @property
    def requested(self) -> bool:
        return self.term or self.forced or self.ints >= 1

    @property
    def now(self) -> bool:
        return self.term or self.forced or self.ints >= 2


@contextmanager
def _signal_flags(stop: _Stop) -> Iterator[None]:
    """While sessions run on an executor, Ctrl-C (with Python's own handler) and SIGTERM (when the
    program handles it, as the command does) only count in ``stop``; the main loop looks at it every
    :data:`POLL_S`. Raised at an arbitrary point instead, a KeyboardInterrupt can land inside
    concurrent.futures' own locking (between taking a future's lock and the block that releases
    it), and then everything waits on that lock forever. Only in the main thread; elsewhere nothing
    changes (a KeyboardInterrupt there is handled where it is caught)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_int(signum: int, frame: object) -> None:
        stop.ints += 1

    def on_term(signum: int, frame: object) -> None:
        stop.term = True

    saved: dict[int, Any] = {}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        saved[signal.SIGINT] = signal.signal(signal.SIGINT, on_int)
    sigterm = getattr(signal, "SIGTERM", None)
    if sigterm is not None and callable(signal.getsignal(sigterm)):
        saved[sigterm] = signal.signal(sigterm, on_term)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _stop_workers(pool: ProcessPoolExecutor, out: str | None) -> None:
    """Stop a process pool's workers now (a second Ctrl-C or SIGTERM while sessions were under way),
    wait until they are gone, and remove the temporary files they were writing (a summary is renamed
    into place only when complete)."""
    import time

    procs = dict(getattr(pool, "_processes", None) or {})  # pid -> process; there is no public way
    for proc in procs.values():
        proc.kill()  # not SIGTERM: a worker takes that as a notice (_worker_init); summaries are renamed complete
    deadline = time.monotonic() + 5.0
    for proc in procs.values():
        proc.join(max(0.0, deadline - time.monotonic()))
    pool.shutdown(wait=False, cancel_futures=True)
    if out is not None and Path(out).is_dir():
        from imu_pipeline.report.files import remove_quietly

        for pid in procs:
            for tmp in Path(out).rglob(f".*.{pid}-*.tmp"):
                remove_quietly(tmp)


def _reusable(items: list[BatchItem], out: Path, cfg: PipelineConfig, pose: str | None, angles: bool) -> list[bool]:
    """:func:`up_to_date` (and the angles there when asked) for every item, the hashing on a few
    threads (hashlib works outside the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(it: BatchItem) -> bool:
        return up_to_date(it, out, cfg, pose) and (not angles or angles_path(out, it.key).exists())

    if len(items) < 4:
        return [one(it) for it in items]
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1, len(items))) as tp:
        return list(tp.map(one, items))


def run(items: list[BatchItem], *, cfg: PipelineConfig | None = None, pose: str | None = None,
        out: str | Path | None = None, jobs: int = 1, scheduler: str | None = None, force: bool = False,
        angles: bool = False, executor: Executor | None = None,
        on_result: Callable[[SessionResult, int, int], None] | None = None,
        on_interrupt: Callable[[int], None] | None = None) -> list[SessionResult]:
    """Analyse ``items`` (see the module docstring); results in the items' order.

    ``on_result(result, done, total)`` is called as each finishes (progress). With ``out``, a
    recording whose summary there was made from the same bytes (:func:`up_to_date`) is reused
    unless ``force`` (or ``angles`` is asked and its angles are not there yet); ``angles`` also
    writes each session's per-sample angles into the partitioned Parquet dataset ``OUT/angles``
    (:func:`angles_path`). A session that fails has its summary from an earlier run renamed
    ``.stale`` and its angles removed (:func:`_retire`). Before anything is analysed, keys that would
    put a summary where a table, the angles or another summary goes are refused (:func:`check_layout`).
    ``executor``: one made beforehand with :func:`make_executor` (the command line connects to
    ``--scheduler`` before it creates the output folder), used instead of ``jobs``/``scheduler`` and
    not closed here. Recordings are analysed by their absolute paths (so each summary names its
    recording whatever the working folder), and ``out`` is absolute for a cluster's workers (they do
    not share this process's working folder; the folders must be reachable under the same path there).

    An executor is handed only as many sessions as it has processes (a local pool) or worker
    threads (a Dask cluster, asked again as sessions finish), so those under way are the ones really
    running. Ctrl-C stops handing out sessions and the sessions under way are waited for
    (``on_interrupt(n_under_way)`` is told first); a second Ctrl-C at any point — or a
    :class:`Terminated` (SIGTERM to the command) — stops them at once: a local pool's workers are
    killed (a session is lost unless its summary was already complete), a cluster's running tasks
    are abandoned (they may still write their summaries: ``left_running``). Then
    :class:`BatchInterrupted` carries the sessions that finished — unless they were all the sessions
    left (and it was not SIGTERM), and every result is returned as usual.
    """
    check_jobs(jobs)
    check_unique_keys(items)
    cfg = cfg or PipelineConfig()
    out_p = Path(out) if out is not None else None
    if out_p is not None:
        check_layout(items, out_p, angles)
    results: dict[str, SessionResult] = {}
    reuse = _reusable(items, out_p, cfg, pose, angles) if out_p is not None and not force else [False] * len(items)
    todo = [it for it, ok in zip(items, reuse) if not ok]
    order = {it.key: i for i, it in enumerate(items)}
    done = 0

    def finished(r: SessionResult) -> None:
        nonlocal done
        if out_p is not None and (r.status == "error" or (r.status == "ok" and not angles)):
            _retire(out_p, r.key, summary=r.status == "error")  # nothing in out that the tables contradict
        if r.status == "error":
            r.meta, r.meta_warnings = _sidecar_meta(Path(r.path))
        results[r.key] = r
        done += 1
        if on_result:
            on_result(r, done, len(items))

    close: Callable[[], None] = lambda: None  # noqa: E731
    if executor is None and todo:
        executor, close = make_executor(jobs, scheduler)
    # The recording by its absolute path: the summary names it so (a re-run from another folder
    # still finds it up to date), and a cluster's workers do not share this process's working
    # folder (``out`` is absolute for them too; locally it stays as given, for the messages).
    local = isinstance(executor, ProcessPoolExecutor)
    remote = executor is not None and not local
    out_arg = None if out_p is None else str(out_p.resolve()) if remote else str(out_p)
    futures: dict[Future, BatchItem] = {}
    stop = _Stop()
    started = time.time()  # a summary written from here on is this run's
    left_running = 0
    try:
        with _signal_flags(stop) if executor is not None else nullcontext():
            try:
                for it, ok in zip(items, reuse):
                    if ok:
                        finished(_reused(it, out_p))  # type: ignore[arg-type]
                if executor is None:
                    for it in todo:
                        finished(_as_given(analyze_one(str(it.path.resolve()), it.key, cfg, pose, out_arg, angles),
                                           it))
                else:
                    _drive(executor, todo, futures, finished, stop, local, cfg, pose, out_arg, angles, order)
            except KeyboardInterrupt as e:  # inline: Ctrl-C itself; on an executor: raised by on_result
                stop.press(e)
            except _Lost:
                for f in futures:
                    f.cancel()
                raise SchedulerLost([results[it.key] for it in items if it.key in results], len(items)) from None
            if stop.requested and futures:
                left_running = _after_interrupt(stop, futures, results, finished, local, executor, out_p, out_arg,
                                                cfg, pose, angles, on_interrupt, order, started)
    finally:
        try:
            close()
        except KeyboardInterrupt as e:  # every session is collected by now: nothing is lost
            stop.press(e)
    if stop.requested and (len(results) < len(items) or stop.term):
        raise BatchInterrupted([results[it.key] for it in items if it.key in results], len(items),
                               terminated=stop.term, left_running=left_running) from None
    return [results[it.key] for it in items]


def _drive(executor: Executor, todo: list[BatchItem], futures: dict[Future, BatchItem],
           finished: Callable[[SessionResult], None], stop: _Stop, local: bool, cfg: PipelineConfig,
           pose: str | None, out_arg: str | None, angles: bool, order: dict[str, int]) -> None:
    """Hand ``todo`` to ``executor`` a window at a time (a local pool's processes, a cluster's worker
    threads) and report each finished session, until all are done or a stop is requested."""
    if stop.requested:
        return
    # the largest recordings first, the smallest last to fill in: a study's sessions differ in
    # length, and a long one handed out last would run alone on one core at the end
    waiting = sorted(reversed(todo), key=_size)  # popped from the end: equal sizes in their order
    active: set[Future] = set()

    def window() -> int:
        if local:
            return max(1, getattr(executor, "_max_workers", 1))
        threads = _cluster_threads(executor)
        return max(1, threads) if threads is not None else len(todo)

    # a long recording's second orientation process only where the pool leaves a core for it (never
    # on a cluster: its workers' cores are shared)
    fork = local and 2 * window() <= (os.cpu_count() or 1)

    def top_up() -> None:
        if not waiting:
            return
        n = window()
        while waiting and len(active) < n:
            it = waiting[-1]
            fut = executor.submit(analyze_one, str(it.path.resolve()), it.key, cfg, pose, out_arg, angles, fork)
            futures[fut] = it
            active.add(fut)
            waiting.pop()

    top_up()
    while active and not stop.requested:
        ready, _ = wait(active, timeout=POLL_S, return_when=FIRST_COMPLETED)
        if not ready:
            continue
        active.difference_update(ready)
        if not local and not stop.requested and any(_cancelled(f) for f in ready):
            # nothing here cancels a session without a stop: the cluster lost its scheduler; the sessions
            # that finished with these are reported first
            for fut in sorted(ready, key=lambda f: order[futures[f].key]):
                if not _cancelled(fut):
                    finished(_outcome(fut, futures[fut], futures))
            raise _Lost
        if not stop.requested:
            top_up()  # before reporting: a session reported finished has its successor under way already
        for fut in sorted(ready, key=lambda f: order[futures[f].key]):
            finished(_outcome(fut, futures[fut], futures))


def _cancelled(fut: Future) -> bool:
    """A future that ended cancelled (a Dask client cancels every pending one when it loses the scheduler)."""
    return fut.cancelled() or isinstance(fut.exception(), CancelledError)


def _size(it: BatchItem) -> int:
    """The recording's size in bytes (0 when it cannot be read: it fails at once)."""
    try:
        return it.path.stat().st_size
    except OSError:
        return 0


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Ctrl-C (and SIGTERM, when the program handles it) held back for the few statements inside and
    delivered right after, through the handler that was in place (Python's own raises
    KeyboardInterrupt; the command's SIGTERM handler :class:`Terminated`): the batch tables are
    replaced as a set inside, so that a reader sees the old set or the new one. Only in the main
    thread and for signals with a Python handler; elsewhere a plain block."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    saved = {}
    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if sig is not None and callable(signal.getsignal(sig)):
            saved[sig] = signal.signal(sig, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(got):  # each signal once, in the order they came
            saved[sig](sig, None)


def _written_since(out: Path, key: str, since: float) -> bool:
    """The session's summary in ``out`` was written at or after ``since`` (``time.time()``)."""
    try:
        return summary_path(out, key).stat().st_mtime >= since
    except OSError:
        return False


def _after_interrupt(stop: _Stop, futures: dict[Future, BatchItem], results: dict[str, SessionResult],
                     finished: Callable[[SessionResult], None], local: bool, executor: Executor | None,
                     out_p: Path | None, out_arg: str | None, cfg: PipelineConfig, pose: str | None, angles: bool,
                     on_interrupt: Callable[[int], None] | None, order: dict[str, int], since: float) -> int:
    """After the first Ctrl-C: nothing more is handed out; the sessions that finished are collected
    and the ones under way waited for (on a cluster too: the window keeps them to those running). A
    second Ctrl-C or SIGTERM anywhere in here (even while ``on_interrupt`` prints its note) stops at
    once: a local pool's workers are killed, a cluster's tasks cancelled (those already running there
    cannot be stopped: their number is returned); a session stopped after its summary was complete
    counts as finished (its summary is on disk, so it is in the tables too)."""

    def collect() -> None:  # finished but not yet collected (never waits)
        for f, it in sorted(futures.items(), key=lambda fi: order[fi[1].key]):
            if it.key not in results and f.done() and not f.cancelled():
                finished(_outcome(f, it, futures))

    if local:  # queued in the pool but not started: not under way
        for f in futures:
            f.cancel()

    def running() -> dict[Future, BatchItem]:
        return {f: it for f, it in futures.items() if not f.done() and it.key not in results}

    under_way = running()
    told = False
    while not stop.now:
        try:
            collect()
            under_way = running()
            if not under_way:
                break
            if not told:
                told = True
                if on_interrupt:
                    on_interrupt(len(under_way))
                continue  # a second Ctrl-C during the note is seen before any waiting
            wait(under_way, timeout=POLL_S, return_when=FIRST_COMPLETED)
        except KeyboardInterrupt as e:  # raised by on_result or on_interrupt, or where no flags are set
            stop.forced = True
            stop.press(e)
    if not stop.now or not under_way:
        return 0
    left = 0
    try:
        collect()  # before the stop: a session it kills is not one that failed
    except KeyboardInterrupt:
        pass
    if local:
        _stop_workers(executor, out_arg)  # type: ignore[arg-type]
    else:
        for f in under_way:
            f.cancel()  # the cluster drops what has not started; a running task cannot be stopped there
    for it in under_way.values():
        # its summary complete before the stop, written by this run (with --force an earlier run's is up
        # to date too, but was not redone)
        if it.key not in results and out_p is not None and _written_since(out_p, it.key, since) and \
                up_to_date(it, out_p, cfg, pose) and (not angles or angles_path(out_p, it.key).exists()):
            r = _reused(it, out_p)
            r.status = "ok"
            finished(r)
    if not local:
        left = sum(it.key not in results for it in under_way.values())
    return left


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
    already name the session): ``line 287 is cut off (...)``; then what was wrong with the sidecar's
    ``meta_*`` columns (:func:`_meta`), which a failed session has too."""
    if r.summary is None:
        return list(r.meta_warnings)
    names = {str(r.summary.get("recording", "")), str(_resolved(Path(r.path))), r.path, Path(r.path).name}
    out = []
    for w in r.summary.get("warnings", []):
        for n in sorted((n for n in names if n), key=len, reverse=True):
            if w.startswith(n + ": "):
                w = w[len(n) + 2:]
                break
        out.append(w)
    return out + list(r.meta_warnings)


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
    """``rows`` as a DataFrame with exactly ``dtypes``; a missing value is null (``pd.NA``/NaN) in
    every dtype — never the text "NaN" — and a non-text value in a text column is its JSON."""
    import pandas as pd

    def missing(v: Any) -> bool:  # None, pandas' NA, or the float NaN pandas puts where a row has no value
        return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))

    df = pd.DataFrame(rows, columns=list(dtypes), dtype=object)
    for c, t in dtypes.items():
        values = [None if missing(v) else v for v in df[c]]
        if t == "string":
            values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
        df[c] = pd.Series(values, index=df.index, dtype=object).astype(t)
    return df


def _rep_row(rep: dict[str, Any]) -> dict[str, Any]:
    """A summary's rep as a row of the reps table: lists joined with ';', ``decided_by`` left out."""
    return {k: (";".join(v) if isinstance(v, list) else v) for k, v in rep.items() if k != "decided_by"}


def reps_frame(reps: list[dict[str, Any]]):  # -> pandas.DataFrame
    """One session's reps (a summary's ``reps``) with the columns and dtypes of the reps table but
    ``key`` (what :func:`imu_pipeline.analyze` returns)."""
    return _frame([_rep_row(r) for r in reps], {c: t for c, t in REP_COLUMNS.items() if c != "key"})


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
        warnings = session_warnings(r)
        if warnings:  # a failed session has those of its sidecar's columns
            row.update({"warnings": len(warnings), "warnings_text": "; ".join(warnings)})
        if d is not None:
            t, q, cal = d["totals"], d["data_quality"], d["calibration"]
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
                rrows.append({"key": r.key, **_rep_row(rep)})
        row.update(r.meta)
        srows.append(row)
    meta = sorted({k for row in srows for k in row if k.startswith("meta_")})
    sdtypes = {**SESSION_COLUMNS, **{k: _meta_dtype([row.get(k) for row in srows]) for k in meta}}
    return _frame(srows, sdtypes), _frame(rrows, REP_COLUMNS)


def write_tables(out: Path, sessions, reps) -> list[Path]:  # noqa: ANN001 (pandas DataFrames)
    """``sessions`` and ``reps`` as Parquet (pyarrow) and CSV in ``out``, replaced as a set: all four
    are written to temporary files first, then renamed over the old ones together with Ctrl-C (and
    the command's SIGTERM) held back, so that a reader — or an interrupted run — leaves the old four
    or the new four, never a mix. Interrupted while writing, the old ones stay and the temporary
    files are removed."""
    from contextlib import ExitStack

    from imu_pipeline.report.files import replacing

    written = []
    with ExitStack() as stack:
        for name, df in (("sessions", sessions), ("reps", reps)):
            tmp = stack.enter_context(replacing(out / f"{name}.csv", what="table"))
            df.to_csv(tmp, index=False)
            written.append(out / f"{name}.csv")
            tmp = stack.enter_context(replacing(out / f"{name}.parquet", what="table"))
            df.to_parquet(tmp, index=False, engine="pyarrow")
            written.append(out / f"{name}.parquet")
        with _sigint_deferred():
            stack.close()  # every temporary renamed over its table
    return written


#: Endings that make ``--out`` look like a file name (a table), not the folder it is.
FILE_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".json", ".parquet", ".pq", ".xlsx", ".xls", ".feather",
                           ".arrow", ".h5", ".hdf5", ".pkl", ".pickle", ".zip", ".gz", ".tar", ".npz", ".npy"})


def check_out(out: Path, option: str = "--out") -> None:
    """``--out`` (``out=``, named by ``option``) names the folder the summaries and tables go into:
    not an existing file, not a name that looks like one (``--out results.csv`` would otherwise
    become a folder), and not a folder that holds recordings (``batch s5 --out s5/subjA``: they would
    be skipped as the output folder, and the results mixed in with them)."""
    what = "give a folder (created if missing) to receive the sessions and reps tables (.parquet and .csv) " \
           "and one summary per recording"
    if out.exists() and not out.is_dir():
        raise OutputError(f"{_given(option, out)} is a file; {what}")
    if not out.exists() and out.suffix.lower() in FILE_SUFFIXES:
        raise OutputError(f"{_given(option, out)} looks like a file name; {what}, e.g. "
                          f"{_given(option, out.with_suffix(''))}")
    found = recordings_in(out)
    if found:
        shown = ", ".join(str(f) for f in found[:3]) + (", ..." if len(found) > 3 else "")
        raise UsageError(f"{_given(option, out)} holds recordings ({shown}); {option} must be a folder for the "
                         f"results (summaries and tables), not one with recordings in it: give another one, e.g. "
                         f"{_given(option, out.parent / (out.name + '-results'))}")


def recordings_in(folder: Path, most: int = 4) -> list[Path]:
    """Up to ``most`` recordings in ``folder`` or its subfolders (a .csv whose first line is the
    recording header; hidden folders, environments and links not searched, as in :func:`discover`)."""
    found: list[Path] = []
    if not folder.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(folder):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if _skip_reason(d / n, None) is None)
        for name in sorted(filenames):
            if _is_csv(name) and not name.startswith(".") and _csv_kind(d / name) == "recording":
                found.append(d / name)
                if len(found) >= most:
                    return found
    return found
