"""Orientation stage on the BROAD trials: throughput and inclination RMSE, side by side.

Filters compared in one run (magnetometer-free, 6D):

* the project's orientation call ``orient_uniform(acc, gyr, fs, OrientationConfig(), offline=...)``
  (``vqf.offlineVQF``, and causal ``vqf.VQF`` with ``offline=False``) at the trial's own rate;
* ``ahrs.filters.Madgwick`` with its DEFAULT gain (0.033 for IMU) and ``frequency=fs``;
* ``imufusion.Ahrs`` with its DEFAULT ``AhrsSettings`` (gain 0.5, NWU, no gyroscope range,
  acceleration rejection off) except ``sample_rate=fs``; inputs converted to deg/s and g.

Inclination error = angle between the true and the estimated 'up' (opposite to gravity)
direction in the sensor frame; RMSE over ``movement`` rows with finite ``quat_gt``
(BROAD's metric without heading; quat_gt is [w x y z] sensor -> ENU).

The quaternion convention of each third-party library (sensor->earth or its conjugate, z up
or down) was checked in their source and on the data: both give sensor -> earth with z up;
the mean cosine between that 'up' and the normalised accelerometer is printed as a check.

Throughput = samples / wall time of the filter call alone (median of ``--repeats``).

The BROAD files are read from ``../shared/data/broad`` relative to the repository root
(override with ``--data``); they are not copied into the repository.

Usage::

    pip install ahrs imufusion      # or: pip install -e '.[bench]'
    python bench/bench_orientation.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from imu_pipeline.config import OrientationConfig
from imu_pipeline.frames import up_in_sensor_frame
from imu_pipeline.orientation import orient_uniform
from _common import machine  # noqa: E402  (bench/ is on sys.path when run as a script)


REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "broad"
TRIALS = ("02_undisturbed_slow_rotation_B", "07_undisturbed_fast_rotation_B", "15_undisturbed_fast_translation_A")
REFERENCE = {  # README of the data: VQF (online) / offlineVQF inclination RMSE, deg
    "02_undisturbed_slow_rotation_B": (0.43, 0.31),
    "07_undisturbed_fast_rotation_B": (1.02, 0.96),
    "15_undisturbed_fast_translation_A": (0.47, 0.56),
}
G = 9.80665


def conj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def lib_up(q: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, str]:
    """'Up' in the sensor frame from a library quaternion [w x y z], sensor -> earth, z up.

    Both ahrs (Madgwick, ENU-like with acc2q start) and imufusion (NWU by default) give the
    sensor->earth rotation with the earth z axis up, so the up vector is the third row of
    the rotation.  As a sanity check (no truth used) the note reports the mean cosine between
    that up vector and the normalised accelerometer; it should be close to 1.
    """
    up = up_in_sensor_frame(q)
    a = acc / np.linalg.norm(acc, axis=1, keepdims=True)
    return up, f"cos(up, acc) mean {np.nanmean(np.sum(up * a, axis=1)):.3f}"


# --- the filters: each returns (time_s of the estimate, up (N,3), convention note) ------------

def run_project(t, acc, gyr, fs, offline: bool):
    up, _, _ = orient_uniform(acc, gyr, fs, OrientationConfig(), offline=offline)
    return t, up, "project"


def run_madgwick(t, acc, gyr, fs):
    from ahrs.filters import Madgwick

    q = Madgwick(gyr=gyr, acc=acc, frequency=fs).Q  # default gain_imu = 0.033
    up, note = lib_up(q, acc)
    return t, up, note


def run_imufusion(t, acc, gyr, fs):
    import imufusion

    ahrs = imufusion.Ahrs()
    settings = imufusion.AhrsSettings()  # defaults
    settings.sample_rate = float(fs)
    ahrs.set_settings(settings)
    g_deg = np.ascontiguousarray(np.degrees(gyr))
    a_g = np.ascontiguousarray(acc / G)
    q = np.empty((len(t), 4))
    upd = ahrs.update_no_magnetometer
    get = ahrs.get_quaternion
    for i in range(len(t)):
        upd(g_deg[i], a_g[i])
        q[i] = get()
    up, note = lib_up(q, acc)
    return t, up, note


def inclination_rmse(t_est, up_est, t, quat_gt, movement) -> float:
    ok = movement & np.all(np.isfinite(quat_gt), axis=1)
    up_true = up_in_sensor_frame(np.where(np.isfinite(quat_gt), quat_gt, [1.0, 0, 0, 0]))[ok]
    ue = np.column_stack([np.interp(t[ok], t_est, up_est[:, i], left=np.nan, right=np.nan) for i in range(3)])
    ue /= np.linalg.norm(ue, axis=1, keepdims=True)
    cosang = np.clip(np.sum(ue * up_true, axis=1), -1.0, 1.0)
    err = np.degrees(np.arccos(cosang))
    err = err[np.isfinite(err)]
    return float(np.sqrt(np.mean(err**2)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"BROAD .npz folder (default {DEFAULT_DATA})")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    files = [args.data / f"{name}.npz" for name in TRIALS]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print("BROAD trials not found:\n  " + "\n  ".join(missing)
              + "\nPut them in ../shared/data/broad (relative to the repository root) or pass --data DIR.",
              file=sys.stderr)
        return 2

    filters: dict[str, Callable] = {
        "project offlineVQF": lambda *a: run_project(*a, offline=True),
        "project VQF (causal)": lambda *a: run_project(*a, offline=False),
    }
    try:
        import ahrs.filters  # noqa: F401
        filters["ahrs Madgwick (default gain)"] = run_madgwick
    except ImportError:
        print("ahrs not installed (pip install ahrs): Madgwick skipped", file=sys.stderr)
    try:
        import imufusion  # noqa: F401
        filters["imufusion Ahrs (defaults)"] = run_imufusion
    except ImportError:
        print("imufusion not installed (pip install imufusion): skipped", file=sys.stderr)

    print(machine())
    print(f"data: {args.data}; {args.repeats} timed runs per filter and trial (median)\n")
    rows = []
    for f in files:
        d = np.load(f)
        t, acc, gyr, fs = d["t"], d["acc"], d["gyr"], float(d["fs"])
        quat_gt, movement = d["quat_gt"], d["movement"].astype(bool)
        for name, fn in filters.items():
            walls = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                t_est, up, note = fn(t, acc, gyr, fs)
                walls.append(time.perf_counter() - t0)
            w = statistics.median(walls)
            rmse = inclination_rmse(t_est, up, t, quat_gt, movement)
            rows.append((f.stem, name, len(t) / w, rmse, note))
            print(f"{f.stem[:28]:28s} {name:30s} {len(t) / w:12,.0f} samples/s  RMSE {rmse:5.2f} deg   [{note}]",
                  flush=True)
        ref = REFERENCE[f.stem]
        print(f"{'':28s} {'reference (README)':30s} {'':12s}             VQF {ref[0]:.2f} / offlineVQF {ref[1]:.2f} deg\n")

    print("summary (median samples/s over trials; RMSE per trial 02 / 07 / 15):")
    for name in filters:
        r = [x for x in rows if x[1] == name]
        sps = statistics.median(x[2] for x in r)
        print(f"  {name:30s} {sps:12,.0f} samples/s   RMSE " + " / ".join(f"{x[3]:.2f}" for x in r) + " deg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
