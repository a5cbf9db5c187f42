"""Sensor-to-segment calibration: the start pose, each sensor's ``R_seg_sensor``, and the checks.

Segment frames follow :mod:`imu_pipeline.frames` (X anterior, Y superior, Z right);
``v_seg = R_seg_sensor @ v_sensor``. :class:`Calibrator` runs these named steps, the same in the
offline and the live path:

1. :meth:`~Calibrator.check_inputs` — both sensors present and recording together;
2. :meth:`~Calibrator.find_pose` — ``lying`` (pelvis anterior axis vertical) or ``hanging``
   (superior axis vertical): the option, else gravity in the declared mounting, else the
   sidecar's exercise, else a guess (reduced confidence);
3. :meth:`~Calibrator.find_start_pose` — on the exercise rows only (not walking over, lying down
   or getting up: :mod:`imu_pipeline.exercise_set`), the still start pose: the last still run
   before the first raise of the legs; each sensor's mean accelerometer there ('up', gravity
   measured) is the zero of both angles, and live its mean raw gyro rate is the gyro bias;
4. :meth:`~Calibrator.fit_axes` — the flexion axis from the motion (principal axis of the angular
   rate; the thigh's over the rows where it is raised, the reps) when the segment rotated enough,
   else the declared one; made perpendicular to 'up';
5. :meth:`~Calibrator.fix_undeclared_signs` — signs of axes found from the motion alone;
6. :meth:`~Calibrator.run_checks` — the anatomy checks: the declared thigh mounting gives flexion
   (not extension), the declared pelvis does not tilt anteriorly with the legs high, the sensors
   are not swapped. Each check ends ``passed``, ``failed`` (a :class:`CalibrationError` that says
   what to fix) or ``inconclusive`` (not enough movement yet: the live path waits for it).

The declared mounting is only a starting point (straps sit 10–15° off); a declaration that
disagrees with the data by more than ``axis_max_correction_deg`` is refused with a message rather
than turned into wrong angles. Every threshold is in :class:`~imu_pipeline.config.CalibrationConfig`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from imu_pipeline.config import CalibrationConfig, SetFindingConfig
from imu_pipeline.errors import CalibrationError, MountingCheckError
from imu_pipeline.exercise_set import exercise_rows
from imu_pipeline.frames import direction_word
from imu_pipeline.io.recording import SENSORS
from imu_pipeline.joint_angles import POSE_UP, POSES, impact_norm, pose_deviation, segment_angle, to_segment
from imu_pipeline.mounting_checks import INCONCLUSIVE, masked, run_checks
from imu_pipeline.orientation import GridSignals

DEG = np.pi / 180.0
Z_AXIS = np.array([0.0, 0.0, 1.0])



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
    """The result of :class:`Calibrator`.

    Attributes
    ----------
    pose : 'lying' or 'hanging'
    pose_source : how the pose was decided ('option', 'gravity (pelvis sensor)', ...)
    segments : sensor -> SegmentCalibration
    neutral_s : seconds of still start pose found (s)
    confidence : 'normal' or 'reduced'
    notes : plain-words remarks for the user
    checks : check name -> 'passed' / 'inconclusive' (a failed check raises instead)
    """

    pose: str
    pose_source: str
    segments: dict[str, SegmentCalibration]
    neutral_s: float
    confidence: str = "normal"
    notes: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def conclusive(self) -> bool:
        """Every check could judge (none inconclusive)."""
        return all(v != INCONCLUSIVE for v in self.checks.values())

    def to_dict(self) -> dict[str, object]:
        return {"pose": self.pose, "pose_source": self.pose_source, "neutral_s": round(self.neutral_s, 2),
                "confidence": self.confidence, "notes": list(self.notes), "checks": dict(self.checks),
                "sensors": {s: c.to_dict() for s, c in self.segments.items()}}


def _norm_rows(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def frame_from(up0: np.ndarray, z: np.ndarray, pose: str) -> np.ndarray:
    """``R_seg_sensor`` whose pose-up axis is ``up0`` and whose Z is ``z`` (both sensor frame)."""
    u = _unit(up0)
    z = _unit(z - (z @ u) * u)
    if pose == "lying":  # X = up
        x, y = u, np.cross(z, u)
    else:  # Y = up
        y, x = u, np.cross(u, z)
    return np.vstack([x, y, z])


def principal_axis(gyr: np.ndarray, min_rate_rad_s: float, min_samples: int) -> tuple[np.ndarray | None, float, float]:
    """Principal axis of the angular rate over samples faster than ``min_rate_rad_s``, the ratio of
    the two largest eigenvalues, and the rms rate (rad/s) about the axis."""
    g = gyr[np.isfinite(gyr[:, 0])]
    g = g[np.linalg.norm(g, axis=1) > min_rate_rad_s]
    if len(g) < min_samples:
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


def _sensor_axis_name(v: np.ndarray) -> str:
    i = int(np.argmax(np.abs(v)))
    return ("+" if v[i] >= 0 else "-") + "xyz"[i]


class Calibrator:
    """Sensor-to-segment calibration (see the module docstring for the steps).

    Parameters
    ----------
    cfg : CalibrationConfig
        thresholds in deg, deg/s and s.
    set_cfg : SetFindingConfig
        what is not the exercise (walking, out of the pose) is not calibrated on.
    wait_for_declared_pose : a stream that has not been still in the sidecar's declared pose yet
        raises CalibrationError (try again later) instead of taking the pose from gravity.

    Attributes
    ----------
    calibration_ : Calibration
        Set by :meth:`fit`.
    neutral_ : (N,) bool
        The grid rows taken as the still start pose.

    Example
    -------
    >>> cal = Calibrator().fit(sig, {"thigh": M_thigh, "pelvis": None}, pose="lying").calibration_  # doctest: +SKIP
    """

    def __init__(self, cfg: CalibrationConfig | None = None, set_cfg: SetFindingConfig | None = None, *,
                 wait_for_declared_pose: bool = False) -> None:
        self.cfg = cfg or CalibrationConfig()
        self.set_cfg = set_cfg or SetFindingConfig()
        self.wait_for_declared_pose = wait_for_declared_pose

    def fit(self, sig: GridSignals, mounting: dict[str, np.ndarray | None], *, pose: str | None = None,
            exercise: str | None = None, where: str = "recording") -> Calibrator:
        """Calibrate both sensors from the signals (see the steps in the module docstring).

        Raises
        ------
        CalibrationError
            When the data cannot give trustworthy angles; the message says what to do.
        """
        notes: list[str] = []
        both = self.check_inputs(sig, where)
        rate = {s: np.linalg.norm(np.nan_to_num(sig.gyr[s], nan=np.inf), axis=1) for s in SENSORS}
        pose, pose_source = self.find_pose(sig, mounting, rate, pose, exercise, where, notes)
        # only the exercise is calibrated on: not walking over, lying down or getting up
        self.exercise_ = self.exercise_rows(sig, mounting, pose)
        if pose == "lying" and mounting.get("pelvis") is None and not self.exercise_.all():
            raise CalibrationError(
                f"{where}: the recording includes walking, but no mounting is declared for the pelvis sensor: "
                "without it, standing cannot be told from the lying start pose, and the angles would be wrong. "
                "Declare sensors.pelvis.mounting (which way its printed x and y axes point), or cut the "
                "recording to the set")
        full = sig
        if not self.exercise_.all():
            sig = masked(sig, self.exercise_)
            both = both & self.exercise_
            rate = {s: np.where(self.exercise_, r, np.inf) for s, r in rate.items()}
        try:
            self.neutral_ = self.find_start_pose(sig, mounting, rate, pose, both, where)
        except CalibrationError as e:  # a --pose that gravity contradicts is the likelier cause: say it first
            contradiction = [n for n in notes if n.startswith("--pose")]
            if contradiction:
                raise CalibrationError(f"{where}: {contradiction[0]}. ({e})") from None
            raise
        neutral_s = float(self.neutral_.sum() * sig.dt)
        up0 = {s: self.start_pose_up(sig, s) for s in SENSORS}
        self.gyro_bias_ = {s: self.start_pose_bias(sig, s) for s in SENSORS}
        segments, provisional = self.fit_axes(sig, mounting, up0, pose, where, notes)
        self.fix_undeclared_signs(sig, segments, provisional, up0, pose, notes)
        checks = run_checks(self.cfg, full, segments, pose, where, exercise=self.exercise_)
        if segments["thigh"].axis_source == "none":
            raise CalibrationError(f"{where}: the thigh sensor has no declared mounting and did not rotate enough "
                                   "to find its flexion axis; declare sensors.thigh.mounting in the sidecar or "
                                   "the sensor config")
        if segments["pelvis"].axis_source == "none":
            notes.append("pelvic tilt unavailable: the pelvis sensor has no declared mounting and did not rotate "
                         "enough to find its axis, so there is no hip flexion (the thigh's angle is reported) and no "
                         "label. Declare sensors.pelvis.mounting")
        reduced = (pose_source == "guessed" or neutral_s < self.cfg.min_neutral_s
                   or any(not c.declared for c in segments.values()))
        self.calibration_ = Calibration(pose, pose_source, segments, neutral_s, "reduced" if reduced else "normal",
                                        notes, checks)
        return self

    # ------------------------------------------------------------------ 1. inputs
    def check_inputs(self, sig: GridSignals, where: str) -> np.ndarray:
        """Both sensors must have data, together for at least ``min_overlap_s``; returns the rows
        where both have it."""
        for s in SENSORS:
            if not sig.valid(s).any():
                raise CalibrationError(f"{where}: no usable data from the {s} sensor; both a thigh and a pelvis "
                                       "sensor are needed")
        both = sig.valid("thigh") & sig.valid("pelvis")
        if both.sum() * sig.dt < self.cfg.min_overlap_s:
            short = [s for s in SENSORS if sig.valid(s).sum() * sig.dt < self.cfg.min_overlap_s]
            if short:  # not a matter of overlap: too little data at all
                which = "both sensors" if len(short) == 2 else f"the {short[0]} sensor"
                raise CalibrationError(f"{where}: too short to analyse: less than {self.cfg.min_overlap_s:g} s of "
                                       f"usable data from {which}; at least {self.cfg.min_overlap_s:g} s from both "
                                       "together is needed (and a few seconds still in the start pose before the "
                                       "first rep)")
            raise CalibrationError(f"{where}: the thigh and pelvis sensors overlap for less than "
                                   f"{self.cfg.min_overlap_s:g} s; they must record at the same time")
        return both

    # ------------------------------------------------------------------ 2. pose
    def find_pose(self, sig: GridSignals, mounting: dict[str, np.ndarray | None], rate: dict[str, np.ndarray],
                  pose: str | None, exercise: str | None, where: str, notes: list[str]) -> tuple[str, str]:
        """The start pose and how it was decided."""
        source = "option"
        if pose is not None and pose in POSES and self._gravity_shows(sig, mounting, rate, pose) is False:
            other = next(p for p in POSES if p != pose)
            seen = " (it shows " + other + ")" if self._gravity_shows(sig, mounting, rate, other) else ""
            notes.append(f"--pose {pose} was given, but the sensors were never still in the {pose} pose by their "
                         f"declared mounting{seen}: check --pose and the mounting")
        declared = infer_pose(exercise)
        if pose is None and declared is not None:
            # the recorder's declared exercise, confirmed by gravity: standing before a lying set
            # (or a long walk in) must not outvote it
            shows = self._gravity_shows(sig, mounting, rate, declared)
            if shows is None:
                pose, source = declared, "sidecar exercise"
            elif shows:
                pose, source = declared, "sidecar exercise, seen in gravity"
            elif self.wait_for_declared_pose and self._gravity_shows(sig, mounting, rate,
                                                                     next(p for p in POSES if p != declared)):
                # still in the other pose (standing, walking to the mat): wait; in neither pose, the
                # gravity path below says the declared mounting is wrong
                raise CalibrationError(f"{where}: the recording's exercise is {exercise!r}, but the sensors have not "
                                       f"been still in the {declared} pose yet")
            else:
                notes.append(f"the recording's exercise is {exercise!r} but the sensors were never still in the "
                             f"{declared} pose; the pose was taken from gravity instead")
        if pose is None:
            pose, source = self._pose_from_gravity(sig, mounting, rate, where)
        if pose is None:
            pose, source = infer_pose(exercise), "sidecar exercise"
        if pose is None:
            pose, source = self._guess_pose(sig, rate), "guessed"
            notes.append(f"start pose guessed as '{pose}' (no mounting or exercise declared); pass --pose "
                         "lying|hanging or declare the mounting to be sure")
        if pose not in POSES:
            raise CalibrationError(f"unknown pose {pose!r}; expected lying or hanging")
        return pose, source

    def _pose_from_gravity(self, sig: GridSignals, mounting: dict[str, np.ndarray | None],
                           rate: dict[str, np.ndarray], where: str) -> tuple[str | None, str]:
        tol = self.cfg.pose_tolerance_deg
        for s, M, u in self._declared_still_ups(sig, mounting, rate, fallback_all=True):
            votes = {p: int((_angle_deg(u, POSE_UP[p]) < tol).sum()) for p in POSES}
            best = max(votes, key=lambda p: votes[p])
            if votes[best] == 0:
                if s == "pelvis":
                    raise MountingCheckError(self._bad_mounting_msg(where, s, M, _norm_rows(np.nanmean(u, 0)[None])[0],
                                                                  None, in_segment=True))
                continue
            return best, f"gravity ({s} sensor)"
        return None, ""

    def _gravity_shows(self, sig: GridSignals, mounting: dict[str, np.ndarray | None], rate: dict[str, np.ndarray],
                       pose: str) -> bool | None:
        """Whether the declared pelvis (else thigh) mounting shows the pose's vertical in still
        rows at all (None when neither is declared: nothing to check against)."""
        for _, _, u in self._declared_still_ups(sig, mounting, rate):
            seen = int((_angle_deg(u, POSE_UP[pose]) < self.cfg.pose_tolerance_deg).sum())
            return seen >= self.cfg.neutral_min_samples
        return None

    def _declared_still_ups(self, sig: GridSignals, mounting: dict[str, np.ndarray | None],
                            rate: dict[str, np.ndarray], fallback_all: bool = False
                            ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Per sensor with a declared mounting, pelvis first: (sensor, ``R_seg_sensor``, its 'up'
        in the segment frame over its still rows — all its rows when fewer than 10 are still and
        ``fallback_all``)."""
        thr = self.cfg.neutral_max_rate_deg_s * DEG
        for s in ("pelvis", "thigh"):
            M = mounting.get(s)
            if M is None:
                continue
            still = (rate[s] < thr) & sig.valid(s)
            if fallback_all and still.sum() < 10:
                still = sig.valid(s)
            yield s, M, to_segment(M, sig.up[s][still])

    def _guess_pose(self, sig: GridSignals, rate: dict[str, np.ndarray]) -> str:
        """Without mounting: a sensor lying flat on the belly or the front of the thigh has gravity
        along its own z when supine; hanging, no sensor's z is vertical."""
        thr = self.cfg.neutral_max_rate_deg_s * DEG
        for s in SENSORS:
            still = (rate[s] < thr) & sig.valid(s)
            if still.any() and abs(np.nanmedian(sig.up[s][still][:, 2])) > np.cos(self.cfg.pose_guess_max_deg * DEG):
                return "lying"
        return "hanging"

    def exercise_rows(self, sig: GridSignals, mounting: dict[str, np.ndarray | None], pose: str) -> np.ndarray:
        """Rows in the exercise pose (by the declared pelvis mounting) and not walking
        (:func:`~imu_pipeline.exercise_set.exercise_rows`)."""
        M = mounting.get("pelvis")
        dev = pose_deviation(M, sig.up["pelvis"], pose) if M is not None else np.full(len(sig), np.nan)
        impacts = impact_norm(sig, mounting.get("thigh"), self.set_cfg.strike_max_thigh_tilt_deg)
        return exercise_rows(sig.time_s, dev, impacts, self.set_cfg, unknown_pose_ok=M is None)

    # ------------------------------------------------------------------ 3. start pose
    def find_start_pose(self, sig: GridSignals, mounting: dict[str, np.ndarray | None], rate: dict[str, np.ndarray],
                        pose: str, both: np.ndarray, where: str) -> np.ndarray:
        """Rows taken as the still start pose: still, both sensors near the pose's vertical (by the
        declaration), and the thigh at the low end of its range (declared) or near the session's
        ends (undeclared: a rep starts and ends in the start pose)."""
        cfg = self.cfg
        up_pose = POSE_UP[pose]
        near = both.copy()
        for s in SENSORS:
            M = mounting.get(s)
            if M is not None:
                near &= _angle_deg(to_segment(M, np.nan_to_num(sig.up[s])), up_pose) < cfg.neutral_max_deviation_deg
        need = max(int(cfg.min_neutral_s / sig.dt), cfg.neutral_min_samples)
        cand = None
        for factor in 2.0 ** np.arange(cfg.neutral_rate_doublings + 1):
            thr = cfg.neutral_max_rate_deg_s * DEG * factor
            c = near & (rate["thigh"] < thr) & (rate["pelvis"] < thr)
            if c.sum() >= need:
                cand = c
                break
        if cand is None:
            mt = mounting.get("thigh")
            hint = ""
            if mt is not None and both.any():
                dev = _angle_deg(to_segment(mt, sig.up["thigh"][both]), up_pose)
                hint = f" (the thigh came no closer than {np.nanmin(dev):.0f}° to the {pose} start pose)"
            raise CalibrationError(
                f"{where}: no moment in the {pose} start pose was found{hint}: the calibration needs the legs "
                f"{'flat on the floor' if pose == 'lying' else 'hanging straight'} and the body still for about a "
                "second, at the start, between reps or at the end. Record again with a short pause in the start "
                "pose, or check the declared mounting and that the thigh and pelvis sensors are not swapped")
        mt = mounting.get("thigh")
        idx = np.flatnonzero(cand)
        if mt is not None:
            th = segment_angle(mt, sig.up["thigh"][cand], pose)
            keep = idx[np.abs(th - np.percentile(th, cfg.neutral_low_percentile)) < cfg.neutral_band_deg * DEG]
        else:
            ok = np.flatnonzero(both)
            span = max(int(cfg.session_ends_s / sig.dt), 1)
            ends = np.concatenate([ok[:span], ok[-span:]])
            ref = _unit(np.nanmean(sig.up["thigh"][ends], axis=0))
            th = np.radians(_angle_deg(sig.up["thigh"][cand], ref))
            if not (th < cfg.session_ends_max_deg * DEG).any():  # no still moment near them: the ends themselves
                mask = np.zeros_like(cand)
                mask[ends] = True
                return mask
            keep = idx[th < cfg.neutral_band_undeclared_deg * DEG]
        mask = np.zeros_like(cand)
        mask[keep if len(keep) >= cfg.neutral_min_samples else idx] = True
        first_raise = len(mask)
        if mt is not None:
            high = np.flatnonzero(segment_angle(mt, sig.up["thigh"], pose) > cfg.legs_high_deg * DEG)
            first_raise = int(high[0]) if len(high) else len(mask)
        return self.start_pose_run(mask, np.maximum(rate["thigh"], rate["pelvis"]), sig.dt, first_raise)

    def start_pose_run(self, mask: np.ndarray, rate: np.ndarray, dt: float, first_raise: int) -> np.ndarray:
        """The start pose is the user's zero: of the qualifying rows, the last run lasting
        ``start_pose_min_s`` (gaps up to ``start_pose_max_gap_s`` joined) that begins before the
        first raise of the legs (row ``first_raise``) — the set's own start, not standing before a
        walk to the bar — else the first such run, else the longest run, else all of them; within
        it, the rows turning slower than ``start_pose_max_rate_deg_s`` (``rate``, rad/s, the faster
        sensor) when enough are, so the slow tail of a descent is not averaged in. Averaging
        qualifying rows from anywhere in the session instead mixes in the extremes of a swing or
        the most extended moment of a walk, and shifts both zeros."""
        cfg = self.cfg
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return mask
        breaks = np.flatnonzero(np.diff(idx) > max(int(round(cfg.start_pose_max_gap_s / dt)), 1)) + 1
        runs = np.split(idx, breaks)
        need = max(int(round(cfg.start_pose_min_s / dt)), cfg.neutral_min_samples)
        long_runs = [r for r in runs if len(r) >= need]
        before = [r for r in long_runs if r[0] < first_raise]
        first = before[-1] if before else (long_runs[0] if long_runs else None)
        if first is None:
            first = max(runs, key=len)
            if len(first) < cfg.neutral_min_samples:
                return mask
        out = np.zeros_like(mask)
        out[first[0]:first[-1] + 1] = mask[first[0]:first[-1] + 1]
        calm = out & (rate < cfg.start_pose_max_rate_deg_s * DEG)
        return calm if calm.sum() >= cfg.neutral_min_samples else out

    def start_pose_bias(self, sig: GridSignals, s: str) -> tuple[np.ndarray, float] | None:
        """The gyro's bias measured in the still start pose (rad/s) and its standard error (rad/s,
        at least ``start_pose_bias_min_sigma_deg_s``): the raw rate there (the filter's output plus
        the bias it removed) — a still sensor turns at 0. Only where the signals carry the causal
        filter's bias (the live path: a filter that met no rest before the start pose, e.g. during a
        walk to the mat, has not learnt it yet); None otherwise."""
        if sig.bias is None:
            return None
        raw = (sig.gyr[s] + sig.bias[s])[self.neutral_]
        raw = raw[np.isfinite(raw).all(axis=1)]
        if len(raw) < self.cfg.neutral_min_samples or \
                float(raw.std(axis=0).max()) > self.cfg.start_pose_bias_max_std_deg_s * DEG:
            return None  # not still enough (a hanging body still swinging): its mean rate is not the bias
        sigma = max(float(np.linalg.norm(raw.std(axis=0))) / np.sqrt(len(raw)),
                    self.cfg.start_pose_bias_min_sigma_deg_s * DEG)
        return raw.mean(axis=0), sigma

    def start_pose_up(self, sig: GridSignals, s: str) -> np.ndarray:
        """'Up' of a sensor in the start pose (sensor frame): the mean specific force of its still
        start-pose rows — gravity itself, measured — else the filter's mean 'up' there. The
        accelerometer does not depend on how far a filter has converged (a causal one, just after a
        walk to the mat, can still be a few degrees off), so both paths get the same zero."""
        acc = sig.acc_of(s)[self.neutral_]
        acc = acc[np.isfinite(acc[:, 0])]
        if len(acc) >= self.cfg.neutral_min_samples:
            return _unit(acc.mean(axis=0))
        return _norm_rows(np.nanmean(sig.up[s][self.neutral_], axis=0)[None])[0]

    # ------------------------------------------------------------------ 4. axes
    def fit_axes(self, sig: GridSignals, mounting: dict[str, np.ndarray | None], up0: dict[str, np.ndarray],
                 pose: str, where: str, notes: list[str]) -> tuple[dict[str, SegmentCalibration], dict[str, np.ndarray]]:
        """``R_seg_sensor`` per sensor; also the motion axes of undeclared sensors (sign unknown)."""
        cfg = self.cfg
        segments: dict[str, SegmentCalibration] = {}
        provisional: dict[str, np.ndarray] = {}
        raised = self.raised_rows(sig, up0)
        for s in SENSORS:
            M = mounting.get(s)
            rows = raised if s == "thigh" else slice(None)  # the pelvis: every exercise row (swing included)
            axis, ratio, rms = principal_axis(sig.gyr[s][rows], cfg.axis_min_rate_deg_s * DEG, cfg.axis_min_samples)
            motion_ok = axis is not None and ratio > cfg.axis_min_eigen_ratio and rms > cfg.axis_min_rms_deg_s * DEG
            if M is None:
                if motion_ok:
                    assert axis is not None
                    provisional[s] = axis
                    segments[s] = SegmentCalibration(frame_from(up0[s], axis, pose), False, "motion", np.nan)
                else:  # no axis; its 'up' still says how far it is from the start pose (set finding)
                    any_z = np.cross(up0[s], [1.0, 0.0, 0.0] if abs(up0[s][0]) < 0.9 else [0.0, 1.0, 0.0])
                    segments[s] = SegmentCalibration(frame_from(up0[s], any_z, pose), False, "none", np.nan)
                notes.append(f"no mounting declared for the {s} sensor: its axes were estimated from the motion "
                             "(reduced confidence)")
                continue
            if float(_angle_deg(M @ up0[s], POSE_UP[pose])) > cfg.neutral_max_deviation_deg:
                raise MountingCheckError(self._bad_mounting_msg(where, s, M, up0[s], pose))
            z_decl = M.T @ Z_AXIS
            if motion_ok:
                assert axis is not None
                z = axis if axis @ z_decl >= 0 else -axis
                corr = float(_angle_deg(_unit(z - (z @ up0[s]) * up0[s]), _unit(z_decl - (z_decl @ up0[s]) * up0[s])))
                if corr > cfg.axis_max_correction_deg:
                    raise MountingCheckError(
                        f"{where}: the {s} sensor turns mostly about its own axis "
                        f"({', '.join(f'{c:+.2f}' for c in z)} in sensor x,y,z), {corr:.0f}° away from the "
                        f"left-right axis its declared mounting implies (sensor {_sensor_axis_name(z_decl)}). "
                        f"Check sensors.{s}.mounting: which way do the printed x and y axes point?")
                Z, src = z, "motion"
            else:
                Z, src = z_decl, "declared"
            R = frame_from(up0[s], Z, pose)
            total = float(np.degrees(np.arccos(np.clip((np.trace(R @ M.T) - 1) / 2, -1, 1))))
            segments[s] = SegmentCalibration(R, True, src, total)
        return segments, provisional

    def raised_rows(self, sig: GridSignals, up0: dict[str, np.ndarray]) -> np.ndarray:
        """Rows whose thigh is raised at least ``axis_min_elevation_deg`` from its start pose (an
        angle that needs no axis): the reps. The thigh's flexion axis comes from these rows only, so
        strides or fidgets with the legs down do not tilt it; the pelvis's from every exercise row
        (walking and getting up are already cut away; a whole-body swing turns it about the same
        axis as the curl)."""
        elev = _angle_deg(np.nan_to_num(sig.up["thigh"]), up0["thigh"])
        return sig.valid("thigh") & (elev > self.cfg.axis_min_elevation_deg)

    # ------------------------------------------------------------------ 5. signs
    def fix_undeclared_signs(self, sig: GridSignals, segments: dict[str, SegmentCalibration],
                             provisional: dict[str, np.ndarray], up0: dict[str, np.ndarray], pose: str,
                             notes: list[str]) -> None:
        """Undeclared axes from the motion have no sign: the thigh flexes (its range lies on the
        positive side of the start pose); the pelvis does not tilt anteriorly with the legs high."""
        cfg = self.cfg
        if "thigh" in provisional:
            th = segment_angle(segments["thigh"].R_seg_sensor, sig.up["thigh"], pose)
            lo, hi = np.nanpercentile(th, [cfg.sign_range_percentile, 100 - cfg.sign_range_percentile])
            if -lo > hi:
                segments["thigh"] = SegmentCalibration(frame_from(up0["thigh"], -provisional["thigh"], pose),
                                                       False, "motion", np.nan)
        if "pelvis" in provisional:
            th_t = segment_angle(segments["thigh"].R_seg_sensor, sig.up["thigh"], pose)
            th_p = segment_angle(segments["pelvis"].R_seg_sensor, sig.up["pelvis"], pose)
            high = th_t > cfg.legs_high_deg * DEG
            m = float(np.nanmean(th_p[high])) if high.any() else 0.0
            if m < 0:
                segments["pelvis"] = SegmentCalibration(frame_from(up0["pelvis"], -provisional["pelvis"], pose),
                                                        False, "motion", np.nan)
            if abs(m) < cfg.tilt_sign_min_deg * DEG:
                notes.append("pelvic tilt sign could not be verified from the motion (pelvis barely moved with the "
                             "legs high); declare sensors.pelvis.mounting to be sure")

    # ------------------------------------------------------------------ 6. checks
    def run_checks(self, sig: GridSignals, segments: dict[str, SegmentCalibration], pose: str,
                   where: str, only: set[str] | None = None) -> dict[str, str]:
        """The anatomy checks (:func:`~imu_pipeline.mounting_checks.run_checks`) on ``sig``, the
        mounting checks on its exercise rows (by the calibrated pelvis); a failed one raises
        :class:`~imu_pipeline.errors.MountingCheckError`."""
        pel = segments["pelvis"]
        dev = pose_deviation(pel.R_seg_sensor, sig.up["pelvis"], pose) if pel.axis_source != "none" \
            else np.full(len(sig), np.nan)
        impacts = impact_norm(sig, segments["thigh"].R_seg_sensor, self.set_cfg.strike_max_thigh_tilt_deg)
        ex = exercise_rows(sig.time_s, dev, impacts, self.set_cfg, unknown_pose_ok=pel.axis_source == "none")
        return run_checks(self.cfg, sig, segments, pose, where, only=only, exercise=ex)

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
