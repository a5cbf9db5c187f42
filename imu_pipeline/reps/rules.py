"""The judgements on one rep: its label, each momentum reason, the back-arch warning.

Each rule is a pure function of a rep's :class:`~imu_pipeline.reps.measures.RepMeasures` (and,
for the swing, the samples before it) and the config; each returns its verdict and, when it
fires, the sentence that explains it (``decided_by``). Definitions (GUIDE §5; thresholds in
:class:`~imu_pipeline.config.LabelConfig` and :class:`~imu_pipeline.config.MomentumConfig`):

* ``abdominal-engaging``: the pelvis tilts posteriorly by at least
  ``abdominal_min_posterior_tilt_deg`` relative to the rep's start, with the legs high (hip
  flexion above ``abdominal_min_hip_deg`` when the tilt peaks); else ``hip-flexor-only``;
* ``fast``: a phase shorter than ``min_phase_s`` or a peak rate above ``max_rate_deg_s``;
* ``drop``: the eccentric phase ``drop_ratio`` times shorter than the concentric, and fast;
* ``bounce``: a quick descent that turns straight up (no pause) or rebounds off the bottom;
* ``swing`` (hanging): the pelvis swung like a pendulum with the legs down before the rep;
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
        return (f"up {m.concentric_s:.2f} s, down {m.eccentric_s:.2f} s (min {mc.min_phase_s} s); peak rate "
                f"{rate:.0f} deg/s (max {mc.max_rate_deg_s:.0f})")
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


def swing_rule(amplitude_deg: float | None, mc: MomentumConfig) -> str | None:
    """'swing': the pendulum amplitude before the rep reached ``swing_min_amplitude_deg``."""
    if amplitude_deg is not None and amplitude_deg >= mc.swing_min_amplitude_deg:
        return f"pelvis swinging about ±{amplitude_deg:.1f}° with the legs down before the rep"
    return None


def back_arch_rule(m: RepMeasures, lc: LabelConfig) -> bool:
    """Anterior tilt of ``back_arch_anterior_tilt_deg`` or more with the legs low."""
    return m.peak_anterior_tilt_low_deg >= lc.back_arch_anterior_tilt_deg
