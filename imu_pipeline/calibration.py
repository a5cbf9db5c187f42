"""Sensor-to-segment calibration, hip flexion and pelvic tilt.

Segment frames follow :mod:`imu_pipeline.frames` (X anterior, Y superior, Z right). Both
angles are rotations about the segment's Z axis, which is horizontal in every leg-raise
pose, so each segment's sagittal angle follows from the direction of gravity in that
segment's frame (inclination): no heading, hence no magnetometer, is needed.

Calibration finds, per sensor, ``R_seg_sensor`` (``v_seg = R_seg_sensor @ v_sensor``):

1. the start pose (``lying``: pelvis anterior axis vertical; ``hanging``: superior axis
   vertical) from gravity in the declared mounting, or from the sidecar/option;
2. *neutral* moments anywhere in the recording: (quasi-)still, both segments near the pose's
   vertical, the flattest of those for the thigh;
3. the flexion axis from the motion (principal axis of the angular rate) when the segment
   rotated enough, else the declared one; made perpendicular to the neutral 'up'.

The declared mounting is only a starting point (straps sit 10–15° off); a declaration that
disagrees with the data by more than ``axis_max_correction_deg`` is rejected with a message
rather than turned into wrong angles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imu_pipeline.config import CalibrationConfig
from imu_pipeline.frames import direction_word
from imu_pipeline.io.recording import SENSORS

DEG = np.pi / 180.0
POSES = ("lying", "hanging")
#: The segment-frame direction that points up in the start pose.
POSE_UP = {"lying": np.array([1.0, 0.0, 0.0]), "hanging": np.array([0.0, 1.0, 0.0])}
Z_AXIS = np.array([0.0, 0.0, 1.0])
#: Mean anterior pelvic tilt (deg) with the legs high beyond which a declared pelvis mounting is
#: rejected as reversed (a pelvis curls posteriorly, or stays, when the legs are high).
PELVIS_SIGN_CHECK_DEG = 4.0
#: A 'pelvis' sweeping more than this (deg), and 1.5x the 'thigh', means the sensors are swapped.
SWAP_MIN_PELVIS_RANGE_DEG = 30.0


class CalibrationError(ValueError):
    """The data cannot be turned into trustworthy angles; the message says what to do."""


@dataclass
class GridSignals:
    """Both sensors on the common grid (NaN where a sensor has no data).

    Attributes
    ----------
    time_s : (N,) s, recording clock
    up : sensor -> (N, 3) unit 'up' direction in the sensor frame
    gyr : sensor -> (N, 3) bias-corrected angular rate, rad/s, sensor frame
    rest : sensor -> (N,) bool, VQF rest detection
    """

    time_s: np.ndarray
    up: dict[str, np.ndarray]
    gyr: dict[str, np.ndarray]
    rest: dict[str, np.ndarray]

    @property
    def dt(self) -> float:
        return float(np.median(np.diff(self.time_s))) if len(self.time_s) > 1 else 0.01

    def valid(self, sensor: str) -> np.ndarray:
        return np.isfinite(self.up[sensor][:, 0])


@dataclass
class SegmentCalibration:
    """Calibration of one sensor.

    Attributes
    ----------
    R_seg_sensor : (3, 3) rotation, segment-from-sensor
    declared : whether a mounting was declared
    axis_source : 'motion' (principal axis of the angular rate), 'declared', or 'none'
    correction_deg : angle between the declared and the calibrated frame (NaN if undeclared)
    """

    R_seg_sensor: np.ndarray
    declared: bool
    axis_source: str
    correction_deg: float

    def to_dict(self) -> dict[str, object]:
        return {"declared_mounting": self.declared, "axis_source": self.axis_source,
                "correction_deg": None if not np.isfinite(self.correction_deg) else round(self.correction_deg, 2),
                "R_seg_sensor": np.round(self.R_seg_sensor, 5).tolist()}


@dataclass
class Calibration:
    pose: str
    pose_source: str
    segments: dict[str, SegmentCalibration]
    neutral_s: float
    confidence: str = "normal"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"pose": self.pose, "pose_source": self.pose_source, "neutral_s": round(self.neutral_s, 2),
                "confidence": self.confidence, "notes": list(self.notes),
                "sensors": {s: c.to_dict() for s, c in self.segments.items()}}


def _norm_rows(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


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


def _frame_from(up0: np.ndarray, z: np.ndarray, pose: str) -> np.ndarray:
    """``R_seg_sensor`` whose pose-up axis is ``up0`` and whose Z is ``z`` (both sensor frame)."""
    u = up0 / np.linalg.norm(up0)
    z = z - (z @ u) * u
    z = z / np.linalg.norm(z)
    if pose == "lying":  # X = up
        x, y = u, np.cross(z, u)
    else:  # Y = up
        y, x = u, np.cross(u, z)
    return np.vstack([x, y, z])


def _principal_axis(gyr: np.ndarray, min_rate: float) -> tuple[np.ndarray | None, float, float]:
    """Principal axis of the angular rate over moving samples, the eigenvalue ratio, and
    the rms rate (rad/s) about it."""
    g = gyr[np.isfinite(gyr[:, 0])]
    g = g[np.linalg.norm(g, axis=1) > min_rate]
    if len(g) < 20:
        return None, 0.0, 0.0
    w, v = np.linalg.eigh(g.T @ g / len(g))
    ratio = float(w[2] / max(w[1], 1e-12))
    return v[:, 2], ratio, float(np.sqrt(w[2]))


def infer_pose(exercise: str | None) -> str | None:
    """Pose from the sidecar's ``exercise`` text (``lying-leg-raise``, ``hanging-leg-raise``)."""
    if not exercise:
        return None
    e = exercise.lower()
    if any(w in e for w in ("lying", "supine", "floor", "bench")):
        return "lying"
    if any(w in e for w in ("hanging", "captain", "standing", "upright", "bar", "dip")):
        return "hanging"
    return None


class Calibrator:
    """Sensor-to-segment calibration (see the module docstring).

    Parameters
    ----------
    cfg : CalibrationConfig
        thresholds in deg and deg/s.

    Attributes
    ----------
    calibration_ : Calibration
        Set by :meth:`fit`.
    """

    def __init__(self, cfg: CalibrationConfig | None = None) -> None:
        self.cfg = cfg or CalibrationConfig()

    def fit(self, sig: GridSignals, mounting: dict[str, np.ndarray | None], *, pose: str | None = None,
            exercise: str | None = None, where: str = "recording") -> "Calibrator":
        cfg = self.cfg
        notes: list[str] = []
        confidence = "normal"
        for s in SENSORS:
            if not sig.valid(s).any():
                raise CalibrationError(f"{where}: no usable data from the {s} sensor; both a thigh and a pelvis "
                                       "sensor are needed")
        both = sig.valid("thigh") & sig.valid("pelvis")
        if both.sum() * sig.dt < 1.0:
            raise CalibrationError(f"{where}: the thigh and pelvis sensors overlap for less than 1 s; "
                                   "they must record at the same time")
        rate = {s: np.linalg.norm(np.nan_to_num(sig.gyr[s], nan=np.inf), axis=1) for s in SENSORS}

        # --- 1. start pose
        pose_source = "option"
        if pose is None:
            pose, pose_source = self._pose_from_gravity(sig, mounting, rate, where)
        if pose is None:
            pose = infer_pose(exercise)
            pose_source = "sidecar exercise"
        if pose is None:
            pose = self._guess_pose(sig, rate)
            pose_source = "guessed"
            confidence = "reduced"
            notes.append(f"start pose guessed as '{pose}' (no mounting or exercise declared); pass --pose "
                         "lying|hanging or declare the mounting to be sure")
        if pose not in POSES:
            raise CalibrationError(f"unknown pose {pose!r}; expected lying or hanging")
        up_pose = POSE_UP[pose]

        # --- 2. neutral moments
        neutral = self._neutral_mask(sig, mounting, rate, pose, both, where)
        neutral_s = float(neutral.sum() * sig.dt)
        up0 = {s: _norm_rows(np.nanmean(sig.up[s][neutral], axis=0)[None])[0] for s in SENSORS}

        # --- 3. flexion axes
        segments: dict[str, SegmentCalibration] = {}
        provisional: dict[str, np.ndarray] = {}
        for s in SENSORS:
            M = mounting.get(s)
            axis, ratio, rms = _principal_axis(sig.gyr[s], 20 * DEG)
            motion_ok = axis is not None and ratio > 6.0 and rms > 25 * DEG
            if M is not None:
                z_decl = M.T @ Z_AXIS
                z_decl_o = z_decl - (z_decl @ up0[s]) * up0[s]
                # the declared 'up' of the pose must agree with gravity at neutral
                dev = float(_angle_deg(M @ up0[s], up_pose))
                if dev > cfg.neutral_max_deviation_deg:
                    raise CalibrationError(self._bad_mounting_msg(where, s, M, up0[s], pose))
                if motion_ok:
                    z = axis if axis @ z_decl >= 0 else -axis
                    z_o = z - (z @ up0[s]) * up0[s]
                    corr = float(_angle_deg(_norm_rows(z_o[None])[0], _norm_rows(z_decl_o[None])[0]))
                    if corr > cfg.axis_max_correction_deg:
                        raise CalibrationError(
                            f"{where}: the {s} sensor turns mostly about its own axis "
                            f"({', '.join(f'{c:+.2f}' for c in z)} in sensor x,y,z), {corr:.0f}° away from the "
                            f"left-right axis its declared mounting implies (sensor {_sensor_axis_name(z_decl)}). "
                            f"Check sensors.{s}.mounting: which way do the printed x and y axes point?")
                    Z, src = z, "motion"
                else:
                    Z, src = z_decl, "declared"
                R = _frame_from(up0[s], Z, pose)
                corr_total = float(np.degrees(np.arccos(np.clip((np.trace(R @ M.T) - 1) / 2, -1, 1))))
                segments[s] = SegmentCalibration(R, True, src, corr_total)
            else:
                confidence = "reduced"
                if motion_ok:
                    provisional[s] = axis
                    segments[s] = SegmentCalibration(_frame_from(up0[s], axis, pose), False, "motion", np.nan)
                else:
                    segments[s] = SegmentCalibration(np.eye(3), False, "none", np.nan)
                notes.append(f"no mounting declared for the {s} sensor: its axes were estimated from the motion "
                             "(reduced confidence)")

        # --- 4. signs of undeclared axes
        if "thigh" in provisional:
            th = sagittal_angle(_apply(segments["thigh"].R_seg_sensor, sig.up["thigh"]), pose)
            lo, hi = np.nanpercentile(th, [1, 99])
            if -lo > hi:
                segments["thigh"] = SegmentCalibration(_frame_from(up0["thigh"], -provisional["thigh"], pose),
                                                       False, "motion", np.nan)
        for s in SENSORS:
            if segments[s].declared:
                self._check_declared(sig, segments, s, pose, where)
        if segments["thigh"].axis_source == "none":
            raise CalibrationError(f"{where}: the thigh sensor has no declared mounting and did not rotate enough "
                                   "to find its flexion axis; declare sensors.thigh.mounting in the sidecar or "
                                   "the sensor config")
        if "pelvis" in provisional:
            th_t = sagittal_angle(_apply(segments["thigh"].R_seg_sensor, sig.up["thigh"]), pose)
            th_p = sagittal_angle(_apply(segments["pelvis"].R_seg_sensor, sig.up["pelvis"]), pose)
            high = th_t > 60 * DEG
            m = float(np.nanmean(th_p[high])) if high.any() else 0.0
            if m < 0:
                segments["pelvis"] = SegmentCalibration(_frame_from(up0["pelvis"], -provisional["pelvis"], pose),
                                                        False, "motion", np.nan)
            if abs(m) < 2 * DEG:
                notes.append("pelvic tilt sign could not be verified from the motion (pelvis barely moved with the "
                             "legs high); declare sensors.pelvis.mounting to be sure")
        self._check_not_swapped(sig, segments, pose, where)
        if segments["pelvis"].axis_source == "none":
            notes.append("pelvic tilt unavailable: the pelvis sensor has no declared mounting and did not rotate "
                         "enough to find its axis; hip flexion assumes a still pelvis. Declare sensors.pelvis.mounting")
        if neutral_s < cfg.min_neutral_s:
            confidence = "reduced"
        self.calibration_ = Calibration(pose, pose_source, segments, neutral_s, confidence, notes)
        return self

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_not_swapped(sig: GridSignals, segments: dict[str, "SegmentCalibration"], pose: str,
                           where: str) -> None:
        """In a leg raise the thigh always turns through more than the pelvis (its angle is hip
        flexion plus pelvic tilt). A 'pelvis' that swept far more than the 'thigh' means the two
        sensors were swapped (in the recorder's config or on the body)."""
        rng = {}
        for s in SENSORS:
            if segments[s].axis_source == "none":
                return
            th = sagittal_angle(_apply(segments[s].R_seg_sensor, sig.up[s]), pose)
            if not np.isfinite(th).any():
                return
            lo, hi = np.nanpercentile(th, [2, 98])
            rng[s] = np.degrees(hi - lo)
        if rng["pelvis"] > SWAP_MIN_PELVIS_RANGE_DEG and rng["pelvis"] > 1.5 * rng["thigh"]:
            raise CalibrationError(
                f"{where}: the 'pelvis' sensor turned through {rng['pelvis']:.0f}° but the 'thigh' sensor only "
                f"{rng['thigh']:.0f}° — in a leg raise the thigh always moves more. The two sensors look swapped: "
                "check which sensor is which in the recording (the sensor config of `imu-pipeline record`) and on "
                "the body")

    @staticmethod
    def _check_declared(sig: GridSignals, segments: dict[str, "SegmentCalibration"], s: str, pose: str,
                        where: str) -> None:
        """A declared mounting must give angles with the anatomy's signs: hip flexion goes
        positive from the start pose (which is the low end of its range), and the pelvis does
        not tilt clearly anteriorly on average while the legs are high. Anything else is a wrong
        declaration (an axis reversed or swapped) that would turn into wrong angles."""
        th_t = sagittal_angle(_apply(segments["thigh"].R_seg_sensor, sig.up["thigh"]), pose)
        lo, hi = np.nanpercentile(th_t, [2, 98])
        fix = (f"Check sensors.{s}.mounting (which way the printed x and y axes point on the {s}) "
               "and that the thigh and pelvis sensors are not swapped")
        if s == "thigh":
            if hi < 20 * DEG and lo > -20 * DEG:
                return  # no reps to judge by
            if -lo > max(20 * DEG, 0.3 * hi):
                raise CalibrationError(
                    f"{where}: with the declared mounting the thigh moves to {np.degrees(lo):.0f}° (hip extension) "
                    f"but only up to {np.degrees(hi):.0f}° of flexion: the declaration does not match the "
                    f"movement (an axis is reversed or the start pose is wrong). {fix}")
            return
        high = th_t > 60 * DEG
        if high.sum() * sig.dt < 1.0:
            return
        th_p = sagittal_angle(_apply(segments["pelvis"].R_seg_sensor, sig.up["pelvis"]), pose)
        m = float(np.nanmean(th_p[high]))
        if m < -PELVIS_SIGN_CHECK_DEG * DEG:
            raise CalibrationError(
                f"{where}: with the declared mounting the pelvis tilts {-np.degrees(m):.0f}° anteriorly on average "
                "while the legs are high — the opposite of what a pelvis does in a leg raise; its declared axes "
                f"are probably reversed. {fix}")

    def _pose_from_gravity(self, sig: GridSignals, mounting: dict[str, np.ndarray | None],
                           rate: dict[str, np.ndarray], where: str) -> tuple[str | None, str]:
        tol = self.cfg.pose_tolerance_deg
        thr = self.cfg.neutral_max_rate_deg_s * DEG
        for s in ("pelvis", "thigh"):
            M = mounting.get(s)
            if M is None:
                continue
            still = (rate[s] < thr) & sig.valid(s)
            if still.sum() < 10:
                still = sig.valid(s)
            u = _apply(M, sig.up[s][still])
            votes = {p: int((_angle_deg(u, POSE_UP[p]) < tol).sum()) for p in POSES}
            best = max(votes, key=votes.get)
            if votes[best] == 0:
                if s == "pelvis":
                    raise CalibrationError(self._bad_mounting_msg(where, s, M, _norm_rows(np.nanmean(u, 0)[None])[0],
                                                                  None, in_segment=True))
                continue
            return best, f"gravity ({s} sensor)"
        return None, ""

    def _guess_pose(self, sig: GridSignals, rate: dict[str, np.ndarray]) -> str:
        """Without mounting: a sensor lying flat on the belly or the front of the thigh
        has gravity along its own z when supine; hanging, no sensor's z is vertical."""
        thr = self.cfg.neutral_max_rate_deg_s * DEG
        for s in SENSORS:
            still = (rate[s] < thr) & sig.valid(s)
            if still.any() and abs(np.nanmedian(sig.up[s][still][:, 2])) > np.cos(35 * DEG):
                return "lying"
        return "hanging"

    def _neutral_mask(self, sig: GridSignals, mounting: dict[str, np.ndarray | None], rate: dict[str, np.ndarray],
                      pose: str, both: np.ndarray, where: str) -> np.ndarray:
        cfg = self.cfg
        up_pose = POSE_UP[pose]
        near = both.copy()
        for s in SENSORS:
            M = mounting.get(s)
            if M is not None:
                near &= _angle_deg(_apply(M, np.nan_to_num(sig.up[s])), up_pose) < cfg.neutral_max_deviation_deg
        need = max(int(cfg.min_neutral_s / sig.dt), 5)
        cand = None
        for factor in (1.0, 2.0, 4.0):
            thr = cfg.neutral_max_rate_deg_s * DEG * factor
            c = near & (rate["thigh"] < thr) & (rate["pelvis"] < thr)
            if c.sum() >= need:
                cand = c
                break
        if cand is None:
            mt = mounting.get("thigh")
            hint = ""
            if mt is not None and both.any():
                dev = _angle_deg(_apply(mt, sig.up["thigh"][both]), up_pose)
                hint = f" (the thigh came no closer than {np.nanmin(dev):.0f}° to the {pose} start pose)"
            raise CalibrationError(
                f"{where}: no moment in the {pose} start pose was found{hint}: the calibration needs the legs "
                f"{'flat on the floor' if pose == 'lying' else 'hanging straight'} and the body still for about a "
                "second, at the start, between reps or at the end. Record again with a short pause in the start "
                "pose, or check the declared mounting and that the thigh and pelvis sensors are not swapped")
        mt = mounting.get("thigh")
        if mt is not None:
            th = sagittal_angle(_apply(mt, sig.up["thigh"][cand]), pose)
        else:
            # no declaration: the start pose is where the session begins and ends (users may start
            # moving at once, but a rep starts and ends in the start pose); the still moments near it
            # — not the most common still orientation, which can be the top of touch-and-go reps
            ok = np.flatnonzero(both)
            span = max(int(0.5 / sig.dt), 1)
            ends = np.concatenate([ok[:span], ok[-span:]])
            ref = _norm_rows(np.nanmean(sig.up["thigh"][ends], axis=0)[None])[0]
            th = np.radians(_angle_deg(sig.up["thigh"][cand], ref))
            if not (th < 25 * DEG).any():  # no still moment near it: use the ends themselves
                mask = np.zeros_like(cand)
                mask[ends] = True
                return mask
        idx = np.flatnonzero(cand)
        low = np.percentile(th, 5) if mt is not None else 0.0
        keep = idx[np.abs(th - low) < 6 * DEG] if mt is not None else idx[th < 10 * DEG]
        mask = np.zeros_like(cand)
        mask[keep if len(keep) >= 5 else idx] = True
        return mask

    @staticmethod
    def _bad_mounting_msg(where: str, s: str, M: np.ndarray, up0: np.ndarray, pose: str | None,
                          in_segment: bool = False) -> str:
        u_seg = up0 if in_segment else M @ up0
        seen = direction_word(u_seg)
        want = "anterior (lying) or superior (hanging/standing)" if pose is None else \
            ("anterior" if pose == "lying" else "superior")
        return (f"{where}: the declared mounting of the {s} sensor does not match gravity: in the start pose 'up' "
                f"should be the segment's {want} direction, but with the declared mounting it is {seen}. "
                f"Check sensors.{s}.mounting (where the printed x and y axes point), or that the sensors are "
                "not swapped between thigh and pelvis")


def _sensor_axis_name(v: np.ndarray) -> str:
    i = int(np.argmax(np.abs(v)))
    return ("+" if v[i] >= 0 else "-") + "xyz"[i]


def _apply(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    return v @ R.T


@dataclass
class JointAngles:
    """Per-sample angles on the common grid (radians, rad/s inside; NaN in gaps).

    Attributes
    ----------
    time_s : (N,) s, recording clock
    hip_flexion : (N,) rad, thigh relative to pelvis, 0 in the start pose, flexion +
    pelvic_tilt : (N,) rad, pelvis vs its start pose in the global frame, posterior +
    thigh_angle : (N,) rad, thigh vs its start pose in the global frame (= hip + tilt)
    thigh_rate, pelvis_rate : (N,) rad/s, sagittal angular rates from the gyros
    calibration : Calibration
    """

    time_s: np.ndarray
    hip_flexion: np.ndarray
    pelvic_tilt: np.ndarray
    thigh_angle: np.ndarray
    thigh_rate: np.ndarray
    pelvis_rate: np.ndarray
    calibration: Calibration

    @property
    def hip_rate(self) -> np.ndarray:
        return self.thigh_rate - np.nan_to_num(self.pelvis_rate)

    def to_frame(self):  # -> pandas.DataFrame
        import pandas as pd

        return pd.DataFrame({"time_s": self.time_s, "hip_flexion_deg": np.degrees(self.hip_flexion),
                             "pelvic_tilt_deg": np.degrees(self.pelvic_tilt)})


def joint_angles(sig: GridSignals, cal: Calibration) -> JointAngles:
    """Hip flexion and pelvic tilt from calibrated gravity directions (pure function)."""
    th = {}
    rate = {}
    for s in SENSORS:
        sc = cal.segments[s]
        th[s] = sagittal_angle(_apply(sc.R_seg_sensor, sig.up[s]), cal.pose)
        rate[s] = sig.gyr[s] @ sc.R_seg_sensor[2]
    if cal.segments["pelvis"].axis_source == "none":
        th["pelvis"] = np.where(sig.valid("pelvis"), 0.0, np.nan)
        rate["pelvis"] = np.where(sig.valid("pelvis"), 0.0, np.nan)
    tilt = wrap(th["pelvis"], -np.pi)
    thigh = wrap(th["thigh"], -np.pi / 2)
    hip = wrap(th["thigh"] - th["pelvis"], -2 * np.pi / 3)
    return JointAngles(sig.time_s, hip, tilt, thigh, rate["thigh"], rate["pelvis"], cal)
