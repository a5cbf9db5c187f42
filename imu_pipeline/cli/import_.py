"""``imu-pipeline import``: vendor exports (Movella DOT, MbientLab MetaBase, Xsens MT Manager,
phyphox, WitMotion, format v1 with other sensor names) -> one format v1 recording + sidecar.

The module is ``import_`` because ``import`` is a Python keyword; the command is ``import``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from imu_pipeline.errors import MountingError, OutputError, OutputExistsError, UsageError
from imu_pipeline.frames import mounting_matrix


def parse_mounting(text: str, option: str) -> dict[str, str]:
    """``x=superior,y=right`` (the words of the sidecar's and the sensors config's ``mounting``)
    -> ``{"x": "superior", "y": "right"}``, checked (two perpendicular anatomical directions)."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, eq, word = part.partition("=")
        key = key.strip().lower()
        if not eq or key not in ("x", "y", "z") or not word.strip():
            raise UsageError(f"{option} {text!r}: expected x=WORD,y=WORD (e.g. x=superior,y=right), with WORD one of "
                             "superior, inferior, anterior, posterior, left, right")
        if key in out:
            raise UsageError(f"{option} {text!r}: '{key}' given twice")
        out[key] = word.strip().lower()
    try:
        mounting_matrix(out, where=option)
    except MountingError as e:
        raise UsageError(str(e)) from None
    return out


def _cmd_import(args: argparse.Namespace) -> int:
    from imu_pipeline import __version__
    from imu_pipeline.config import load_config
    from imu_pipeline.io.recording import read_recording, sidecar_path
    from imu_pipeline.io.vendor import (
        FORMAT_NAMES,
        align_sensors,
        check_overlap,
        epoch_iso,
        gap_warnings,
        read_sensor,
        split_selection,
        swap_warning,
    )
    from imu_pipeline.io.writer import write_recording
    from imu_pipeline.report.files import remove_quietly

    out = Path(args.out)
    if out.suffix != ".csv":
        raise UsageError(f"{out}: the recording name must end in .csv")
    mounts = {"thigh": parse_mounting(args.thigh_mounting, "--thigh-mounting") if args.thigh_mounting else None,
              "pelvis": parse_mounting(args.pelvis_mounting, "--pelvis-mounting") if args.pelvis_mounting else None}
    targets = (out, sidecar_path(out))
    inputs = {split_selection(a)[0].resolve() for a in [*args.thigh, *args.pelvis]}
    for p in targets:
        if p.resolve() in inputs:
            raise UsageError(f"{p} is one of the input files; choose another output name")
        if p.is_dir():
            raise OutputError(f"{p}: is a folder; give a recording name (NAME.csv)")
        if p.exists() and not args.force:
            raise OutputExistsError(f"{p}: already exists (use --force to overwrite)")
    cfg = load_config(args.config)
    data = {"thigh": read_sensor(args.thigh, "thigh", cfg.front),
            "pelvis": read_sensor(args.pelvis, "pelvis", cfg.front)}
    sensors, clock_warnings, abs_zero = align_sensors(data)
    check_overlap(data, sensors, abs_zero, cfg.calibration.min_overlap_s)
    warnings = list(dict.fromkeys([w for d in data.values() for w in d.warnings]))  # one file for both: once
    warnings += clock_warnings + gap_warnings(sensors, cfg.front)
    swapped = swap_warning(sensors)
    if swapped:
        warnings.append(swapped)
    meta_sensors: dict[str, Any] = {}
    origin: dict[str, Any] = {}
    for role, d in data.items():
        sm: dict[str, Any] = {"model": d.model, "sample_rate_hz": round(float(d.rate_hz), 6)}
        if d.info.get("address"):
            sm["address"] = d.info["address"]
        mounting = mounts[role] or d.mounting
        if mounting:
            sm["mounting"] = dict(mounting)
        meta_sensors[role] = sm
        origin[role] = {"format": FORMAT_NAMES[d.fmt], "files": [str(p) for p in d.files],
                        **({"selection": d.selection} if d.selection else {}),
                        **({"header": {k: v for k, v in d.info.items() if k != "address"}} if d.info else {})}
    carried: dict[str, Any] = {}  # a format v1 source's own keys (exercise, subject, ...): the thigh's first
    for d in data.values():
        for k, v in d.meta.items():
            if k in carried and carried[k] != v:
                warnings.append(f"'{k}' differs between the thigh's and the pelvis's sidecars; kept the thigh's")
            carried.setdefault(k, v)
    meta: dict[str, Any] = {**carried, "sensors": meta_sensors,
                            "imported_from": {"tool": f"imu-pipeline {__version__} import", **origin,
                                              "warnings": warnings}}
    if args.exercise:
        meta["exercise"] = args.exercise
    if abs_zero is not None:
        meta["started_at"] = epoch_iso(abs_zero)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_recording(out, sensors, meta, overwrite=True)
    except OSError as e:
        raise OutputError(f"cannot write {out}: {e.strerror or e}") from None
    try:
        rec = read_recording(out, require_both=True, warn=False)  # the result must be a valid recording
    except Exception:
        for p in targets:
            remove_quietly(p)
        raise
    for w in warnings:
        print(f"imu-pipeline import: warning: {w}", file=sys.stderr)
    dur = rec.t_end - rec.t_start
    print(f"wrote {out} (+ {sidecar_path(out).name}): {dur:.1f} s")
    for role, d in data.items():
        n = len(rec.sensors[role])
        m = meta_sensors[role].get("mounting")
        mtxt = f"mounting x={m['x']}, y={m['y']}" if m else f"mounting not declared (pass --{role}-mounting)"
        print(f"  {role:<7}{FORMAT_NAMES[d.fmt]} ({', '.join(p.name for p in d.files)}): {n} samples, "
              f"{d.rate_hz:.1f} Hz, {mtxt}")
    print(f"next: imu-pipeline analyze {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="convert vendor exports (Movella DOT, MetaBase, MT Manager, phyphox, WitMotion) "
                                      "into a recording",
                       description="Read the thigh's and the pelvis's exported files (format recognised from the "
                                   "content), convert them to SI units on one clock and write a format v1 recording "
                                   "OUT.csv with its sidecar OUT.json. See docs/recording-format.md, 'Converting "
                                   "other data'.")
    p.add_argument("out", metavar="OUT.csv", help="the recording to write (format v1)")
    p.add_argument("--thigh", nargs="+", required=True, metavar="FILE",
                   help="the thigh sensor's export: one file, or two (MetaBase/phyphox accelerometer + gyroscope); "
                        "FILE:NAME picks one sensor of a multi-sensor file (format v1, WitMotion)")
    p.add_argument("--pelvis", nargs="+", required=True, metavar="FILE", help="the pelvis sensor's export, as --thigh")
    p.add_argument("--exercise", help="e.g. lying-leg-raise or hanging-leg-raise (written to the sidecar)")
    p.add_argument("--thigh-mounting", metavar="x=WORD,y=WORD",
                   help="where the thigh sensor's printed x and y axes point: superior, inferior, anterior, posterior, "
                        "left, right (e.g. x=superior,y=right)")
    p.add_argument("--pelvis-mounting", metavar="x=WORD,y=WORD", help="the same for the pelvis sensor")
    p.add_argument("--config", metavar="CONFIG.toml",
                   help="settings (configs/default.toml): [front] gap rule for the gaps reported, [calibration] "
                        "min_overlap_s for the time both sensors must have recorded together")
    p.add_argument("--force", action="store_true", help="overwrite OUT.csv / OUT.json")
    p.set_defaults(func=_cmd_import)
