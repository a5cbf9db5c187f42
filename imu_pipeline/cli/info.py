"""``imu-pipeline info``: describe a recording."""

from __future__ import annotations

import argparse
import dataclasses
import json


def _cmd_info(args: argparse.Namespace) -> int:
    from imu_pipeline.cli.options import config_from
    from imu_pipeline.errors import UsageError
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.report.info import info_dict

    cfg = config_from(args).front
    if args.gap is not None:
        if not args.gap > 0:
            raise UsageError(f"--gap must be positive, got {args.gap}")
        cfg = dataclasses.replace(cfg, max_gap_s=args.gap)
    rec = read_recording(args.recording, require_both=False, warn=False)
    info = info_dict(rec, cfg)
    analysis_gap = config_from(args).front.max_gap_s
    if args.gap is not None and args.gap < analysis_gap:
        info["warnings"].append(f"outages here are intervals over --gap {args.gap:g} s; the analysis bridges "
                                f"intervals up to {analysis_gap:g} s (front.max_gap_s), so it has hip flexion "
                                "in the shorter ones")
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"recording   {info['recording']}")
    print(f"duration    {info['duration_s']:.2f} s ({info['start_s']:.2f} to {info['end_s']:.2f} s)")
    ex = rec.meta.get("exercise")
    if ex:
        print(f"exercise    {ex}")
    for s, si in info["sensors"].items():
        mount = si["mounting"]
        mtxt = f"x={mount.get('x')}, y={mount.get('y')}" if mount else "not declared"
        decl = f" (declared {si['declared_rate_hz']:g} Hz)" if si["declared_rate_hz"] else ""
        rate = f"{si['rate_hz']:.1f} Hz" if si["rate_hz"] is not None else "rate unknown"
        cov = 100 * (si["coverage"] or 0.0)
        span = (f"{si['first_s']:.2f} to {si['last_s']:.2f} s" if si["first_s"] is not None else "no samples")
        print(f"{s:<11} {si['samples']} samples, {rate}{decl}, {span}, covers {cov:.1f} % of the session, "
              f"mounting {mtxt}")
    if info["gaps"]:
        print("outages (no samples):")
        for g in info["gaps"]:
            print(f"  {g['sensor']:<7} {g['start_s']:9.3f} -> {g['end_s']:9.3f} s  ({g['duration_s']:.3f} s, "
                  f"{g['where']})")
    else:
        print("outages (no samples): none")
    for ev in rec.events():
        print(f"event       {ev.get('time_s'):.3f} s {ev.get('sensor', '')} {ev.get('kind', '')}")
    for w in info["warnings"]:
        print(f"warning: {w}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a recording: duration, rates, coverage, outages, mounting",
                       description="Describe a format v1 recording (CSV + JSON sidecar): per sensor the samples, "
                                   "rate, the span it covered and every outage, including at the start and end.")
    p.add_argument("recording", help="recording .csv")
    p.add_argument("--gap", type=float, default=None,
                   help="an interval longer than this (s) is an outage (default: the config's front.max_gap_s, "
                        "or 2.5 sample intervals for slow sensors)")
    p.add_argument("--config", metavar="CONFIG.toml", help="front-half settings (configs/default.toml)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=_cmd_info)
