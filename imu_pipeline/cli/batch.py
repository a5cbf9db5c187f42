"""``imu-pipeline batch``: many recordings -> one summary JSON each plus the sessions and reps tables
(:mod:`imu_pipeline.study`), on all local cores or a Dask cluster."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from imu_pipeline.cli.options import add_analysis_options, config_from
from imu_pipeline.errors import OutputError
from imu_pipeline.report.files import check_folder_writable, output_error

if TYPE_CHECKING:
    from imu_pipeline.study import _Stop


def session_line(r) -> str:  # noqa: ANN001 (a study.SessionResult)
    """What became of one session, in a few words: ``12 reps``, ``0 reps; 1 warning: line 287 is
    cut off (...)``, ``failed (see below: study/s3.csv)`` (the reason is printed once, after the run)."""
    from imu_pipeline.report.summary import count_of
    from imu_pipeline.study import session_warnings

    if r.status == "error":
        return f"failed (see below: {r.path})"
    what = count_of(r.summary["totals"]["reps"], "rep") if r.summary else ""
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


class _Outcome:
    """What the command did so far, for a SIGTERM outside the analysis."""

    out: Path | None = None
    created: bool = False


_AT_EXIT: list[bool] = []


def _on_sigterm(signum: int, frame: object) -> None:
    from imu_pipeline.study import Terminated

    raise Terminated()


def _cmd_batch(args: argparse.Namespace) -> int:
    """SIGTERM (``kill``, a job scheduler) stops the batch at once, like a second Ctrl-C: the workers
    are stopped, the tables written for the finished sessions, exit status 143."""
    import atexit
    import signal
    import threading

    from imu_pipeline.study import Terminated

    installed, previous = False, None
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        installed = True
        if not _AT_EXIT:
            # Python hands Ctrl-C back to the system while it shuts down, and a Ctrl-C then (the user
            # pressing it just as the run finished) killed the process by the signal instead of
            # letting it end with its exit status: ignored from the moment the program exits.
            atexit.register(signal.signal, signal.SIGINT, signal.SIG_IGN)
            _AT_EXIT.append(True)
    state = _Outcome()
    try:
        return _batch(args, state)
    except Terminated:  # before any session was handed out (the run itself and the tables handle it)
        if state.created and state.out is not None:
            _remove_empty(state.out)
        print("imu-pipeline batch: terminated (SIGTERM) before any session was analysed; no tables written",
              file=sys.stderr)
        return 143
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _hold_signals(late: _Stop) -> Callable[[], None]:
    """From here on the tables and the closing lines are written whatever comes: a Ctrl-C or a
    SIGTERM only counts in ``late`` (a second Ctrl-C still stops, outside the tables' replacement)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_int(signum: int, frame: object) -> None:
        late.ints += 1
        if late.ints >= 2:
            raise KeyboardInterrupt

    def on_term(signum: int, frame: object) -> None:
        late.term = True

    saved = {}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        saved[signal.SIGINT] = signal.signal(signal.SIGINT, on_int)
    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) is _on_sigterm:
        saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, on_term)

    def restore() -> None:
        for sig, handler in saved.items():
            signal.signal(sig, handler)

    return restore


def _batch(args: argparse.Namespace, state: _Outcome) -> int:
    from collections import Counter

    from imu_pipeline import study

    cfg = config_from(args)
    if args.jobs is not None:
        study.check_jobs(args.jobs, "--jobs")
    out = Path(args.out)
    study.check_out(out)
    skipped: Counter = Counter()
    items = study.discover(args.inputs, out, warn=lambda m: print(f"note: {m}", file=sys.stderr), skipped=skipped)
    study.check_layout(items, out, args.angles, "--out")
    jobs = args.jobs or os.cpu_count() or 1
    # connect to the cluster before anything is created: a bad --scheduler leaves nothing behind
    executor, close = study.make_executor(jobs, args.scheduler, option="--scheduler",
                                          note=lambda m: print(m, file=sys.stderr, flush=True)) \
        if args.scheduler else (None, lambda: None)
    if args.scheduler:  # a lost scheduler is said in one line of ours, not in Dask's log (set up by its import)
        import logging

        logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
    progress = _Progress(len(items))
    interrupted, waited = None, []

    def on_interrupt(n: int) -> None:
        waited.append(n)
        if args.scheduler:
            progress.note(f"interrupted: waiting for the {n} session{'s' if n > 1 else ''} running on the cluster "
                          "(Ctrl-C again to stop waiting: a running session cannot be stopped there and may still "
                          "write its summary)")
        else:
            progress.note(f"interrupted: waiting for the {n} session{'s' if n > 1 else ''} under way (Ctrl-C again "
                          f"to stop {'them' if n > 1 else 'it'} now)")

    late = study._Stop()
    restore: Callable[[], None] = lambda: None  # noqa: E731
    try:
        state.out, state.created = out, not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise output_error(out, "output folder", e) from None
        try:
            check_folder_writable(out, what=f"--out {out}")  # before the first recording is analysed
        except OutputError:
            if state.created:
                _remove_empty(out)
            raise
        try:
            results = study.run(items, cfg=cfg, pose=args.pose, out=out, jobs=jobs, executor=executor,
                                force=args.force, angles=args.angles, on_result=progress, on_interrupt=on_interrupt)
        except (study.BatchInterrupted, study.SchedulerLost) as e:
            interrupted, results = e, e.results
        restore = _hold_signals(late)
    finally:
        progress.close()
        close()
    try:
        code = _report(out, results, interrupted, waited, skipped, state.created, bool(args.scheduler), args.force)
    finally:
        restore()
    if late.term and interrupted is None:
        print(f"imu-pipeline batch: terminated (SIGTERM) after every session had finished; the tables in {out} "
              "are complete", file=sys.stderr)
        return 143
    if late.ints and interrupted is None:
        print("imu-pipeline batch: interrupted after every session had finished: nothing is missing", file=sys.stderr)
    return code


def _report(out: Path, results: list, interrupted, waited: list[int], skipped, created: bool,  # noqa: ANN001
            remote: bool, force: bool = False) -> int:
    """Write the tables and say what became of the run; the exit status."""
    from imu_pipeline import study

    note = study.skipped_note(skipped)
    if interrupted is not None:
        code = _interrupted(out, results, interrupted, created, remote, force)
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


def _interrupted(out: Path, results: list, e, created: bool, remote: bool,  # noqa: ANN001
                 force: bool = False) -> int:
    """Ctrl-C or SIGTERM: the tables for the sessions that finished, and what to do. Counted as on
    disk: a session analysed or reused has its summary in ``out``; a failed one has none (an older
    one was renamed .stale); the others were not done — except those still running on a cluster,
    which cannot be stopped there and may still write their summaries."""
    from imu_pipeline.study import SchedulerLost, tables, write_tables

    total = e.total
    lost = isinstance(e, SchedulerLost)
    how = "lost the Dask scheduler" if lost else "terminated (SIGTERM)" if e.terminated else "interrupted"
    code = 1 if lost else 143 if e.terminated else 130
    rest = total - len(results)
    failed = [r for r in results if r.status == "error"]
    reused = sum(r.status == "reused" for r in results)
    analysed = len(results) - len(failed) - reused
    still = ""
    if lost:
        still = ("; sessions that were running on the workers may still have written their summaries (the next run "
                 "reuses complete ones); start the scheduler and workers again first")
    elif e.left_running:
        n = e.left_running
        still = (f"; {n} session{'s were' if n > 1 else ' was'} still running on the cluster and may still write "
                 f"{'their summaries' if n > 1 else 'its summary'} into {out} (a cluster cannot stop a running task; "
                 "the next run reuses a complete one)")
    if results:
        write_tables(out, *tables(results))
        parts = [f"{analysed} analysed"] + ([f"{reused} up to date from an earlier run"] if reused else []) \
            + ([f"{len(failed)} failed, with no summary"] if failed else [])
        if rest:
            print(f"imu-pipeline batch: {how}: {len(results)} of {total} sessions finished ({', '.join(parts)}); "
                  f"the tables in {out} hold those {len(results)}; "
                  + (f"the other {rest} were not redone: run the same command again to redo every session (with "
                     "--force nothing is reused), or without --force to do only what is not up to date"
                     if force else f"run the same command again to do the other {rest} (finished sessions are "
                     "reused)") + still, file=sys.stderr)
        else:
            print(f"imu-pipeline batch: {how}, but every session had finished ({', '.join(parts)}): the tables in "
                  f"{out} are complete", file=sys.stderr)
        for r in failed:
            print(f"failed: {r.error}", file=sys.stderr)
    else:
        if created and not lost and not e.left_running:
            _remove_empty(out)
        print(f"imu-pipeline batch: {how} before any of the {total} sessions finished; no tables written{still}",
              file=sys.stderr)
    return code


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
                                   "rest go on (exit status 1). A re-run reuses the summaries of recordings whose "
                                   "content (and sidecar) is unchanged (--force redoes them). Ctrl-C waits for the "
                                   "sessions under way (again: stops them); SIGTERM stops at once; both write the "
                                   "tables for the finished sessions (exit status 130, 143).")
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
