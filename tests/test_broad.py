"""The orientation stage on real data: three BROAD trials (optical ground truth).

Data: D. Laidig, M. Caruso, A. Cereatti, T. Seel, "BROAD — A Benchmark for Robust Inertial
Orientation Estimation", Data 6(7):72, 2021, CC BY 4.0 (tests/data/BROAD-README.md). The copies in
tests/data keep t, fs, acc, gyr (float32), quat_gt (float32) and movement.

Reference inclination RMSE (VQF / offlineVQF, 6D, default parameters) from that README:
02 slow rotation 0.43 / 0.31, 07 fast rotation 1.02 / 0.96, 15 fast translation 0.47 / 0.56 deg.
"""

from pathlib import Path

import numpy as np
import pytest

from imu_pipeline.config import OrientationConfig
from imu_pipeline.frames import quat_to_matrix
from imu_pipeline.orientation import orient_uniform

DATA = Path(__file__).parent / "data"
REFERENCE = {  # trial: (online VQF, offlineVQF) inclination RMSE, deg
    "02_undisturbed_slow_rotation_B": (0.43, 0.31),
    "07_undisturbed_fast_rotation_B": (1.02, 0.96),
    "15_undisturbed_fast_translation_A": (0.47, 0.56),
}


def inclination_rmse_deg(trial: str, offline: bool) -> float:
    d = np.load(DATA / f"broad_{trial}.npz")
    up, _, _ = orient_uniform(d["acc"].astype(float), d["gyr"].astype(float), float(d["fs"]), OrientationConfig(),
                              offline=offline)
    q = d["quat_gt"].astype(float)
    ok = d["movement"] & np.isfinite(q).all(axis=1)
    up_true = quat_to_matrix(q[ok])[:, 2, :]  # third row of R (sensor -> ENU): up in the sensor frame
    cosang = np.clip(np.sum(up_true * up[ok], axis=1), -1, 1)
    return float(np.degrees(np.sqrt(np.mean(np.arccos(cosang) ** 2))))


@pytest.mark.parametrize("trial", sorted(REFERENCE))
@pytest.mark.parametrize("offline", [False, True])
def test_inclination_matches_the_reference(trial: str, offline: bool) -> None:
    ref = REFERENCE[trial][1 if offline else 0]
    rmse = inclination_rmse_deg(trial, offline)
    assert rmse == pytest.approx(ref, abs=0.03), f"{trial} {'offline' if offline else 'online'}: {rmse:.3f} vs {ref}"
