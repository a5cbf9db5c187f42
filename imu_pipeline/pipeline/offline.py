"""Offline analysis of a recording: angles (filtering stage) then reps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_pipeline.pipeline.angles_tmp import estimate_angles
from imu_pipeline.config import PipelineConfig
from imu_pipeline.calibration import JointAngles
from imu_pipeline.io.recording import Recording
from imu_pipeline.reps.core import Rep, analyze_reps, window_from_angles


@dataclass
class SessionAnalysis:
    recording: Recording
    angles: JointAngles
    reps: list[Rep]
    config: PipelineConfig

    @property
    def pose(self) -> str:
        return self.angles.calibration.pose


def analyze_recording(rec: Recording, cfg: PipelineConfig | None = None, *, pose: str | None = None,
                      mounting: dict[str, np.ndarray | None] | None = None) -> SessionAnalysis:
    """Angles and reps of a whole recording (offline path)."""
    cfg = cfg or PipelineConfig()
    ang = estimate_angles(rec, cfg, pose=pose, mounting=mounting)
    w = window_from_angles(ang.time_s, ang.hip_flexion, ang.pelvic_tilt, ang.thigh_angle, ang.thigh_rate,
                           ang.pelvis_rate, cfg.fusion.grid_rate_hz)
    reps = analyze_reps(w, cfg, ang.calibration.pose)
    return SessionAnalysis(rec, ang, reps, cfg)
