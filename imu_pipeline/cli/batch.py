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


def _progress(total: int):  # -> callable(result, done, total)
    """A tqdm bar on a terminal; plain lines when piped (or without tqdm)."""
    bar = None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="session", file=sys.stderr)
        except ImportError:
            bar = None

    def on_result(r, done: int, total: int) -> None:  # noqa: ANN001
        what = (f"{r.summary['totals']['reps']} reps" if r.summary else "") if r.status != "error" else \
            f"failed: {r.error}"
        if r.status == "reused":
            what += " (summary up to date, not redone)"
        if bar is not None:
            bar.update(1)
            if r.status == "error":
                bar.write(f"{r.key}: {what}")
        else:
            print(f"[{done}/{total}] {r.key}: {what}", flush=True)
        if bar is not None and done == total:
            bar.close()

    return on_result


def _cmd_batch(args: argparse.Namespace) -> int:
    from imu_pipeline.study import discover, run, tables, write_tables

    cfg = config_from(args)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder (it is created if missing)")
    items = discover(args.inputs, out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise output_error(out, "output folder", e) from None
    check_folder_writable(out, what=f"--out {out}")  # before the first recording is analysed
    jobs = args.jobs or os.cpu_count() or 1
    results = run(items, cfg=cfg, pose=args.pose, out=out, jobs=jobs, scheduler=args.scheduler, force=args.force,
                  angles=args.angles, on_result=_progress(len(items)))
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
