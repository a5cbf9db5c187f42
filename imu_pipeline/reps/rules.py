"""The judgements on one rep: its label, each momentum reason, the back-arch warning.

Each rule is a pure function of a rep's :class:`~imu_pipeline.reps.measures.RepMeasures` (and,
for the swing, the samples before and after it) and the config; each returns its verdict and,
when it fires, the sentence that explains it (``decided_by``). Definitions (GUIDE §5; thresholds in
:class:`~imu_pipeline.config.LabelConfig` and :class:`~imu_pipeline.config.MomentumConfig`):

* ``abdominal-engaging``: the pelvis tilts posteriorly by at least
  ``abdominal_min_posterior_tilt_deg`` relative to the rep's start, with the legs high (hip
  flexion above ``abdominal_min_hip_deg`` when the tilt peaks); else ``hip-flexor-only``;
* ``fast``: a phase shorter than ``min_phase_s`` or a peak rate above ``max_rate_deg_s``;
* ``drop``: the eccentric phase ``drop_ratio`` times shorter than the concentric, and fast;
* ``bounce``: a quick descent that turns straight up (no pause) or rebounds off the bottom;
* ``swing`` (hanging): the rep kicked the body into a swing — the pelvis swings like a pendulum
  with the legs down after the rep, clearly more than before it;
* ``unsettled`` (hanging): the rep started while the body still swung (from an earlier kick) and
  did not kick itself: the leftover swing helps the raise; the fix is to let it settle first;
* back arch: anterior tilt of ``back_arch_anterior_tilt_deg`` or more while the hip is below
  ``back_arch_max_hip_deg``.
"""

from __future__ import annotations

import math

import numpy as np

from imu_pipeline.config import LabelConfig, MomentumConfig
from imu_pipeline.reps.measures import AngleWindow, RepMeasures, pendulum_amplitude
from imu_pipeline.reps.segmenter import RepBounds

LABEL_ABDOMINAL = "abdominal-engaging"
LABEL_HIP_FLEXOR = "hip-flexor-only"
#: Every momentum reason, in the order a rep lists them.
MOMENTUM_REASONS = ("fast", "drop", "bounce", "swing", "unsettled")


def label_rule(m: RepMeasures, lc: LabelConfig) -> str:
    """``abdominal-engaging`` or ``hip-flexor-only`` from the measured tilt and hip."""
    abdominal = (math.isfinite(m.peak_posterior_tilt_deg)
                 and m.peak_posterior_tilt_deg >= lc.abdominal_min_posterior_tilt_deg
                 and m.hip_at_peak_tilt_deg is not None and m.hip_at_peak_tilt_deg >= lc.abdominal_min_hip_deg)
    return LABEL_ABDOMINAL if abdominal else LABEL_HIP_FLEXOR


def fast_rule(m: RepMeasures, b: RepBounds, mc: MomentumConfig) -> str | None:
    """'fast': a phase under ``min_phase_s`` or a peak hip rate over ``max_rate_deg_s``."""
    rate = max(np.nan_to_num(m.peak_rate_up_deg_s), np.nan_to_num(m.peak_rate_down_deg_s))
    # a rep cut by a long gap has no observed eccentric phase: judge only what was seen
    phases = [m.concentric_s] if b.ended_by == "gap" else [m.concentric_s, m.eccentric_s]
    if min(phases) < mc.min_phase_s or rate > mc.max_rate_deg_s:
        rates = [r for r in (m.peak_rate_up_deg_s, m.peak_rate_down_deg_s) if r is not None and math.isfinite(r)]
        peak = (f"peak rate {max(rates):.0f} deg/s (max {mc.max_rate_deg_s:.0f})" if rates
                else "peak rate not measured (hip flexion missing)")
        return f"up {m.concentric_s:.2f} s, down {m.eccentric_s:.2f} s (min {mc.min_phase_s} s); {peak}"
    return None


def drop_rule(m: RepMeasures, b: RepBounds, mc: MomentumConfig) -> str | None:
    """'drop': the legs came down ``drop_ratio`` times faster than they went up, and fast."""
    if b.ended_by != "gap" and m.eccentric_s > 0 and m.concentric_s / m.eccentric_s >= mc.drop_ratio \
            and np.nan_to_num(m.peak_rate_down_deg_s) >= mc.drop_min_rate_deg_s:
        return f"down {m.eccentric_s:.2f} s vs up {m.concentric_s:.2f} s, {m.peak_rate_down_deg_s:.0f} deg/s"
    return None


def bounce_rule(m: RepMeasures, b: RepBounds, mc: MomentumConfig) -> str | None:
    """'bounce': a quick descent that turns straight back up (no pause) or rebounds off the bottom."""
    no_pause = b.ended_by == "reversal" and b.pause_s <= mc.bounce_max_pause_s
    if (no_pause or m.rebound_deg >= mc.bounce_rebound_deg) and m.eccentric_s < mc.bounce_max_descent_s \
            and np.nan_to_num(m.peak_rate_down_deg_s) >= mc.bounce_min_rate_deg_s:
        how = (f"turned up after {b.pause_s:.2f} s" if no_pause else
               f"rebounded {m.rebound_deg:.1f}° within {mc.bounce_window_s:g} s")
        return f"came down in {m.eccentric_s:.2f} s at {m.peak_rate_down_deg_s:.0f} deg/s and {how}"
    return None


def swing_amplitude(w: AngleWindow, start_s: float, prev_end_s: float | None, mc: MomentumConfig) -> float | None:
    """Amplitude (deg) of the whole-body pendulum swing with the legs down before a rep (hanging):
    fitted at the pendulum frequency on the pelvis tilt and its rate between the previous rep's
    end and this one's onset (at most ``swing_lookback_s``); None without enough such samples."""
    lo = max(start_s - mc.swing_lookback_s, prev_end_s if prev_end_s is not None else -np.inf)
    sel = (w.time_s >= lo) & (w.time_s < start_s) & np.isfinite(w.pelvis_rate_deg_s) & np.isfinite(w.tilt_deg)
    if sel.sum() / w.fs_hz < mc.swing_min_window_s:
        return None
    return pendulum_amplitude(w.time_s[sel], w.tilt_deg[sel], w.pelvis_rate_deg_s[sel], mc.swing_frequency_hz)


def swing_after_window(w: AngleWindow, end_s: float, mc: MomentumConfig,
                       legs_up_deg: float) -> tuple[AngleWindow, float]:
    """The legs-down samples after a rep in which a swing it kicked up is measured, and the time
    (s) that window closes.

    The window runs from ``swing_after_skip_s`` after the rep's end (the pelvis's own settling as
    the legs stop is left out: after a dropped rep it alone fits a several-degree "swing") to
    ``swing_after_s`` after it, and closes earlier where the legs are no longer known to be down:
    at the first sample where hip flexion is missing (the thigh not seen) or more than
    ``legs_up_deg`` above its lowest since the rep's end (the next rep's onset). It depends only on
    the samples up to the time it closes, so the live path, once it has those, judges as the
    offline path does.
    """
    seg = w.between(end_s, end_s + mc.swing_after_s)
    hip = seg.hip_deg
    low = np.fmin.accumulate(hip) if hip.size else hip
    up = np.flatnonzero(~np.isfinite(hip) | (hip > low + legs_up_deg))
    closes_s = float(seg.time_s[up[0]]) if up.size else end_s + mc.swing_after_s
    keep = (seg.time_s >= end_s + mc.swing_after_skip_s) & (seg.time_s < closes_s)
    return seg.mask(keep), closes_s


def swing_after_amplitude(w: AngleWindow, end_s: float, mc: MomentumConfig, legs_up_deg: float) -> float | None:
    """Amplitude (deg) of the pendulum swing in the legs-down window after a rep
    (:func:`swing_after_window`), fitted as before the rep; None with fewer than
    ``swing_min_window_s`` of such samples (e.g. a touch-and-go rep: the legs went straight up)."""
    a, _ = swing_after_window(w, end_s, mc, legs_up_deg)
    sel = np.isfinite(a.pelvis_rate_deg_s) & np.isfinite(a.tilt_deg)
    if sel.sum() / w.fs_hz < mc.swing_min_window_s:
        return None
    return pendulum_amplitude(a.time_s[sel], a.tilt_deg[sel], a.pelvis_rate_deg_s[sel], mc.swing_frequency_hz)


def swing_rule(before_deg: float | None, after_deg: float | None, mc: MomentumConfig) -> str | None:
    """'swing': the rep kicked the body into a swing. The pendulum amplitude after the rep reached
    ``swing_min_amplitude_deg`` and exceeds the amplitude before it by ``swing_growth_deg`` or more.

    The growth is an absolute margin in degrees, not a ratio: before a kick the body is often
    still (amplitude ~0, where a ratio means nothing), and the fit's error is about the same
    number of degrees whatever the amplitude; a swing left from earlier only decays through a rep
    (on 112 simulated hanging sessions the amplitude after a rep that did not kick was never more
    than 0.25° above the one before it, while 95 % of the kicks that left 2.7° or more added at
    least 1.7°). With no legs-down interval before the rep to compare with (a touch-and-go rep,
    or a session that starts moving), the swing after it is put down to the rep itself, and the
    sentence says so.
    """
    if after_deg is None or after_deg < mc.swing_min_amplitude_deg:
        return None
    if before_deg is None:
        return (f"pelvis swinging about ±{after_deg:.1f}° with the legs down after the rep (no rest before it "
                "to compare with): the rep kicked the body into a swing")
    if after_deg - before_deg < mc.swing_growth_deg:
        return None
    return (f"pelvis swinging about ±{after_deg:.1f}° with the legs down after the rep, ±{before_deg:.1f}° before "
            "it: the rep kicked the body into a swing")


def unsettled_rule(before_deg: float | None, kicked: bool, mc: MomentumConfig) -> str | None:
    """'unsettled': the pendulum amplitude before the rep reached ``swing_min_amplitude_deg`` and
    the rep did not kick (no 'swing'): it started while the body still swung from before."""
    if kicked or before_deg is None or before_deg < mc.swing_min_amplitude_deg:
        return None
    return (f"pelvis still swinging about ±{before_deg:.1f}° with the legs down before the rep: it started "
            "before the swing had settled")


def back_arch_rule(m: RepMeasures, lc: LabelConfig) -> bool:
    """Anterior tilt of ``back_arch_anterior_tilt_deg`` or more with the legs low."""
    return m.peak_anterior_tilt_low_deg >= lc.back_arch_anterior_tilt_deg
