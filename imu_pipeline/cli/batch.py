"""``imu-pipeline batch``: many recordings -> one summary JSON each plus the sessions and reps tables
(:mod:`imu_pipeline.study`), on all local cores or a Dask cluster."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from imu_pipeline.cli.options import add_analysis_options, config_from
from imu_pipeline.errors import OutputError, UsageError
from imu_pipeline.report.files import check_folder_writable, output_error

#: Endings that make ``--out`` look like a file name (a table), not the folder it is.
FILE_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".json", ".parquet", ".pq", ".xlsx", ".xls", ".feather",
                           ".arrow", ".h5", ".hdf5", ".pkl", ".pickle", ".zip", ".gz", ".tar", ".npz", ".npy"})


class _Progress:
    """A tqdm bar on stderr when stderr is a terminal; otherwise (piped, or without tqdm) one plain
    line per finished session on stdout, with the count (``[3/16] patientA/s1: 12 reps``)."""

    def __init__(self, total: int) -> None:
        self.bar = None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="session", file=sys.stderr, **_terminal_shape())

    def __call__(self, r, done: int, total: int) -> None:  # noqa: ANN001
        what = (f"{r.summary['totals']['reps']} reps" if r.summary else "") if r.status != "error" else \
            f"failed: {r.error}"
        if r.status == "reused":
            what += " (summary up to date, not redone)"
        if self.bar is not None:
            self.bar.update(1)
            if r.status == "error":
                self.bar.write(f"{r.key}: {what}", file=sys.stderr)
            if done == total:
                self.close()
        else:
            print(f"[{done}/{total}] {r.key}: {what}", flush=True)

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _terminal_shape() -> dict[str, int]:
    """tqdm's ``ncols``/``nrows`` when the terminal reports no size ({} when it does: tqdm asks it).

    A pseudo-terminal opened without a size (``script`` run from a non-terminal, ``docker exec -t``,
    Python's ``pty``, some CI runners and IDE consoles) reports 0 x 0; tqdm takes that as -1 columns
    and -1 rows, and a bar at row 0 of a screen of -1 rows is never drawn — nothing on the screen.
    Then $COLUMNS / $LINES, else 80 x 24."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        size = os.terminal_size((0, 0))
    if size.columns > 0 and size.lines > 0:
        return {}

    def env(name: str, default: int) -> int:
        try:
            return max(int(os.environ.get(name, "")), 2)
        except ValueError:
            return default

    return {"ncols": size.columns if size.columns > 0 else env("COLUMNS", 80),
            "nrows": size.lines if size.lines > 0 else env("LINES", 24)}


def _check_out(out: Path) -> None:
    """--out names the folder the summaries and tables go into: not an existing file, and not a
    name that looks like one (``--out results.csv`` would otherwise become a folder of that name)."""
    hint = "--out is a folder for the tables; the sessions and reps tables (.parquet and .csv) and one " \
           "summary per recording are written inside it"
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder (it is created if missing): {hint}")
    if not out.exists() and out.suffix.lower() in FILE_SUFFIXES:
        raise OutputError(f"--out {out} looks like a file name; {hint}: give a folder name, e.g. "
                          f"--out {out.with_suffix('')}")


def _cmd_batch(args: argparse.Namespace) -> int:
    from imu_pipeline.study import BatchInterrupted, discover, make_executor, run, tables, write_tables

    cfg = config_from(args)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    out = Path(args.out)
    _check_out(out)
    items = discover(args.inputs, out, warn=lambda m: print(f"note: {m}", file=sys.stderr))
    jobs = args.jobs or os.cpu_count() or 1
    # connect to the cluster before anything is created: a bad --scheduler leaves nothing behind
    executor, close = make_executor(jobs, args.scheduler) if args.scheduler else (None, lambda: None)
    progress = _Progress(len(items))
    interrupted = None
    try:
        created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise output_error(out, "output folder", e) from None
        try:
            check_folder_writable(out, what=f"--out {out}")  # before the first recording is analysed
        except OutputError:
            if created:
                _remove_empty(out)
            raise
        try:
            results = run(items, cfg=cfg, pose=args.pose, out=out, jobs=jobs, executor=executor, force=args.force,
                          angles=args.angles, on_result=progress,
                          on_interrupt=lambda n: progress.note(
                              f"interrupted: waiting for the {n} session(s) under way (Ctrl-C again to stop "
                              "them now)"))
        except BatchInterrupted as e:
            interrupted, results = e, e.results
    finally:
        progress.close()
        close()
    if interrupted is not None:
        return _interrupted(out, results, interrupted.total, created)
    sessions, reps = tables(results)
    write_tables(out, sessions, reps)
    failed = [r for r in results if r.status == "error"]
    reused = sum(r.status == "reused" for r in results)
    print(f"{len(results) - len(failed)} of {len(results)} recordings analysed"
          + (f" ({reused} up to date from an earlier run)" if reused else "")
          + f"; tables in {out}: sessions and reps, .parquet and .csv")
    for r in failed:
        print(f"failed: {r.error if r.path in r.error else f'{r.path}: {r.error}'}", file=sys.stderr)
    return 0 if not failed else 1


def _interrupted(out: Path, results: list, total: int, created: bool) -> int:  # noqa: ANN001
    """Ctrl-C: the tables for the sessions that finished (their summaries are kept), and what to do."""
    from imu_pipeline.study import tables, write_tables

    rest = total - len(results)
    if results:
        write_tables(out, *tables(results))
        print(f"imu-pipeline batch: interrupted after {len(results)} of {total} sessions; their summaries are "
              f"kept and the tables in {out} hold only those {len(results)}; run the same command again to do "
              f"the other {rest} (finished sessions are reused)", file=sys.stderr)
    else:
        if created:
            _remove_empty(out)
        print(f"imu-pipeline batch: interrupted before any of the {total} sessions finished; no tables written",
              file=sys.stderr)
    return 130


def _remove_empty(folder: Path) -> None:
    """Remove a folder this run created if nothing was written into it."""
    try:
        folder.rmdir()
    except OSError:
        pass


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="analyse many recordings in parallel into per-session JSON and tables",
                       description="Analyse every recording given (files, or folders searched recursively; hidden "
                                   "folders, virtual environments and the output folder skipped), writing "
                                   "OUT/<path relative to the input>.summary.json, OUT/sessions.parquet|csv and "
                                   "OUT/reps.parquet|csv. A recording that cannot be analysed is reported and the "
                                   "rest go on (exit status 1). A re-run reuses summaries newer than their "
                                   "recording (--force redoes them).")
    p.add_argument("inputs", nargs="+", help="recording .csv files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="local processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster, e.g. tcp://host:8786 (pip install 'imu-pipeline[cluster]')")
    p.add_argument("--force", action="store_true", help="redo sessions whose summary is up to date")
    p.add_argument("--angles", action="store_true",
                   help="also write every session's per-sample angles as a partitioned Parquet dataset OUT/angles "
                        "(one partition session=<key>; pandas.read_parquet(OUT/'angles') reads them all)")
    add_analysis_options(p)
    p.set_defaults(func=_cmd_batch)
