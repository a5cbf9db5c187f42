"""``imu-pipeline replay``: a stored recording through the live (streaming) path."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from imu_pipeline.cli.options import (
    add_analysis_options,
    add_output_options,
    check_outputs,
    config_from,
    write_outputs,
)
from imu_pipeline.cli.view_options import add_view_options
from imu_pipeline.errors import ImuPipelineError, UsageError


def parse_speed(text: str) -> float | None:
    """``max`` -> None (as fast as possible); else a finite factor of real time from
    :data:`~imu_pipeline.pipeline.replay.MIN_SPEED` (0.01) upwards; anything else is a UsageError."""
    from imu_pipeline.pipeline.replay import MIN_SPEED

    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise UsageError(f"--speed: expected a number (1 = real time) or 'max', got {text!r}") from None
    if not (math.isfinite(speed) and speed >= MIN_SPEED):
        raise UsageError(f"--speed must be a number from {MIN_SPEED:g} (100 times slower than real time) upwards "
                         f"(1 = real time), or 'max'; got {text!r}")
    return speed


def _cmd_replay(args: argparse.Namespace) -> int:
    from imu_pipeline.cli.view_options import check_view_args
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.replay import live_session, replay

    check_view_args(args)
    # with the coach view, real time unless told: "max" would end the session before a page opens
    speed = parse_speed(args.speed if args.speed is not None else ("1" if args.view else "max"))
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

    if args.view:
        return _replay_with_view(args, rec, speed, cfg, show)
    lp, _ = replay(rec, speed, show, cfg=cfg, pose=args.pose, keep_angles=True)
    an = live_session(rec, lp)
    if not quiet:
        print()
    write_outputs(an, args)
    return 0


def _replay_with_view(args: argparse.Namespace, rec: Any, speed: float | None, cfg: Any,
                      show: Callable[[Any, float], None]) -> int:
    """``replay --view``: the same replay, published to the coach view; the finished session is
    served until Ctrl-C. A session the analysis refuses (or cannot analyse) is served too, the
    refusal in the page's verdict line; after Ctrl-C the error ends the command (exit status 2)."""
    from imu_pipeline.cli.view_options import serve_until_interrupted, start_view
    from imu_pipeline.pipeline.replay import live_pipeline_for, live_session
    from imu_pipeline.report.coach_feed import replay_to_view
    from imu_pipeline.report.html import session_trace
    from imu_pipeline.report.summary import summary_dict

    server = start_view(args, {"title": rec.name, "source": "replay", "speed": args.speed or "1"})
    try:
        lp = live_pipeline_for(rec, cfg, pose=args.pose, keep_angles=True)
        try:
            replay_to_view(rec, lp, server, speed, show)
        except KeyboardInterrupt:
            print("replay interrupted")
            server.stop()
            return 130
        try:
            an = live_session(rec, lp)
            if not (args.quiet or args.print_json):
                print()
            write_outputs(an, args)
        except ImuPipelineError as e:
            refused = lp.calibrator_.refused_ is not None
            title = "Analysis refused" if refused else "No analysis of this session"
            server.publish_error(str(e), title)
            serve_until_interrupted(server, what=f"{title.lower()}: {e}\nthe page shows this")
            raise
        server.publish_summary(summary_dict(an), session_trace(an, 20.0))
    except BaseException:
        server.stop()
        raise
    return serve_until_interrupted(server)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a recording through the live path with per-rep feedback",
                       description="Feed a stored recording through the streaming filter and rep detector, "
                                   "printing each rep as the live session would, then the session summary "
                                   "(the same schema as analyze's with --json).")
    p.add_argument("recording", help="recording .csv")
    p.add_argument("--speed", default=None,
                   help="1 = real time, N = N times faster (0.01 or more), max = as fast as possible (default max; "
                        "1 with --view)")
    add_output_options(p)
    add_analysis_options(p)
    add_view_options(p)
    p.set_defaults(func=_cmd_replay)
