"""Hip flexion and pelvic tilt from calibrated gravity directions (GUIDE §3).

Segment frames follow :mod:`imu_pipeline.frames` (X anterior, Y superior, Z right). Both angles
are rotations about the segment's Z axis, which is horizontal in every leg-raise pose, so each
segment's sagittal angle follows from the direction of gravity in that segment's frame
(inclination): no heading, hence no magnetometer, is needed.

* **thigh angle**: the thigh's sagittal rotation from the start pose in the global frame;
* **pelvic tilt**: the pelvis's, posterior positive (the pubis toward the ribs);
* **hip flexion** = thigh angle − pelvic tilt: the thigh relative to the pelvis, 0 in the start
  pose, positive when the knee moves anteriorly/up. It needs both sensors: where the pelvis is
  missing there is no hip flexion (NaN), only the thigh angle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_pipeline.io.recording import SENSORS
from imu_pipeline.orientation import GridSignals

#: The segment-frame direction that points up in each start pose.
POSE_UP = {"lying": np.array([1.0, 0.0, 0.0]), "hanging": np.array([0.0, 1.0, 0.0])}
POSES = tuple(POSE_UP)


def sagittal_angle(up_seg: np.ndarray, pose: str) -> np.ndarray:
    """Rotation (rad) of a segment about its Z axis from the start pose, from 'up' in the
    segment frame. Positive = flexion (thigh) / posterior tilt (pelvis).

    ``up_seg`` is ``R_z(-theta) @ POSE_UP[pose]`` for a pure sagittal rotation ``theta``;
    out-of-plane components are ignored (projection onto the sagittal plane).
    """
    u0 = POSE_UP[pose]
    cross_z = u0[0] * up_seg[..., 1] - u0[1] * up_seg[..., 0]
    dot = u0[0] * up_seg[..., 0] + u0[1] * up_seg[..., 1]
    return np.arctan2(-cross_z, dot)


def wrap(angle: np.ndarray, low: float) -> np.ndarray:
    """Wrap radians into ``[low, low + 2 pi)``."""
    return (angle - low) % (2 * np.pi) + low


def to_segment(R_seg_sensor: np.ndarray, v_sensor: np.ndarray) -> np.ndarray:
    """Rows of sensor-frame vectors expressed in the segment frame."""
    return v_sensor @ R_seg_sensor.T


def segment_angle(R_seg_sensor: np.ndarray, up_sensor: np.ndarray, pose: str) -> np.ndarray:
    """Sagittal angle (rad) of one segment from its sensor's 'up' (see :func:`sagittal_angle`)."""
    return sagittal_angle(to_segment(R_seg_sensor, up_sensor), pose)


def pose_deviation(R_seg_sensor: np.ndarray, up_sensor: np.ndarray, pose: str) -> np.ndarray:
    """(N,) rad: angle between a segment's 'up' and the pose's vertical (NaN where missing)."""
    u = to_segment(R_seg_sensor, up_sensor)
    return np.arccos(np.clip(u @ POSE_UP[pose], -1.0, 1.0))


@dataclass
class JointAngles:
    """Per-sample angles on the common grid (radians, rad/s inside; NaN where not measured).

    Attributes
    ----------
    time_s : (N,) s, session clock
    hip_flexion : (N,) rad, thigh relative to pelvis, 0 in the start pose, flexion +; NaN where
        either sensor is missing
    pelvic_tilt : (N,) rad, pelvis vs its start pose in the global frame, posterior +
    thigh_angle : (N,) rad, thigh vs its start pose in the global frame (= hip + tilt)
    thigh_rate, pelvis_rate : (N,) rad/s, sagittal angular rates from the gyros
    calibration : the Calibration used
    pelvis_pose_dev : (N,) rad, the pelvis's 'up' from the pose's vertical (finding the set)
    impact_acc_norm : (N,) m/s², |specific force| for foot strikes: the pelvis's, the thigh's where the
        pelvis is missing (a thigh feels the strikes too)
    """

    time_s: np.ndarray
    hip_flexion: np.ndarray
    pelvic_tilt: np.ndarray
    thigh_angle: np.ndarray
    thigh_rate: np.ndarray
    pelvis_rate: np.ndarray
    calibration: Calibration  # noqa: F821  (imu_pipeline.calibration.Calibration)
    pelvis_pose_dev: np.ndarray | None = None
    impact_acc_norm: np.ndarray | None = None

    @property
    def hip_rate(self) -> np.ndarray:
        """(N,) rad/s: hip flexion rate (thigh rate minus pelvis rate; NaN where either is missing)."""
        return self.thigh_rate - self.pelvis_rate

    def to_frame(self):  # -> pandas.DataFrame
        """``time_s, hip_flexion_deg, pelvic_tilt_deg, thigh_angle_deg`` (empty where not measured)."""
        import pandas as pd

        return pd.DataFrame({"time_s": self.time_s, "hip_flexion_deg": np.degrees(self.hip_flexion),
                             "pelvic_tilt_deg": np.degrees(self.pelvic_tilt),
                             "thigh_angle_deg": np.degrees(self.thigh_angle)})


def joint_angles(sig: GridSignals, cal: Calibration, strike_max_thigh_tilt_deg: float = 45.0  # noqa: F821
                 ) -> JointAngles:
    """Hip flexion and pelvic tilt from calibrated gravity directions (pure function); also the
    pelvis's distance from the pose and the specific force for foot strikes (:func:`impact_norm`)."""
    th = {}
    rate = {}
    for s in SENSORS:
        sc = cal.segments[s]
        th[s] = segment_angle(sc.R_seg_sensor, sig.up[s], cal.pose)
        rate[s] = sig.gyr[s] @ sc.R_seg_sensor[2]
    if cal.segments["pelvis"].axis_source == "none":  # no axis, no tilt: and no hip flexion, which needs it
        th["pelvis"] = np.full(len(sig.time_s), np.nan)
        rate["pelvis"] = np.full(len(sig.time_s), np.nan)
    tilt = wrap(th["pelvis"], -np.pi)
    thigh = wrap(th["thigh"], -np.pi / 2)
    hip = wrap(th["thigh"] - th["pelvis"], -2 * np.pi / 3)
    # needs no axis: the pelvis's 'up' against the pose's vertical (its start pose's 'up')
    dev = pose_deviation(cal.segments["pelvis"].R_seg_sensor, sig.up["pelvis"], cal.pose)
    return JointAngles(sig.time_s, hip, tilt, thigh, rate["thigh"], rate["pelvis"], cal, dev,
                       impact_norm(sig, cal.segments["thigh"].R_seg_sensor, strike_max_thigh_tilt_deg))


def impact_norm(sig: GridSignals, R_thigh: np.ndarray | None = None, max_thigh_tilt_deg: float = 45.0) -> np.ndarray:
    """(N,) |specific force| (m/s²) to find foot strikes in: the pelvis's, the thigh's where the
    pelvis is missing; NaN where the thigh (segment frame ``R_thigh``, when known) is further than
    ``max_thigh_tilt_deg`` from upright (``[set_finding] strike_max_thigh_tilt_deg``: no foot on the
    ground)."""
    p = sig.norm_of("pelvis")
    out = np.where(np.isfinite(p), p, sig.norm_of("thigh"))
    if R_thigh is not None:
        upright = to_segment(R_thigh, sig.up["thigh"])[:, 1]  # the thigh's superior axis against 'up'
        out = np.where(upright > np.cos(np.radians(max_thigh_tilt_deg)), out, np.nan)
    return out
