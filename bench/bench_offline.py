"""Offline analysis throughput on a 30-minute, two-sensor, 200 Hz simulated recording.

Prints figures only (no asserts). Measures, each as the median of ``--repeats`` runs:

* wall time of ``imu-pipeline analyze REC.csv --json OUT.json`` as a subprocess, with the
  child's peak RSS (``os.wait4`` rusage ``ru_maxrss``);
* wall time of the in-process ``read_recording`` + ``analyze_recording``;
* wall time of a bare ``pd.read_csv(path)`` of the same CSV;
* ratios: analyze / bare read (target <= 3x) and real time / analyze (target >= 1000x).

With ``--profile`` (or automatically when the 3x target is missed) the in-process run is
profiled with cProfile and the top functions by cumulative and by own time are printed.

Usage::

    python bench/bench_offline.py [--repeats 5] [--minutes 30] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from imu_pipeline.pipeline.offline import analyze_recording
from imu_pipeline.io.recording import read_recording
from _common import machine  # noqa: E402  (bench/ is on sys.path when run as a script)



def make_recording(out_dir: Path, minutes: float, seed: int) -> tuple[Path, float]:
    """Simulate in a child process (``imu-pipeline simulate``) so this process stays small: a
    child forked from a large parent would report the parent's pages in its ``ru_maxrss``."""
    # ~4.9 s per rep with a 1.6-3.6 s rest: 360 reps ~ 30 min
    n_reps = max(1, min(500, round(360 * minutes / 30)))
    path = out_dir / "bench_offline.csv"
    t0 = time.perf_counter()
    subprocess.run([imu_pipeline_exe(), "simulate", str(path), "--seed", str(seed), "--pose", "lying",
                    "--reps", str(n_reps), "--thigh-rate", "200", "--pelvis-rate", "200", "--packet-loss", "0.01",
                    "--rest", "1.6", "3.6", "--force"], check=True, stdout=subprocess.DEVNULL)
    duration = json.loads(path.with_suffix(".truth.json").read_text())["duration_s"]
    n = sum(1 for _ in path.open()) - 1
    print(f"simulated {n_reps} reps, {duration:.0f} s, {n} samples, {path.stat().st_size / 1e6:.1f} MB CSV "
          f"in {time.perf_counter() - t0:.1f} s")
    return path, duration


def imu_pipeline_exe() -> str:
    return shutil.which("imu-pipeline") or str(Path(sys.executable).with_name("imu-pipeline"))


def cli_run(path: Path, out_json: Path) -> tuple[float, float, float]:
    """Wall time (s), peak RSS (MiB) and CPU time (user+sys, s) of one ``imu-pipeline analyze`` child."""
    cmd = [imu_pipeline_exe(), "analyze", str(path), "--json", str(out_json), "-q"]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode() if p.stderr else ""
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{err}")
    return wall, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime  # ru_maxrss: KiB on Linux


def cli_startup() -> float:
    """Wall time of ``imu-pipeline --help`` (interpreter start + imports, no work)."""
    t0 = time.perf_counter()
    subprocess.run([imu_pipeline_exe(), "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def inproc_run(path: Path) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    rec = read_recording(path)
    t1 = time.perf_counter()
    res = analyze_recording(rec)
    t2 = time.perf_counter()
    return t2 - t0, t1 - t0, len(res.reps)


def pandas_run(path: Path) -> float:
    t0 = time.perf_counter()
    pd.read_csv(path)
    return time.perf_counter() - t0


def profile(path: Path, top: int) -> None:
    pr = cProfile.Profile()
    pr.enable()
    analyze_recording(read_recording(path))
    pr.disable()
    for key in ("cumulative", "tottime"):
        s = io.StringIO()
        pstats.Stats(pr, stream=s).strip_dirs().sort_stats(key).print_stats(top)
        print(f"\n--- cProfile, top {top} by {key} ---")
        print("\n".join(line for line in s.getvalue().splitlines() if line.strip())[:8000])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="always print a cProfile of the in-process run")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)

    print(machine())
    tmp = Path(tempfile.mkdtemp(prefix="imu_bench_"))
    try:
        path, duration = make_recording(tmp, args.minutes, args.seed)
        # warm-up (imports, page cache), not counted
        pandas_run(path)
        cli_wall, cli_rss, cli_cpu, inp_wall, inp_read, pd_wall, start = [], [], [], [], [], [], []
        n_reps = 0
        for i in range(args.repeats):
            w, rss, cpu = cli_run(path, tmp / "out.json")
            cli_wall.append(w)
            cli_cpu.append(cpu)
            cli_rss.append(rss)
            a, r, n_reps = inproc_run(path)
            inp_wall.append(a)
            inp_read.append(r)
            pd_wall.append(pandas_run(path))
            start.append(cli_startup())
            print(f"run {i + 1}: cli {w:.2f} s (cpu {cpu:.2f} s, {rss:.0f} MiB)  in-process {a:.2f} s (read {r:.2f} s)  "
                  f"pd.read_csv {pd_wall[-1]:.2f} s")
        med = statistics.median
        c, ip, rd, pw, mem = med(cli_wall), med(inp_wall), med(inp_read), med(pd_wall), med(cli_rss)
        print(f"\nmedians of {args.repeats} runs, {duration:.0f} s recording, {n_reps} reps found:")
        print(f"  imu-pipeline analyze (subprocess) : {c:8.2f} s   {duration / c:7.0f}x real time   "
              f"{c / pw:5.2f}x bare read   peak RSS {mem:.0f} MiB   CPU {med(cli_cpu):.2f} s")
        print(f"  read_recording + analyze_recording: {ip:8.2f} s   {duration / ip:7.0f}x real time   "
              f"{ip / pw:5.2f}x bare read   (read_recording {rd:.2f} s = {rd / pw:.2f}x bare read)")
        print(f"  pd.read_csv (bare read)           : {pw:8.2f} s")
        print(f"  imu-pipeline --help (startup only): {med(start):8.2f} s")
        ok = c / pw <= 3.0
        print(f"  target <= 3x bare read (CLI): {'MET' if ok else 'MISSED'}; "
              f">= 1000x real time (CLI): {'MET' if duration / c >= 1000 else 'MISSED'}")
        if args.profile or not ok:
            profile(path, args.top)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
