"""``imu-pipeline replay``: a stored recording through the live (streaming) path."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator

import numpy as np

from imu_pipeline.io.recording import Recording

#: Stream time (s) delivered per push, like a BLE notification burst.
REPLAY_CHUNK_S = 0.05


def iter_chunks(rec: Recording, chunk_s: float = REPLAY_CHUNK_S) -> Iterator[tuple[float, str, slice]]:
    """``(stream_time, sensor, index slice)`` in arrival order, ``chunk_s`` of stream at a time."""
    idx = {s: 0 for s in rec.sensors}
    tc = rec.t_start
    while tc <= rec.t_end + chunk_s:
        tc += chunk_s
        for s, ss in rec.sensors.items():
            j = int(np.searchsorted(ss.time_s, tc, side="right"))
            if j > idx[s]:
                yield tc, s, slice(idx[s], j)
                idx[s] = j


def replay(rec: Recording, speed: float | None = None, on_rep: Callable | None = None, *, cfg=None,
           pose: str | None = None, keep_angles: bool = False):
    """Feed ``rec`` through :class:`~imu_pipeline.pipeline.live.LivePipeline`; ``speed`` None = as fast as possible.

    Returns the pipeline (its ``reps``, ``calibration``, ``angles()``) and the list of
    ``(rep, stream time at which it was reported)``.
    """
    from imu_pipeline.pipeline.live import LivePipeline

    lp = LivePipeline({s: rec.sensor_meta(s).get("mounting") for s in rec.sensors}, rec.meta.get("exercise"), cfg,
                      pose=pose, sample_rates={s: rec.sensor_meta(s).get("sample_rate_hz") for s in rec.sensors},
                      keep_angles=keep_angles)
    reported = []
    wall0 = time.monotonic()
    for tc, s, sl in iter_chunks(rec):
        if speed:
            delay = (tc - rec.t_start) / speed - (time.monotonic() - wall0)
            if delay > 0:
                time.sleep(delay)
        ss = rec.sensors[s]
        for r in lp.push(s, ss.time_s[sl], ss.acc[sl], ss.gyr[sl]):
            reported.append((r, tc))
            if on_rep:
                on_rep(r, tc)
    for r in lp.finish():
        reported.append((r, rec.t_end))
        if on_rep:
            on_rep(r, rec.t_end)
    return lp, reported


def _cmd_replay(args: argparse.Namespace) -> int:
    from imu_pipeline.cli import UserError
    from imu_pipeline.config import load_config
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.reps.core import LABEL_ABDOMINAL

    speed: float | None
    if args.speed == "max":
        speed = None
    else:
        try:
            speed = float(args.speed)
        except ValueError:
            raise UserError(f"--speed: expected a number or 'max', got {args.speed!r}") from None
        if speed <= 0:
            raise UserError("--speed must be positive (1 = real time)")
    cfg = load_config(args.config)
    rec = read_recording(args.recording, warn=False)
    for w in rec.warnings:
        print(f"warning: {w}")

    def show(r, tc):
        print(f"[{tc:7.2f} s] {r}", flush=True)

    lp, reps = replay(rec, speed, show, cfg=cfg, pose=args.pose)
    if lp.calibration is None:
        raise UserError(lp.calibration_error or "the stream never showed the start pose; no angles could be computed")
    n = len(lp.reps)
    ab = sum(r.label == LABEL_ABDOMINAL for r in lp.reps)
    mom = sum(r.momentum for r in lp.reps)
    print(f"\n{rec.name}: {n} reps, {ab} abdominal-engaging, {n - ab} hip-flexor-only, {mom} with momentum "
          f"(live path; calibration {lp.calibration.pose}, confidence {lp.calibration.confidence})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a recording through the live path with per-rep feedback",
                       description="Feed a stored recording through the streaming filter and rep detector, "
                                   "printing each rep as the live session would.")
    p.add_argument("recording", help="recording .csv")
    p.add_argument("--speed", default="max", help="1 = real time, N = N times faster, max = as fast as possible")
    p.add_argument("--config", metavar="CONFIG.toml", help="thresholds and filter settings")
    p.add_argument("--pose", choices=("lying", "hanging"), help="override the start-pose detection")
    p.set_defaults(func=_cmd_replay)
