"""``imu-pipeline simulate``: a physically simulated session with its ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from imu_pipeline.simulate.options import POSES, REP_KINDS

if TYPE_CHECKING:
    from imu_pipeline.simulate import SimulationOptions


#: SimulationOptions fields -> the flags that set them (for error messages).
FLAGS = {"thigh_rate_hz": "--thigh-rate", "pelvis_rate_hz": "--pelvis-rate", "packet_loss": "--packet-loss",
         "packet_samples": "--packet-samples", "jitter_s": "--jitter-ms (in s)", "touch_and_go": "--touch-and-go",
         "misalignment_deg": "--misalignment", "n_reps": "--reps", "rest_s": "--rest", "seed": "--seed",
         "fidgets": "--fidgets", "noise": "--noise", "silent": "--silent", "silent_s": "--silent-s", "rep kind(s)": "--mix kind(s)", "rep mix": "--mix"}


def options_from_args(args: argparse.Namespace) -> SimulationOptions:
    """SimulationOptions from the parsed command line (ValueError on bad values)."""
    from imu_pipeline.simulate import SimulationOptions

    mix = tuple(k.strip() for k in args.mix.split(",") if k.strip())
    return SimulationOptions(seed=args.seed, pose=args.pose, n_reps=args.reps, mix=mix,
               thigh_rate_hz=args.thigh_rate, pelvis_rate_hz=args.pelvis_rate, noise=args.noise,
               packet_loss=args.packet_loss, packet_samples=args.packet_samples,
               jitter_s=args.jitter_ms / 1000.0, disconnect=args.disconnect, start_still=not args.no_start_still,
               end_still=not args.no_end_still, rest_s=(args.rest[0], args.rest[1]), touch_and_go=args.touch_and_go,
               misalignment_deg=args.misalignment, declare_mounting=not args.no_mounting, fidgets=args.fidgets,
               walk_in_out=args.walk_in_out, silent=args.silent or "", silent_s=args.silent_s)


def add_cli_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output recording path (NAME.csv)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--pose", choices=POSES, default="lying", help="lying or hanging leg raises")
    p.add_argument("--reps", type=int, default=8, help="number of reps (default 8)")
    p.add_argument("--mix", default="hip-flexor,abdominal,fast,drop,bounce",
                   help=f"comma-separated rep kinds drawn in turn: {', '.join(REP_KINDS)}")
    p.add_argument("--thigh-rate", type=float, default=100.0, help="thigh sensor rate, Hz")
    p.add_argument("--pelvis-rate", type=float, default=100.0, help="pelvis sensor rate, Hz")
    p.add_argument("--noise", type=float, default=1.0, help="noise/bias level multiplier (0 = ideal)")
    p.add_argument("--packet-loss", type=float, default=0.0, help="probability of losing a packet")
    p.add_argument("--packet-samples", type=int, default=0,
                   help="samples per BLE packet (default 0: 20-40 ms of samples)")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="host time stamps off by up to ± this, ms")
    p.add_argument("--disconnect", action="store_true", help="one sensor drops out for a few seconds")
    p.add_argument("--no-start-still", action="store_true", help="start moving at once")
    p.add_argument("--no-end-still", action="store_true", help="no still period at the end")
    p.add_argument("--rest", type=float, nargs=2, default=(0.8, 2.5), metavar=("MIN", "MAX"),
                   help="rest between reps, s")
    p.add_argument("--touch-and-go", type=float, default=0.0, help="fraction of reps with no rest after")
    p.add_argument("--misalignment", type=float, default=12.0, help="strap misalignment up to this, deg")
    p.add_argument("--no-mounting", action="store_true", help="do not declare the mounting in the sidecar")
    p.add_argument("--fidgets", type=int, default=0, help="number of small non-rep twitches")
    p.add_argument("--walk-in-out", action="store_true",
                   help="walk in, lie down / step up to the bar, the set, get up / step down, walk out")
    p.add_argument("--silent", metavar="SENSOR:WHEN", default="",
                   help="one sensor silent alone: thigh|pelvis : start (starts late) | middle | end (dies)")
    p.add_argument("--silent-s", type=float, default=15.0, help="how long --silent lasts, s (default 15)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def _cmd_simulate(args: argparse.Namespace) -> int:
    from imu_pipeline.errors import UsageError
    from imu_pipeline.simulate import simulate_session, write_simulation

    try:
        opts = options_from_args(args)
    except ValueError as e:  # name the command-line flag, not the Python field
        msg = str(e)
        for field, flag in FLAGS.items():
            msg = msg.replace(field, flag)
        raise UsageError(msg) from None
    if not str(args.out).endswith(".csv"):
        raise UsageError(f"{args.out}: the recording name must end in .csv")
    _check_folder(Path(args.out))
    sim = simulate_session(opts)
    paths = write_simulation(sim, args.out, overwrite=args.force)
    n = len(sim.truth_reps)
    print(f"wrote {paths['csv']} (+ sidecar, truth): {opts.pose} session, {n} reps, "
          f"{sim.duration_s:.1f} s, thigh {opts.thigh_rate_hz:g} Hz, pelvis {opts.pelvis_rate_hz:g} Hz")
    return 0


def _check_folder(out: Path) -> None:
    """Before simulating: the output's folder can be written (missing folders are created, so the
    nearest existing one is tried)."""
    from imu_pipeline.errors import OutputError
    from imu_pipeline.report.files import check_folder_writable

    if out.is_dir():
        raise OutputError(f"{out} is a folder; give a recording name (NAME.csv)")
    folder = next(p for p in (out.parent, *out.parent.parents) if p.exists())
    if not folder.is_dir():
        raise OutputError(f"{out}: {folder} is a file, not a folder")
    check_folder_writable(folder, what=str(out))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="write a simulated session with ground truth",
                       description="Simulate a pelvis + thigh body doing leg raises; writes OUT.csv, OUT.json, "
                                   "OUT.truth.csv and OUT.truth.json.")
    add_cli_arguments(p)
    p.set_defaults(func=_cmd_simulate)
