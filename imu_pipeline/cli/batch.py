"""``imu-pipeline batch``: many recordings -> one summary JSON each plus the sessions and reps tables
(:mod:`imu_pipeline.study`), on all local cores or a Dask cluster."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from imu_pipeline.cli.options import add_analysis_options, config_from
from imu_pipeline.errors import OutputError
from imu_pipeline.report.files import check_folder_writable, output_error


def session_line(r) -> str:  # noqa: ANN001 (a study.SessionResult)
    """What became of one session, in a few words: ``12 reps``, ``0 reps; 1 warning: line 287 is
    cut off (...)``, ``failed (see below: study/s3.csv)`` (the reason is printed once, after the run)."""
    from imu_pipeline.study import session_warnings

    if r.status == "error":
        return f"failed (see below: {r.path})"
    what = f"{r.summary['totals']['reps']} reps" if r.summary else ""
    warnings = session_warnings(r)
    if warnings:
        what += f"; {len(warnings)} warning{'s' if len(warnings) > 1 else ''}: {warnings[0]}"
        if len(warnings) > 1:
            what += f" (and {len(warnings) - 1} more: warnings_text in the sessions table)"
    if r.status == "reused":
        what += " (summary up to date, not redone)"
    return what


class _Progress:
    """A tqdm bar on stderr when stderr is a terminal (sessions with warnings or failures get a line
    above it); otherwise (piped, or without tqdm) one plain line per finished session on stdout, with
    the count (``[3/16] patientA/s1: 12 reps``)."""

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
        what = session_line(r)
        if self.bar is not None:
            self.bar.update(1)
            if r.status == "error" or "warning" in what:
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


def _cmd_batch(args: argparse.Namespace) -> int:
    from collections import Counter

    from imu_pipeline import study

    cfg = config_from(args)
    if args.jobs is not None:
        study.check_jobs(args.jobs)
    out = Path(args.out)
    study.check_out(out)
    skipped: Counter = Counter()
    items = study.discover(args.inputs, out, warn=lambda m: print(f"note: {m}", file=sys.stderr), skipped=skipped)
    jobs = args.jobs or os.cpu_count() or 1
    # connect to the cluster before anything is created: a bad --scheduler leaves nothing behind
    executor, close = study.make_executor(jobs, args.scheduler) if args.scheduler else (None, lambda: None)
    progress = _Progress(len(items))
    interrupted, waited = None, []

    def on_interrupt(n: int) -> None:
        waited.append(n)
        progress.note(f"interrupted: waiting for the {n} session{'s' if n > 1 else ''} under way (Ctrl-C again "
                      "to stop them now)")

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
            results = study.run(items, cfg=cfg, pose=args.pose, out=out, jobs=jobs, executor=executor,
                                force=args.force, angles=args.angles, on_result=progress, on_interrupt=on_interrupt)
        except study.BatchInterrupted as e:
            interrupted, results = e, e.results
    finally:
        progress.close()
        close()
    note = study.skipped_note(skipped)
    if interrupted is not None:
        code = _interrupted(out, results, interrupted.total, created)
        if note:
            print(f"note: {note}", file=sys.stderr)
        return code
    if waited:
        last = "the session under way was the last one" if waited[0] == 1 else \
            f"the {waited[0]} sessions under way were the last ones"
        print(f"imu-pipeline batch: interrupted, but {last} and finished: nothing is missing", file=sys.stderr)
    study.write_tables(out, *study.tables(results))
    failed = [r for r in results if r.status == "error"]
    reused = sum(r.status == "reused" for r in results)
    print(f"{len(results) - len(failed)} of {len(results)} recordings analysed"
          + (f" ({reused} up to date from an earlier run)" if reused else "")
          + f"; tables in {out}: sessions and reps, .parquet and .csv")
    for r in failed:
        print(f"failed: {r.error}", file=sys.stderr)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return 0 if not failed else 1


def _interrupted(out: Path, results: list, total: int, created: bool) -> int:  # noqa: ANN001
    """Ctrl-C: the tables for the sessions that finished, and what to do. Counted as on disk: a
    session analysed or reused has its summary in ``out``; a failed one has none (an older one was
    renamed .stale); the others were not done."""
    from imu_pipeline.study import tables, write_tables

    rest = total - len(results)
    failed = [r for r in results if r.status == "error"]
    reused = sum(r.status == "reused" for r in results)
    analysed = len(results) - len(failed) - reused
    if results:
        write_tables(out, *tables(results))
        parts = [f"{analysed} analysed"] + ([f"{reused} up to date from an earlier run"] if reused else []) \
            + ([f"{len(failed)} failed, with no summary"] if failed else [])
        print(f"imu-pipeline batch: interrupted: {len(results)} of {total} sessions finished ({', '.join(parts)}); "
              f"the tables in {out} hold those {len(results)}; run the same command again to do the other "
              f"{rest} (finished sessions are reused)", file=sys.stderr)
        for r in failed:
            print(f"failed: {r.error}", file=sys.stderr)
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
