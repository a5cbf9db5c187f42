"""Offline analysis speed on realistic timestamps, as whole processes.

Input: ``imu-pipeline simulate`` of a 30-minute lying session (360 reps), two sensors at 200 Hz,
host time stamps jittered by ±1.5 ms (as a BLE host writes them) and 5-sample packets lost at
0 %, 1 % (the headline case) and 5 %. For each case, alternating ``--repeats`` times:

* ``imu-pipeline analyze REC.csv --json OUT.json -q`` as a child process (wall, CPU, peak RSS);
* a child process that only does ``import pandas; pandas.read_csv(REC.csv)`` (the bare read).

Prints medians, real time / analyze (target >= 1000x), analyze / bare read (target <= 3x) and,
across cases, the 5 % loss time / the 0 % loss time (target <= 1.2x: no cliff). Figures only,
no asserts. ``--profile`` adds a cProfile of the in-process analysis of the 1 % case.

Usage::

    python bench/bench_offline.py [--repeats 7] [--minutes 30] [--profile]
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

from _common import machine  # noqa: E402  (bench/ is on sys.path when run as a script)

CASES = (("1 % loss", 0.01), ("0 % loss", 0.0), ("5 % loss", 0.05))
JITTER_MS = 1.5
PACKET_SAMPLES = 5


def imu_pipeline_exe() -> str:
    return shutil.which("imu-pipeline") or str(Path(sys.executable).with_name("imu-pipeline"))


def make_recording(out_dir: Path, minutes: float, seed: int, loss: float) -> tuple[Path, float, int]:
    """Simulate in a child process (so this process stays small)."""
    n_reps = max(1, min(500, round(360 * minutes / 30)))
    path = out_dir / f"bench_{int(loss * 100)}pct.csv"
    subprocess.run([imu_pipeline_exe(), "simulate", str(path), "--seed", str(seed), "--pose", "lying",
                    "--reps", str(n_reps), "--thigh-rate", "200", "--pelvis-rate", "200",
                    "--packet-loss", str(loss), "--packet-samples", str(PACKET_SAMPLES),
                    "--jitter-ms", str(JITTER_MS), "--rest", "1.6", "3.6", "--force"],
                   check=True, stdout=subprocess.DEVNULL)
    duration = json.loads(path.with_suffix(".truth.json").read_text())["duration_s"]
    n = sum(1 for _ in path.open()) - 1
    return path, duration, n


def child(cmd: list[str]) -> tuple[float, float, float]:
    """Wall time (s), CPU time (user+sys, s) and peak RSS (MiB) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr.read().decode() if p.stderr else ''}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def analyze_cmd(path: Path, out: Path) -> list[str]:
    return [imu_pipeline_exe(), "analyze", str(path), "--json", str(out), "-q"]


def read_cmd(path: Path) -> list[str]:
    return [sys.executable, "-c", f"import pandas; pandas.read_csv({str(path)!r})"]


def profile(path: Path, top: int) -> None:
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording

    pr = cProfile.Profile()
    pr.enable()
    analyze_recording(read_recording(path))
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).strip_dirs().sort_stats("tottime").print_stats(top)
    print(f"\n--- cProfile of the in-process analysis, top {top} by own time ---")
    print("\n".join(line for line in s.getvalue().splitlines() if line.strip()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)

    print(machine())
    med = statistics.median
    tmp = Path(tempfile.mkdtemp(prefix="imu_bench_"))
    results: dict[str, float] = {}
    try:
        for name, loss in CASES:
            path, duration, n = make_recording(tmp, args.minutes, args.seed, loss)
            print(f"\n{name}: {duration:.0f} s, {n} samples, {path.stat().st_size / 1e6:.1f} MB CSV, "
                  f"±{JITTER_MS} ms jitter, {PACKET_SAMPLES}-sample packets")
            child(read_cmd(path))  # warm the page cache
            an, rd, cpu, rss = [], [], [], []
            for i in range(args.repeats):
                w, c, m = child(analyze_cmd(path, tmp / "out.json"))
                an.append(w)
                cpu.append(c)
                rss.append(m)
                rd.append(child(read_cmd(path))[0])
            a, r = med(an), med(rd)
            results[name] = a
            print(f"  analyze (process): median {a:.2f} s (runs {min(an):.2f}-{max(an):.2f}), CPU {med(cpu):.2f} s, "
                  f"peak RSS {med(rss):.0f} MiB")
            print(f"  bare pandas read (process): median {r:.2f} s (runs {min(rd):.2f}-{max(rd):.2f})")
            print(f"  real time / analyze: {duration / a:.0f}x (target >= 1000x: {'MET' if duration / a >= 1000 else 'MISSED'})"
                  f";  analyze / bare read: {a / r:.2f}x (target <= 3x: {'MET' if a / r <= 3 else 'MISSED'})")
            if args.profile and loss == 0.01:
                profile(path, args.top)
        cliff = results["5 % loss"] / results["0 % loss"]
        print(f"\n5 % loss / 0 % loss: {cliff:.2f}x (target <= 1.2x: {'MET' if cliff <= 1.2 else 'MISSED'})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
