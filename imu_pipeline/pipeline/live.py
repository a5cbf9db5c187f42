"""The live (streaming) path: samples in, reps out, causally and in bounded memory.

``LivePipeline.push(sensor, time_s, acc, gyr)`` takes each batch of samples as it arrives
(from BLE or from a replayed recording) and returns the reps that finished. Inside, the
same algorithms as the offline analysis run causally:

1. :class:`StreamingOrientation` per sensor — linear resampling onto the sensor's own uniform
   grid, ``vqf.VQF`` (the causal filter), a fresh filter after a gap longer than
   ``max_gap_s``;
2. alignment of both sensors onto the common grid (a sensor silent for longer than
   ``ABSENT_AFTER_S`` counts as missing, so the other is not held up);
3. calibration by :class:`~imu_pipeline.calibration.Calibrator` on the samples buffered so
   far, as soon as it finds the start pose and the thigh has rotated enough (or the buffer
   is full); the buffered samples are then analysed at once;
4. :class:`~imu_pipeline.reps.core.RepSegmenter` and :func:`~imu_pipeline.reps.core.rep_features` —
   the very functions the offline analysis uses — on a rolling window of angles.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import vqf

from imu_pipeline.config import PipelineConfig
from imu_pipeline.frames import mounting_matrix, up_in_sensor_frame
from imu_pipeline.orientation import vqf_params
from imu_pipeline.calibration import Calibration, CalibrationError, Calibrator, GridSignals, joint_angles
from imu_pipeline.io.recording import SENSORS
from imu_pipeline.reps.core import AngleWindow, Rep, RepSegmenter, bridge_pelvis_gaps, rep_features

#: A sensor whose newest sample is this much (s) older than the other's is treated as absent.
ABSENT_AFTER_S = 0.3
#: Seconds in the start pose the live calibration waits for (unless the wait runs out).
LIVE_MIN_NEUTRAL_S = 1.0
#: How long (s of stream) a finished rep may wait for its movement to come to rest.
END_WAIT_S = 1.0
#: Samples used to estimate a sensor's rate when none was declared.
RATE_PROBE_SAMPLES = 25


class StreamingOrientation:
    """Causal orientation of one sensor on its own uniform grid.

    Parameters
    ----------
    cfg : PipelineConfig
    rate_hz : the sensor's nominal rate; None -> estimated from the first samples

    ``push`` returns ``(time_s, up, gyr)``: grid times (s), 'up' in the sensor frame (unit
    vectors) and bias-corrected rates (rad/s, sensor frame).
    """

    def __init__(self, cfg: PipelineConfig, rate_hz: float | None = None) -> None:
        self.cfg = cfg
        self.rate = rate_hz
        self._probe: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._filter: vqf.VQF | None = None
        self._last: tuple[float, np.ndarray, np.ndarray] | None = None
        self._next_k = 0
        self._t0 = 0.0
        self.restarts = 0

    def _start(self, t0: float) -> None:
        assert self.rate is not None
        self._filter = vqf.VQF(1.0 / self.rate, **vqf_params(self.cfg.fusion))
        self._t0 = t0
        self._next_k = 0

    def push(self, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        empty = (np.empty(0), np.empty((0, 3)), np.empty((0, 3)))
        if self.rate is None:
            self._probe.append((t, acc, gyr))
            tt = np.concatenate([p[0] for p in self._probe])
            if len(tt) < RATE_PROBE_SAMPLES:
                return empty
            d = np.diff(tt)
            d = d[d > 0]
            self.rate = float(1.0 / np.median(d)) if d.size else 100.0
            t = tt
            acc = np.concatenate([p[1] for p in self._probe])
            gyr = np.concatenate([p[2] for p in self._probe])
            self._probe.clear()
        out_t, out_a, out_g = [], [], []
        for i in range(len(t)):
            ti, ai, gi = float(t[i]), acc[i], gyr[i]
            if self._last is None or ti - self._last[0] > self.cfg.fusion.max_gap_s:
                if self._last is not None:
                    self.restarts += 1
                self._start(ti)
                self._last = (ti, ai, gi)
                out_t.append(ti)
                out_a.append(ai)
                out_g.append(gi)
                self._next_k = 1
                continue
            t_prev, a_prev, g_prev = self._last
            if ti <= t_prev:
                continue  # duplicate/out-of-order time stamp: nothing new to say
            while True:
                tk = self._t0 + self._next_k / self.rate
                if tk > ti + 1e-9:
                    break
                f = (tk - t_prev) / (ti - t_prev)
                out_t.append(tk)
                out_a.append(a_prev + f * (ai - a_prev))
                out_g.append(g_prev + f * (gi - g_prev))
                self._next_k += 1
            self._last = (ti, ai, gi)
        if not out_t:
            return empty
        tt = np.asarray(out_t)
        aa = np.ascontiguousarray(np.asarray(out_a, dtype=float))
        gg = np.ascontiguousarray(np.asarray(out_g, dtype=float))
        # a restart inside this batch: split at the discontinuities of the grid
        ups, gyrs = [], []
        cuts = np.flatnonzero(np.diff(tt) > self.cfg.fusion.max_gap_s) + 1
        bounds = np.concatenate([[0], cuts, [len(tt)]])
        # the filter was restarted for the last block; earlier blocks in this batch (rare)
        # are run through fresh filters of their own
        for bi, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            filt = self._filter if bi == len(bounds) - 2 else vqf.VQF(1.0 / self.rate, **vqf_params(self.cfg.fusion))
            res = filt.updateBatch(np.ascontiguousarray(gg[a:b]), np.ascontiguousarray(aa[a:b]))
            ups.append(up_in_sensor_frame(res["quat6D"]))
            gyrs.append(gg[a:b] - res["bias"])
        return tt, np.concatenate(ups), np.concatenate(gyrs)


class _Aligner:
    """Puts both sensors' uniform outputs onto the common grid, causally."""

    def __init__(self, grid_rate_hz: float, max_gap_s: float) -> None:
        self.rate = grid_rate_hz
        self.max_gap = max_gap_s
        self.buf: dict[str, deque[tuple[float, np.ndarray, np.ndarray]]] = {s: deque() for s in SENSORS}
        self.latest = {s: -math.inf for s in SENSORS}
        self.next_k: int | None = None

    def add(self, s: str, t: np.ndarray, up: np.ndarray, gyr: np.ndarray) -> None:
        for i in range(len(t)):
            self.buf[s].append((float(t[i]), up[i], gyr[i]))
        if len(t):
            self.latest[s] = float(t[-1])
            if self.next_k is None:
                self.next_k = int(math.ceil(float(t[0]) * self.rate - 1e-9))

    def _sample(self, s: str, g: float) -> tuple[np.ndarray, np.ndarray]:
        b = self.buf[s]
        while len(b) >= 2 and b[1][0] <= g:
            b.popleft()
        nan = np.full(3, np.nan)
        if not b or b[0][0] > g + 1e-9:
            return nan, nan
        if len(b) == 1 or abs(b[0][0] - g) < 1e-9:
            if abs(b[0][0] - g) < 1e-9:
                return b[0][1], b[0][2]
            return nan, nan
        (t0, u0, g0), (t1, u1, g1) = b[0], b[1]
        if t1 - t0 > self.max_gap:
            return nan, nan
        f = (g - t0) / (t1 - t0)
        u = u0 + f * (u1 - u0)
        return u / np.linalg.norm(u), g0 + f * (g1 - g0)

    def pop_ready(self) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]] | None:
        if self.next_k is None:
            return None
        newest = max(self.latest.values())
        horizon = min(t if newest - t < ABSENT_AFTER_S else math.inf for t in self.latest.values())
        horizon = min(horizon, newest)
        times = []
        k = self.next_k
        while k / self.rate <= horizon + 1e-9:
            times.append(k / self.rate)
            k += 1
        if not times:
            return None
        self.next_k = k
        ups: dict[str, list[np.ndarray]] = {s: [] for s in SENSORS}
        gyrs: dict[str, list[np.ndarray]] = {s: [] for s in SENSORS}
        for g in times:
            for s in SENSORS:
                u, w = self._sample(s, g)
                ups[s].append(u)
                gyrs[s].append(w)
        return (np.asarray(times), {s: np.asarray(ups[s]) for s in SENSORS},
                {s: np.asarray(gyrs[s]) for s in SENSORS})


class LivePipeline:
    """Streaming hip flexion, pelvic tilt and reps (see the module docstring).

    Parameters
    ----------
    mounting : per sensor, a mounting declaration ``{"x": ..., "y": ...}`` or None
    exercise : the sidecar's ``exercise`` text, used for the start pose when needed
    cfg : pipeline config (defaults when None)
    pose : 'lying' / 'hanging' to skip start-pose detection
    sample_rates : per sensor nominal rate (Hz); estimated from the data when missing
    keep_angles : keep every angle sample in ``angles_`` (for tests and replays; grows)
    """

    def __init__(self, mounting: Mapping[str, Mapping[str, str] | None] | None = None, exercise: str | None = None,
                 cfg: PipelineConfig | None = None, *, pose: str | None = None,
                 sample_rates: Mapping[str, float | None] | None = None, keep_angles: bool = False,
                 buffer_s: float = 60.0, calibration_wait_s: float = 20.0) -> None:
        self.cfg = cfg or PipelineConfig()
        self.mounting = {s: (mounting_matrix(m, where=f"mounting of the {s} sensor") if m else None)
                         for s, m in (mounting or {}).items()}
        for s in SENSORS:
            self.mounting.setdefault(s, None)
        self.exercise = exercise
        self.pose = pose
        rates = sample_rates or {}
        self.orient = {s: StreamingOrientation(self.cfg, rates.get(s)) for s in SENSORS}
        self.align = _Aligner(self.cfg.fusion.grid_rate_hz, self.cfg.fusion.max_gap_s)
        self.fs = self.cfg.fusion.grid_rate_hz
        self.calibration: Calibration | None = None
        self.calibration_error: str | None = None
        self.calibration_wait_s = calibration_wait_s
        self._pending: list[tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]] = []
        self._pending_s = 0.0
        self._last_cal_try = -math.inf
        self._refine = False
        self.segmenter = RepSegmenter(self.cfg, self.fs)
        self.maxlen = int(buffer_s * self.fs)
        self.win: dict[str, deque[float]] = {k: deque(maxlen=self.maxlen) for k in
                                              ("t", "hip", "tilt", "thigh", "trate", "prate")}
        self._last_tilt = math.nan
        self.reps: list[Rep] = []
        self._deferred: list[Any] = []
        self.keep_angles = keep_angles
        self.angles_: list[np.ndarray] = []
        self.stream_time_s = -math.inf

    # ------------------------------------------------------------------ input
    def push(self, sensor: str, time_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> list[Rep]:
        """Add samples of one sensor (s, m/s², rad/s; sensor frame); return finished reps."""
        if sensor not in SENSORS:
            raise ValueError(f"unknown sensor {sensor!r}; expected 'thigh' or 'pelvis'")
        t = np.atleast_1d(np.asarray(time_s, dtype=float))
        if t.size == 0:
            return []
        a = np.atleast_2d(np.asarray(acc, dtype=float))
        g = np.atleast_2d(np.asarray(gyr, dtype=float))
        self.stream_time_s = max(self.stream_time_s, float(t[-1]))
        tu, up, gc = self.orient[sensor].push(t, a, g)
        self.align.add(sensor, tu, up, gc)
        ready = self.align.pop_ready()
        if ready is None:
            return []
        return self._consume(*ready)

    def finish(self) -> list[Rep]:
        """End of stream: flush what is aligned, calibrate with what there is, close a rep."""
        out: list[Rep] = []
        self.align.latest = {s: max(self.align.latest.values()) for s in SENSORS}
        ready = self.align.pop_ready()
        if ready is not None:
            out += self._consume(*ready)
        if self.calibration is None and self._pending:
            out += self._try_calibrate(force=True)
        if self.calibration is not None:
            out += self._reps_from(self.segmenter.finish(), final=True)
        return out

    # ------------------------------------------------------------------ internals
    def _consume(self, t: np.ndarray, up: dict[str, np.ndarray], gyr: dict[str, np.ndarray]) -> list[Rep]:
        if self.calibration is None:
            self._pending.append((t, up, gyr))
            self._pending_s += len(t) / self.fs
            if self._pending_s - self._last_cal_try >= 1.0:
                self._last_cal_try = self._pending_s
                return self._try_calibrate(force=self._pending_s >= self.calibration_wait_s)
            return []
        if self._refine:
            self._maybe_refine(t, up, gyr)
        return self._analyse(t, up, gyr)

    def _fit(self, sig: GridSignals) -> Calibration:
        return Calibrator(self.cfg.calibration).fit(sig, self.mounting, pose=self.pose, exercise=self.exercise,
                                                    where="live stream").calibration_

    def _pending_signals(self) -> GridSignals:
        t = np.concatenate([p[0] for p in self._pending])
        up = {s: np.concatenate([p[1][s] for p in self._pending]) for s in SENSORS}
        gy = {s: np.concatenate([p[2][s] for p in self._pending]) for s in SENSORS}
        return GridSignals(t, up, gy, {s: np.zeros(len(t), bool) for s in SENSORS})

    def _try_calibrate(self, force: bool) -> list[Rep]:
        sig = self._pending_signals()
        try:
            cal = self._fit(sig)
        except CalibrationError as e:
            self.calibration_error = str(e)
            if self._pending_s > 3 * self.calibration_wait_s:  # bounded memory: keep the newest part
                keep = int(self.calibration_wait_s * self.fs)
                sig = self._pending_signals()
                self._pending = [(sig.time_s[-keep:], {s: sig.up[s][-keep:] for s in SENSORS},
                                  {s: sig.gyr[s][-keep:] for s in SENSORS})]
                self._pending_s = keep / self.fs
                self._last_cal_try = self._pending_s
            return []
        if not force and cal.segments["thigh"].axis_source != "motion":
            return []  # wait for the first rep: it shows the flexion axis
        self.calibration = cal
        self.calibration_error = None
        # with little time in the start pose so far, keep the signals to refine it once
        self._refine = cal.neutral_s < LIVE_MIN_NEUTRAL_S
        self._pending = [(sig.time_s, sig.up, sig.gyr)] if self._refine else []
        self._pending_s = len(sig.time_s) / self.fs
        return self._analyse(sig.time_s, sig.up, sig.gyr)

    def _maybe_refine(self, t: np.ndarray, up: dict[str, np.ndarray], gyr: dict[str, np.ndarray]) -> None:
        """Refit the calibration once, when 1 s in the start pose has been seen (bounded buffer)."""
        self._pending.append((t, up, gyr))
        self._pending_s += len(t) / self.fs
        if self._pending_s - self._last_cal_try < 1.0:
            return
        self._last_cal_try = self._pending_s
        sig = self._pending_signals()
        try:
            cal = self._fit(sig)
        except CalibrationError:
            cal = None
        if (cal is not None and cal.neutral_s >= LIVE_MIN_NEUTRAL_S) or self._pending_s > 3 * self.calibration_wait_s:
            if cal is not None:
                self.calibration = cal
            self._refine = False
            self._pending = []

    def _analyse(self, t: np.ndarray, up: dict[str, np.ndarray], gyr: dict[str, np.ndarray]) -> list[Rep]:
        assert self.calibration is not None
        sig = GridSignals(t, up, gyr, {s: np.zeros(len(t), bool) for s in SENSORS})
        ang = joint_angles(sig, self.calibration)
        # where only the pelvis is missing, bridge hip flexion with the last known tilt (as offline)
        hip, self._last_tilt = bridge_pelvis_gaps(ang.hip_flexion, ang.thigh_angle, ang.pelvic_tilt, self._last_tilt)
        hip_det = np.degrees(hip)
        for k, v in (("t", t), ("hip", hip_det), ("tilt", np.degrees(ang.pelvic_tilt)),
                     ("thigh", np.degrees(ang.thigh_angle)), ("trate", np.degrees(ang.thigh_rate)),
                     ("prate", np.degrees(ang.pelvis_rate))):
            self.win[k].extend(v.tolist())
        if self.keep_angles:
            self.angles_.append(np.column_stack([t, ang.hip_flexion, ang.pelvic_tilt]))
        return self._reps_from(self.segmenter.push(t, hip_det))

    def _reps_from(self, bounds: list[Any], final: bool = False) -> list[Rep]:
        """Features of finished reps. A rep whose movement has not yet come to rest in the
        data (its refined end is the newest sample) waits for up to ``END_WAIT_S`` of stream
        time, so that its end and phases are measured as the offline analysis measures them."""
        self._deferred.extend(bounds)
        if not self._deferred:
            return []
        arr = {k: np.asarray(v) for k, v in self.win.items()}
        w = AngleWindow(arr["t"], arr["hip"], arr["tilt"], arr["thigh"], arr["trate"] - np.nan_to_num(arr["prate"]),
                        arr["trate"], arr["prate"], self.fs)
        t_last = float(arr["t"][-1]) if len(arr["t"]) else -math.inf
        out: list[Rep] = []
        assert self.calibration is not None
        while self._deferred:
            b = self._deferred[0]
            prev_end = self.reps[-1].end_s if self.reps else None
            r = rep_features(w, b, self.cfg, self.calibration.pose, len(self.reps), prev_end)
            settled = r.end_s < t_last - 0.5 / self.fs or t_last - b.end_s >= END_WAIT_S
            seen_after = t_last >= r.end_s + self.cfg.momentum.bounce_window_s  # the rebound look-ahead
            if not final and not (settled and seen_after):
                break
            self._deferred.pop(0)
            self.reps.append(r)
            out.append(r)
        return out

    def angles(self) -> np.ndarray:
        """(N, 3): time_s, hip flexion (rad), pelvic tilt (rad) — only with ``keep_angles``."""
        if not self.angles_:
            return np.empty((0, 3))
        return np.concatenate(self.angles_)
