"""``imu-pipeline analyze``: the main job on a stored recording (offline path)."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu_pipeline.cli.options import (
    add_analysis_options,
    add_output_options,
    check_outputs,
    config_from,
    write_outputs,
)
from imu_pipeline.errors import UsageError


def _cmd_analyze(args: argparse.Namespace) -> int:
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording

    check_outputs(args, args.recording)
    if args.html:
        check_html_output(args, args.recording)
    cfg = config_from(args)
    rec = read_recording(args.recording, warn=False)  # load warnings are in rec.warnings, printed with the summary
    an = analyze_recording(rec, cfg, pose=args.pose)
    write_outputs(an, args)
    if args.html:
        from imu_pipeline.report.html import write_html

        write_html(an, args.html)
        if not (args.quiet or args.print_json):
            print(f"wrote HTML report: {args.html}")
    return 0


def check_html_output(args: argparse.Namespace, recording: str) -> None:
    """``--html``: an .html name, not the recording or another output, in a folder we can write."""
    from imu_pipeline.io.recording import sidecar_path
    from imu_pipeline.report.files import check_output_file

    out = Path(args.html)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--html {args.html}: the report is an HTML file; give a name ending in .html "
                         f"(e.g. {Path(recording).with_suffix('.html')})")
    for q in (Path(recording), sidecar_path(recording)):
        if out.resolve() == q.resolve():
            raise UsageError(f"--html {args.html} would overwrite the recording itself; choose another name")
    for opt in ("json", "angles", "plot"):
        other = getattr(args, opt, None)
        if other and Path(other).resolve() == out.resolve():
            raise UsageError(f"--html {args.html}: the same file as --{opt}; give each output its own name")
    check_output_file(out, what="--html")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse a recording: reps, labels, momentum, tempo (the main job)",
                       description="Hip flexion and pelvic tilt from a recording, then every rep labelled "
                                   "hip-flexor-only or abdominal-engaging, with momentum flags and tempo.")
    p.add_argument("recording", help="recording .csv (format v1; the .json sidecar beside it is read)")
    add_output_options(p)
    p.add_argument("--html", metavar="OUT.html",
                   help="write a self-contained HTML report: zoomable traces, the rep table with what decided "
                        "each verdict, data quality, calibration and thresholds (opens offline; prints well)")
    add_analysis_options(p)
    p.set_defaults(func=_cmd_analyze)
