"""The rules of imu_pipeline/reps/rules.py, each on hand-written measures of one rep.

Every rule is a pure function of a rep's measures and the config; here the measures are typed in
(known numbers either side of each threshold of GUIDE §5 and configs/default.toml), so a rule
that stops firing, or fires on the wrong side, is seen without the segmenter or the measures.
"""

from __future__ import annotations

import math

import pytest

from imu_pipeline.config import LabelConfig, MomentumConfig
from imu_pipeline.reps import LABEL_ABDOMINAL, LABEL_HIP_FLEXOR, RepBounds
from imu_pipeline.reps.measures import RepMeasures
from imu_pipeline.reps.rules import back_arch_rule, bounce_rule, drop_rule, fast_rule, label_rule, swing_rule

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


@pytest.mark.parametrize("amplitude, fires", [(4.0, True), (2.7, True), (2.0, False), (None, False)])
def test_swing_is_a_pendulum_amplitude_of_2_7_degrees(amplitude, fires) -> None:
    assert (swing_rule(amplitude, MC) is not None) == fires
