"""``imu-pipeline batch``: many recordings -> one summary JSON each plus sessions and reps tables."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from imu_pipeline.cli.options import add_analysis_options, config_from
from imu_pipeline.errors import ImuPipelineError, OutputError, UsageError
from imu_pipeline.report.files import check_folder_writable, output_error, replacing


def _cmd_batch(args: argparse.Namespace) -> int:
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.report.summary import summary_dict, write_json

    cfg = config_from(args)
    files: list[Path] = []
    for item in args.inputs:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*.csv") if not f.name.endswith((".truth.csv", ".angles.csv")))
        elif p.exists():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such file or directory")
    out = Path(args.out)
    # each file once, and never the tables of an earlier run in the output folder
    files = [f for f in dict.fromkeys(f.resolve() for f in files)
             if f.parent != out.resolve() or f.name not in ("sessions.csv", "reps.csv")]
    if not files:
        raise UsageError("no recordings (.csv) found in " + ", ".join(args.inputs))
    names: dict[str, int] = {}
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise output_error(out, "output folder", e) from None
    check_folder_writable(out, what=f"--out {out}")  # before the first recording is analysed
    rep_rows, session_rows, failed = [], [], 0
    for f in files:
        try:
            rec = read_recording(f, warn=False)
            an = analyze_recording(rec, cfg, pose=args.pose)
        except ImuPipelineError as e:  # a bad file is reported and skipped; the others go on
            failed += 1
            print(f"skipped {f}: {e}")
            session_rows.append({"recording": str(f), "status": "error", "error": str(e)})
            continue
        d = summary_dict(an)
        n = names[f.stem] = names.get(f.stem, 0) + 1  # two recordings with one name: both summaries kept
        write_json(an, out / (f"{f.stem}.summary.json" if n == 1 else f"{f.stem}-{n}.summary.json"))
        t = d["totals"]
        session_rows.append({"recording": str(f), "status": "ok", "error": "", "exercise": d["exercise"],
                             "duration_s": d["duration_s"], "reps": t["reps"],
                             "abdominal_engaging": t["abdominal_engaging"], "momentum": t["momentum"],
                             "back_arch": t["back_arch"], "unlabelled": t["unlabelled"], "partial": t["partial"],
                             "confidence": d["calibration"]["confidence"],
                             **{f"{s}_coverage": q["coverage"] for s, q in d["data_quality"]["sensors"].items()},
                             "outages": len(d["data_quality"]["gaps"])})
        for r in d["reps"]:
            rep_rows.append({"recording": str(f), **{k: (";".join(v) if isinstance(v, list) else v)
                                                     for k, v in r.items() if k != "decided_by"}})
        print(f"{f}: {t['reps']} reps, {t['abdominal_engaging']} abdominal-engaging, {t['momentum']} with momentum")
    for name, rows in (("sessions.csv", session_rows), ("reps.csv", rep_rows)):
        if rows:
            keys = list(dict.fromkeys(k for r in rows for k in r))
            with replacing(out / name, what="table") as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=keys)
                w.writeheader()
                w.writerows(rows)
    print(f"{len(files) - failed} of {len(files)} recordings analysed; tables in {out}/sessions.csv and {out}/reps.csv")
    return 0 if failed == 0 else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="analyse many recordings into per-session JSON and one table of all reps",
                       description="Analyse every recording given (files, or directories searched for .csv), "
                                   "writing OUT/NAME.summary.json, OUT/sessions.csv and OUT/reps.csv. A recording "
                                   "that cannot be analysed is reported and skipped (exit status 1).")
    p.add_argument("inputs", nargs="+", help="recording .csv files or directories")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    add_analysis_options(p)
    p.set_defaults(func=_cmd_batch)
