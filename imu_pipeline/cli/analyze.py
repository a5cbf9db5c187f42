"""``imu-pipeline analyze``: the main job on a stored recording."""

from __future__ import annotations

import argparse
import json


def _cmd_analyze(args: argparse.Namespace) -> int:
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.cli import UserError
    from imu_pipeline.config import load_config
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.report.summary import plot_session, summary_dict, summary_text, write_angles_csv, write_json

    from pathlib import Path

    from imu_pipeline.io.recording import sidecar_path

    protected = {Path(args.recording).resolve(), sidecar_path(args.recording).resolve()}
    for opt, p in (("--json", args.json), ("--angles", args.angles), ("--plot", args.plot)):
        if p and Path(p).resolve() in protected:
            stem = Path(args.recording).with_suffix("")
            raise UserError(f"{opt} {p} would overwrite the recording itself (its CSV or JSON sidecar); "
                            f"choose another name, e.g. {stem}.summary.json / {stem}.angles.csv / {stem}.png")
    cfg = load_config(args.config)
    rec = read_recording(args.recording, warn=False)  # load warnings are in rec.warnings, printed below
    an = analyze_recording(rec, cfg, pose=args.pose)
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
    register_batch(sub)


def _cmd_batch(args: argparse.Namespace) -> int:
    """Analyse many recordings: one summary JSON each, one table of all reps, one of sessions."""
    import csv
    from pathlib import Path

    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.cli import UserError
    from imu_pipeline.config import ConfigError, load_config
    from imu_pipeline.calibration import CalibrationError
    from imu_pipeline.io.recording import RecordingError, read_recording
    from imu_pipeline.report.summary import summary_dict, write_json

    cfg = load_config(args.config)
    files: list[Path] = []
    for item in args.inputs:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*.csv") if not f.name.endswith((".truth.csv", ".angles.csv")))
        elif p.exists():
            files.append(p)
        else:
            raise UserError(f"{p}: no such file or directory")
    if not files:
        raise UserError("no recordings (.csv) found in " + ", ".join(args.inputs))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rep_rows, session_rows, failed = [], [], 0
    for f in files:
        try:
            rec = read_recording(f, warn=False)
            an = analyze_recording(rec, cfg, pose=args.pose)
        except (RecordingError, CalibrationError, ConfigError) as e:
            failed += 1
            print(f"skipped {f}: {e}")
            session_rows.append({"recording": str(f), "status": "error", "error": str(e)})
            continue
        d = summary_dict(an)
        write_json(an, out / f"{f.stem}.summary.json")
        t = d["totals"]
        session_rows.append({"recording": str(f), "status": "ok", "error": "", "exercise": d["exercise"],
                             "duration_s": d["duration_s"], "reps": t["reps"],
                             "abdominal_engaging": t["abdominal_engaging"], "momentum": t["momentum"],
                             "back_arch": t["back_arch"], "confidence": d["calibration"]["confidence"]})
        for r in d["reps"]:
            rep_rows.append({"recording": str(f), **{k: (";".join(v) if isinstance(v, list) else v)
                                                     for k, v in r.items() if k != "decided_by"}})
        print(f"{f}: {t['reps']} reps, {t['abdominal_engaging']} abdominal-engaging, {t['momentum']} with momentum")
    for name, rows in (("sessions.csv", session_rows), ("reps.csv", rep_rows)):
        if rows:
            keys = list(dict.fromkeys(k for r in rows for k in r))
            with open(out / name, "w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=keys)
                w.writeheader()
                w.writerows(rows)
    print(f"{len(files) - failed} of {len(files)} recordings analysed; tables in {out}/sessions.csv and {out}/reps.csv")
    return 0 if failed == 0 else 1


def register_batch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="analyse many recordings into per-session JSON and one table of all reps",
                       description="Analyse every recording given (files, or directories searched for .csv), "
                                   "writing OUT/NAME.summary.json, OUT/sessions.csv and OUT/reps.csv. A recording "
                                   "that cannot be analysed is reported and skipped (exit status 1).")
    p.add_argument("inputs", nargs="+", help="recording .csv files or directories")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--config", metavar="CONFIG.toml", help="thresholds and filter settings")
    p.add_argument("--pose", choices=("lying", "hanging"), help="override the start-pose detection")
    p.set_defaults(func=_cmd_batch)
