"""Rep segmentation, labels and momentum rules on hand-made angle series (known answers)."""

import math

import numpy as np
import pytest

from imu_pipeline.config import PipelineConfig
from imu_pipeline.reps import LABEL_ABDOMINAL, LABEL_HIP_FLEXOR, RepSegmenter, analyze_reps, rep_totals
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


def test_swing_flags_in_hanging_only() -> None:
    """A body swinging steadily through the session: every rep starts swinging and none adds to
    it, so the reps are 'unsettled' (not 'swing', a kick); lying, or without the swing, neither."""
    t, v = controlled(2, rest=3.0)
    f = 0.45

    def sway(tt, hip):
        return 5 * np.sin(2 * np.pi * f * tt)

    w = series(t, v, tilt=sway, pelvis_rate=lambda tt: 5 * 2 * np.pi * f * np.cos(2 * np.pi * f * tt))
    hanging = reps_of(w, pose="hanging")
    assert [r.momentum_reasons for r in hanging] == [["unsettled"], ["unsettled"]]
    assert hanging[1].swing_amplitude_deg == pytest.approx(5, abs=0.5)
    assert hanging[1].swing_after_amplitude_deg == pytest.approx(5, abs=0.5)
    assert "before the rep" in hanging[1].decided_by["unsettled"]
    for r in reps_of(w, pose="lying") + reps_of(series(t, v), pose="hanging"):
        assert not {"swing", "unsettled"} & set(r.momentum_reasons)
    assert all(r.swing_after_amplitude_deg is None for r in reps_of(w, pose="lying"))


def test_the_rep_that_kicks_is_swing_and_the_next_unsettled() -> None:
    """Three controlled raises; the second kicks the body into a swing (6°, decaying over 12 s,
    from its start): it is 'swing', the third, started while the body still swings, 'unsettled',
    the first neither."""
    t, v = controlled(3)
    f, kick = 0.45, 1.0 + 5.7  # the second rep's start

    def sway(tt, hip):
        dt = np.clip(tt - kick, 0.0, None)
        return np.where(tt > kick, 6.0 * np.exp(-dt / 12.0) * np.sin(2 * np.pi * f * dt), 0.0)

    reps = reps_of(series(t, v, tilt=sway), pose="hanging")
    assert [r.momentum_reasons for r in reps] == [[], ["swing"], ["unsettled"]]
    assert reps[1].swing_amplitude_deg < 0.5
    assert reps[1].swing_after_amplitude_deg > 3.0
    assert "kicked the body into a swing" in reps[1].decided_by["swing"]
    assert reps[2].swing_amplitude_deg > reps[2].swing_after_amplitude_deg


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

# --------------------------------------------------------------------------- thresholds and counts
# (tests/mutation_check.py plants single-point bugs; each of these is one independent witness)


def test_a_35_degree_raise_is_a_rep_and_a_25_degree_one_is_not() -> None:
    """GUIDE §5: a rep rises at least ~30° above its baseline and returns; partial twitches
    (< 20-25°) are not reps."""
    t = [0, 1, 2.8, 3.2, 5.2, 6.7, 8.5, 8.9, 10.9, 12.4]
    v = [0, 0, 35, 34, 0, 0, 25, 24, 0, 0]
    reps = reps_of(series(t, v))
    assert len(reps) == 1
    assert reps[0].peak_s == pytest.approx(2.8, abs=0.1)
    assert reps[0].peak_hip_flexion_deg == pytest.approx(35, abs=0.5)


def test_segmenter_measures_the_rise_from_the_resting_level() -> None:
    """Resting at 10° (a leg that never lies flat): 10 -> 45° (35° rise) is a rep, 10 -> 35°
    (25° rise) is not, whatever the chunking."""
    t = [0, 1, 2.8, 3.2, 5.2, 6.7, 8.5, 8.9, 10.9, 12.4]
    v = [10, 10, 45, 44, 10, 10, 35, 34, 10, 10]
    w = series(t, v)
    seg = RepSegmenter(PipelineConfig(), FS)
    bounds = []
    for i in range(0, len(w.time_s), 13):
        bounds += seg.push(w.time_s[i:i + 13], w.hip_deg[i:i + 13])
    bounds += seg.finish()
    assert len(bounds) == 1
    assert 1.0 <= bounds[0].start_s < bounds[0].peak_s < bounds[0].end_s <= 5.2
    assert bounds[0].peak_s == pytest.approx(2.8, abs=0.15)  # the 6 Hz low-pass delays the peak a little


def test_rep_totals_count_each_label_once() -> None:
    """Two reps with a 15° curl past 80° of hip flexion and one without: 2 abdominal-engaging,
    1 hip-flexor-only; the one thrown rep is the only momentum rep."""
    t, v, now = [0.0, 1.0], [0.0, 0.0], 1.0
    for peak, up in ((110, 1.8), (80, 0.5), (110, 1.8)):
        t += [now + up, now + up + 0.4, now + up + 0.4 + 2.0, now + up + 0.4 + 2.0 + 1.5]
        v += [peak, peak - 1, 0.0, 0.0]
        now = t[-1]

    def curl(tt, hip):
        return 15 * np.clip((hip - 80) / 30, 0, 1)

    reps = reps_of(series(t, v, tilt=curl))
    assert [r.label for r in reps] == [LABEL_ABDOMINAL, LABEL_HIP_FLEXOR, LABEL_ABDOMINAL]
    tot = rep_totals(reps)
    assert (tot["reps"], tot["abdominal_engaging"], tot["hip_flexor_only"]) == (3, 2, 1)
    assert (tot["momentum"], tot["controlled"]) == (1, 2)
    assert tot["momentum_reasons"] == {"fast": 1}


def test_a_partial_lowering_at_the_top_does_not_end_the_rep() -> None:
    """80° -> 50° -> 80° -> 0°: the legs came down 30° of an 80° excursion (under the 60 % a rep
    must return) and went up again: one rep, not two."""
    t = [0, 1, 2.8, 4.0, 5.2, 7.2, 9]
    v = [0, 0, 80, 50, 80, 0, 0]
    reps = reps_of(series(t, v))
    assert len(reps) == 1
    assert reps[0].start_s < 2.8 and reps[0].end_s > 6.5


def test_a_short_dropout_inside_a_rep_is_flagged() -> None:
    """Both sensors silent for 0.3 s at the first rep's top (shorter than a gap that closes the
    rep): still one rep each, the first flagged has_gap, the second not."""
    t, v = controlled(2)
    w = series(t, v)
    drop(w, (w.time_s > 2.7) & (w.time_s < 3.0))
    reps = reps_of(w)
    assert len(reps) == 2
    assert reps[0].has_gap and not reps[1].has_gap


def test_segmenter_flags_a_rep_with_missing_samples() -> None:
    t, v = controlled(2)
    w = series(t, v)
    hip = w.hip_deg.copy()
    hip[(w.time_s > 3.6) & (w.time_s < 3.8)] = np.nan  # on the way down of the first rep
    seg = RepSegmenter(PipelineConfig(), FS)
    bounds = seg.push(w.time_s, hip) + seg.finish()
    assert [b.has_gap for b in bounds] == [True, False]


# --------------------------------------------------------------------------- momentum, one reason at a time


def test_a_rebound_off_the_bottom_is_a_bounce() -> None:
    """Down from 70° in 1 s (min-jerk peak rate 1.875 * 70 / 1 = 131 deg/s), then an 8° rebound
    within 0.15 s: a bounce, and nothing else (phases over 0.8 s, rates under 200 deg/s, up and
    down equally long)."""
    t = [0, 1, 2.8, 3.0, 4.0, 4.15, 4.5, 7]
    v = [0, 0, 70, 69, 0, 8, 0, 0]
    (r,) = reps_of(series(t, v))
    assert r.momentum_reasons == ["bounce"]
    assert "bounce" in r.decided_by


def test_a_drop_without_speeding_is_only_a_drop() -> None:
    """2.4 s up, 1.0 s down from 70°: the eccentric phase is 2.4 times shorter and peaks at
    131 deg/s (> 120), but no phase is under 0.8 s and no rate over 200 deg/s: 'drop' only."""
    t, v = controlled(1, peak=70, up=2.4, down=1.0)
    (r,) = reps_of(series(t, v))
    assert r.momentum_reasons == ["drop"]
    assert r.peak_rate_down_deg_s == pytest.approx(1.875 * 70 / 1.0, rel=0.03)


def test_a_swing_through_is_fast_by_its_peak_rate_alone() -> None:
    """130° in 1.0 s up peaks at 1.875 * 130 = 244 deg/s (> 200) although both phases last longer
    than 0.8 s: 'fast'."""
    t, v = controlled(1, peak=130, up=1.0, down=2.0)
    (r,) = reps_of(series(t, v))
    assert r.momentum_reasons == ["fast"]
    assert r.peak_rate_up_deg_s == pytest.approx(1.875 * 130, rel=0.03)
    assert r.concentric_s > 0.8 and r.eccentric_s > 0.8


def test_label_ignores_a_tuck_with_the_legs_low() -> None:
    """Hanging: the pelvis tucks 14° posteriorly as the knees start up (hip < 45°) and is back to
    neutral before the legs pass 60°: the curl did not happen with the legs high."""
    t, v = controlled(2, peak=100)

    def tuck(tt, hip):
        return 14 * np.sin(np.pi * np.clip(hip / 55, 0, 1)) * (hip < 55)

    reps = reps_of(series(t, v, tilt=tuck), pose="hanging")
    assert len(reps) == 2
    for r in reps:
        assert r.peak_posterior_tilt_deg == pytest.approx(14, abs=0.5)
        assert r.label == LABEL_HIP_FLEXOR


def test_sparc_of_a_rep_ignores_vibration_above_the_cutoff() -> None:
    """A 20 Hz strap vibration (10 % of the peak speed) on the thigh's rate: SPARC with its 10 Hz
    cut-off still sees the minimum-jerk rise (-1.41, GUIDE §5)."""
    t, v = controlled(1, up=2.0, down=2.0)
    w = series(t, v)
    peak = np.max(np.abs(w.thigh_rate_deg_s))
    w.thigh_rate_deg_s[:] = w.thigh_rate_deg_s + 0.1 * peak * np.sin(2 * np.pi * 20.0 * w.time_s)
    (r,) = reps_of(w)
    assert r.sparc_up == pytest.approx(-1.41, abs=0.1)
    assert r.sparc_down == pytest.approx(-1.41, abs=0.1)


def test_bounce_is_not_judged_where_the_sensor_rate_cannot_show_a_pause() -> None:
    """At 10 Hz a 0.15 s pause is under two samples: the bounce rule says 'not judged' instead of
    guessing; at 100 Hz the same rep is judged."""
    w = series([0, 1, 2.2, 2.8, 2.95, 3.1, 4.3, 6.3, 8], [0, 0, 85, 0, 8, 3, 85, 0, 0])  # fast down, rebound
    judged = analyze_reps(w, PipelineConfig(), "lying", sensor_rate_hz=100.0)
    slow = analyze_reps(w, PipelineConfig(), "lying", sensor_rate_hz=10.0)
    assert "bounce" in judged[0].momentum_reasons
    assert "bounce" not in slow[0].momentum_reasons
    assert slow[0].decided_by["bounce"].startswith("not judged: at 10 Hz")


def _segment_with_gap(t: list[float], v: list[float], gap: tuple[float, float]) -> list:
    w = series(t, v)
    hip = w.hip_deg.copy()
    hip[(w.time_s > gap[0]) & (w.time_s < gap[1])] = np.nan
    seg = RepSegmenter(PipelineConfig(), FS)
    bounds = []
    for i in range(0, len(w.time_s), 7):  # the live path's chunking: the same result
        bounds += seg.push(w.time_s[i:i + 7], hip[i:i + 7])
    return bounds + seg.finish()


@pytest.mark.parametrize("gap", [(1.6, 4.1), (2.4, 4.4), (3.4, 4.6)])
def test_a_rep_cut_by_an_outage_is_counted_once(gap: tuple[float, float]) -> None:
    """One slow rep (up 1 -> 3 s to 100°, down 3.4 -> 5.4 s) with the thigh missing from its way up
    (or its top, or its way down) to late in its descent: one rep, not its head and its tail
    counted as two."""
    bounds = _segment_with_gap([0, 1, 3, 3.4, 5.4, 8], [0, 0, 100, 100, 0, 0], gap)
    assert len(bounds) == 1, bounds
    assert bounds[0].has_gap


def test_reps_hidden_in_a_long_outage_are_not_taken_for_one_reps_tail() -> None:
    """The thigh goes missing on the way up of one rep and comes back 5 s later in the middle of
    the next one (rising): two reps, both partial."""
    t = [0, 1, 3, 3.4, 5.4, 6.0, 8.0, 8.4, 10.4, 13]
    v = [0, 0, 100, 100, 0, 0, 100, 100, 0, 0]
    bounds = _segment_with_gap(t, v, (1.8, 7.0))
    assert len(bounds) == 2, bounds


def test_a_rep_the_recording_ends_in_is_partial_but_keeps_its_label() -> None:
    """The data end while a rep is still coming down (at ~25° of a 100° rep, still falling): counted, its top and
    label kept, but partial — its descent time was not seen to the end, so tempo and momentum are
    not judged; a rep that had come back down before the end is whole."""
    cut = reps_of(series([0, 1, 3, 3.4, 5.4, 6], [0, 0, 100, 100, 0, 0], t_end=4.7))  # ~25° and falling
    assert len(cut) == 1 and cut[0].partial and cut[0].momentum is None
    assert cut[0].label == LABEL_HIP_FLEXOR and cut[0].label_confidence == "normal"
    assert "recording ended" in cut[0].decided_by["partial"]
    whole = reps_of(series([0, 1, 3, 3.4, 5.4, 5.45], [0, 0, 100, 100, 0, 0]))
    assert len(whole) == 1 and not whole[0].partial
