"""``imu-pipeline analyze``: the main job on a stored recording."""

from __future__ import annotations

import argparse
import json
import warnings


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze_recording
    from .cli import UserError
    from .config import load_config
    from .kinematics import CalibrationError
    from .recording import read_recording
    from .summary import plot_session, summary_dict, summary_text, write_angles_csv, write_json

    from pathlib import Path

    from .recording import sidecar_path

    protected = {Path(args.recording).resolve(), sidecar_path(args.recording).resolve()}
    for opt, p in (("--json", args.json), ("--angles", args.angles), ("--plot", args.plot)):
        if p and Path(p).resolve() in protected:
            stem = Path(args.recording).with_suffix("")
            raise UserError(f"{opt} {p} would overwrite the recording itself (its CSV or JSON sidecar); "
                            f"choose another name, e.g. {stem}.summary.json / {stem}.angles.csv / {stem}.png")
    cfg = load_config(args.config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # load warnings are carried in rec.warnings and printed below
        rec = read_recording(args.recording)
    try:
        an = analyze_recording(rec, cfg, pose=args.pose)
    except CalibrationError as e:
        raise UserError(str(e)) from None
    if args.angles:
        write_angles_csv(an, args.angles)
    if args.json:
        write_json(an, args.json)
    if args.plot:
        plot_session(an, args.plot)
    if args.print_json:
        print(json.dumps(summary_dict(an), indent=2))
    elif not args.quiet:
        print(summary_text(an))
    for what, p in (("angles", args.angles), ("summary", args.json), ("plot", args.plot)):
        if p and not args.quiet and not args.print_json:
            print(f"wrote {what}: {p}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse a recording: reps, labels, momentum, tempo (the main job)",
                       description="Hip flexion and pelvic tilt from a recording, then every rep labelled "
                                   "hip-flexor-only or abdominal-engaging, with momentum flags and tempo.")
    p.add_argument("recording", help="recording .csv (format v1; the .json sidecar beside it is read)")
    p.add_argument("--json", metavar="OUT.json", help="write the machine summary (docs/summary-format.md)")
    p.add_argument("--angles", metavar="OUT.csv", help="write time_s,hip_flexion_deg,pelvic_tilt_deg")
    p.add_argument("--plot", metavar="OUT.png", help="write a plot of the session")
    p.add_argument("--config", metavar="CONFIG.toml", help="thresholds and filter settings (configs/default.toml)")
    p.add_argument("--pose", choices=("lying", "hanging"), help="override the start-pose detection")
    p.add_argument("--print-json", action="store_true", help="print the JSON summary instead of text")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing (use with --json/--angles/--plot)")
    p.set_defaults(func=_cmd_analyze)
