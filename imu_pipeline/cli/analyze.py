"""``imu-pipeline analyze``: the main job on a stored recording (offline path)."""

from __future__ import annotations

import argparse

from imu_pipeline.cli.options import (
    add_analysis_options,
    add_output_options,
    check_outputs,
    config_from,
    write_outputs,
)


def _cmd_analyze(args: argparse.Namespace) -> int:
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording

    check_outputs(args, args.recording)
    cfg = config_from(args)
    rec = read_recording(args.recording, warn=False)  # load warnings are in rec.warnings, printed with the summary
    write_outputs(analyze_recording(rec, cfg, pose=args.pose), args)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse a recording: reps, labels, momentum, tempo (the main job)",
                       description="Hip flexion and pelvic tilt from a recording, then every rep labelled "
                                   "hip-flexor-only or abdominal-engaging, with momentum flags and tempo.")
    p.add_argument("recording", help="recording .csv (format v1; the .json sidecar beside it is read)")
    add_output_options(p)
    add_analysis_options(p)
    p.set_defaults(func=_cmd_analyze)
