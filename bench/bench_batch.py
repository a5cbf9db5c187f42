"""Batch throughput: sessions per minute at 1 and N local processes and on a local Dask cluster.

Two studies, each written to a temporary folder by the project's simulator:

* short (``--sessions``, default 16): 3-minute lying and hanging sessions, 30 reps, two sensors at
  100 Hz, 2 % packet loss in 5-sample packets, ±1.5 ms host time-stamp jitter;
* long (``--long``, default 8; 0 skips it): realistic ``--long-minutes`` (default 10) sessions, lying
  and hanging, 12 reps a minute with 1.6–3.6 s rests (as ``bench_offline.py``), two sensors at
  200 Hz, 1 % packet loss in 5-sample packets, ±1.5 ms jitter — the same as
  ``imu-pipeline simulate S.csv --reps 120 --rest 1.6 3.6 --thigh-rate 200 --pelvis-rate 200
  --packet-loss 0.01 --packet-samples 5 --jitter-ms 1.5`` for 10 minutes.

Each configuration runs ``imu_pipeline.study.run`` on all sessions of a study (``--force``-like: no
summary reused, none written), ``--repeats`` times, the configurations interleaved and each timed
run in a fresh process (as a ``batch`` command is); prints the median wall time (and the range),
sessions per minute, recorded minutes analysed per wall second and the speed-up over one job.
The last row, the ceiling, is ``--jobs`` independent processes started together, each
analysing its share of the sessions inline: no pool and nothing shared but the machine, what any
parallel batch on these cores can at best reach. Figures only, no asserts. The Dask cluster
(scheduler and ``--jobs`` workers as processes on this machine, one thread each) is started by the
benchmark and warmed up (the workers import the package) before it is timed.

Usage::

    python bench/bench_batch.py [--sessions 16] [--long 8] [--long-minutes 10] [--repeats 3] [--jobs N]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from imu_pipeline.config import PipelineConfig
from imu_pipeline.simulate import SimulationOptions, simulate_session, write_simulation
from imu_pipeline.study import discover, load_analysis, pooled_session, run


def short_options(i: int) -> SimulationOptions:
    pose = ("lying", "hanging")[i % 2]
    return SimulationOptions(seed=500 + i, pose=pose, n_reps=30, rest_s=(2.0, 3.0), packet_loss=0.02,
                             packet_samples=5, jitter_s=0.0015,
                             mix=("hip-flexor", "abdominal", "fast") + (("swing",) if pose == "hanging" else ()))


def long_options(i: int, minutes: float) -> SimulationOptions:
    pose = ("lying", "hanging")[i % 2]
    return SimulationOptions(seed=900 + i, pose=pose, n_reps=max(1, round(12 * minutes)), rest_s=(1.6, 3.6),
                             packet_loss=0.01, packet_samples=5, jitter_s=0.0015,
                             thigh_rate_hz=200.0, pelvis_rate_hz=200.0)


def _write(o: SimulationOptions, path: Path) -> None:
    write_simulation(simulate_session(o), path)


def make_study(folder: Path, options: list[SimulationOptions], jobs: int) -> None:
    """Simulate the sessions (in parallel: the long ones take seconds each) as subjectK/sJ.csv."""
    paths = [folder / f"subject{i // 4}" / f"s{i % 4}.csv" for i in range(len(options))]
    with ProcessPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(_write, options, paths))


CEILING = "ceiling: {jobs} independent processes"
CONFIGS = ("1 job", "1 job, one process (no fork)", "{jobs} jobs (local processes)",
           "Dask LocalCluster, {jobs} workers", CEILING)


def no_fork_config() -> PipelineConfig:
    """The default config without the second orientation process: "1 job" forks a long session's pelvis
    filter into one ([orientation] parallel_min_s); a pool with a process per core does not."""
    cfg = PipelineConfig()
    cfg.orientation.parallel_min_s = math.inf
    return cfg


def time_part(study: Path, part: int, parts: int) -> float:
    """One of ``parts`` independent processes of the ceiling row: the sessions dealt to ``part`` (largest
    first, round robin), analysed inline without the fork on one thread (as in a pool), timed from the
    launcher's 'go' on stdin."""
    load_analysis()
    items = sorted(discover([study]), key=lambda it: -it.path.stat().st_size)[part::parts]
    cfg = no_fork_config()
    print("ready", flush=True)
    sys.stdin.readline()
    t = time.perf_counter()
    with pooled_session():  # as in a pool: numpy's and pandas' threads would take the other cores
        run(items, cfg=cfg, jobs=1)
    return time.perf_counter() - t


def time_ceiling(study: Path, jobs: int) -> float:
    """Wall time of ``jobs`` independent single-session processes started together, each with its share
    of the sessions: no pool, no parent, nothing shared but the machine. What any parallel batch on
    these cores can at best reach; the rows above are compared with it."""
    procs = [subprocess.Popen([sys.executable, __file__, "--time-part", f"{k}/{jobs}", "--study", str(study)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for k in range(jobs)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    times = [float(p.communicate()[0].split()[-1]) for p in procs]
    return max(times)


def time_config(config: str, study: Path, jobs: int) -> float:
    """One timed ``run`` of ``config`` on ``study``, in this (fresh) process: the analysis modules are
    imported first (as ``batch`` does before it forks its workers), a Dask cluster is started and
    warmed up before the clock starts."""
    load_analysis()
    items = discover([study])
    if config.startswith("Dask"):
        from distributed import LocalCluster

        with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
            run(items[:jobs], scheduler=lc.scheduler_address)  # workers import the package once
            t = time.perf_counter()
            run(items, scheduler=lc.scheduler_address)
            return time.perf_counter() - t
    cfg = no_fork_config() if "no fork" in config else PipelineConfig()  # the single-process baseline
    t = time.perf_counter()
    run(items, cfg=cfg, jobs=1 if config.startswith("1 job") else jobs)
    return time.perf_counter() - t


def measure(title: str, study: Path, jobs: int, repeats: int) -> None:
    """Every configuration ``repeats`` times, interleaved (1 job, 1 job no fork, N jobs, Dask, 1 job, ...)
    so that a slower spell of a shared machine falls on all of them; each timed run in a fresh process
    (as a ``batch`` command is: a process that analysed sessions before would hand its heap to the
    forked workers)."""
    items = discover([study])
    first = run(items, jobs=jobs)  # also warms the file cache
    recorded_s = sum(r.summary["duration_s"] for r in first if r.summary)
    assert all(r.status == "ok" for r in first), [r.error for r in first if r.status != "ok"]
    print(f"\n{title}: {len(items)} sessions, {recorded_s / 60:.1f} recorded minutes; {os.cpu_count()} cores")
    try:
        import distributed  # noqa: F401
        configs = [c.format(jobs=jobs) for c in CONFIGS]
    except ImportError:
        configs = [c.format(jobs=jobs) for c in CONFIGS if not c.startswith("Dask")]
    results: dict[str, list[float]] = {c: [] for c in configs}
    for _ in range(repeats):
        for c in configs:
            if c == CEILING.format(jobs=jobs):
                results[c].append(time_ceiling(study, jobs))
                continue
            out = subprocess.run([sys.executable, __file__, "--time-one", c, "--study", str(study),
                                  "--jobs", str(jobs)], check=True, capture_output=True, text=True).stdout
            results[c].append(float(out.split()[-1]))
    base = statistics.median(results["1 job"])
    for name, times in results.items():
        t = statistics.median(times)
        print(f"{name:<34} {t:7.2f} s ({min(times):.2f}-{max(times):.2f})   {60 * len(items) / t:7.1f} sessions/min"
              f"   {recorded_s / 60 / t:6.1f} rec. min/s   speed-up {base / t:4.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=16, help="short (3-minute) sessions; 0 skips them")
    ap.add_argument("--long", type=int, default=8, help="long realistic sessions; 0 skips them")
    ap.add_argument("--long-minutes", type=float, default=10.0, help="length of a long session, minutes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--time-one", help=argparse.SUPPRESS)  # internal: one timed run in a fresh process
    ap.add_argument("--study", help=argparse.SUPPRESS)
    ap.add_argument("--time-part", help=argparse.SUPPRESS)  # internal: K/N of the ceiling row
    args = ap.parse_args()
    if args.time_part:
        k, n = map(int, args.time_part.split("/"))
        print(time_part(Path(args.study), k, n))
        return
    if args.time_one:
        print(time_config(args.time_one, Path(args.study), args.jobs))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.sessions:
            study = Path(tmp) / "short"
            make_study(study, [short_options(i) for i in range(args.sessions)], args.jobs)
            measure("short sessions (3 min, 100 Hz)", study, args.jobs, args.repeats)
        if args.long:
            study = Path(tmp) / "long"
            make_study(study, [long_options(i, args.long_minutes) for i in range(args.long)], args.jobs)
            measure(f"long sessions ({args.long_minutes:g} min, 200 Hz, 1 % loss, ±1.5 ms jitter)", study,
                    args.jobs, args.repeats)


if __name__ == "__main__":
    main()
