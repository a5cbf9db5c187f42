"""The live path: samples in as they arrive, reps out, causally and in bounded memory.

Wiring of the same stages the offline path runs, in streaming form:

1. :class:`~imu_pipeline.front.FrontHalf` — the very object the offline path uses;
2. :class:`~imu_pipeline.orientation.StreamingOrientation` — causal VQF (the offline path uses
   ``offlineVQF`` on the same rows);
3. :class:`LiveCalibration` — the same :class:`~imu_pipeline.calibration.Calibrator` with the same
   checks, on the rows seen so far: it waits until the checks can judge (the first rep shows the
   flexion axis and the legs high), refuses where the offline path refuses, and calibrates with
   what there is after ``live.calibration_wait_s``;
4. :func:`~imu_pipeline.joint_angles.joint_angles`, then :class:`RepTracker` — the same segmenter
   and :func:`~imu_pipeline.reps.assess_rep` on a rolling window of angles.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from imu_pipeline.calibration import Calibration, Calibrator
from imu_pipeline.config import PipelineConfig
from imu_pipeline.errors import CalibrationError, MountingCheckError
from imu_pipeline.exercise_set import NotExercise, SetFinder
from imu_pipeline.frames import mounting_matrix
from imu_pipeline.front import DataQuality, FrontHalf, GridBatch, slower_rate_hz
from imu_pipeline.io.recording import SENSORS
from imu_pipeline.joint_angles import POSE_UP, JointAngles, joint_angles
from imu_pipeline.mounting_checks import INCONCLUSIVE
from imu_pipeline.orientation import GridSignals, StreamingOrientation
from imu_pipeline.reps import Rep, RepSegmenter, assess_rep
from imu_pipeline.reps.assess import PelvisGapBridge, angle_window, doubt_label
from imu_pipeline.reps.measures import AngleWindow
from imu_pipeline.reps.rules import swing_after_window


class LiveCalibration:
    """Calibration of a stream: buffers rows until the calibration is trustworthy.

    Parameters
    ----------
    cfg : PipelineConfig (``calibration`` thresholds, ``live`` waits)
    mounting : sensor -> declared ``R_seg_sensor`` or None
    pose, exercise : as for :class:`~imu_pipeline.calibration.Calibrator`
    where : how messages name the source

    Attributes
    ----------
    calibration_ : Calibration or None
    error_ : the last reason it could not calibrate yet (None once calibrated)
    refused_ : a final refusal (a failed mounting or swap check), or None
    """

    def __init__(self, cfg: PipelineConfig, mounting: Mapping[str, np.ndarray | None], *, pose: str | None = None,
                 exercise: str | None = None, where: str = "live stream") -> None:
        self.cfg = cfg
        self.mounting = dict(mounting)
        self.pose = pose
        self.exercise = exercise
        self.where = where
        self.calibration_: Calibration | None = None
        self.gyro_bias_: dict[str, tuple[np.ndarray, float]] = {}  # to hand to the filters (then emptied)
        self._fit_bias: dict[str, tuple[np.ndarray, float] | None] = {}
        self.error_: str | None = None
        self.refused_: str | None = None
        self._rows: list[GridSignals] = []
        self._n = 0
        self._last_try = -math.inf
        self._refining = False
        self._check_rows: list[GridSignals] = []  # rows since the calibration, while a check has not judged
        self._check_n = 0
        self._last_check = -math.inf
        self.fs = cfg.front.grid_rate_hz

    def _seconds(self) -> float:
        return self._n / self.fs

    @property
    def provisional(self) -> bool:
        """The calibration is being refined and rests on little: a sensor without a declared
        mounting (its axes from the few reps seen so far) or a start pose shorter than
        ``live.min_neutral_s``."""
        cal = self.calibration_
        return cal is not None and self._refining and (
            any(not seg.declared for seg in cal.segments.values()) or cal.neutral_s < self.cfg.live.min_neutral_s)

    @property
    def held_s(self) -> float:
        """Stream time (s) of rows held while calibrating or re-checking (each bounded by 3 x
        ``live.calibration_wait_s``)."""
        held = self._seconds() if self._rows else 0.0
        return held + (self._check_n / self.fs if self._check_rows else 0.0)

    def _fit(self, sig: GridSignals) -> Calibration:
        # a stream waits for the pose its sidecar declares, however long (still walking to the mat):
        # falling back to gravity there would take standing for the exercise (force or not)
        c = Calibrator(self.cfg.calibration, self.cfg.set_finding, wait_for_declared_pose=True)
        cal = c.fit(sig, self.mounting, pose=self.pose, exercise=self.exercise, where=self.where).calibration_
        self._fit_bias = c.gyro_bias_
        return cal

    def _adopt(self, cal: Calibration) -> None:
        """Take a calibration, and the gyro bias measured in its start pose for the filters."""
        self.calibration_ = cal
        self.gyro_bias_ = {s: b for s, b in self._fit_bias.items() if b is not None}

    def offer(self, sig: GridSignals, final: bool = False) -> GridSignals | None:
        """Add rows. Returns the rows to analyse now: every buffered row when the calibration is
        first made, the new rows after that; None while it waits (or after a refusal)."""
        if self.refused_ is not None:
            return None
        if self.calibration_ is not None:
            if self._refining:
                self._rows.append(sig)
                self._n += len(sig)
                self._refine(final)
            if not self.calibration_.conclusive:
                self._recheck(sig, final)
            return None if self.refused_ is not None else sig
        self._rows.append(sig)
        self._n += len(sig)
        live = self.cfg.live
        if not final and self._seconds() - self._last_try < live.calibration_retry_s:
            return None
        self._last_try = self._seconds()
        return self._first(final or self._seconds() >= live.calibration_wait_s)

    def _buffer(self) -> GridSignals:
        sig = GridSignals.concat(self._rows)
        self._rows = [sig]
        return sig

    def _first(self, force: bool) -> GridSignals | None:
        live = self.cfg.live
        sig = self._buffer()
        try:
            cal = self._fit(sig)
        except MountingCheckError as e:
            self.refused_ = str(e)
            self._rows = []
            return None
        except CalibrationError as e:
            self.error_ = str(e)
            if self._seconds() > 3 * live.calibration_wait_s:  # bounded memory: keep the newest part
                keep = int(live.calibration_wait_s * self.fs)
                self._rows = [sig.tail(keep)]
                self._n = keep
                self._last_try = self._seconds()
            return None
        if not force and (cal.segments["thigh"].axis_source != "motion" or cal.segments["pelvis"].axis_source == "none"
                          or cal.neutral_s < self.cfg.calibration.min_neutral_s):
            # wait for the reps that show the flexion axis (and an undeclared pelvis's), and for a
            # start pose long enough to trust (a sensor arriving mid-rep gives none)
            return None
        # checks that cannot judge yet are run again as the reps come (see _recheck)
        self._adopt(cal)
        self.error_ = None
        self._refining = not self._settled(cal)
        if not self._refining:
            self._rows, self._n = [], 0
        return sig

    def _recheck(self, sig: GridSignals, final: bool) -> None:
        """Run the mounting checks again on the rows since the calibration until every one has
        judged: a failure refuses the stream from then on, as the offline path refuses the file."""
        live = self.cfg.live
        self._check_rows.append(sig)
        self._check_n += len(sig)
        seconds = self._check_n / self.fs
        if not final and seconds - self._last_check < live.calibration_retry_s:
            return
        self._last_check = seconds
        buf = GridSignals.concat(self._check_rows)
        self._check_rows = [buf]
        cal = self.calibration_
        assert cal is not None
        try:
            pending = {k for k, v in cal.checks.items() if v == INCONCLUSIVE}  # a passed check stays passed
            checks = Calibrator(self.cfg.calibration, self.cfg.set_finding).run_checks(buf, cal.segments, cal.pose,
                                                                                      self.where, only=pending)
        except MountingCheckError as e:
            self.refused_ = f"{e} (found {seconds:.0f} s after the calibration; the reps so far are withdrawn)"
            self.calibration_ = None
            self._check_rows = []
            return
        cal.checks.update(checks)
        if cal.conclusive:
            self._check_rows, self._check_n = [], 0
        elif len(buf) > 3 * live.calibration_wait_s * self.fs:  # bounded memory: keep the newest part
            keep = int(live.calibration_wait_s * self.fs)
            self._check_rows, self._check_n = [buf.tail(keep)], keep

    def _settled(self, cal: Calibration) -> bool:
        """At least ``live.min_neutral_s`` of start pose seen, every declared sensor's axis from the
        motion (a strap 15° off its declaration tilts the angles until then) and every sensor with an
        axis (an undeclared pelvis that has not moved yet gives no tilt)."""
        return cal.neutral_s >= self.cfg.live.min_neutral_s and \
            all(seg.axis_source == "motion" for seg in cal.segments.values() if seg.declared) and \
            all(seg.axis_source != "none" for seg in cal.segments.values())

    @staticmethod
    def _motion_axes(cal: Calibration) -> int:
        return sum(seg.axis_source == "motion" for seg in cal.segments.values())

    def _legs_down(self, sig: GridSignals, cal: Calibration) -> bool:
        """The newest row's thigh is down (within ``[calibration] axis_min_elevation_deg`` of its
        start pose, an angle that needs no axis) and turning slower than ``[calibration]
        neutral_max_rate_deg_s``: no rep under way (or nothing known)."""
        up = sig.up["thigh"][-1] if len(sig) else np.full(3, np.nan)
        if not np.isfinite(up).all():
            return True
        cc = self.cfg.calibration
        up0 = cal.segments["thigh"].R_seg_sensor.T @ POSE_UP[cal.pose]
        elev = float(np.degrees(np.arccos(np.clip(up @ up0, -1.0, 1.0))))
        rate = float(np.degrees(np.linalg.norm(np.nan_to_num(sig.gyr["thigh"][-1]))))
        return elev < cc.axis_min_elevation_deg and rate < cc.neutral_max_rate_deg_s

    def _refine(self, final: bool) -> None:
        """Refit on the rows held since the start until the calibration has settled (see
        :meth:`_settled`; bounded buffer): a refit is taken when it has more start pose or more axes
        from the motion. Reps already reported keep the calibration they were measured with."""
        live = self.cfg.live
        if not final and self._seconds() - self._last_try < live.calibration_retry_s:
            return
        self._last_try = self._seconds()
        buf = self._buffer()
        try:
            cal = self._fit(buf)
        except CalibrationError:
            cal = None
        cur = self.calibration_
        assert cur is not None
        if cal is not None and not final and not self._legs_down(buf, cal):
            return  # a new zero or axis in the middle of a rep would bend it: wait until the legs are down
        if cal is not None and (self._motion_axes(cal), min(cal.neutral_s, live.min_neutral_s)) > \
                (self._motion_axes(cur), min(cur.neutral_s, live.min_neutral_s)):
            cal.checks = {k: (v if cur.checks.get(k) != "passed" else "passed") for k, v in cal.checks.items()}
            self._adopt(cal)
            if cal.conclusive:  # nothing left to re-check: the rows held for it go
                self._check_rows, self._check_n = [], 0
        if (cal is not None and self._settled(cal)) or final or self._seconds() > 3 * live.calibration_wait_s:
            self._refining = False
            self._rows, self._n = [], 0


class RepTracker:
    """Segmenter plus :func:`~imu_pipeline.reps.assess_rep` over a rolling window of angles.

    A rep whose movement has not come to rest in the data yet waits up to ``live.end_wait_s`` of
    stream time (and until the bounce look-ahead is covered), so its end and phases are measured
    as the offline path measures them. Hanging, it also waits until its legs-down window for the
    swing it may have kicked up has closed (:func:`~imu_pipeline.reps.rules.swing_after_window`:
    at most ``momentum.swing_after_s`` after its end, earlier when the next rep starts sooner), so
    ``swing`` and ``unsettled`` are judged on the samples the offline path uses.

    Attributes
    ----------
    reps_ : every rep assessed so far
    """

    def __init__(self, cfg: PipelineConfig, pose: str, sensor_rate_hz: float | None = None) -> None:
        self.cfg = cfg
        self.pose = pose
        self.sensor_rate_hz = sensor_rate_hz  # the slower sensor's rate (Hz): what the rules can judge
        self.fs = cfg.front.grid_rate_hz
        self.segmenter = RepSegmenter(cfg, self.fs)
        self.bridge = PelvisGapBridge()
        self._chunks: list[AngleWindow] = []
        self._deferred: list = []
        self.reps_: list[Rep] = []

    def push(self, ang: JointAngles) -> list[Rep]:
        """Add angles (in time order); return the reps finished."""
        if len(ang.time_s) == 0:
            return []
        w = angle_window(ang.time_s, ang.hip_flexion, ang.pelvic_tilt, ang.thigh_angle, ang.thigh_rate,
                         ang.pelvis_rate, self.fs, self.bridge, self.cfg.reps.max_extension_deg)
        self._chunks.append(w)
        self._trim()
        return self._assess(self.segmenter.push(w.time_s, w.hip_deg), final=False)

    def finish(self) -> list[Rep]:
        return self._assess(self.segmenter.finish(), final=True)

    @property
    def held_s(self) -> float:
        """Stream time (s) of angles held in the rolling window (bounded by ``live.buffer_s``)."""
        if not self._chunks:
            return 0.0
        return float(self._chunks[-1].time_s[-1] - self._chunks[0].time_s[0])

    def _trim(self) -> None:
        keep_s = self.cfg.live.buffer_s
        t_last = float(self._chunks[-1].time_s[-1])
        while len(self._chunks) > 1 and float(self._chunks[1].time_s[0]) < t_last - keep_s:
            self._chunks.pop(0)
        first = self._chunks[0]
        if float(first.time_s[0]) < t_last - keep_s:  # one long chunk (the rows held while calibrating)
            first = first.between(t_last - keep_s, math.inf)
            if len(first.time_s):
                self._chunks[0] = first
            else:
                self._chunks.pop(0)

    def _window(self) -> AngleWindow:
        c = self._chunks
        return AngleWindow(*(np.concatenate([getattr(x, f) for x in c]) for f in
                             ("time_s", "hip_deg", "hip_measured", "tilt_deg", "thigh_deg", "hip_rate_deg_s",
                              "thigh_rate_deg_s", "pelvis_rate_deg_s")), self.fs)

    def _assess(self, bounds: list, final: bool) -> list[Rep]:
        self._deferred.extend(bounds)
        if not self._deferred or not self._chunks:
            return []
        w = self._window()
        t_last = float(w.time_s[-1])
        out: list[Rep] = []
        while self._deferred:
            b = self._deferred[0]
            prev_end = self.reps_[-1].end_s if self.reps_ else None
            r = assess_rep(w, b, self.cfg, self.pose, len(self.reps_), prev_end, self.sensor_rate_hz)
            settled = r.end_s < t_last - 0.5 / self.fs or t_last - b.end_s >= self.cfg.live.end_wait_s
            seen_after = t_last >= r.end_s + self.cfg.momentum.bounce_window_s
            if self.pose == "hanging":
                seen_after = seen_after and t_last >= swing_after_window(w, r.end_s, self.cfg.momentum,
                                                                         self.cfg.reps.onset_deg)[1]
            if not final and not (settled and seen_after):
                break
            self._deferred.pop(0)
            self.reps_.append(r)
            out.append(r)
        return out


class LivePipeline:
    """Streaming hip flexion, pelvic tilt and reps (see the module docstring).

    Parameters
    ----------
    mounting : per sensor, a mounting declaration ``{"x": ..., "y": ...}`` or None
    exercise : the sidecar's ``exercise`` text, used for the start pose when needed
    cfg : pipeline config (defaults when None)
    pose : 'lying' / 'hanging' to skip start-pose detection
    sample_rates : per sensor declared rate (Hz); estimated from the data when missing
    keep_angles : keep every angle sample (for replays and tests; grows with the session)

    Attributes
    ----------
    front_, orientation_, calibrator_ : the stages
    tracker_ : RepTracker, once calibrated
    quality_ : DataQuality, after :meth:`finish`
    """

    def __init__(self, mounting: Mapping[str, Mapping[str, str] | None] | None = None, exercise: str | None = None,
                 cfg: PipelineConfig | None = None, *, pose: str | None = None,
                 sample_rates: Mapping[str, float | None] | None = None, keep_angles: bool = False,
                 where: str = "live stream") -> None:
        self.cfg = cfg or PipelineConfig()
        mats = {s: (mounting_matrix(m, where=f"mounting of the {s} sensor") if m else None)
                for s, m in (mounting or {}).items()}
        self.front_ = FrontHalf(self.cfg.front, dict(sample_rates or {}))
        self.orientation_ = StreamingOrientation(self.cfg.orientation, self.cfg.front.grid_rate_hz)
        self.calibrator_ = LiveCalibration(self.cfg, {s: mats.get(s) for s in SENSORS}, pose=pose,
                                           exercise=exercise, where=where)
        self.tracker_: RepTracker | None = None
        self.finder_: SetFinder | None = None
        self._bias_fixed_at_s = -math.inf  # stream time up to which the filters ran with a bias far off
        self._bias_fix_deg_s = 0.0
        self._pending: list[Rep] = []
        self._reps: list[Rep] = []
        self.keep_angles = keep_angles
        self._angles: list[JointAngles] = []
        self.quality_: DataQuality | None = None

    # ------------------------------------------------------------------ input
    def push(self, sensor: str, time_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> list[Rep]:
        """Add samples of one sensor (s, m/s², rad/s; sensor frame); return finished reps."""
        return self._rows(self.front_.push(sensor, time_s, acc, gyr), final=False)

    def hold(self, sensor: str, held: bool) -> None:
        """The recorder's word that ``sensor``'s samples are being held back before delivery (its
        timing settling after a (re)connection): the rows wait for them (:meth:`FrontHalf.hold`)
        instead of going on without that sensor. A replay never holds."""
        self.front_.hold(sensor, held)

    def finish(self) -> list[Rep]:
        """End of stream: release the last rows, calibrate with what there is, close a rep."""
        out = self._rows(self.front_.finish(), final=False)
        out += self._signals(self.orientation_.finish(), final=True)
        self.quality_ = self.front_.quality_
        if self.tracker_ is not None:
            out += self._judge(self.tracker_.finish(), final=True)
        return out

    # ------------------------------------------------------------------ results
    @property
    def reps(self) -> list[Rep]:
        return self._reps

    @property
    def doubtful_until_s(self) -> float:
        """Stream time up to which the filters ran with a gyro bias more than ``[live]
        bias_doubt_deg_s`` off the one the start pose then measured (-inf: none): angles before it
        are not to be trusted."""
        return self._bias_fixed_at_s

    @property
    def not_exercise(self) -> list[NotExercise]:
        """Stretches so far that were not the exercise (walking, out of the pose)."""
        return self.finder_.spans() if self.finder_ is not None else []

    @property
    def not_reps(self) -> list[NotExercise]:
        """Movements that were not reps, with the reason."""
        return list(self.finder_.rejected_) if self.finder_ is not None else []

    @property
    def calibration(self) -> Calibration | None:
        return self.calibrator_.calibration_

    @property
    def calibration_error(self) -> str | None:
        """Why there is no calibration (a refusal, or the last reason it could not calibrate yet)."""
        return self.calibrator_.refused_ or self.calibrator_.error_

    def angles(self) -> JointAngles | None:
        """Every angle sample so far (only with ``keep_angles``; None before the calibration)."""
        if not self._angles:
            return None
        a = self._angles
        cat = {f: np.concatenate([getattr(x, f) for x in a]) for f in
               ("time_s", "hip_flexion", "pelvic_tilt", "thigh_angle", "thigh_rate", "pelvis_rate")}
        extra = {f: np.concatenate([getattr(x, f) if getattr(x, f) is not None else np.full(len(x.time_s), np.nan)
                                    for x in a]) for f in ("pelvis_pose_dev", "impact_acc_norm")}
        return JointAngles(**cat, calibration=self.calibration or a[-1].calibration, **extra)

    @property
    def held_s(self) -> float:
        """Stream time (s) held in memory: rows awaiting a restarted filter's warm start, the
        calibration buffer and the rep window together."""
        held = self.calibrator_.held_s + self.orientation_.held_rows / self.cfg.front.grid_rate_hz
        return held + (self.tracker_.held_s if self.tracker_ is not None else 0.0)

    # ------------------------------------------------------------------ internals
    def _rows(self, rows: GridBatch, final: bool) -> list[Rep]:
        if len(rows) == 0 and not final:
            return []
        return self._signals(self.orientation_.update(rows), final)

    def _signals(self, sig: GridSignals, final: bool) -> list[Rep]:
        if len(sig) == 0 and not final:
            return []
        ready = self.calibrator_.offer(sig, final=final)
        cal = self.calibrator_.calibration_
        for s, (b, sigma) in self.calibrator_.gyro_bias_.items():  # measured in the start pose
            before = self.orientation_.bias(s)
            self.orientation_.set_bias(s, b, sigma)
            if before is not None and float(np.degrees(np.linalg.norm(b - before))) > self.cfg.live.bias_doubt_deg_s \
                    and len(sig):
                # the rows so far were estimated with a bias this far off: reps from them are doubtful
                self._bias_fixed_at_s = float(sig.time_s[-1])
                self._bias_fix_deg_s = float(np.degrees(np.linalg.norm(b - before)))
        self.calibrator_.gyro_bias_ = {}
        if ready is None or cal is None or len(ready) == 0:
            return []
        ang = joint_angles(ready, cal, self.cfg.set_finding.strike_max_thigh_tilt_deg)
        if self.keep_angles:
            self._angles.append(ang)
        if self.tracker_ is None or self.finder_ is None:
            rate = slower_rate_hz({s: r.quality_ for s, r in self.front_.resamplers_.items()})
            self.tracker_ = RepTracker(self.cfg, cal.pose, rate)
            sf = self.cfg.set_finding  # rows kept to judge a movement: as long as the rep window
            self.finder_ = SetFinder(sf, cal.pose, keep_s=self.cfg.live.buffer_s + sf.chain_lookback_s + sf.step_max_s)
        self.finder_.push(ang.time_s, ang.pelvis_pose_dev, ang.impact_acc_norm)
        return self._judge(self.tracker_.push(ang), final=False)

    def _judge(self, new: list[Rep], final: bool) -> list[Rep]:
        """Reps the set finder accepts, once it has the rows it judges them on (``[set_finding]
        margin_s`` past their end), numbered among the accepted ones."""
        self._pending += new
        out: list[Rep] = []
        assert self.finder_ is not None
        while self._pending and (final or self.finder_.ready(self._pending[0].end_s)):
            r = self._pending.pop(0)
            if self.finder_.judge(r.start_s, r.end_s) is None:
                r = dataclasses.replace(r, index=len(self._reps))
                if self.calibrator_.provisional:
                    r = doubt_label(r, "low: measured while the live calibration was still provisional (its start "
                                       "pose or axes not yet settled from the motion)")
                elif r.start_s < self._bias_fixed_at_s:
                    r = doubt_label(r, f"low: measured before the live filter knew the gyro bias (corrected by "
                                       f"{self._bias_fix_deg_s:.1f} deg/s from the still start pose afterwards)")
                self._reps.append(r)
                out.append(r)
        return out
