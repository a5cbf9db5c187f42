"""The live path (imu_pipeline/pipeline/live.py): the same checks and rep rules as the offline
path, in a stream — on simulated sessions (truth known) replayed packet by packet, and on
hand-made angle series for the rep tracker."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from imu_pipeline.config import PipelineConfig
from imu_pipeline.errors import CalibrationError
from imu_pipeline.evaluate import match_reps
from imu_pipeline.io.recording import Recording
from imu_pipeline.joint_angles import JointAngles
from imu_pipeline.pipeline.live import RepTracker
from imu_pipeline.pipeline.offline import analyze_recording
from imu_pipeline.pipeline.replay import replay
from imu_pipeline.simulate import Knots, SimulationOptions, simulate_session

OPPOSITE = {"superior": "inferior", "inferior": "superior", "anterior": "posterior", "posterior": "anterior",
            "left": "right", "right": "left"}
FS = 100.0


def mirrored_pelvis(rec: Recording) -> Recording:
    """The same samples, with the pelvis's declared x axis reversed (one sign flipped in the sidecar)."""
    meta = copy.deepcopy(rec.meta)
    m = meta["sensors"]["pelvis"]["mounting"]
    meta["sensors"]["pelvis"]["mounting"] = {"x": OPPOSITE[m["x"]], "y": m["y"]}
    return Recording(rec.sensors, meta)


def swapped(rec: Recording) -> Recording:
    """Thigh and pelvis exchanged, rows and sidecar (a mix-up in the recorder's config)."""
    meta = copy.deepcopy(rec.meta)
    s = meta["sensors"]
    s["thigh"], s["pelvis"] = s["pelvis"], s["thigh"]
    return Recording({"thigh": rec.sensors["pelvis"], "pelvis": rec.sensors["thigh"]}, meta)


def angles(knots_t: list[float], knots_v: list[float]) -> JointAngles:
    """Hip flexion (deg knots, minimum jerk) with a still pelvis, as the tracker receives it (rad)."""
    t = np.arange(0, knots_t[-1] + 1e-9, 1 / FS)
    hip = np.radians(Knots(knots_t, knots_v)(t))
    rate = np.gradient(hip, t)
    zero = np.zeros_like(t)
    return JointAngles(t, hip, zero, hip, rate, zero, calibration=None)


def test_rep_tracker_counts_a_35_degree_raise_not_a_25_degree_one() -> None:
    """GUIDE §5 in the stream: a 35° rise that returns is a rep, a 25° one is not (pushed 0.25 s at a time)."""
    ang = angles([0, 1, 2.8, 3.2, 5.2, 6.7, 8.5, 8.9, 10.9, 12.4], [0, 0, 35, 34, 0, 0, 25, 24, 0, 0])
    tr = RepTracker(PipelineConfig(), "lying")
    reps = []
    for a in range(0, len(ang.time_s), 25):
        sl = slice(a, a + 25)
        reps += tr.push(JointAngles(ang.time_s[sl], ang.hip_flexion[sl], ang.pelvic_tilt[sl], ang.thigh_angle[sl],
                                    ang.thigh_rate[sl], ang.pelvis_rate[sl], None))
    reps += tr.finish()
    assert len(reps) == 1
    assert reps[0].peak_hip_flexion_deg == pytest.approx(35, abs=0.5)


@pytest.mark.parametrize("pose", ["lying", "hanging"])
def test_live_calibration_judges_every_check_like_the_offline_path(pose: str) -> None:
    """A clean session: the live path calibrates only once every check could judge, and they all
    pass, as offline; the reps found are the simulated ones."""
    sim = simulate_session(SimulationOptions(seed=0, pose=pose, n_reps=3))
    lp, _ = replay(sim.recording)
    off = analyze_recording(sim.recording).angles.calibration
    assert lp.calibration is not None, lp.calibration_error
    assert lp.calibration.checks == off.checks == {"thigh_mounting": "passed", "pelvis_mounting": "passed",
                                                   "sensors_not_swapped": "passed"}
    assert not any("could not judge" in n for n in lp.calibration.notes)
    assert len(lp.reps) == len(sim.truth_reps) == 3


@pytest.mark.parametrize("pose, seed", [("lying", 2), ("hanging", 1)])
def test_live_refuses_a_mirrored_pelvis_mounting_shown_by_a_curl(pose: str, seed: int) -> None:
    """The first rep curls the pelvis (abdominal-engaging): with the pelvis's x axis declared reversed
    the tilt comes out anterior with the legs high. Offline and live both refuse; no reps."""
    sim = simulate_session(SimulationOptions(seed=seed, pose=pose, n_reps=3, mix=("abdominal", "hip-flexor")))
    bad = mirrored_pelvis(sim.recording)
    with pytest.raises(CalibrationError, match=r"pelvis tilts \d+° anteriorly on average while the legs are high"):
        analyze_recording(bad)
    lp, _ = replay(bad)
    assert lp.calibration is None and lp.reps == []
    assert "pelvis tilts" in lp.calibration_error and "sensors.pelvis.mounting" in lp.calibration_error


def test_live_refuses_a_mirrored_pelvis_mounting_whatever_the_first_rep() -> None:
    sim = simulate_session(SimulationOptions(seed=0, pose="lying", n_reps=3))  # first rep: hip-flexor-only
    bad = mirrored_pelvis(sim.recording)
    with pytest.raises(CalibrationError, match=r"pelvis tilts \d+° anteriorly"):
        analyze_recording(bad)
    lp, _ = replay(bad)
    assert lp.calibration is None, f"live accepted it: {lp.calibration.checks}"


@pytest.mark.parametrize("pose", ["lying", "hanging"])
def test_live_refuses_swapped_sensors(pose: str) -> None:
    """The 'pelvis' swept through a whole leg raise, the 'thigh' a few degrees: refused, no reps."""
    sim = simulate_session(SimulationOptions(seed=1, pose=pose, n_reps=3))
    lp, _ = replay(swapped(sim.recording))
    assert lp.calibration is None and lp.reps == []
    assert "look swapped" in lp.calibration_error


def test_a_kick_is_swing_and_the_rep_after_it_unsettled_offline_and_live() -> None:
    """Hanging sessions where every fourth rep kicks the body into a swing (simulator kind
    'swing'): against the truth, each kick is `swing` (not only `fast`), the controlled rep right
    after it — started while the body still swings — is `unsettled` (truth 'unsettled'), and no
    rep of a still body gets either; the live path gives the same reasons as the offline one, each
    hanging rep reported no later than momentum.swing_after_s (+ 0.2 s) after its end."""
    cfg = PipelineConfig()
    kicks = after_kick = unsettled = 0
    hits = {"kick": 0, "after_kick": 0, "unsettled": 0}
    for seed in range(6):
        sim = simulate_session(SimulationOptions(seed=seed, pose="hanging", n_reps=8,
                                                 mix=("hip-flexor", "swing", "hip-flexor", "abdominal")))
        an = analyze_recording(sim.recording)
        lp, reported = replay(sim.recording)
        assert [r.momentum_reasons for r in lp.reps] == [r.momentum_reasons for r in an.reps], seed
        assert all(tc - r.end_s <= cfg.momentum.swing_after_s + 0.2 for r, tc in reported
                   if r.ended_by != "end-of-data")
        pairs = match_reps(sim.truth_reps, an.reps)
        assert len(pairs) == len(sim.truth_reps) == len(an.reps)
        for t, f in pairs:
            swing, unset = "swing" in f.momentum_reasons, "unsettled" in f.momentum_reasons
            kind = t["momentum_kind"]
            if kind == "swing":
                kicks += 1
                hits["kick"] += swing
            elif kind == "unsettled":
                unsettled += 1
                hits["unsettled"] += unset
                assert not swing, (seed, t, f.decided_by)
                if sim.truth_reps[t["index"] - 1]["kind"] == "swing":
                    after_kick += 1
                    hits["after_kick"] += unset
            elif kind is None:
                assert not (swing or unset), (seed, t, f.decided_by)
    assert (hits["kick"], kicks) == (12, 12)
    assert (hits["after_kick"], after_kick) == (12, 12)
    assert hits["unsettled"] >= 0.8 * unsettled  # a swing two reps on may have decayed to the threshold
