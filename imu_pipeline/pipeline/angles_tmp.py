"""The filtering stage, offline: recording -> per-sensor VQF -> common grid -> calibrated
hip flexion and pelvic tilt. One call, :func:`estimate_angles`."""

from __future__ import annotations

import numpy as np

from imu_pipeline.config import PipelineConfig
from imu_pipeline.orientation import OfflineOrientation, common_grid, to_grid
from imu_pipeline.calibration import Calibrator, GridSignals, JointAngles, joint_angles
from imu_pipeline.io.recording import SENSORS, Recording



def grid_signals(rec: Recording, cfg: PipelineConfig, *, offline: bool = True) -> GridSignals:
    """Orientation of both sensors (``offlineVQF``, or causal ``VQF`` when ``offline=False``)
    on the common grid at ``cfg.fusion.grid_rate_hz``."""
    grid = common_grid(rec.t_start, rec.t_end, cfg.fusion.grid_rate_hz)
    up, gyr, rest = {}, {}, {}
    for s in SENSORS:
        declared = rec.sensor_meta(s).get("sample_rate_hz")
        o = OfflineOrientation(cfg.fusion, offline=offline).estimate(rec.sensors[s], declared).result_
        up[s], gyr[s], rest[s] = to_grid(o, grid)
    return GridSignals(grid, up, gyr, rest)


def mounting_from(rec: Recording) -> dict[str, np.ndarray | None]:
    return {s: rec.mounting(s) for s in SENSORS}


def estimate_angles(rec: Recording, cfg: PipelineConfig | None = None, *, pose: str | None = None,
                    mounting: dict[str, np.ndarray | None] | None = None, offline: bool = True) -> JointAngles:
    """Hip flexion and pelvic tilt (rad) of a whole recording on the common grid.

    Parameters
    ----------
    rec : the recording (both sensors)
    cfg : pipeline config (defaults when None)
    pose : 'lying' or 'hanging' to override the start-pose detection
    mounting : per-sensor ``R_seg_sensor`` to override the sidecar's declaration
    offline : ``offlineVQF`` (acausal, default) or the causal ``VQF``

    Raises
    ------
    CalibrationError
        When the data cannot give trustworthy angles (the message says what to do).
    """
    cfg = cfg or PipelineConfig()
    sig = grid_signals(rec, cfg, offline=offline)
    mnt = mounting if mounting is not None else mounting_from(rec)
    cal = Calibrator(cfg.calibration).fit(sig, mnt, pose=pose, exercise=rec.meta.get("exercise"),
                                          where=rec.name).calibration_
    return joint_angles(sig, cal)
