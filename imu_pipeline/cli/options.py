"""Options shared by the commands that analyse: config, pose, and the output files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from imu_pipeline.config import PipelineConfig, load_config
from imu_pipeline.errors import UsageError
from imu_pipeline.io.recording import CSV_COLUMNS, sidecar_path
from imu_pipeline.pipeline.offline import SessionAnalysis


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """``--config`` and ``--pose``: what decides the analysis."""
    p.add_argument("--config", metavar="CONFIG.toml", help="thresholds and filter settings (configs/default.toml)")
    p.add_argument("--pose", choices=("lying", "hanging"), help="override the start-pose detection")


def check_pose_and_exercise(pose: str | None, exercise: str | None) -> None:
    """Refuse a ``--pose`` that contradicts the ``--exercise`` named (``--exercise hanging-leg-raise
    --pose lying``): the one rule for every command that takes both. An exercise whose name gives no
    pose (:func:`~imu_pipeline.calibration.infer_pose`) contradicts nothing."""
    from imu_pipeline.calibration import infer_pose

    said = infer_pose(exercise)
    if pose and said and pose != said:
        raise UsageError(f"--exercise {exercise} is a {said} exercise but --pose {pose} was given; give only one "
                         f"of them, or make them agree (--pose {said})")


def add_output_options(p: argparse.ArgumentParser) -> None:
    """``--json``, ``--angles``, ``--plot``, ``--print-json``, ``--quiet``: what is written."""
    p.add_argument("--json", metavar="OUT.json", help="write the machine summary (docs/summary-format.md)")
    p.add_argument("--angles", metavar="OUT.csv",
                   help="write time_s,hip_flexion_deg,pelvic_tilt_deg,thigh_angle_deg (empty where not measured)")
    p.add_argument("--plot", metavar="OUT.png", help="write a plot of the session (.png, .pdf or .svg)")
    p.add_argument("--print-json", action="store_true", help="print the JSON summary instead of text")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing (use with --json/--angles/--plot)")


def config_from(args: argparse.Namespace) -> PipelineConfig:
    return load_config(getattr(args, "config", None))


def check_outputs(args: argparse.Namespace, recording: str) -> None:
    """Before any work: refuse a plot type we cannot write, outputs that would overwrite the
    recording or each other, and outputs that cannot be written (a folder, a missing or read-only
    folder: tried, so it holds for root too)."""
    from imu_pipeline.report.files import check_output_file
    from imu_pipeline.report.plot import check_plot_path

    if args.plot:
        check_plot_path(args.plot)
    protected = [Path(recording), sidecar_path(recording)]
    stem = Path(recording).with_suffix("")
    seen: dict[Path, str] = {}
    for opt, p in (("--json", args.json), ("--angles", args.angles), ("--plot", args.plot)):
        if not p:
            continue
        out = Path(p)
        if any(_same_file(out, q) for q in protected):
            raise UsageError(f"{opt} {p} would overwrite the recording itself (its CSV or JSON sidecar); "
                             f"choose another name, e.g. {stem}.summary.json / {stem}.angles.csv / {stem}.png")
        if out.resolve() in seen:
            raise UsageError(f"{opt} {p}: the same file as {seen[out.resolve()]}; give each output its own name")
        seen[out.resolve()] = opt
        check_output_file(out, what=opt)
        if _is_recording(out):
            raise UsageError(f"{opt} {p} is a recording (its first line is the recording header); outputs never "
                             "overwrite recordings — choose another name")


def _same_file(a: Path, b: Path) -> bool:
    """The same file on disk (also through a hard or symbolic link), or the same path."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _is_recording(p: Path) -> bool:
    """An existing file whose first line is a format v1 recording header."""
    try:
        with open(p, "rb") as f:
            head = f.readline(200).decode("utf-8-sig", errors="replace")
    except OSError:
        return False
    return [h.strip() for h in head.strip().split(",")] == list(CSV_COLUMNS)


def write_outputs(an: SessionAnalysis, args: argparse.Namespace) -> None:
    """Write the files asked for and print the summary (text or JSON) unless quiet."""
    from imu_pipeline.report.summary import summary_dict, summary_json, write_json
    from imu_pipeline.report.text import summary_text

    written = []
    if args.angles:
        from imu_pipeline.report.angles import write_angles_csv

        write_angles_csv(an, args.angles)
        written.append(("angles", args.angles))
    if args.json:
        write_json(an, args.json)
        written.append(("summary", args.json))
    if args.plot:
        from imu_pipeline.report.plot import plot_session

        plot_session(an, args.plot)
        written.append(("plot", args.plot))
    if args.print_json:
        from imu_pipeline.cli import console_can_show

        d = summary_dict(an)
        text = summary_json(d)
        if not console_can_show(text):  # \u escapes: the same JSON on an ASCII-only console
            text = summary_json(d, ascii_only=True)
        print(text, end="")
    elif not args.quiet:
        print(summary_text(an))
        for what, p in written:
            print(f"wrote {what}: {p}")
