"""Streaming pipeline (``imu_pipeline.pipeline.live.LivePipeline``) replayed as fast as it goes.

A simulated two-sensor, 200 Hz session (default 60 min; 1 % of 5-sample packets lost, host time
stamps jittered ±1.5 ms) is cut into packets of ``--packet``
samples per sensor and pushed in stream-time order (the order a BLE receiver would see them).
Prints, as medians of ``--repeats`` replays:

* throughput: samples / wall time spent inside ``push()``/``finish()``;
* CPU share for real time: 400 samples/s (2 sensors x 200 Hz) / throughput
  (target <= 5 % of one core);
* latency per rep: stream time (newest sample pushed) at which ``push()`` returned the rep
  minus the rep's ``end_s`` (target <= 0.5 s); median / 95th percentile / max;
* memory after 10 vs 60 min of stream: process RSS (VmRSS) during the timed replays, and in a
  separate replay under ``tracemalloc`` the Python heap current/peak (target: flat).

Usage::

    python bench/bench_live.py [--minutes 60] [--repeats 3] [--packet 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

try:
    from imu_pipeline.pipeline.live import LivePipeline
except ImportError:  # pragma: no cover
    print("imu_pipeline.pipeline.live.LivePipeline is not available in this checkout: nothing to benchmark.", file=sys.stderr)
    sys.exit(2)
from imu_pipeline.simulate import SimulationOptions, simulate_session
from _common import machine  # noqa: E402  (bench/ is on sys.path when run as a script)


RATE_HZ = 200.0
MARKS_MIN = (10.0, 60.0)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def make_session(minutes: float, seed: int):
    # ~7.6 s per rep with 4.8..6.8 s rest: 490 reps (the simulator's limit is 500) ~ 62 min
    n_reps = max(1, min(500, round(490 * minutes / 60)))
    opts = SimulationOptions(seed=seed, pose="lying", n_reps=n_reps, thigh_rate_hz=RATE_HZ, pelvis_rate_hz=RATE_HZ,
                             noise=1.0, packet_loss=0.01, packet_samples=5, jitter_s=0.0015,
                             rest_s=(4.8, 6.8))
    t0 = time.perf_counter()
    sim = simulate_session(opts)
    print(f"simulated {n_reps} reps, {sim.duration_s / 60:.1f} min, "
          f"{sum(len(s) for s in sim.recording.sensors.values())} samples in {time.perf_counter() - t0:.1f} s")
    return sim


def packets(rec, size: int):
    """(sensor, t, acc, gyr) packets of both sensors, ordered by their newest time stamp."""
    out = []
    for s, ss in rec.sensors.items():
        for a in range(0, len(ss), size):
            b = min(a + size, len(ss))
            out.append((float(ss.time_s[b - 1]), s, ss.time_s[a:b].copy(), ss.acc[a:b].copy(), ss.gyr[a:b].copy()))
    out.sort(key=lambda p: p[0])
    return [p[1:] for p in out]


def new_pipeline(rec) -> LivePipeline:
    mounting = {s: rec.sensor_meta(s).get("mounting") for s in rec.sensors}
    rates = {s: rec.sensor_meta(s).get("sample_rate_hz") for s in rec.sensors}
    return LivePipeline(mounting, rec.meta.get("exercise"), sample_rates=rates)


def replay(rec, pkts, t0_stream: float, trace: bool = False) -> dict:
    """One replay; returns wall time in push/finish, latencies and memory at the marks."""
    lp = new_pipeline(rec)
    marks = [t0_stream + m * 60.0 for m in MARKS_MIN]
    mem: dict[float, tuple[float, float, float]] = {}
    lat: list[float] = []
    n = 0
    busy = 0.0
    newest = -np.inf  # stream time: the newest sample pushed
    if trace:
        tracemalloc.start()
    for sensor, t, acc, gyr in pkts:
        c0 = time.perf_counter()
        reps = lp.push(sensor, t, acc, gyr)
        busy += time.perf_counter() - c0
        n += len(t)
        newest = max(newest, float(t[-1]))
        for r in reps:
            lat.append(newest - r.end_s)
        while marks and newest >= marks[0]:
            cur, peak = tracemalloc.get_traced_memory() if trace else (np.nan, np.nan)
            mem[(marks[0] - t0_stream) / 60.0] = (rss_mib(), cur / 2**20, peak / 2**20)
            marks.pop(0)
    c0 = time.perf_counter()
    tail = lp.finish()
    busy += time.perf_counter() - c0
    if trace:
        tracemalloc.stop()
    return {"busy": busy, "n": n, "lat": lat, "n_reps": len(lp.reps), "n_finish": len(tail), "mem": mem,
            "calibrated": lp.calibration is not None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--packet", type=int, default=10, help="samples per packet per sensor (10 = 50 ms at 200 Hz)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--no-trace", action="store_true", help="skip the tracemalloc replay")
    args = ap.parse_args(argv)

    print(machine())
    sim = make_session(args.minutes, args.seed)
    rec = sim.recording
    pkts = packets(rec, args.packet)
    t0_stream = rec.t_start
    print(f"{len(pkts)} packets of {args.packet} samples; truth reps: {len(sim.truth_reps)}")

    runs = []
    for i in range(args.repeats):
        r = replay(rec, pkts, t0_stream)
        runs.append(r)
        lat = np.asarray(r["lat"])
        print(f"run {i + 1}: {r['n'] / r['busy']:,.0f} samples/s, {r['n_reps']} reps "
              f"({r['n_finish']} at finish), latency median {np.median(lat) if lat.size else np.nan:.3f} s "
              f"max {lat.max() if lat.size else np.nan:.3f} s; RSS " +
              ", ".join(f"{k:.0f} min {v[0]:.0f} MiB" for k, v in sorted(r["mem"].items())), flush=True)

    med = statistics.median
    sps = med(r["n"] / r["busy"] for r in runs)
    share = 2 * RATE_HZ / sps
    lat = np.asarray(runs[0]["lat"])  # deterministic: the same in every replay
    print(f"\nmedians of {args.repeats} replays of {args.minutes:.0f} min, packets of {args.packet} samples/sensor:")
    print(f"  throughput            : {sps:12,.0f} samples/s  ({sps / (2 * RATE_HZ):,.0f}x real time)")
    print(f"  CPU for 2 x 200 Hz    : {100 * share:11.2f} % of one core   target <= 5 %: "
          f"{'MET' if share <= 0.05 else 'MISSED'}")
    if lat.size:
        p95 = float(np.percentile(lat, 95))
        print(f"  rep latency (n={lat.size}) : median {np.median(lat):.3f} s, p95 {p95:.3f} s, max {lat.max():.3f} s, "
              f"min {lat.min():.3f} s   target <= 0.5 s (max): {'MET' if lat.max() <= 0.5 else 'MISSED'}"
              f" ({100 * np.mean(lat <= 0.5):.0f} % of reps within)")
    else:
        print("  rep latency: no rep returned by push()")
    for k in sorted(runs[0]["mem"]):
        print(f"  RSS after {k:3.0f} min      : {med(r['mem'][k][0] for r in runs if k in r['mem']):8.1f} MiB")
    if not args.no_trace:
        r = replay(rec, pkts, t0_stream, trace=True)
        for k, (_, cur, peak) in sorted(r["mem"].items()):
            print(f"  tracemalloc {k:3.0f} min  : current {cur:8.2f} MiB, peak {peak:8.2f} MiB")
        m = r["mem"]
        if len(m) == 2:
            (a, b) = sorted(m)
            grow = m[b][1] - m[a][1]
            print(f"  heap growth {a:.0f} -> {b:.0f} min: {grow:+.2f} MiB   target flat: "
                  f"{'MET' if abs(grow) < 1.0 else 'MISSED'} (threshold 1 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
