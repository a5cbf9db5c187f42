"""Batch throughput: sessions per minute at 1 and N local processes and on a local Dask cluster.

Input: ``--sessions`` simulated recordings (default 16; 3-minute lying and hanging sessions, 30 reps,
two sensors at 100 Hz, 2 % packet loss in 5-sample packets, ±1.5 ms host time-stamp jitter) written
to a temporary study folder. Each configuration runs ``imu_pipeline.study.run`` on all of them
(``--force``-like: no summary reused), ``--repeats`` times; prints the median wall time, sessions per
minute and the speed-up over one job. Figures only, no asserts. The Dask cluster (scheduler and
workers as processes on this machine, one thread each) is started by the benchmark.

Usage::

    python bench/bench_batch.py [--sessions 16] [--repeats 3] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from imu_pipeline.simulate import SimulationOptions, simulate_session, write_simulation
from imu_pipeline.study import discover, run


def make_study(folder: Path, n: int) -> None:
    for i in range(n):
        pose = ("lying", "hanging")[i % 2]
        o = SimulationOptions(seed=500 + i, pose=pose, n_reps=30, rest_s=(2.0, 3.0), packet_loss=0.02,
                              packet_samples=5, jitter_s=0.0015,
                              mix=("hip-flexor", "abdominal", "fast") + (("swing",) if pose == "hanging" else ()))
        write_simulation(simulate_session(o), folder / f"subject{i // 4}" / f"s{i % 4}.csv")


def timed(fn) -> float:  # noqa: ANN001
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "study"
        make_study(study, args.sessions)
        items = discover([study])
        minutes = [len(items)]
        print(f"{len(items)} sessions; {os.cpu_count()} cores")
        results: dict[str, float] = {}
        configs = [("1 job", dict(jobs=1)), (f"{args.jobs} jobs", dict(jobs=args.jobs))]
        for name, kw in configs:
            times = [timed(lambda: run(items, **kw)) for _ in range(args.repeats)]
            results[name] = statistics.median(times)
        try:
            from distributed import LocalCluster
        except ImportError:
            LocalCluster = None  # noqa: N806
        if LocalCluster is not None:
            with LocalCluster(n_workers=args.jobs, threads_per_worker=1, processes=True,
                              dashboard_address=None) as lc:
                run(items[:2], scheduler=lc.scheduler_address)  # workers import the package once
                times = [timed(lambda: run(items, scheduler=lc.scheduler_address)) for _ in range(args.repeats)]
                results[f"Dask LocalCluster, {args.jobs} workers"] = statistics.median(times)
        base = results["1 job"]
        for name, t in results.items():
            print(f"{name:<32} {t:7.2f} s   {60 * minutes[0] / t:7.1f} sessions/min   speed-up {base / t:4.2f}x")


if __name__ == "__main__":
    main()
