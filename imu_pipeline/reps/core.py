"""Rep analysis: segmentation, per-rep features, label, momentum flags, smoothness.

One causal segmenter (:class:`RepSegmenter`) serves both the offline analysis and the live
path, fed sample by sample with hip flexion; so both find the same reps. Features and
labels are computed by pure functions over the samples of a finished rep
(:func:`rep_features`, :func:`classify`), again the same code for both paths.

Definitions (thresholds in :class:`imu_pipeline.config.PipelineConfig`; GUIDE §5):

* a rep: hip flexion rises at least ``min_rep_deg`` above its running baseline and comes
  back down by ``return_fraction`` of that excursion; it ends when the angle settles near its
  new minimum for ``settle_s`` or turns up again by ``reversal_deg`` (touch-and-go);
* ``abdominal-engaging``: the pelvis tilts posteriorly by at least
  ``abdominal_min_posterior_tilt_deg`` relative to the rep's start, with the legs high
  (hip flexion above ``abdominal_min_hip_deg`` when the tilt peaks); else ``hip-flexor-only``;
* momentum reasons: ``fast`` (a phase shorter than ``min_phase_s`` or a peak rate above
  ``max_rate_deg_s``), ``drop`` (eccentric ``drop_ratio`` times shorter than concentric and
  fast), ``bounce`` (no pause at the bottom after a quick descent, turning straight up),
  ``swing`` (hanging: the pelvis kept swinging like a pendulum with the legs down before
  the rep);
* back arch: anterior pelvic tilt of ``back_arch_anterior_tilt_deg`` or more while the hip is
  below ``back_arch_max_hip_deg``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from imu_pipeline.config import PipelineConfig
from imu_pipeline.reps.smoothness import sparc

LABEL_ABDOMINAL = "abdominal-engaging"
LABEL_HIP_FLEXOR = "hip-flexor-only"
#: Phases start/end where the hip rate crosses this fraction of its peak (5 %: the usual
#: onset criterion in movement analysis; 88 % of a minimum-jerk movement lies inside).
PHASE_FRACTION = 0.05
#: A gap in hip flexion longer than this (s) ends a rep under way (it is counted once, flagged);
#: short enough that the live path still reports such a rep within 0.5 s of its last sample.
GAP_RESET_S = 0.4
#: Shortest legs-down window (s) in which a whole-body swing is judged (~1/4 of a pendulum cycle).
SWING_MIN_WINDOW_S = 0.5


class CausalLowpass:
    """Second-order Butterworth low-pass (bilinear transform), state kept across calls.

    A plain biquad in direct form II transposed; written out so the live path and the CLI do
    not pay for importing scipy.signal.
    """

    def __init__(self, cutoff_hz: float, fs_hz: float) -> None:
        fc = min(cutoff_hz, 0.45 * fs_hz)
        k = math.tan(math.pi * fc / fs_hz)
        q = 1 / math.sqrt(2)
        norm = 1 / (1 + k / q + k * k)
        self.b = (k * k * norm, 2 * k * k * norm, k * k * norm)
        self.a = (2 * (k * k - 1) * norm, (1 - k / q + k * k) * norm)
        self.z: tuple[float, float] | None = None

    def reset(self) -> None:
        self.z = None

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        y = np.empty_like(x)
        if x.size == 0:
            return y
        b0, b1, b2 = self.b
        a1, a2 = self.a
        if self.z is None:  # start at rest at the first value (no step response)
            x0 = float(x[0])
            self.z = (x0 * (1 - b0), x0 * (b2 - a2))
        z1, z2 = self.z
        for i, xi in enumerate(x.tolist()):
            yi = b0 * xi + z1
            z1 = b1 * xi - a1 * yi + z2
            z2 = b2 * xi - a2 * yi
            y[i] = yi
        self.z = (z1, z2)
        return y


@dataclass
class RepBounds:
    """Times (s, recording clock) of one rep found by the segmenter."""

    start_s: float
    peak_s: float
    end_s: float
    ended_by: str  # 'settle' | 'reversal' | 'end-of-data'
    pause_s: float  # time spent near the bottom before turning up again (inf if it settled)
    has_gap: bool = False


class RepSegmenter:
    """Causal rep segmentation on hip flexion (degrees at this edge).

    Feed uniformly sampled hip flexion with :meth:`push` (NaN = missing); each finished rep
    comes out as :class:`RepBounds` no later than ``settle_s`` (plus the low-pass delay)
    after its end. :meth:`finish` closes a rep that was coming down when the data ended.
    Memory is bounded by the length of one rep.
    """

    def __init__(self, cfg: PipelineConfig, fs_hz: float) -> None:
        self.c = cfg.reps
        self.fs = fs_hz
        self.lp = CausalLowpass(self.c.smoothing_hz, fs_hz)
        self.state = "base"
        self._reset_base()
        self.last_t = -math.inf
        self.gap_in_rep = False
        self.gap_reset_s = GAP_RESET_S
        self._closed_by_gap = False
        self.last_x = math.nan
        self._filt_last_t = -math.inf

    def _reset_base(self, base: float = math.inf, last_low_t: float = -math.inf) -> None:
        self.base = base
        self.last_low_t = last_low_t

    def push(self, t: np.ndarray, hip_deg: np.ndarray) -> list[RepBounds]:
        t = np.asarray(t, dtype=float)
        x = np.asarray(hip_deg, dtype=float)
        out: list[RepBounds] = []
        ok = np.isfinite(x)
        xf = self._smooth(t, x, ok)
        for i in range(len(t)):
            ti = t[i]
            if not ok[i]:
                if self.state != "base" or self._rising():
                    self.gap_in_rep = True
                    if ti - self.last_t > self.gap_reset_s and not self._closed_by_gap:
                        # the sensor has been away too long: close the rep now (counted once)
                        out.append(self._close_at_gap())
                        self._closed_by_gap = True
                continue
            if ti - self.last_t > self.gap_reset_s:
                # long gap: what happened inside is unknown. A rep under way (or clearly on its
                # way up) is closed at the gap (counted once, flagged); the smoother and
                # baseline restart afterwards.
                was_resting, pre_base = self.state == "base" and not self._closed_by_gap, self.base
                if (self.state in ("up", "down") or self._rising()) and not self._closed_by_gap:
                    out.append(self._close_at_gap())
                    was_resting = False
                self._reset_base()
                if was_resting and np.isfinite(pre_base) and x[i] - pre_base >= self.c.resume_min_deg:
                    # the legs went up while the sensor was away: a rep under way (counted once)
                    self.state, self.start_t, self.start_base = "up", ti, pre_base
                    self.peak, self.peak_t, self.gap_in_rep = float(x[i]), ti, True
            self._closed_by_gap = False
            xi = float(xf[i])
            self.last_t = ti
            self.last_x = xi
            r = self._step(ti, xi)
            if r is not None:
                out.append(r)
        return out

    def _smooth(self, t: np.ndarray, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Low-pass the finite samples, one filter call per run; the filter restarts after a
        gap longer than ``gap_reset_s`` (NaN elsewhere)."""
        xf = np.full_like(x, np.nan)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return xf
        times = t[idx]
        prev = np.concatenate([[self._filt_last_t], times[:-1]])
        starts = np.flatnonzero(times - prev > self.gap_reset_s)
        edges = np.concatenate([[0], starts, [idx.size]])
        for a, b in zip(edges[:-1], edges[1:]):
            if b <= a:
                continue
            if a in starts:
                self.lp.reset()
            xf[idx[a:b]] = self.lp.process(x[idx[a:b]])
        self._filt_last_t = float(times[-1])
        return xf

    def _step(self, t: float, x: float) -> RepBounds | None:
        c = self.c
        if self.state == "base":
            if x < self.base:
                self.base = x
            if x <= self.base + c.onset_deg:
                self.last_low_t = t
            if x >= self.base + c.min_rep_deg:
                self.state = "up"
                self.start_t = self.last_low_t if np.isfinite(self.last_low_t) else t
                self.start_base = self.base
                self.peak, self.peak_t = x, t
            return None
        if self.state == "up":
            if x > self.peak:
                self.peak, self.peak_t = x, t
            if x <= self.peak - c.return_fraction * (self.peak - self.start_base):
                self.state = "down"
                self.post_min = x
                self.trace: deque[tuple[float, float]] = deque()
                self.trace.append((t, x))
                self.band_since = t
            return None
        # down
        self.trace.append((t, x))
        if x < self.post_min:
            self.post_min = x
        if x > self.post_min + c.onset_deg:
            self.band_since = t  # left the band (above it)
        if x >= self.post_min + c.reversal_deg:
            return self._emit("reversal", t)
        if t - self.band_since >= c.settle_s and x <= self.post_min + c.onset_deg:
            return self._emit("settle", t)
        return None

    def _emit(self, how: str, t_now: float) -> RepBounds:
        c = self.c
        level = self.post_min + c.onset_deg
        end_t = next(tt for tt, xx in self.trace if xx <= level)
        # the last time it was in the band before now
        last_low = max((tt for tt, xx in self.trace if xx <= level), default=end_t)
        pause = (last_low - end_t) if how == "reversal" else math.inf
        r = RepBounds(self.start_t, self.peak_t, end_t, how, pause, self.gap_in_rep)
        self.state = "base"
        self.gap_in_rep = False
        self._reset_base(self.post_min, last_low)
        return r

    def _rising(self) -> bool:
        """Resting state, but already well on the way up (a rep the gap interrupts)."""
        return self.state == "base" and np.isfinite(self.base) and self.last_x - self.base >= self.c.resume_min_deg

    def _close_at_gap(self) -> RepBounds:
        if self.state == "base":  # interrupted on its way up
            start = self.last_low_t if np.isfinite(self.last_low_t) else self.last_t
            self.start_t, self.peak_t = start, self.last_t
        r = RepBounds(self.start_t, self.peak_t, self.last_t, "gap", math.inf, True)
        self.state = "base"
        self.gap_in_rep = False
        return r

    def finish(self) -> list[RepBounds]:
        """Close a rep that was on its way down when the data ended."""
        if self.state == "down":
            return [self._emit("end-of-data", self.last_t)]
        return []


# --------------------------------------------------------------------------- features


@dataclass
class Rep:
    """One analysed rep. Angles in degrees and rates in deg/s (this is an output edge)."""

    index: int
    start_s: float
    peak_s: float
    end_s: float
    label: str
    momentum: bool
    momentum_reasons: list[str]
    back_arch: bool
    peak_hip_flexion_deg: float
    thigh_elevation_at_peak_deg: float | None
    peak_posterior_tilt_deg: float
    hip_at_peak_tilt_deg: float | None
    tilt_onset_hip_deg: float | None
    peak_anterior_tilt_low_deg: float
    concentric_s: float
    top_s: float
    eccentric_s: float
    pause_before_next_s: float | None
    peak_rate_up_deg_s: float
    peak_rate_down_deg_s: float
    sparc_up: float | None
    sparc_down: float | None
    swing_amplitude_deg: float | None
    ended_by: str
    has_gap: bool
    pelvis_coverage: float = 1.0
    decided_by: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = None if not math.isfinite(v) else round(v, 3)
        return d

    def __str__(self) -> str:
        flags = f"MOMENTUM ({', '.join(self.momentum_reasons)})" if self.momentum else "controlled"
        arch = ", back arch" if self.back_arch else ""
        return (f"rep {self.index + 1:>2} {self.start_s:7.2f}-{self.end_s:7.2f} s  {self.label:<18}  hip "
                f"{self.peak_hip_flexion_deg:5.1f}°  tilt {self.peak_posterior_tilt_deg:+5.1f}°  up "
                f"{self.concentric_s:.1f} s / down {self.eccentric_s:.1f} s  {flags}{arch}")


@dataclass
class AngleWindow:
    """Samples a rep's features are computed from (uniform grid; degrees; NaN in gaps)."""

    time_s: np.ndarray
    hip_deg: np.ndarray
    tilt_deg: np.ndarray
    thigh_deg: np.ndarray
    hip_rate_deg_s: np.ndarray
    thigh_rate_deg_s: np.ndarray
    pelvis_rate_deg_s: np.ndarray
    fs_hz: float

    def between(self, t0: float, t1: float) -> "AngleWindow":
        """The samples with ``t0 <= time_s <= t1`` (views, no copies)."""
        a, b = np.searchsorted(self.time_s, [t0, t1], side="left")
        b = np.searchsorted(self.time_s, t1, side="right")
        return AngleWindow(self.time_s[a:b], self.hip_deg[a:b], self.tilt_deg[a:b], self.thigh_deg[a:b],
                           self.hip_rate_deg_s[a:b], self.thigh_rate_deg_s[a:b], self.pelvis_rate_deg_s[a:b],
                           self.fs_hz)


def _at(w: AngleWindow, arr: np.ndarray, t: float, half: float = 0.05) -> float:
    """Mean of ``arr`` within ``half`` s of ``t``; else the nearest finite value within 0.5 s."""
    m = (w.time_s >= t - half) & (w.time_s <= t + half)
    v = arr[m]
    v = v[np.isfinite(v)]
    if v.size:
        return float(np.mean(v))
    near = np.flatnonzero(np.isfinite(arr) & (np.abs(w.time_s - t) <= 0.5))
    if near.size:
        return float(arr[near[np.argmin(np.abs(w.time_s[near] - t))]])
    return float("nan")


def refine_phases(t: np.ndarray, hip: np.ndarray, rate: np.ndarray, fraction: float, t_start: float,
                  t_peak: float, t_end: float) -> tuple[float, float, float, float] | None:
    """Times of movement onset, end of the concentric phase, start of the eccentric phase
    and end of movement, where the (50 ms smoothed) hip rate crosses ``fraction`` of its
    peak. The rising-rate peak is looked for between the segmenter's start and peak, the
    falling one between peak and end, both where the hip is in the upper three quarters of
    the excursion (a rebound at the bottom is not the rep's own peak rate); onset and end
    may lie a little outside."""
    r = np.nan_to_num(rate)
    if r.size < 5:
        return None
    k = max(1, int(round(0.05 / max(np.median(np.diff(t)), 1e-3))))
    r = np.convolve(r, np.ones(k) / k, mode="same")
    i0, ipk, i1 = np.searchsorted(t, [t_start, t_peak, t_end])
    i1 = min(max(i1, ipk + 1), len(r))
    if ipk <= i0 or i1 <= ipk:
        return None
    h = np.nan_to_num(hip, nan=-np.inf)
    hp = h[ipk]
    up_sel = np.where(h[i0:ipk + 1] >= h[i0] + 0.25 * (hp - h[i0]), r[i0:ipk + 1], -np.inf)
    dn_sel = np.where(h[ipk:i1] >= h[i1 - 1] + 0.25 * (hp - h[i1 - 1]), r[ipk:i1], np.inf)
    if not np.isfinite(up_sel).any() or not np.isfinite(dn_sel).any():
        return None
    iu = i0 + int(np.argmax(up_sel))
    idn = ipk + int(np.argmin(dn_sel))
    if r[iu] <= 0 or r[idn] >= 0 or idn <= iu:
        return None
    thu, thd = fraction * r[iu], fraction * r[idn]

    def cross(i: int, th: float) -> float:
        """Time where r crosses th between samples i and i+1 (linear, sub-sample)."""
        if i < 0 or i + 1 >= len(r) or r[i + 1] == r[i]:
            return float(t[min(max(i, 0), len(t) - 1)])
        f = min(max((th - r[i]) / (r[i + 1] - r[i]), 0.0), 1.0)
        return float(t[i] + f * (t[i + 1] - t[i]))

    below = np.flatnonzero(r[:iu] <= thu)
    a = cross(int(below[-1]), thu) if below.size else float(t[0])
    after = np.flatnonzero(r[iu:idn] <= thu)
    b = cross(iu + int(after[0]) - 1, thu) if after.size else float(t[iu])
    before = np.flatnonzero(r[iu:idn] >= thd)
    c = cross(iu + int(before[-1]), thd) if before.size else float(t[idn])
    c = max(c, b)
    endi = np.flatnonzero(r[idn:] >= thd)
    d = cross(idn + int(endi[0]) - 1, thd) if endi.size else float(t[-1])
    return a, b, c, d


def pendulum_amplitude(t: np.ndarray, angle_deg: np.ndarray, rate_deg_s: np.ndarray, f_hz: float) -> float:
    """Amplitude (deg) of a pendulum oscillation at ``f_hz`` seen in an angle and its rate.

    Least squares on ``angle = a sin wt + b cos wt + c`` and ``rate / w = a cos wt - b sin wt``
    together: angle and rate are in quadrature, so even part of a cycle pins the amplitude
    ``sqrt(a^2 + b^2)`` down (the rate equations also reject a slow drift of the angle).
    """
    wt = 2 * np.pi * f_hz * (t - t[0])
    om = 2 * np.pi * f_hz
    s_, c_ = np.sin(wt), np.cos(wt)
    one, zero = np.ones_like(wt), np.zeros_like(wt)
    A = np.vstack([np.column_stack([s_, c_, one]), np.column_stack([c_, -s_, zero])])
    y = np.concatenate([angle_deg, rate_deg_s / om])
    (a, b, _), *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(np.hypot(a, b))


def rep_features(w: AngleWindow, b: RepBounds, cfg: PipelineConfig, pose: str, index: int,
                 prev_end_s: float | None) -> Rep:
    """Features, label and flags of one rep (pure function of the samples and the bounds)."""
    lc, mc, sc = cfg.labels, cfg.momentum, cfg.smoothness
    w = w.between(b.start_s - 13.0, b.end_s + 1.0)  # all a rep's features need (incl. 10 s tilt look-back)
    # movement onset/end from the hip rate (PHASE_FRACTION of its peak), searched a little
    # around the segmenter's bounds but never into the neighbouring reps
    lo = max(b.start_s - 0.5, prev_end_s if prev_end_s is not None else -np.inf)
    wm = (w.time_s >= lo) & (w.time_s <= b.end_s + 0.5)
    ph = refine_phases(w.time_s[wm], w.hip_deg[wm], w.hip_rate_deg_s[wm], PHASE_FRACTION, b.start_s, b.peak_s,
                       b.end_s)
    if ph is not None:
        start_s, conc_end, ecc_start, end_s = ph
    else:
        start_s, end_s = b.start_s, b.end_s
        conc_end = ecc_start = b.peak_s
    b = RepBounds(start_s, b.peak_s, end_s, b.ended_by, b.pause_s, b.has_gap)
    m = (w.time_s >= b.start_s) & (w.time_s <= b.end_s)
    t = w.time_s[m]
    hip = w.hip_deg[m]
    tilt = w.tilt_deg[m]
    hip_f = np.where(np.isfinite(hip), hip, -np.inf)
    ipk = int(np.argmax(hip_f))
    peak_hip = float(hip[ipk])
    peak_t = float(t[ipk])
    tilt0 = _at(w, w.tilt_deg, b.start_s, 0.1)
    if not np.isfinite(tilt0):
        # the pelvis was away at the start: its last known tilt before the rep is the reference
        before = np.flatnonzero(np.isfinite(w.tilt_deg) & (w.time_s < b.start_s) & (w.time_s > b.start_s - 10))
        if before.size:
            tilt0 = float(w.tilt_deg[before[-1]])
    rel = tilt - tilt0
    rel_f = np.where(np.isfinite(rel), rel, -np.inf)
    ipt = int(np.argmax(rel_f))
    peak_post = float(max(rel_f[ipt], 0.0)) if np.isfinite(rel_f[ipt]) else float("nan")
    hip_at_tilt = float(hip[ipt]) if np.isfinite(rel_f[ipt]) else None
    up = t <= peak_t
    onset_idx = np.flatnonzero(up & (rel >= lc.still_pelvis_deg))
    tilt_onset = float(hip[onset_idx[0]]) if onset_idx.size else None
    low = (hip < lc.back_arch_max_hip_deg) & np.isfinite(rel)
    ant = float(max(0.0, -np.min(rel[low]))) if low.any() else 0.0
    # phases: concentric until the top band, top, eccentric after it
    t_top_a, t_top_b = conc_end, ecc_start
    conc = t_top_a - b.start_s
    ecc = b.end_s - t_top_b
    top_s = t_top_b - t_top_a
    hr = w.hip_rate_deg_s[m]
    rate_up = float(np.nanmax(hr[up])) if np.isfinite(hr[up]).any() else float("nan")
    rate_dn = float(-np.nanmin(hr[~up])) if (~up).any() and np.isfinite(hr[~up]).any() else float("nan")
    spd = np.abs(w.thigh_rate_deg_s[m])

    def _sp(sel: np.ndarray) -> float | None:
        v = spd[sel]
        if v.size < 10 or not np.isfinite(v).all():
            return None
        return sparc(v, w.fs_hz, padlevel=sc.sparc_padlevel, cutoff_hz=sc.sparc_cutoff_hz,
                     amplitude_threshold=sc.sparc_amplitude_threshold)

    sparc_up = _sp(t <= t_top_a + 0.5 * top_s)
    sparc_dn = _sp(t >= t_top_b - 0.5 * top_s)

    # --- label
    abdominal = (np.isfinite(peak_post) and peak_post >= lc.abdominal_min_posterior_tilt_deg
                 and hip_at_tilt is not None and hip_at_tilt >= lc.abdominal_min_hip_deg)
    label = LABEL_ABDOMINAL if abdominal else LABEL_HIP_FLEXOR

    # --- momentum
    reasons: list[str] = []
    decided: dict[str, Any] = {
        "peak_posterior_tilt_deg": round(peak_post, 2) if np.isfinite(peak_post) else None,
        "needed_posterior_tilt_deg": lc.abdominal_min_posterior_tilt_deg,
        "hip_at_peak_tilt_deg": None if hip_at_tilt is None else round(hip_at_tilt, 1),
        "needed_hip_deg": lc.abdominal_min_hip_deg,
    }
    fast_rate = max(np.nan_to_num(rate_up), np.nan_to_num(rate_dn))
    # a rep cut by a long gap has no observed eccentric phase: judge only what was seen
    phases = [conc] if b.ended_by == "gap" else [conc, ecc]
    if min(phases) < mc.min_phase_s or fast_rate > mc.max_rate_deg_s:
        reasons.append("fast")
        decided["fast"] = f"up {conc:.2f} s, down {ecc:.2f} s (min {mc.min_phase_s} s); peak rate {fast_rate:.0f} deg/s " \
                          f"(max {mc.max_rate_deg_s:.0f})"
    if b.ended_by != "gap" and ecc > 0 and conc / ecc >= mc.drop_ratio and np.nan_to_num(rate_dn) >= mc.drop_min_rate_deg_s:
        reasons.append("drop")
        decided["drop"] = f"down {ecc:.2f} s vs up {conc:.2f} s, {rate_dn:.0f} deg/s"
    # bounce: a quick descent that turns straight back up (no pause) or rebounds off the bottom
    after = (w.time_s > end_s) & (w.time_s <= end_s + mc.bounce_window_s) & np.isfinite(w.hip_deg)
    hip_end = _at(w, w.hip_deg, end_s, 0.5 / w.fs_hz)
    rebound = float(np.max(w.hip_deg[after]) - hip_end) if after.any() and np.isfinite(hip_end) else 0.0
    no_pause = b.ended_by == "reversal" and b.pause_s <= mc.bounce_max_pause_s
    if (no_pause or rebound >= mc.bounce_rebound_deg) and ecc < mc.bounce_max_descent_s \
            and np.nan_to_num(rate_dn) >= mc.bounce_min_rate_deg_s:
        reasons.append("bounce")
        decided["bounce"] = (f"came down in {ecc:.2f} s at {rate_dn:.0f} deg/s and "
                             + (f"turned up after {b.pause_s:.2f} s" if no_pause else
                                f"rebounded {rebound:.1f}° within {mc.bounce_window_s:g} s"))
    swing_amp = None
    if pose == "hanging":
        # pendulum swing of the whole body with the legs down before the rep: amplitude from
        # the rms pitch rate of the pelvis at the pendulum frequency (works on part of a cycle)
        lo_t = max(b.start_s - 3.0, prev_end_s if prev_end_s is not None else -np.inf)
        # (between the previous rep's end and this rep's onset the legs are down by definition)
        wm = (w.time_s >= lo_t) & (w.time_s < b.start_s) & np.isfinite(w.pelvis_rate_deg_s) & np.isfinite(w.tilt_deg)
        if wm.sum() / w.fs_hz >= SWING_MIN_WINDOW_S:
            swing_amp = pendulum_amplitude(w.time_s[wm], w.tilt_deg[wm], w.pelvis_rate_deg_s[wm],
                                           mc.swing_frequency_hz)
            if swing_amp >= mc.swing_min_amplitude_deg:
                reasons.append("swing")
                decided["swing"] = f"pelvis swinging about ±{swing_amp:.1f}° with the legs down before the rep"
    back_arch = ant >= lc.back_arch_anterior_tilt_deg
    # how much of the rep's raised part the pelvis saw: the label rests on it
    raised = hip >= peak_hip - 0.2 * (peak_hip - float(np.nanmin(hip)))
    coverage = float(np.isfinite(tilt[raised]).mean()) if raised.any() else 0.0
    if coverage < 0.5:
        decided["label_confidence"] = (f"low: the pelvis sensor saw only {100 * coverage:.0f} % of the top of this "
                                       "rep; label assumes no curl where it could not see")
    thigh_el = _at(w, w.thigh_deg, peak_t) if pose == "lying" else None
    return Rep(index=index, start_s=b.start_s, peak_s=peak_t, end_s=b.end_s, label=label, momentum=bool(reasons),
               momentum_reasons=reasons, back_arch=bool(back_arch), peak_hip_flexion_deg=peak_hip,
               thigh_elevation_at_peak_deg=thigh_el, peak_posterior_tilt_deg=peak_post,
               hip_at_peak_tilt_deg=hip_at_tilt, tilt_onset_hip_deg=tilt_onset, peak_anterior_tilt_low_deg=ant,
               concentric_s=conc, top_s=top_s, eccentric_s=ecc,
               pause_before_next_s=None if not math.isfinite(b.pause_s) else b.pause_s,
               peak_rate_up_deg_s=rate_up, peak_rate_down_deg_s=rate_dn, sparc_up=sparc_up, sparc_down=sparc_dn,
               swing_amplitude_deg=swing_amp, ended_by=b.ended_by, has_gap=b.has_gap,
               pelvis_coverage=coverage, decided_by=decided)


def analyze_reps(w: AngleWindow, cfg: PipelineConfig, pose: str) -> list[Rep]:
    """Offline: run the causal segmenter over the whole series, then the features."""
    seg = RepSegmenter(cfg, w.fs_hz)
    bounds = seg.push(w.time_s, w.hip_deg) + seg.finish()
    reps: list[Rep] = []
    prev_end = None
    for i, b in enumerate(bounds):
        reps.append(rep_features(w, b, cfg, pose, i, prev_end))
        prev_end = reps[-1].end_s
    return reps


def window_from_angles(time_s: np.ndarray, hip_rad: np.ndarray, tilt_rad: np.ndarray, thigh_rad: np.ndarray,
                       thigh_rate: np.ndarray, pelvis_rate: np.ndarray, fs_hz: float) -> AngleWindow:
    """Degrees for the rep stage. Where only the pelvis is missing, hip flexion is bridged
    as thigh angle minus the last known tilt, so a rep is not lost to a pelvis dropout
    (the per-sample angle output keeps those samples empty)."""
    hip, _ = bridge_pelvis_gaps(hip_rad, thigh_rad, tilt_rad)
    hr = thigh_rate - np.nan_to_num(pelvis_rate)
    return AngleWindow(time_s, np.degrees(hip), np.degrees(tilt_rad), np.degrees(thigh_rad), np.degrees(hr),
                       np.degrees(thigh_rate), np.degrees(pelvis_rate), fs_hz)


def bridge_pelvis_gaps(hip: np.ndarray, thigh: np.ndarray, tilt: np.ndarray,
                       held_tilt: float = math.nan) -> tuple[np.ndarray, float]:
    """Hip flexion (rad) with pelvis-only gaps filled as thigh angle minus the last known tilt.

    ``held_tilt`` is the tilt known before these samples (the live path passes the previous
    batch's); returns the bridged hip flexion and the last known tilt after them."""
    t = np.array(tilt, dtype=float)
    if t.size and not np.isfinite(t[0]) and np.isfinite(held_tilt):
        t[0] = held_tilt
    ok = np.isfinite(t)
    last = float(t[ok][-1]) if ok.any() else held_tilt
    return np.where(np.isfinite(hip), hip, thigh - _ffill(t)), last


def _ffill(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    if not ok.any():
        return np.zeros_like(x)
    idx = np.where(ok, np.arange(len(x)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    first = np.flatnonzero(ok)[0]
    out[:first] = x[first]
    return out
