"""The offline path: a whole recording -> front half -> orientation -> calibration -> angles -> reps.

Wiring only; every step is its own module. The offline path uses the future where it is cheap
and better (``offlineVQF``); everything else is the code the live path runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from imu_pipeline.calibration import Calibrator
from imu_pipeline.config import PipelineConfig
from imu_pipeline.exercise_set import NotExercise, SetFinder, blank_outside_exercise
from imu_pipeline.front import DataQuality, front_half_offline, slower_rate_hz
from imu_pipeline.io.recording import SENSORS, Recording
from imu_pipeline.joint_angles import JointAngles, joint_angles
from imu_pipeline.orientation import GridSignals, OfflineOrientation
from imu_pipeline.reps import Rep, analyze_reps, window_from_angles
from imu_pipeline.reps.assess import doubt_label


@dataclass
class SessionAnalysis:
    """Everything known about one session.

    Attributes
    ----------
    recording : the input
    quality : DataQuality from the front half (outages, coverage, rates)
    angles : JointAngles on the common grid (with the calibration)
    reps : the assessed reps
    config : the PipelineConfig used
    path : 'offline' or 'live'
    not_exercise : stretches that were not the exercise (walking, out of the pose)
    not_reps : movements the segmenter found that were not reps, with the reason
    """

    recording: Recording
    quality: DataQuality
    angles: JointAngles
    reps: list[Rep]
    config: PipelineConfig
    path: str = "offline"
    not_exercise: list[NotExercise] = field(default_factory=list)
    not_reps: list[NotExercise] = field(default_factory=list)

    @property
    def pose(self) -> str:
        return self.angles.calibration.pose


def declared_mounting(rec: Recording) -> dict[str, np.ndarray | None]:
    """Per sensor the sidecar's declared ``R_seg_sensor`` (None where not declared)."""
    return {s: rec.mounting(s) for s in SENSORS}


def orientation_offline(rec: Recording, cfg: PipelineConfig, *, fork: bool = True) -> tuple[GridSignals, DataQuality]:
    """Front half and ``offlineVQF`` over a whole recording (``fork``: see :class:`OfflineOrientation`)."""
    rows, quality = front_half_offline(rec, cfg.front)
    sig = OfflineOrientation(cfg.orientation, cfg.front.grid_rate_hz, fork=fork).estimate(rows).result_
    return sig, quality


def analyze_recording(rec: Recording, cfg: PipelineConfig | None = None, *, pose: str | None = None,
                      mounting: dict[str, np.ndarray | None] | None = None, fork: bool = True) -> SessionAnalysis:
    """Angles and reps of a whole recording (offline path).

    Parameters
    ----------
    rec : the recording (both sensors)
    cfg : pipeline config (defaults when None)
    pose : 'lying' or 'hanging' to override the start-pose detection
    mounting : per-sensor ``R_seg_sensor`` to override the sidecar's declaration
    fork : a long recording's two orientation filters may run in two processes (False: one; the
        results are the same)

    Raises
    ------
    CalibrationError
        When the data cannot give trustworthy angles (the message says what to do).
    """
    cfg = cfg or PipelineConfig()
    sig, quality = orientation_offline(rec, cfg, fork=fork)
    mnt = mounting if mounting is not None else declared_mounting(rec)
    cal = Calibrator(cfg.calibration, cfg.set_finding).fit(sig, mnt, pose=pose, exercise=rec.meta.get("exercise"),
                                          where=rec.name).calibration_
    ang = joint_angles(sig, cal, cfg.set_finding.strike_max_thigh_tilt_deg)
    reps = analyze_reps(window_from_angles(ang, cfg.front.grid_rate_hz, cfg.reps.max_extension_deg), cfg, cal.pose,
                        slower_rate_hz(quality.sensors))
    finder = SetFinder(cfg.set_finding, cal.pose)
    finder.push(ang.time_s, ang.pelvis_pose_dev, ang.impact_acc_norm)
    reps = keep_exercise(reps, finder)
    if quality.clock_offset_s is not None:  # hip flexion = thigh - pelvis from different moments
        reps = [doubt_label(r, f"low: the sensors' clocks look {abs(quality.clock_offset_s):.2f} s out of step "
                               "(data_quality.suspected_clock_offset_s); hip flexion and tilt may be wrong")
                for r in reps]
    spans = finder.spans()
    return SessionAnalysis(rec, quality, blank_outside_exercise(ang, spans), reps, cfg, not_exercise=spans,
                           not_reps=finder.rejected_)


def keep_exercise(reps: list[Rep], finder: SetFinder, first_index: int = 0) -> list[Rep]:
    """The reps ``finder`` judges to be the exercise, numbered on from ``first_index``."""
    out = []
    for r in reps:
        if finder.judge(r.start_s, r.end_s) is None:
            out.append(dataclasses.replace(r, index=first_index + len(out)))
    return out
