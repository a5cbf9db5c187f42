"""``imu-pipeline simulate``: a physically simulated session with its ground truth."""

from __future__ import annotations

import argparse


def _cmd_simulate(args: argparse.Namespace) -> int:
    from imu_pipeline.errors import UsageError
    from imu_pipeline.simulate import SimulationOptions, simulate_session, write_simulation

    try:
        opts = SimulationOptions.from_cli(args)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not str(args.out).endswith(".csv"):
        raise UsageError(f"{args.out}: the recording name must end in .csv")
    sim = simulate_session(opts)
    paths = write_simulation(sim, args.out, overwrite=args.force)
    n = len(sim.truth_reps)
    print(f"wrote {paths['csv']} (+ sidecar, truth): {opts.pose} session, {n} reps, "
          f"{sim.duration_s:.1f} s, thigh {opts.thigh_rate_hz:g} Hz, pelvis {opts.pelvis_rate_hz:g} Hz")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from imu_pipeline.simulate import add_cli_arguments

    p = sub.add_parser("simulate", help="write a simulated session with ground truth",
                       description="Simulate a pelvis + thigh body doing leg raises; writes OUT.csv, OUT.json, "
                                   "OUT.truth.csv and OUT.truth.json.")
    add_cli_arguments(p)
    p.set_defaults(func=_cmd_simulate)
