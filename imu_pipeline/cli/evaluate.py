"""``imu-pipeline evaluate``: accuracy against simulated sessions with ground truth."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from typing import Any


def _fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from imu_pipeline.errors import UsageError
    from imu_pipeline.evaluate import fault_matrix, per_rate, rate_matrix, score_session, session_matrix, summarize
    from imu_pipeline.report.files import check_output_file, write_text

    if args.sessions < 1:
        raise UsageError(f"--sessions must be at least 1, got {args.sessions}")
    if args.first_seed < 0:
        raise UsageError(f"--first-seed must be >= 0, got {args.first_seed}")
    if args.json:  # before the sessions run: a folder, a missing or read-only folder
        check_output_file(args.json, what="--json")
    opts = {"sessions": lambda: session_matrix(args.sessions, args.first_seed), "faults": fault_matrix,
            "rates": rate_matrix}[args.matrix]()
    scores = []
    for o in opts:
        s = score_session(o, live=not args.no_live)
        scores.append(s)
        if not args.quiet:
            live = "" if s.live_same_reps is None else \
                f"  live: same reps {s.live_same_reps}, hip vs offline {s.live_hip_rmse_vs_offline_deg:.2f}°, " \
                f"latency {s.live_max_latency_s:.2f} s"
            print(f"seed {s.seed} {s.pose:<7} {s.rates_hz[0]:g}/{s.rates_hz[1]:g} Hz  hip {s.hip_rmse_deg:.2f}°  "
                  f"tilt {s.tilt_rmse_deg:.2f}°  reps {s.found_reps}/{s.truth_reps}  labels {s.labels_correct}/{s.labelled_reps}"
                  f"{live}", flush=True)
    summ = summarize(scores)
    print("\n".join(f"{k}: {_fmt(v)}" for k, v in summ.items()))
    if args.matrix == "rates":
        for rate, d in per_rate(scores).items():
            print(f"{rate:g} Hz: hip RMSE worst {d['worst_hip_rmse_deg']:.2f}°, tilt worst {d['worst_tilt_rmse_deg']:.2f}°, "
                  f"reps {d['found_reps']}/{d['reps']}, labels {d['labels_correct']}/{d['labelled_reps']}, "
                  f"confidently wrong {d['confidently_wrong_labels']}")
    if args.json:
        text = json.dumps({"summary": summ, "sessions": [asdict(s) for s in scores]}, indent=2,
                          default=lambda o: None if isinstance(o, float) and math.isnan(o) else o)
        write_text(args.json, text + "\n", what="scores")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="measure accuracy against simulated sessions with ground truth",
                       description="Simulate a matrix of hard sessions and score angles, rep counts, labels, "
                                   "momentum flags and the live path against the truth.")
    p.add_argument("--matrix", choices=("sessions", "faults", "rates"), default="sessions",
                   help="sessions: the main matrix (--sessions of them); faults: low rates, 20° straps, disconnects, "
                        "a sensor silent alone, walking in and out, a persisting swing; rates: both sensors at "
                        "10-200 Hz")
    p.add_argument("--sessions", type=int, default=24, help="number of sessions (default 24)")
    p.add_argument("--first-seed", type=int, default=1000, help="seed of the first session")
    p.add_argument("--no-live", action="store_true", help="skip the live-path comparison")
    p.add_argument("--json", metavar="OUT.json", help="write every session's scores")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary")
    p.set_defaults(func=_cmd_evaluate)
