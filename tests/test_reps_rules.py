"""The rules of imu_pipeline/reps/rules.py, each on hand-written measures of one rep.

Every rule is a pure function of a rep's measures and the config; here the measures are typed in
(known numbers either side of each threshold of GUIDE §5 and configs/default.toml), so a rule
that stops firing, or fires on the wrong side, is seen without the segmenter or the measures.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from imu_pipeline.config import LabelConfig, MomentumConfig
from imu_pipeline.reps import LABEL_ABDOMINAL, LABEL_HIP_FLEXOR, RepBounds
from imu_pipeline.reps.measures import AngleWindow, RepMeasures
from imu_pipeline.reps.rules import (
    back_arch_rule,
    bounce_rule,
    drop_rule,
    fast_rule,
    label_rule,
    swing_after_amplitude,
    swing_after_window,
    swing_amplitude,
    swing_rule,
    unsettled_rule,
)

LC, MC = LabelConfig(), MomentumConfig()


def measures(**kw) -> RepMeasures:
    """A controlled 80° rep (1.8 s up, 0.4 s at the top, 2.0 s down, still pelvis); ``kw`` changes it."""
    m = dict(start_s=1.0, peak_s=3.0, end_s=5.2, concentric_s=1.8, top_s=0.4, eccentric_s=2.0, peak_hip_deg=80.0,
             peak_thigh_deg=80.0, thigh_at_peak_deg=80.0, tilt_start_deg=0.0, peak_posterior_tilt_deg=1.0,
             hip_at_peak_tilt_deg=80.0, tilt_onset_hip_deg=None, peak_anterior_tilt_low_deg=1.0,
             peak_rate_up_deg_s=84.0, peak_rate_down_deg_s=75.0, sparc_up=-1.41, sparc_down=-1.41,
             pelvis_coverage=1.0, thigh_coverage=1.0, rebound_deg=0.0, tilt_seen_low=True)
    m.update(kw)
    return RepMeasures(**m)


def bounds(ended_by: str = "settle", pause_s: float = math.inf) -> RepBounds:
    return RepBounds(1.0, 3.0, 5.2, ended_by, pause_s)


@pytest.mark.parametrize("tilt, hip, label", [
    (15.0, 95.0, LABEL_ABDOMINAL),  # curled with the legs past vertical
    (10.0, 60.0, LABEL_ABDOMINAL),  # both at their thresholds (>=)
    (15.0, 40.0, LABEL_HIP_FLEXOR),  # curled, but with the legs low
    (15.0, None, LABEL_HIP_FLEXOR),  # hip flexion not measured when the tilt peaked
    (8.0, 95.0, LABEL_HIP_FLEXOR),  # legs high, tilt under 10 deg
    (math.nan, 95.0, LABEL_HIP_FLEXOR),  # pelvis not seen
])
def test_label_needs_ten_degrees_of_posterior_tilt_with_the_legs_high(tilt, hip, label) -> None:
    assert label_rule(measures(peak_posterior_tilt_deg=tilt, hip_at_peak_tilt_deg=hip), LC) == label


@pytest.mark.parametrize("kw, fires", [
    ({}, False),  # 1.8 s up, 2.0 s down, 84 deg/s
    ({"concentric_s": 0.5}, True),  # thrown up
    ({"eccentric_s": 0.6}, True),  # dropped
    ({"peak_rate_up_deg_s": 250.0}, True),  # phases long enough, but 250 deg/s > 200
    ({"peak_rate_down_deg_s": 210.0}, True),
    ({"peak_rate_up_deg_s": 190.0}, False),
])
def test_fast_is_a_short_phase_or_a_high_peak_rate(kw, fires) -> None:
    why = fast_rule(measures(**kw), bounds(), MC)
    assert (why is not None) == fires


def test_fast_does_not_judge_a_descent_it_never_saw() -> None:
    """A rep closed by a long gap has no observed eccentric phase: a 0.1 s 'descent' is not fast."""
    assert fast_rule(measures(eccentric_s=0.1), bounds("gap"), MC) is None
    assert fast_rule(measures(eccentric_s=0.1), bounds("settle"), MC) is not None


@pytest.mark.parametrize("kw, ended_by, fires", [
    ({"eccentric_s": 0.7, "peak_rate_down_deg_s": 150.0}, "settle", True),  # 1.8 / 0.7 = 2.6 x, 150 deg/s
    ({"eccentric_s": 0.9, "peak_rate_down_deg_s": 150.0}, "settle", True),  # exactly 2 x
    ({"eccentric_s": 1.2, "peak_rate_down_deg_s": 150.0}, "settle", False),  # 1.5 x
    ({"eccentric_s": 0.7, "peak_rate_down_deg_s": 100.0}, "settle", False),  # quick but slow-peaked (< 120)
    ({"eccentric_s": 0.7, "peak_rate_down_deg_s": 150.0}, "gap", False),  # descent not seen
])
def test_drop_is_a_descent_twice_as_quick_and_fast(kw, ended_by, fires) -> None:
    assert (drop_rule(measures(**kw), bounds(ended_by), MC) is not None) == fires


@pytest.mark.parametrize("kw, ended_by, pause, fires", [
    ({"eccentric_s": 0.6, "peak_rate_down_deg_s": 150.0}, "reversal", 0.05, True),  # straight back up
    ({"eccentric_s": 0.6, "peak_rate_down_deg_s": 150.0, "rebound_deg": 6.0}, "settle", math.inf, True),
    ({"eccentric_s": 0.6, "peak_rate_down_deg_s": 150.0}, "settle", math.inf, False),  # stopped at the bottom
    ({"eccentric_s": 0.6, "peak_rate_down_deg_s": 150.0}, "reversal", 0.5, False),  # paused 0.5 s first
    ({"eccentric_s": 1.5, "peak_rate_down_deg_s": 150.0, "rebound_deg": 6.0}, "settle", math.inf, False),  # slow
    ({"eccentric_s": 0.6, "peak_rate_down_deg_s": 80.0, "rebound_deg": 6.0}, "settle", math.inf, False),  # gentle
])
def test_bounce_is_a_quick_descent_without_a_pause_or_with_a_rebound(kw, ended_by, pause, fires) -> None:
    assert (bounce_rule(measures(**kw), bounds(ended_by, pause), MC) is not None) == fires


@pytest.mark.parametrize("anterior, arch", [(9.0, True), (7.0, True), (5.0, False), (0.0, False)])
def test_back_arch_is_seven_degrees_of_anterior_tilt_with_the_legs_low(anterior: float, arch: bool) -> None:
    assert back_arch_rule(measures(peak_anterior_tilt_low_deg=anterior), LC) is arch


@pytest.mark.parametrize("before, after, swing, unsettled", [
    (0.1, 4.0, True, False),  # kicked from a still hang
    (None, 4.0, True, False),  # kicked; nothing before to compare with (touch-and-go, or moving at once)
    (0.1, 2.7, True, False),  # both thresholds met exactly (>=)
    (1.7, 2.7, True, False),  # grew by exactly swing_growth_deg (1.0 deg)
    (2.0, 2.7, False, False),  # grew by 0.7 deg: a small swing that stayed small
    (0.1, 2.0, False, False),  # grew, but under 2.7 deg after
    (4.0, 3.0, False, True),  # still swinging from before, decaying: unsettled
    (2.7, 1.8, False, True),  # exactly 2.7 deg before
    (3.5, 4.0, False, True),  # grew by 0.5 deg only: not a kick
    (3.0, 4.5, True, False),  # kicked into a swing already there: swing, not unsettled
    (2.0, 1.5, False, False),  # settled
    (3.0, None, False, True),  # no interval after (touch-and-go next): judged from before alone
    (None, None, False, False),
])
def test_swing_is_a_kick_and_unsettled_a_swing_already_there(before, after, swing, unsettled) -> None:
    kicked = swing_rule(before, after, MC)
    assert (kicked is not None) == swing
    assert (unsettled_rule(before, kicked is not None, MC) is not None) == unsettled


# ---------------------------------------------------------------- the swing windows on samples

FS = 100.0
F = MC.swing_frequency_hz
W = 2 * math.pi * F


def hanging_window(amp_before: float, amp_after: float, t_end: float = 12.0, legs_up_at: float | None = None,
                   curl_return_deg: float = 0.0) -> AngleWindow:
    """A hanging rep from 4.0 s to 6.0 s (legs down elsewhere): the pelvis swings at the pendulum
    frequency with ``amp_before`` before the rep and ``amp_after`` after it (degrees; the phase
    jumps at the rep, as a kick's would), optionally with the curl returning fast after the rep's
    end (``curl_return_deg`` decaying with a 0.08 s time constant) and the legs rising again at
    ``legs_up_at``."""
    t = np.arange(0.0, t_end, 1 / FS)
    amp = np.where(t < 5.0, amp_before, amp_after)
    ph = np.where(t < 5.0, 0.3, 1.9)
    tilt = amp * np.sin(W * t + ph) + 1.0
    rate = amp * W * np.cos(W * t + ph)
    hip = np.where((t > 4.0) & (t < 6.0), 80 * np.sin(np.pi * (t - 4.0) / 2.0) ** 2, 0.0)
    if curl_return_deg:
        dt = np.clip(t - 6.0, 0.0, None)
        tilt = tilt + np.where(t >= 6.0, curl_return_deg * np.exp(-dt / 0.08), 0.0)
        rate = rate + np.where(t >= 6.0, -curl_return_deg / 0.08 * np.exp(-dt / 0.08), 0.0)
    if legs_up_at is not None:
        hip = np.where(t >= legs_up_at, 40.0 * np.clip(t - legs_up_at, 0.0, 1.0), hip)
    hip_rate = np.gradient(hip, t)
    return AngleWindow(t, hip, np.ones(len(t), bool), tilt, hip + tilt, hip_rate, hip_rate + rate, rate, FS)


@pytest.mark.parametrize("before, after, verdict", [
    (0.0, 4.0, "swing"),  # kicked from a still hang
    (4.0, 3.0, "unsettled"),  # a residual swing, decaying through a controlled rep
    (0.2, 0.1, None),  # settled
])
def test_kick_residual_swing_and_settled_on_samples(before: float, after: float, verdict: str | None) -> None:
    w = hanging_window(before, after)
    b = swing_amplitude(w, 4.0, None, MC)
    a = swing_after_amplitude(w, 6.0, MC, 3.0)
    assert b == pytest.approx(before, abs=0.05)
    assert a == pytest.approx(after, abs=0.05)
    kicked = swing_rule(b, a, MC) is not None
    got = "swing" if kicked else ("unsettled" if unsettled_rule(b, kicked, MC) else None)
    assert got == verdict


def test_the_window_after_leaves_out_the_pelvis_settling_as_the_legs_stop() -> None:
    """The pelvis's curl returning fast after a dropped rep (10°, 125 deg/s, as after the
    simulator's drops) fits as a 'swing' of several degrees right after the rep's end; the window
    starts swing_after_skip_s (0.3 s) later, where it has died out."""
    w = hanging_window(0.0, 0.0, curl_return_deg=10.0)
    a = swing_after_amplitude(w, 6.0, MC, 3.0)
    assert a is not None and a < 0.3
    assert swing_rule(0.0, a, MC) is None
    no_skip = dataclasses.replace(MC, swing_after_skip_s=0.0)
    assert swing_rule(0.0, swing_after_amplitude(w, 6.0, no_skip, 3.0), no_skip) is not None


def test_the_window_after_closes_where_the_next_rep_starts() -> None:
    """Legs rising again 1.0 s after the end: the window closes there (the live path waits for
    that, not for the whole 1.5 s); rising 0.6 s after it leaves under 0.5 s: not measured."""
    w = hanging_window(0.0, 4.0, legs_up_at=7.0)
    seg, closes = swing_after_window(w, 6.0, MC, 3.0)
    assert 7.0 < closes < 7.2  # 3 deg above the rest level, 40 deg/s
    assert seg.time_s[0] == pytest.approx(6.0 + MC.swing_after_skip_s) and seg.time_s[-1] < closes
    assert swing_after_amplitude(w, 6.0, MC, 3.0) == pytest.approx(4.0, abs=0.05)
    _, closes = swing_after_window(hanging_window(0.0, 4.0), 6.0, MC, 3.0)
    assert closes == 6.0 + MC.swing_after_s  # nothing rose: the full window
    assert swing_after_amplitude(hanging_window(0.0, 4.0, legs_up_at=6.6), 6.0, MC, 3.0) is None


def test_the_window_after_closes_where_the_thigh_is_not_seen() -> None:
    """Hip flexion missing (thigh sensor silent): the legs are no longer known to be down."""
    w = hanging_window(0.0, 4.0)
    w.hip_deg[(w.time_s >= 6.6)] = np.nan
    _, closes = swing_after_window(w, 6.0, MC, 3.0)
    assert closes == pytest.approx(6.6)
    assert swing_after_amplitude(w, 6.0, MC, 3.0) is None


def test_fast_rule_never_prints_a_rate_it_did_not_measure() -> None:
    """Inside a pelvis outage hip flexion (and so its rate) is missing: the reason says so, not '0 deg/s'."""
    why = fast_rule(measures(concentric_s=0.4, peak_rate_up_deg_s=float("nan"), peak_rate_down_deg_s=float("nan")),
                    bounds(), MC)
    assert why is not None and "peak rate not measured" in why and "0 deg/s" not in why
