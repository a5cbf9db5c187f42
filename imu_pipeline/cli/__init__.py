"""``imu-pipeline`` command line: one entry point, one subcommand per job.

User mistakes (bad files, bad options) end with a one-line message on stderr and exit
status 2; they never show a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from imu_pipeline import __version__
from imu_pipeline.config import ConfigError
from imu_pipeline.frames import MountingError
from imu_pipeline.calibration import CalibrationError
from imu_pipeline.io.recording import RecordingError


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _cmd_info(args: argparse.Namespace) -> int:
    from imu_pipeline.io.recording import info_dict, read_recording

    rec = read_recording(args.recording, require_both=False, warn=False)
    info = info_dict(rec, max_gap_s=args.gap)
    if args.json:
        print(json.dumps(info, indent=2, default=float))
        return 0
    print(f"recording   {info['recording']}")
    print(f"duration    {info['duration_s']:.2f} s")
    ex = rec.meta.get("exercise")
    if ex:
        print(f"exercise    {ex}")
    for s, si in info["sensors"].items():
        mount = si["mounting"]
        mtxt = f"x={mount.get('x')}, y={mount.get('y')}" if mount else "not declared"
        decl = f" (declared {si['declared_rate_hz']:g} Hz)" if si["declared_rate_hz"] else ""
        print(f"{s:<11} {si['samples']} samples, {si['rate_hz']:.1f} Hz{decl}, "
              f"{100 * si['missing_fraction']:.1f}% missing, mounting {mtxt}")
    if info["gaps"]:
        print(f"gaps > {args.gap:g} s:")
        for g in info["gaps"]:
            print(f"  {g['sensor']:<7} {g['start_s']:9.3f} -> {g['end_s']:9.3f} s  ({g['duration_s']:.3f} s)")
    else:
        print(f"gaps > {args.gap:g} s: none")
    for ev in rec.events():
        print(f"event       {ev.get('time_s'):.3f} s {ev.get('sensor', '')} {ev.get('kind', '')}")
    for w in info["warnings"]:
        print(f"warning: {w}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from imu_pipeline.simulate import SimulationOptions, simulate_session, write_simulation

    try:
        opts = SimulationOptions.from_cli(args)
    except ValueError as e:
        raise UserError(str(e)) from None
    if not str(args.out).endswith(".csv"):
        raise UserError(f"{args.out}: the recording name must end in .csv")
    sim = simulate_session(opts)
    paths = write_simulation(sim, args.out, overwrite=args.force)
    n = len(sim.truth_reps)
    print(f"wrote {paths['csv']} (+ sidecar, truth): {opts.pose} session, {n} reps, "
          f"{sim.duration_s:.1f} s, thigh {opts.thigh_rate_hz:g} Hz, pelvis {opts.pelvis_rate_hz:g} Hz")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="imu-pipeline",
        description="Thigh + pelvis IMUs -> hip flexion, pelvic tilt and a verdict on every leg raise.",
    )
    p.add_argument("--version", action="version", version=f"imu-pipeline {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    pi = sub.add_parser("info", help="describe a recording: duration, rates, gaps, mounting, warnings",
                        description="Describe a format v1 recording (CSV + JSON sidecar).")
    pi.add_argument("recording", help="recording .csv")
    pi.add_argument("--gap", type=float, default=0.1, help="report gaps longer than this (s, default 0.1)")
    pi.add_argument("--json", action="store_true", help="print as JSON")
    pi.set_defaults(func=_cmd_info)

    from imu_pipeline.simulate import add_cli_arguments

    ps = sub.add_parser("simulate", help="write a simulated session with ground truth",
                        description="Simulate a pelvis + thigh body doing leg raises; writes OUT.csv, OUT.json, "
                                    "OUT.truth.csv and OUT.truth.json.")
    add_cli_arguments(ps)
    ps.set_defaults(func=_cmd_simulate)

    for register in _extra_commands():
        register(sub)
    return p


#: Modules that add their own subcommands through ``register(subparsers)``.
COMMAND_MODULES = ("imu_pipeline.cli.analyze", "imu_pipeline.cli.replay", "imu_pipeline.evaluate", "imu_pipeline.cli.record")


def _extra_commands() -> list:
    import importlib
    import importlib.util

    regs = []
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            regs.append(importlib.import_module(name).register)
    return regs


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, RecordingError, ConfigError, MountingError, CalibrationError, FileExistsError,
            FileNotFoundError) as e:
        print(f"imu-pipeline {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"imu-pipeline {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` etc.: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
