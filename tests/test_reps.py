"""Rep segmentation, labels and momentum rules on hand-made angle series (known answers)."""

import math

import numpy as np
import pytest

from imu_pipeline.config import PipelineConfig
from imu_pipeline.reps import LABEL_ABDOMINAL, LABEL_HIP_FLEXOR, RepSegmenter, analyze_reps
from imu_pipeline.reps.measures import AngleWindow, pendulum_amplitude, refine_phases
from imu_pipeline.simulate import Knots

FS = 100.0


def series(knots_t, knots_v, tilt=None, pelvis_rate=None, t_end=None):
    """A uniformly sampled AngleWindow following minimum-jerk knots (deg)."""
    k = Knots(knots_t, knots_v)
    t = np.arange(0, (t_end or knots_t[-1]) + 1e-9, 1 / FS)
    hip = k(t)
    tilt_deg = np.zeros_like(t) if tilt is None else tilt(t, hip)
    hip_rate = np.gradient(hip, t)
    tilt_rate = np.gradient(tilt_deg, t) if pelvis_rate is None else pelvis_rate(t)
    return AngleWindow(t, hip, np.ones(len(t), bool), tilt_deg, hip + tilt_deg, hip_rate, hip_rate + tilt_rate,
                       tilt_rate, FS)


def drop(w: AngleWindow, gap: np.ndarray) -> None:
    """Both sensors missing where ``gap``: no angle, no rate there."""
    for a in (w.hip_deg, w.tilt_deg, w.thigh_deg, w.hip_rate_deg_s, w.thigh_rate_deg_s, w.pelvis_rate_deg_s):
        a[gap] = np.nan
    w.hip_measured[gap] = False


def reps_of(w, pose="lying", cfg=None):
    return analyze_reps(w, cfg or PipelineConfig(), pose)


def controlled(n, peak=80.0, up=1.8, down=2.0, rest=1.5, start=1.0):
    t, v, now = [0.0, start], [0.0, 0.0], start
    for _ in range(n):
        t += [now + up, now + up + 0.4, now + up + 0.4 + down, now + up + 0.4 + down + rest]
        v += [peak, peak - 1, 0.0, 0.0]
        now = t[-1]
    return t, v


def test_counts_controlled_reps_with_times() -> None:
    t, v = controlled(4)
    reps = reps_of(series(t, v))
    assert len(reps) == 4
    for i, r in enumerate(reps):
        start = 1.0 + i * 5.7
        # onset/end where the rate is 5 % of its peak: 5.8 % into / before the end of a min-jerk phase
        assert r.start_s == pytest.approx(start + 0.058 * 1.8, abs=0.08)
        assert r.end_s == pytest.approx(start + 4.2 - 0.058 * 2.0, abs=0.08)
        assert start + 1.8 <= r.peak_s <= start + 2.2
        assert r.peak_hip_flexion_deg == pytest.approx(80, abs=0.5)
        # a 5 % rate threshold keeps ~88 % of a minimum-jerk phase
        assert r.concentric_s == pytest.approx(0.88 * 1.8, abs=0.1)
        assert r.eccentric_s == pytest.approx(0.88 * 2.0, abs=0.1)
        assert not r.momentum and r.label == LABEL_HIP_FLEXOR
        assert r.sparc_up == pytest.approx(-1.41, abs=0.1)


def test_fidgets_and_partial_twitches_are_not_reps() -> None:
    t = [0, 1, 1.4, 1.8, 3, 3.5, 4.0, 5, 7, 9, 11]
    v = [0, 0, 15, 0, 0, 19, 0, 0, 80, 0, 0]
    reps = reps_of(series(t, v))
    assert len(reps) == 1 and reps[0].peak_s == pytest.approx(7, abs=0.2)


def test_top_pulses_do_not_split_a_rep() -> None:
    t = [0, 1, 3, 3.5, 4, 4.5, 5, 7, 9]
    v = [0, 0, 90, 75, 90, 75, 90, 0, 0]  # 15 deg pulses at the top
    assert len(reps_of(series(t, v))) == 1


def test_touch_and_go_reps_are_separated() -> None:
    t = [0, 1]
    v = [0, 0]
    for i in range(5):
        t += [t[-1] + 1.5, t[-1] + 3.0]
        v += [85, 4]  # down to 4 deg and straight back up
    t.append(t[-1] + 2)
    v.append(0)
    reps = reps_of(series(t, v))
    assert len(reps) == 5
    assert not any(r.momentum for r in reps)  # 1.5 s up, 1.5 s down: controlled, no bounce


def test_label_needs_posterior_tilt_with_legs_high() -> None:
    t, v = controlled(2, peak=110)

    def curl(tt, hip):  # 15 deg posterior tilt once the hip passes 80 deg
        return 15 * np.clip((hip - 80) / 30, 0, 1)

    reps = reps_of(series(t, v, tilt=curl))
    assert [r.label for r in reps] == [LABEL_ABDOMINAL] * 2
    assert reps[0].peak_posterior_tilt_deg == pytest.approx(15, abs=0.3)
    assert reps[0].tilt_onset_hip_deg == pytest.approx(90, abs=2)  # where the tilt passes 5 deg
    assert reps[0].decided_by["peak_posterior_tilt_deg"] == pytest.approx(15, abs=0.3)

    def small(tt, hip):  # 4 deg: the pelvis counts as still
        return 4 * np.clip((hip - 80) / 30, 0, 1)

    assert [r.label for r in reps_of(series(t, v, tilt=small))] == [LABEL_HIP_FLEXOR] * 2

    def early(tt, hip):  # 12 deg of posterior tilt, but peaking with the legs low (< 60 deg)
        return 12 * np.sin(np.pi * np.clip(hip / 80, 0, 1)) ** 2 * (hip < 50)

    assert all(r.label == LABEL_HIP_FLEXOR for r in reps_of(series(t, v, tilt=early)))


def test_back_arch_warning() -> None:
    t, v = controlled(1)

    def arch(tt, hip):  # 9 deg anterior tilt while the legs are low
        return -9 * np.sin(np.pi * np.clip(hip / 70, 0, 1)) ** 4

    r = reps_of(series(t, v, tilt=arch))[0]
    assert r.back_arch and r.peak_anterior_tilt_low_deg == pytest.approx(9, abs=0.5)
    assert not reps_of(series(t, v))[0].back_arch


@pytest.mark.parametrize("up, down, reasons", [
    (0.5, 0.5, {"fast"}),  # thrown both ways
    (1.8, 0.35, {"fast", "drop"}),  # dropped
    (1.8, 2.0, set()),  # controlled
])
def test_momentum_reasons(up, down, reasons) -> None:
    t, v = controlled(1, up=up, down=down)
    r = reps_of(series(t, v))[0]
    assert set(r.momentum_reasons) == reasons
    assert r.momentum == bool(reasons)
    for k in reasons:
        assert k in r.decided_by


def test_bounce_is_a_quick_descent_turned_straight_up() -> None:
    t = [0, 1, 2.2, 2.8, 2.95, 3.1, 4.3, 6.3, 8]
    v = [0, 0, 85, 0, 8, 3, 85, 0, 0]  # fast descent, rebound, no pause
    reps = reps_of(series(t, v))
    assert len(reps) == 2
    assert "bounce" in reps[0].momentum_reasons
    assert "bounce" not in reps[1].momentum_reasons


def test_swing_flag_in_hanging_only() -> None:
    t, v = controlled(2, rest=3.0)
    f = 0.45

    def sway(tt, hip):
        return 5 * np.sin(2 * np.pi * f * tt)

    w = series(t, v, tilt=sway, pelvis_rate=lambda tt: 5 * 2 * np.pi * f * np.cos(2 * np.pi * f * tt))
    hanging = reps_of(w, pose="hanging")
    assert "swing" in hanging[1].momentum_reasons
    assert hanging[1].swing_amplitude_deg == pytest.approx(5, abs=0.5)
    assert all("swing" not in r.momentum_reasons for r in reps_of(w, pose="lying"))
    assert all("swing" not in r.momentum_reasons for r in reps_of(series(t, v), pose="hanging"))


def test_pendulum_amplitude_on_part_of_a_cycle() -> None:
    f = 0.45
    t = np.arange(0, 0.6, 0.01)  # a quarter of a cycle
    ang = 3.0 * np.sin(2 * np.pi * f * t + 1.0) + 2.0
    rate = 3.0 * 2 * np.pi * f * np.cos(2 * np.pi * f * t + 1.0)
    assert pendulum_amplitude(t, ang, rate, f) == pytest.approx(3.0, abs=1e-6)


def test_refine_phases_on_a_minimum_jerk_rep() -> None:
    t, v = controlled(1, up=2.0, down=2.0)
    w = series(t, v)
    a, b, c, d = refine_phases(w.time_s, w.hip_deg, w.hip_rate_deg_s, PipelineConfig().reps, 1.0, 3.0, 5.4)
    assert b - a == pytest.approx(0.88 * 2.0, abs=0.05)
    assert d - c == pytest.approx(0.88 * 2.0, abs=0.05)


def test_a_gap_inside_a_rep_counts_it_once() -> None:
    t, v = controlled(3)
    w = series(t, v)
    gap = (w.time_s > 7.5) & (w.time_s < 9.5)  # the second rep's top is missing (2 s dropout)
    drop(w, gap)
    reps = reps_of(w)
    assert len(reps) == 3
    assert reps[1].has_gap


def test_a_whole_rep_inside_a_gap_is_not_invented() -> None:
    t, v = controlled(3)
    w = series(t, v)
    gap = (w.time_s > 6.2) & (w.time_s < 11.2)  # the second rep entirely missing
    drop(w, gap)
    assert len(reps_of(w)) == 2


def test_segmenter_is_the_same_in_any_chunking() -> None:
    t, v = controlled(5)
    w = series(t, v)
    cfg = PipelineConfig()
    whole = RepSegmenter(cfg, FS)
    a = whole.push(w.time_s, w.hip_deg) + whole.finish()
    pieces = RepSegmenter(cfg, FS)
    b = []
    for i in range(0, len(w.time_s), 7):
        b += pieces.push(w.time_s[i:i + 7], w.hip_deg[i:i + 7])
    b += pieces.finish()
    assert [(x.start_s, x.peak_s, x.end_s) for x in a] == [(x.start_s, x.peak_s, x.end_s) for x in b]
    assert math.isinf(a[0].pause_s) or a[0].pause_s >= 0


def _pelvis_missing(w: AngleWindow, gap: np.ndarray) -> None:
    """Only the pelvis missing: tilt and its rate unknown, hip flexion not measured there (the
    segmentation still sees the thigh: the window's hip is bridged with the last tilt)."""
    w.tilt_deg[gap] = np.nan
    w.pelvis_rate_deg_s[gap] = np.nan
    w.hip_measured[gap] = False


def test_a_rep_whose_top_the_pelvis_missed_gets_no_label() -> None:
    t, v = controlled(3, peak=110.0)
    w = series(t, v, tilt=lambda tt, hip: np.clip(hip - 70.0, 0, None) * 0.5)  # curls 20° at the top
    top2 = (w.time_s > 6.7 + 0.8) & (w.time_s < 6.7 + 3.2)  # the second rep's top, pelvis away
    _pelvis_missing(w, top2)
    reps = reps_of(w)
    assert len(reps) == 3
    assert [r.label for r in reps] == [LABEL_ABDOMINAL, None, LABEL_ABDOMINAL]
    assert [r.label_confidence for r in reps] == ["normal", "none", "normal"]
    assert not math.isfinite(reps[1].peak_hip_flexion_deg)  # no hip value without the pelvis
    assert "pelvis" in reps[1].decided_by["label_confidence"]


def test_a_rep_whose_top_the_pelvis_saw_partly_has_a_low_confidence_label() -> None:
    t, v = controlled(2, peak=110.0)
    w = series(t, v, tilt=lambda tt, hip: np.clip(hip - 70.0, 0, None) * 0.5)
    r1 = [r for r in reps_of(series(t, v))][0]
    part = (w.time_s > r1.peak_s + 0.1) & (w.time_s < r1.peak_s + 0.3)  # a slice of the first rep's top
    _pelvis_missing(w, part)
    reps = reps_of(w)
    assert reps[0].label == LABEL_ABDOMINAL and reps[0].label_confidence == "low"
    assert reps[1].label_confidence == "normal"


def test_a_rep_the_thigh_saw_partly_is_counted_once_and_not_judged() -> None:
    """The thigh drops out on the way down of a fast rep: counted, flagged partial, no tempo and no
    momentum verdict from what is missing (never 'controlled', never 'fast' by guesswork)."""
    t, v = controlled(3, up=0.5, down=0.5)
    w = series(t, v)
    full = reps_of(series(t, v))
    assert all(r.momentum for r in full)  # whole, they are fast
    r = full[1]
    gap = (w.time_s > r.peak_s + 0.25) & (w.time_s < r.end_s + 0.2)
    drop(w, gap)
    reps = reps_of(w)
    assert len(reps) == 3
    assert reps[1].partial and reps[1].momentum is None and reps[1].momentum_reasons == []
    assert reps[1].back_arch is None and not math.isfinite(reps[1].concentric_s)
    assert not reps[0].partial and reps[0].momentum and not reps[2].partial
