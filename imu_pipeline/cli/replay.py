"""``imu-pipeline replay``: a stored recording through the live (streaming) path."""

from __future__ import annotations

import argparse

from imu_pipeline.cli.options import (
    add_analysis_options,
    add_output_options,
    check_outputs,
    config_from,
    write_outputs,
)
from imu_pipeline.errors import UsageError


def parse_speed(text: str) -> float | None:
    """``max`` -> None (as fast as possible); else a positive factor of real time."""
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise UsageError(f"--speed: expected a number or 'max', got {text!r}") from None
    if not speed > 0:
        raise UsageError("--speed must be positive (1 = real time)")
    return speed


def _cmd_replay(args: argparse.Namespace) -> int:
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.replay import live_session, replay

    speed = parse_speed(args.speed)
    check_outputs(args, args.recording)
    cfg = config_from(args)
    rec = read_recording(args.recording, warn=False)
    quiet = args.quiet or args.print_json
    if not quiet:
        for w in rec.warnings:
            print(f"warning: {w}")

    def show(r, tc):
        if not quiet:
            print(f"[{tc:7.2f} s] {r}", flush=True)

    lp, _ = replay(rec, speed, show, cfg=cfg, pose=args.pose, keep_angles=True)
    an = live_session(rec, lp)
    if not quiet:
        print()
    write_outputs(an, args)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a recording through the live path with per-rep feedback",
                       description="Feed a stored recording through the streaming filter and rep detector, "
                                   "printing each rep as the live session would, then the session summary "
                                   "(the same schema as analyze's with --json).")
    p.add_argument("recording", help="recording .csv")
    p.add_argument("--speed", default="max", help="1 = real time, N = N times faster, max = as fast as possible")
    add_output_options(p)
    add_analysis_options(p)
    p.set_defaults(func=_cmd_replay)
