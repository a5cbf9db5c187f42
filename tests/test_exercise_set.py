"""Finding the set: walking in and out, lying down, stepping up to the bar (imu_pipeline.exercise_set),
through analyze (offline) and replay (live) on simulated sessions with ground truth."""

import numpy as np
import pytest

from imu_pipeline.config import SetFindingConfig
from imu_pipeline.evaluate import match_reps, score_angles
from imu_pipeline.exercise_set import rep_not_exercise, strike_times, walking_spans
from imu_pipeline.pipeline.offline import analyze_recording
from imu_pipeline.pipeline.replay import live_session, replay
from imu_pipeline.report.summary import summary_dict
from imu_pipeline.simulate import SimulationOptions, simulate_session


def test_strikes_at_a_walking_rhythm_are_walking_single_jolts_are_not() -> None:
    cfg = SetFindingConfig()
    t = np.arange(0, 10, 0.01)
    acc = np.full_like(t, 9.81)
    for ts in np.arange(1.0, 4.0, 0.55):  # six steps
        acc[int(ts * 100)] += 4.0
    acc[800] += 6.0  # one jolt (a fast rep) much later
    st = strike_times(t, acc, cfg)
    assert len(st) == 7
    spans = walking_spans(st, cfg)
    assert len(spans) == 1 and spans[0][2] == 6
    dev = np.zeros_like(t)
    assert rep_not_exercise(1.5, 2.6, t, dev, st, cfg).startswith("walking")
    assert rep_not_exercise(7.5, 8.5, t, dev, st, cfg) is None  # a jolt 4 s after walking: a rep
    dev[550:650] = np.radians(80)
    assert "from the exercise pose" in rep_not_exercise(5.2, 6.8, t, dev, st, cfg)


@pytest.mark.parametrize("pose,seed", [("lying", 11), ("hanging", 12), ("lying", 13), ("hanging", 14)])
def test_walk_in_and_out_counts_only_the_set(pose, seed) -> None:
    o = SimulationOptions(seed=seed, pose=pose, n_reps=8, walk_in_out=True,
                          mix=("hip-flexor", "abdominal", "fast") + (("swing",) if pose == "hanging" else ()))
    sim = simulate_session(o)
    for an in (analyze_recording(sim.recording), live_session(sim.recording, replay(sim.recording, keep_angles=True)[0])):
        assert len(an.reps) == len(sim.truth_reps), (an.path, [r.peak_s for r in an.reps])
        pairs = match_reps(sim.truth_reps, an.reps)
        assert len(pairs) == len(sim.truth_reps)
        assert all(f.label in (None, tr["label"]) for tr, f in pairs)
        # walking around the set is reported, and gives no angles
        s0, s1 = sim.truth_meta["set"]
        spans = an.not_exercise
        assert spans and spans[0].start_s < 2.0 and spans[0].end_s <= s0 + 0.5
        assert spans[-1].start_s >= s1 - 0.5
        a = an.angles
        outside = np.zeros(len(a.time_s), bool)
        for sp in spans:
            outside |= (a.time_s >= sp.start_s) & (a.time_s <= sp.end_s)
        assert not np.isfinite(a.hip_flexion[outside]).any()
        hip, tilt = score_angles(sim, a.time_s, a.hip_flexion, a.pelvic_tilt)
        # live: the causal filter calibrates soon after lying down / stepping up, before its bias has
        # settled from the walk; its tilt is measured worse (1.75-2.5 deg on these): a known gap, open
        assert hip <= 1.5 and tilt <= (1.0 if an.path == "offline" else 3.0), (an.path, hip, tilt)
        st = summary_dict(an)["exercise_set"]
        assert st["start_s"] <= sim.truth_reps[0]["start_s"] and st["end_s"] >= sim.truth_reps[-1]["end_s"]
        assert st["movements_not_counted"], "the strides were seen and not counted"


def test_hanging_tilt_zero_is_the_start_pose_with_swing_and_straps_20_degrees_off() -> None:
    """The zero is the still start pose, not every still moment of the session (a swinging body is
    'still' by the rate threshold and averaged in a 0.5-1.8 deg constant tilt error)."""
    worst = 0.0
    for seed in range(4):
        o = SimulationOptions(seed=seed, pose="hanging", n_reps=10, misalignment_deg=20.0, rest_s=(1.0, 2.0),
                              mix=("hip-flexor", "swing", "abdominal", "swing", "fast"))
        sim = simulate_session(o)
        a = analyze_recording(sim.recording).angles
        worst = max(worst, score_angles(sim, a.time_s, a.hip_flexion, a.pelvic_tilt)[1])
    assert worst <= 0.3, worst
