"""Per-rep measures: phases, peaks, tilt, rates and smoothness of one rep (no judgement here).

Pure functions of the samples around a rep (:class:`AngleWindow`) and the segmenter's bounds;
the offline and the live path call the same ones. Degrees and deg/s at this edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imu_pipeline.config import PipelineConfig, RepConfig
from imu_pipeline.reps.segmenter import RepBounds
from imu_pipeline.reps.smoothness import sparc


@dataclass
class AngleWindow:
    """Samples a rep's measures are computed from (uniform grid; degrees; NaN where not measured).

    Attributes
    ----------
    time_s : (N,) s, session clock
    hip_deg : (N,) hip flexion, deg — bridged over pelvis-only gaps for segmentation
        (thigh angle minus the last known tilt); ``hip_measured`` says where it was measured
    hip_measured : (N,) bool, both sensors present
    tilt_deg : (N,) pelvic tilt, deg, posterior +
    thigh_deg : (N,) thigh angle from the start pose, deg
    hip_rate_deg_s, thigh_rate_deg_s, pelvis_rate_deg_s : (N,) sagittal rates, deg/s
    fs_hz : grid rate, Hz
    """

    time_s: np.ndarray
    hip_deg: np.ndarray
    hip_measured: np.ndarray
    tilt_deg: np.ndarray
    thigh_deg: np.ndarray
    hip_rate_deg_s: np.ndarray
    thigh_rate_deg_s: np.ndarray
    pelvis_rate_deg_s: np.ndarray
    fs_hz: float

    def between(self, t0: float, t1: float) -> AngleWindow:
        """The samples with ``t0 <= time_s <= t1`` (views, no copies)."""
        a = int(np.searchsorted(self.time_s, t0, side="left"))
        b = int(np.searchsorted(self.time_s, t1, side="right"))
        return AngleWindow(self.time_s[a:b], self.hip_deg[a:b], self.hip_measured[a:b], self.tilt_deg[a:b],
                           self.thigh_deg[a:b], self.hip_rate_deg_s[a:b], self.thigh_rate_deg_s[a:b],
                           self.pelvis_rate_deg_s[a:b], self.fs_hz)

    def mask(self, m: np.ndarray) -> AngleWindow:
        return AngleWindow(self.time_s[m], self.hip_deg[m], self.hip_measured[m], self.tilt_deg[m],
                           self.thigh_deg[m], self.hip_rate_deg_s[m], self.thigh_rate_deg_s[m],
                           self.pelvis_rate_deg_s[m], self.fs_hz)


def value_near(w: AngleWindow, arr: np.ndarray, t: float, half_s: float, nearest_s: float) -> float:
    """Mean of ``arr`` within ``half_s`` of ``t``; else the nearest finite value within ``nearest_s``."""
    m = (w.time_s >= t - half_s) & (w.time_s <= t + half_s)
    v = arr[m]
    v = v[np.isfinite(v)]
    if v.size:
        return float(np.mean(v))
    near = np.flatnonzero(np.isfinite(arr) & (np.abs(w.time_s - t) <= nearest_s))
    if near.size:
        return float(arr[near[np.argmin(np.abs(w.time_s[near] - t))]])
    return math.nan


def refine_phases(t: np.ndarray, hip: np.ndarray, rate: np.ndarray, rc: RepConfig,
                  t_start: float, t_peak: float, t_end: float) -> tuple[float, float, float, float] | None:
    """Times of movement onset, end of the concentric phase, start of the eccentric phase and
    end of movement, where the (``rc.rate_smoothing_s`` moving-average) hip rate crosses ``rc.phase_fraction`` of
    its peak. The rising-rate peak is looked for between the segmenter's start and peak, the
    falling one between peak and end, both where the hip is in the upper three quarters of the
    excursion (a rebound at the bottom is not the rep's own peak rate); onset and end may lie a
    little outside. None when the rates do not show a rise and a fall."""
    r = np.nan_to_num(rate)
    if r.size < 5:
        return None
    k = max(1, int(round(rc.rate_smoothing_s / max(float(np.median(np.diff(t))), 1e-3))))
    r = np.convolve(r, np.ones(k) / k, mode="same")
    i0, ipk, i1 = np.searchsorted(t, [t_start, t_peak, t_end])
    i1 = min(max(int(i1), int(ipk) + 1), len(r))
    if ipk <= i0 or i1 <= ipk:
        return None
    h = np.nan_to_num(hip, nan=-np.inf)
    hp = h[ipk]
    q = rc.phase_peak_min_fraction
    up_sel = np.where(h[i0:ipk + 1] >= h[i0] + q * (hp - h[i0]), r[i0:ipk + 1], -np.inf)
    dn_sel = np.where(h[ipk:i1] >= h[i1 - 1] + q * (hp - h[i1 - 1]), r[ipk:i1], np.inf)
    if not np.isfinite(up_sel).any() or not np.isfinite(dn_sel).any():
        return None
    iu = int(i0) + int(np.argmax(up_sel))
    idn = int(ipk) + int(np.argmin(dn_sel))
    if r[iu] <= 0 or r[idn] >= 0 or idn <= iu:
        return None
    thu, thd = rc.phase_fraction * r[iu], rc.phase_fraction * r[idn]

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
    c = max(cross(iu + int(before[-1]), thd) if before.size else float(t[idn]), b)
    endi = np.flatnonzero(r[idn:] >= thd)
    d = cross(idn + int(endi[0]) - 1, thd) if endi.size else float(t[-1])
    return a, b, c, d


@dataclass
class RepMeasures:
    """What was measured of one rep (deg, deg/s, s; NaN / None where not measured).

    Attributes
    ----------
    start_s, peak_s, end_s : movement onset, hip peak, movement end (s, session clock)
    concentric_s, top_s, eccentric_s : phase durations (s)
    peak_hip_deg : peak hip flexion (NaN where the pelvis missed the peak)
    peak_thigh_deg : peak thigh angle from the start pose
    thigh_at_peak_deg : thigh angle at the hip peak
    tilt_start_deg : pelvic tilt at the rep's start (the reference of the relative tilt)
    peak_posterior_tilt_deg : largest posterior tilt relative to the start (>= 0)
    hip_at_peak_tilt_deg : hip flexion when that tilt peaked
    tilt_onset_hip_deg : hip flexion when the pelvis first left 'still' going up
    peak_anterior_tilt_low_deg : largest anterior tilt relative to the start with the legs low
    tilt_seen_low : the pelvis was measured at some moment with the legs low (back arch judgeable)
    peak_rate_up_deg_s, peak_rate_down_deg_s : peak hip rate up and (positive) down
    sparc_up, sparc_down : SPARC of the thigh's angular speed per phase
    pelvis_coverage : fraction of the rep's top (within ``top_fraction`` of its peak) the pelvis saw
    thigh_coverage : fraction of the rep's span (the segmenter's and the movement's) the thigh saw
    rebound_deg : rise of hip flexion within ``bounce_window_s`` after the end
    """

    start_s: float
    peak_s: float
    end_s: float
    concentric_s: float
    top_s: float
    eccentric_s: float
    peak_hip_deg: float
    peak_thigh_deg: float
    thigh_at_peak_deg: float
    tilt_start_deg: float
    peak_posterior_tilt_deg: float
    hip_at_peak_tilt_deg: float | None
    tilt_onset_hip_deg: float | None
    peak_anterior_tilt_low_deg: float
    tilt_seen_low: bool
    peak_rate_up_deg_s: float
    peak_rate_down_deg_s: float
    sparc_up: float | None
    sparc_down: float | None
    pelvis_coverage: float
    thigh_coverage: float
    rebound_deg: float


def measure_rep(w: AngleWindow, b: RepBounds, cfg: PipelineConfig, prev_end_s: float | None) -> tuple[RepMeasures, RepBounds]:
    """Measures of one rep from the samples around it; also the bounds refined to the movement."""
    rc, lc, mc, sc = cfg.reps, cfg.labels, cfg.momentum, cfg.smoothness
    # movement onset/end from the hip rate, searched a little around the segmenter's bounds but
    # never into the previous rep
    lo = max(b.start_s - rc.phase_search_s, prev_end_s if prev_end_s is not None else -np.inf)
    wm = w.between(lo, b.end_s + rc.phase_search_s)
    ph = refine_phases(wm.time_s, wm.hip_deg, wm.hip_rate_deg_s, rc, b.start_s, b.peak_s, b.end_s)
    if ph is not None:
        start_s, conc_end, ecc_start, end_s = ph
    else:
        start_s, end_s = b.start_s, b.end_s
        conc_end = ecc_start = b.peak_s
    seg = w.between(min(b.start_s, start_s), max(b.end_s, end_s))  # the segmenter's span and the movement's
    thigh_cov = float(np.isfinite(seg.thigh_deg).mean()) if len(seg.time_s) else 0.0
    b = RepBounds(start_s, b.peak_s, end_s, b.ended_by, b.pause_s, b.has_gap, b.partial)
    r = w.between(start_s, end_s)
    t, hip, tilt = r.time_s, r.hip_deg, r.tilt_deg
    hip_meas = np.where(r.hip_measured, hip, np.nan)
    ipk = int(np.argmax(np.where(np.isfinite(hip), hip, -np.inf)))
    peak_t = float(t[ipk])
    peak_hip = float(hip_meas[ipk])
    tilt0 = value_near(w, w.tilt_deg, start_s, rc.tilt_reference_window_s, rc.value_nearest_s)
    if not np.isfinite(tilt0):  # the pelvis was away at the start: its last known tilt is the reference
        before = np.flatnonzero(np.isfinite(w.tilt_deg) & (w.time_s < start_s)
                                & (w.time_s > start_s - lc.tilt_reference_lookback_s))
        if before.size:
            tilt0 = float(w.tilt_deg[before[-1]])
    rel = tilt - tilt0
    rel_f = np.where(np.isfinite(rel), rel, -np.inf)
    ipt = int(np.argmax(rel_f))
    seen_tilt = bool(np.isfinite(rel_f[ipt]))
    peak_post = float(max(rel_f[ipt], 0.0)) if seen_tilt else math.nan
    hip_at_tilt = float(hip_meas[ipt]) if seen_tilt and np.isfinite(hip_meas[ipt]) else None
    rising = t <= peak_t
    onset = np.flatnonzero(rising & (rel >= lc.still_pelvis_deg) & np.isfinite(hip_meas))
    tilt_onset = float(hip_meas[onset[0]]) if onset.size else None
    low = (hip < lc.back_arch_max_hip_deg) & np.isfinite(rel)
    ant = float(max(0.0, -np.min(rel[low]))) if low.any() else 0.0
    hr = np.where(r.hip_measured, r.hip_rate_deg_s, np.nan)  # a hip rate needs the pelvis too
    rate_up = float(np.nanmax(hr[rising])) if np.isfinite(hr[rising]).any() else math.nan
    rate_dn = float(-np.nanmin(hr[~rising])) if np.isfinite(hr[~rising]).any() else math.nan
    top_s = ecc_start - conc_end
    spd = np.abs(r.thigh_rate_deg_s)

    def _sparc(sel: np.ndarray) -> float | None:
        v = spd[sel]
        if v.size < 10 or not np.isfinite(v).all():
            return None
        return sparc(v, w.fs_hz, padlevel=sc.sparc_padlevel, cutoff_hz=sc.sparc_cutoff_hz,
                     amplitude_threshold=sc.sparc_amplitude_threshold)

    thigh = r.thigh_deg
    finite_hip = hip[np.isfinite(hip)]
    raised = hip >= float(hip[ipk]) - lc.top_fraction * (float(hip[ipk]) - float(np.min(finite_hip))) \
        if finite_hip.size else np.zeros(len(hip), bool)
    pelvis_cov = float(np.isfinite(tilt[raised]).mean()) if raised.any() else 0.0
    after = (w.time_s > end_s) & (w.time_s <= end_s + mc.bounce_window_s) & np.isfinite(w.hip_deg)
    hip_end = value_near(w, w.hip_deg, end_s, 0.5 / w.fs_hz, rc.value_nearest_s)  # the sample at the end
    rebound = float(np.max(w.hip_deg[after]) - hip_end) if after.any() and np.isfinite(hip_end) else 0.0
    m = RepMeasures(
        start_s=start_s, peak_s=peak_t, end_s=end_s, concentric_s=conc_end - start_s, top_s=top_s,
        eccentric_s=end_s - ecc_start, peak_hip_deg=peak_hip,
        peak_thigh_deg=float(np.nanmax(thigh)) if np.isfinite(thigh).any() else math.nan,
        thigh_at_peak_deg=value_near(w, w.thigh_deg, peak_t, rc.value_window_s, rc.value_nearest_s),
        tilt_start_deg=tilt0,
        peak_posterior_tilt_deg=peak_post, hip_at_peak_tilt_deg=hip_at_tilt, tilt_onset_hip_deg=tilt_onset,
        peak_anterior_tilt_low_deg=ant, tilt_seen_low=bool(low.any()), peak_rate_up_deg_s=rate_up, peak_rate_down_deg_s=rate_dn,
        sparc_up=_sparc(t <= conc_end + 0.5 * top_s), sparc_down=_sparc(t >= ecc_start - 0.5 * top_s),
        pelvis_coverage=pelvis_cov, thigh_coverage=thigh_cov, rebound_deg=rebound)
    return m, b


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
