"""Physics and truth of the leg-raise simulator (imu_pipeline/simulate/).

The simulator is part of the product: every accuracy test of the pipeline trusts it, so these
tests recompute its outputs independently (gyro integration, spline second derivatives,
thigh elevation from the world-frame long axis) instead of re-reading its own numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.interpolate import make_interp_spline
from scipy.spatial.transform import Rotation

from imu_pipeline.frames import GRAVITY_M_S2, axis_angle_matrix, mounting_matrix
from imu_pipeline.io.recording import median_rate_hz, read_recording
from imu_pipeline.simulate import (
    MOMENTUM_KINDS,
    PLACEMENTS,
    REP_KINDS,
    SWING_TRUTH_DEG,
    SimulationOptions,
    load_truth,
    simulate_session,
    write_simulation,
)
from imu_pipeline.simulate.body import ACC_RANGE, GYR_RANGE, Body, ideal_imu

CONTROLLED = ("hip-flexor", "abdominal")
ALL_LYING = ("hip-flexor", "abdominal", "fast", "drop", "bounce")
ALL_HANGING = ("swing", "hip-flexor", "abdominal", "fast", "drop", "bounce")  # swing first: later reps start in a swinging body
assert set(ALL_HANGING) == set(REP_KINDS)

# Peak hip flexion (deg) by label and pose, and phase durations (s) by kind, from the rep plan.
PEAK_RANGE = {("abdominal-engaging", "lying"): (98, 125), ("abdominal-engaging", "hanging"): (105, 135),
              ("hip-flexor-only", "lying"): (68, 86), ("hip-flexor-only", "hanging"): (72, 95)}
UP_RANGE = {"hip-flexor": (1.4, 2.2), "abdominal": (1.4, 2.2), "fast": (0.45, 0.7), "drop": (1.4, 2.0),
            "bounce": (0.9, 1.3), "swing": (0.6, 0.9)}
DOWN_RANGE = {"hip-flexor": (1.5, 2.4), "abdominal": (1.5, 2.4), "fast": (0.45, 0.7), "drop": (0.3, 0.45),
              "bounce": (0.5, 0.65), "swing": (0.6, 0.9)}


def body_of(opts: SimulationOptions) -> Body:
    """The same body simulate_session builds (it is the first consumer of the seeded generator)."""
    return Body(opts, np.random.default_rng(opts.seed))


def some_mounting(seed: int, misalignment_deg: float = 12.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    return axis_angle_matrix(axis, math.radians(misalignment_deg)) @ mounting_matrix({"x": "inferior", "y": "anterior"})


def rot_angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """Angle (deg) of Ra^T Rb for stacks of rotations."""
    return np.degrees(np.linalg.norm(Rotation.from_matrix(np.einsum("nji,njk->nik", Ra, Rb)).as_rotvec(), axis=1))


# --------------------------------------------------------------------------- at rest


def _still_part(sim, sensor: str) -> tuple[np.ndarray, np.ndarray]:
    ss = sim.recording.sensors[sensor]
    m = ss.time_s < sim.truth_reps[0]["start_s"] - 0.1
    assert m.sum() > 150  # 2-3 s of start_still at 100 Hz
    return ss.acc[m], ss.gyr[m]


def test_rest_is_gravity_only_without_noise() -> None:
    sim = simulate_session(SimulationOptions(seed=3, n_reps=1, mix=CONTROLLED, noise=0, quantize=False))
    for s in ("thigh", "pelvis"):
        acc, gyr = _still_part(sim, s)
        acc_err = np.abs(np.linalg.norm(acc, axis=1) - GRAVITY_M_S2).max()
        gyr_max = np.abs(gyr).max()
        assert acc_err < 1e-6 and gyr_max < 1e-6, (
            f"BUG simulate.py Body.angles_deg: during the start_still period the {s} sensor is not still "
            f"(| |acc| - 9.81 | up to {acc_err:.2g} m/s², |gyro| up to {gyr_max:.3f} rad/s = "
            f"{math.degrees(gyr_max):.1f} deg/s). The out-of-plane terms pelvis_obliquity, pelvis_rotation, "
            "hip_abduction, hip_rotation (oop(...) sinusoids) run for the whole session, so the 'still' periods "
            "sway at ~1-3 deg/s, above VQF's rest threshold (2 deg/s): rest detection and rest bias estimation "
            "are never exercised. Scale the out-of-plane terms by an activity envelope (zero outside the reps)")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rest_specific_force_with_default_noise(seed: int) -> None:
    sim = simulate_session(SimulationOptions(seed=seed, n_reps=1, mix=CONTROLLED))
    for s in ("thigh", "pelvis"):
        acc, _ = _still_part(sim, s)
        n = np.linalg.norm(acc, axis=1)
        # scale error <= 1.5 %, bias <= 0.08 m/s² per axis, white noise 0.03 m/s²
        assert np.abs(n - GRAVITY_M_S2).max() < 0.015 * GRAVITY_M_S2 + 0.08 * math.sqrt(3) + 5 * 0.03
        assert n.std() < 1.5 * 0.03
        assert np.abs(n.mean() - GRAVITY_M_S2) > 1e-4, "default noise must bias the accelerometer"


def test_rest_gyro_with_default_noise_is_at_the_noise_level() -> None:
    for seed, s in [(seed, s) for seed in range(3) for s in ("thigh", "pelvis")]:
        sim = simulate_session(SimulationOptions(seed=seed, n_reps=1, mix=CONTROLLED))
        _, gyr = _still_part(sim, s)
        bias_bound = 1.015 * math.radians(1.0)
        assert np.abs(gyr.mean(axis=0)).max() < bias_bound + 0.003, (
            f"BUG simulate.py (see test_rest_is_gravity_only_without_noise): seed {seed}, {s} gyro mean at rest "
            f"{np.abs(gyr.mean(axis=0)).max():.4f} rad/s exceeds the 1 deg/s bias bound: the body sways during 'still'")
        assert gyr.std(axis=0).max() < 1.5 * 0.006, (
            f"BUG simulate.py (see test_rest_is_gravity_only_without_noise): seed {seed}, {s} gyro std at rest "
            f"{gyr.std(axis=0).max():.4f} rad/s vs white noise 0.006 rad/s: the body sways during 'still'")


# --------------------------------------------------------------------------- angular rate


@pytest.mark.parametrize("pose, sensor", [("lying", "thigh"), ("lying", "pelvis"), ("hanging", "thigh"),
                                          ("hanging", "pelvis")])
def test_integrated_gyro_reproduces_the_rotation(pose: str, sensor: str) -> None:
    opts = SimulationOptions(seed=5, pose=pose, n_reps=2, mix=("abdominal", "hip-flexor"), noise=0, quantize=False)
    body = body_of(opts)
    assert body.plans[0].t_end < 10.0  # the window holds a whole rep
    R_ss = some_mounting(7)
    offset = np.array(PLACEMENTS["thigh-lateral" if sensor == "thigh" else "pelvis-lateral"]["offset"])
    dt = 1e-3
    t = np.arange(0.0, 10.0 + dt / 2, dt)
    R_true, _ = body.sensor_pose(sensor, t, R_ss, offset, wobble=True)
    _, gyr_mid, _ = ideal_imu(body, sensor, t[:-1] + dt / 2, R_ss, offset, wobble=True)
    # body-frame rate: R(t+dt) = R(t) exp([w dt]x), w taken at the midpoint
    steps = Rotation.from_rotvec(gyr_mid * dt).as_matrix()
    R = np.empty_like(R_true)
    R[0] = R_true[0]
    for k in range(len(steps)):
        R[k + 1] = R[k] @ steps[k]
    err = rot_angle_deg(R, R_true)
    moved = rot_angle_deg(R_true[:1].repeat(len(t), 0), R_true).max()
    assert moved > (60 if sensor == "thigh" else 10)  # the window really contains a rep
    assert err.max() < 0.1, f"integrated gyro drifts {err.max():.3f} deg from the true rotation"


def test_gyro_is_in_the_sensor_frame_not_the_world_frame() -> None:
    """A pure flexion of the thigh shows up on the sensor axis that maps to the segment's Z."""
    opts = SimulationOptions(seed=2, n_reps=1, mix=("hip-flexor",), noise=0, quantize=False)
    body = body_of(opts)
    R_ss = mounting_matrix({"x": "right", "y": "inferior"})  # sensor x = segment Z (flexion axis)
    p = body.plans[0]
    up = p.t_peak_reach - p.t_start
    t = np.linspace(p.t_start + 0.3 * up, p.t_start + 0.7 * up, 200)  # the fast middle of the up phase
    _, gyr, _ = ideal_imu(body, "thigh", t, R_ss, np.zeros(3), wobble=False)
    ang = body.angles_deg(t)
    sagittal_rate = np.gradient(ang["hip"] + ang["tilt"], t)  # deg/s, about the flexion axis
    assert sagittal_rate.min() > 30
    assert np.all(gyr[:, 0] > 0)  # flexion is positive about +Z = sensor +x
    # the x rate is hip + pelvic-tilt rate up to the small out-of-plane motion
    np.testing.assert_allclose(np.degrees(gyr[:, 0]), sagittal_rate, rtol=0.05)
    assert np.abs(gyr[:, 1:]).max() < 0.15 * np.abs(gyr[:, 0]).min()


def test_session_samples_are_the_ideal_imu_of_the_body() -> None:
    """With noise=0 and no quantisation the recording holds exactly ideal_imu at the true sample
    times, each sample averaged over its sample interval (``interval=1/rate``) like a real IMU."""
    opts = SimulationOptions(seed=11, n_reps=2, noise=0, quantize=False, thigh_rate_hz=120, pelvis_rate_hz=80)
    sim = simulate_session(opts)
    body = body_of(opts)
    for s, rate in (("thigh", 120.0), ("pelvis", 80.0)):
        tm = sim.truth_meta["mounting"][s]
        ss = sim.recording.sensors[s]
        k = np.arange(len(ss))
        np.testing.assert_allclose(ss.time_s, ss.time_s[0] + k / rate, rtol=0, atol=1e-9)  # nominal clock
        t_true = ss.time_s[0] + k / (rate * (1 + tm["clock_drift_ppm"] * 1e-6))
        acc, gyr, _ = ideal_imu(body, s, t_true, np.array(tm["R_seg_sensor"]),
                                np.array(PLACEMENTS[tm["placement"]]["offset"]), wobble=False, interval=1.0 / rate)
        np.testing.assert_allclose(ss.acc, acc, rtol=0, atol=1e-9)
        np.testing.assert_allclose(ss.gyr, gyr, rtol=0, atol=1e-9)
        assert abs(tm["clock_drift_ppm"]) <= opts.clock_drift_ppm


# --------------------------------------------------------------------------- specific force


def _kinks(body: Body, t: np.ndarray) -> np.ndarray:
    """Times where the simulated motion is not twice differentiable (reported as a bug).

    The anterior term of _pelvis_curl, sin(pi*clip(h/70))**1.5, has an unbounded second
    derivative where the hip crosses 70 deg; the clipped smoothstep of the posterior curl jumps
    in curvature at the curl onset; the out-of-plane hip terms of angles_deg use
    clip(hip/90, 0, 1.3), whose rate jumps where the hip crosses 117 deg.  See
    test_specific_force_has_no_spikes.
    """
    hip = body.hip_knots(t)
    out = []
    for p in body.plans:
        for level in (70.0, p.curl_onset_deg, 117.0):
            i = np.flatnonzero(np.diff(np.sign(hip - level)) != 0)
            out.extend(t[i])
    return np.array(out)


@pytest.mark.parametrize("pose, sensor, placement", [("lying", "thigh", "thigh-anterior"),
                                                      ("lying", "pelvis", "pelvis-anterior"),
                                                      ("hanging", "thigh", "thigh-lateral"),
                                                      ("hanging", "pelvis", "pelvis-posterior")])
def test_specific_force_is_R_transpose_of_p_ddot_minus_g(pose: str, sensor: str, placement: str) -> None:
    opts = SimulationOptions(seed=4, pose=pose, n_reps=2, mix=("abdominal", "fast"), noise=0, quantize=False)
    body = body_of(opts)
    R_ss = some_mounting(3)
    offset = np.array(PLACEMENTS[placement]["offset"])
    dt = 1e-3
    t = np.arange(0.0, body.plans[1].t_end + 1.0, dt)
    R, pos = body.sensor_pose(sensor, t, R_ss, offset, wobble=False)
    acc, _, _ = ideal_imu(body, sensor, t, R_ss, offset, wobble=False)
    # independent: quintic spline through the positions, second derivative, rotate into the sensor frame
    p_dd = make_interp_spline(t, pos, k=5).derivative(2)(t)
    f = np.einsum("nji,nj->ni", R, p_dd - np.array([0.0, 0.0, -GRAVITY_M_S2]))
    err = np.abs(f - acc).max(axis=1)
    ok = np.ones(len(t), bool)
    ok[:25] = ok[-25:] = False
    for tk in _kinks(body, t):
        ok &= np.abs(t - tk) > 0.025
    # The minimum-jerk path is only C2 at its knots: the jerk jumps there (by ~10^4 rad/s³ at the top of a
    # fast rep), where a 1 ms central difference and any interpolating spline differ by O(h * jump).
    for tk in body.hip_knots.t:
        ok &= np.abs(t - tk) > 0.015
    assert ok.mean() > 0.93
    assert np.linalg.norm(acc, axis=1).max() > 12  # the fast rep really accelerates the sensor
    assert err[ok].max() < 0.02, f"specific force off by {err[ok].max():.4f} m/s² at t={t[ok][np.argmax(err[ok])]:.3f} s"


def test_specific_force_has_no_spikes() -> None:
    """Controlled reps: |f(t + 1 ms) - f(t)| stays far below 1 m/s² (jerk < 1000 m/s³)."""
    worst = []
    for seed in range(4):
        opts = SimulationOptions(seed=seed, n_reps=2, mix=CONTROLLED, noise=0, quantize=False)
        body = body_of(opts)
        dt = 1e-3
        t = np.arange(0.0, body.plans[-1].t_end + 0.5, dt)
        for s, pl in (("thigh", "thigh-lateral"), ("pelvis", "pelvis-lateral")):
            acc, _, _ = ideal_imu(body, s, t, np.eye(3), np.array(PLACEMENTS[pl]["offset"]), wobble=False)
            step = np.abs(np.diff(acc, axis=0)).max(axis=1)
            i = int(np.argmax(step))
            worst.append((float(step[i]), seed, s, float(t[i]), float(body.hip_knots(t[i:i + 1])[0])))
    step, seed, s, ti, hip = max(worst)
    assert step < 1.0, (
        f"BUG simulate.py _pelvis_curl: the simulated {s} accelerometer jumps {step:.2f} m/s² within 1 ms "
        f"(seed {seed}, t={ti:.3f} s, hip {hip:.1f} deg) in a controlled rep. The anterior-tilt term "
        "-anterior*sin(pi*clip(h/70,0,1))**1.5 has an unbounded second derivative where the hip crosses 70 deg, "
        "and the clipped smoothstep of the posterior curl has a jump in curvature at curl_onset_deg, so the "
        "pelvis (and the hip joint it carries) gets spikes/steps of angular acceleration. Use a C2 shape "
        "(e.g. sin(...)**2 or a quintic smootherstep) for both terms. Likewise hf = clip(hip/90, 0, 1.3) in "
        "Body.angles_deg makes the hip abduction/rotation rates jump where the hip crosses 117 deg")


def test_pelvic_tilt_is_continuous() -> None:
    """No jumps: the largest change of the tilt over a step shrinks with the step (a jump would not).

    (A fast 'drop' rep legitimately uncurls the pelvis at several hundred deg/s, so a fixed
    threshold per 0.1 ms cannot tell fast motion from a discontinuity.)"""
    for seed in range(6):
        opts = SimulationOptions(seed=seed, n_reps=8, noise=0, quantize=False)  # default mix: bounce then hip-flexor
        body = body_of(opts)
        t = np.arange(0.0, body.hip_knots.t[-1], 1e-4)
        tilt = body.angles_deg(t)["tilt"]
        d = np.abs(np.diff(tilt))
        i = int(np.argmax(d))
        # refine around the worst step with a 10x smaller step: continuous -> ~10x smaller change
        tf = np.linspace(t[i], t[i + 1], 11)
        df = np.abs(np.diff(body.angles_deg(tf)["tilt"])).max()
        assert df < 0.2 * d[i] + 1e-9, (
            f"pelvic tilt jumps {d[i]:.3f} deg at t={t[i]:.4f} s (seed {seed}); over a 10x smaller step it "
            f"still changes {df:.3f} deg")
        assert d.max() < 0.1  # < 1000 deg/s even in the fastest simulated rep


# --------------------------------------------------------------------------- truth


def _sessions() -> list:
    out = []
    for pose, mix in (("lying", ALL_LYING), ("hanging", ALL_HANGING)):
        for seed in range(3):
            out.append(simulate_session(SimulationOptions(seed=seed, pose=pose, n_reps=len(mix), mix=mix, noise=0)))
    return out


@pytest.fixture(scope="module")
def sessions() -> list:
    return _sessions()


def test_truth_hip_flexion_is_zero_at_rest(sessions) -> None:
    for sim in sessions:
        tr = sim.truth
        before = tr["time_s"] < sim.truth_reps[0]["start_s"]
        after = tr["time_s"] > sim.truth_reps[-1]["end_s"] + 1.0
        assert before.sum() > 150 and after.sum() > 50
        assert np.abs(tr.loc[before | after, "hip_flexion_deg"]).max() < 1e-9
        if sim.options.pose == "lying":  # the pelvis settles (critically damped response) within 1 s
            assert np.abs(tr.loc[before | after, "pelvic_tilt_deg"]).max() < 1e-3
        else:  # hanging: a decaying whole-body swing may persist after swing reps
            assert np.abs(tr.loc[before, "pelvic_tilt_deg"]).max() < 0.5


def test_truth_peaks_and_durations_in_the_per_kind_ranges(sessions) -> None:
    for sim in sessions:
        pose = sim.options.pose
        kinds = [r["kind"] for r in sim.truth_reps]
        assert kinds == list(sim.options.mix)
        for r in sim.truth_reps:
            lo, hi = PEAK_RANGE[(r["label"], pose)]
            assert lo - 0.01 <= r["peak_hip_flexion_deg"] <= hi + 1e-6, r
            lo, hi = UP_RANGE[r["kind"]]
            assert lo <= r["up_s"] <= hi, r
            lo, hi = DOWN_RANGE[r["kind"]]
            assert lo <= r["down_s"] <= hi, r
            m = (sim.truth["time_s"] >= r["start_s"]) & (sim.truth["time_s"] <= r["end_s"])
            assert sim.truth.loc[m, "hip_flexion_deg"].max() == pytest.approx(r["peak_hip_flexion_deg"], abs=1e-3)
            if r["kind"] == "hip-flexor":
                assert r["label"] == "hip-flexor-only"
            if r["kind"] == "abdominal":
                assert r["label"] == "abdominal-engaging"


def test_truth_labels_match_the_tilt_lying() -> None:
    n = 0
    for seed in range(6):
        sim = simulate_session(SimulationOptions(seed=seed, n_reps=10, noise=0))
        for r in sim.truth_reps:
            n += 1
            if r["label"] == "abdominal-engaging":
                assert r["peak_posterior_tilt_deg"] >= 10, r
            else:
                assert r["label"] == "hip-flexor-only"
                assert r["peak_posterior_tilt_deg"] < 5, r
    assert n == 60


def test_truth_labels_match_the_tilt_hanging_with_swing() -> None:
    """Hanging with swing reps: the label agrees with the tilt unless the rep is flagged as swinging.

    tilt = curl + whole-body swing while the label comes from the curl alone, so a rep done while
    the body still swings can show several degrees of posterior tilt with a hip-flexor-only
    label; the truth must then flag it as momentum: 'swing' (the kick itself) or 'unsettled'
    (a controlled rep started while the body still swung).
    """
    n_flagged = n_checked = 0
    for seed in range(6):
        sim = simulate_session(SimulationOptions(seed=seed, pose="hanging", n_reps=6,
                                                 mix=("swing", "hip-flexor", "abdominal"), noise=0))
        for r in sim.truth_reps:
            if r["momentum_kind"] in ("swing", "unsettled"):
                n_flagged += 1
                continue
            n_checked += 1
            if r["label"] == "abdominal-engaging":
                assert r["peak_posterior_tilt_deg"] >= 10, (seed, r)
            else:
                assert r["peak_posterior_tilt_deg"] < 5, (seed, r)
    assert n_flagged >= 12 and n_checked >= 6


def test_truth_momentum_flags(sessions) -> None:
    """Momentum kinds are flagged with their kind (a kick stays 'swing'); other reps only when
    started in a swinging body, as 'unsettled'."""
    n_swinging = 0
    for sim in sessions:
        body = body_of(sim.options)
        for r in sim.truth_reps:
            if r["kind"] in MOMENTUM_KINDS:
                assert r["momentum"] is True and r["momentum_kind"] == r["kind"], r
                continue
            # independent: swing amplitude in the 3 s before the rep, from the body's swing angle
            t = np.arange(max(r["start_s"] - 3.0, 0.0), r["start_s"], 0.01)
            sw = body.angles_deg(t)["swing"] if len(t) else np.zeros(1)
            amp = (sw.max() - sw.min()) / 2
            assert r["swing_amplitude_deg"] == pytest.approx(amp, abs=0.05)
            swinging = bool(amp >= SWING_TRUTH_DEG)
            n_swinging += swinging
            assert r["momentum"] is swinging and r["momentum_kind"] == ("unsettled" if swinging else None), (amp, r)
            if sim.options.pose == "lying":
                assert not swinging
    assert n_swinging >= 1  # hanging sessions with a swing rep make the following reps swing


def test_truth_reps_in_order_without_overlap(sessions) -> None:
    for sim in sessions:
        reps = sim.truth_reps
        assert [r["index"] for r in reps] == list(range(len(reps)))
        for r in reps:
            assert r["start_s"] < r["peak_s"] < r["end_s"], r
        for a, b in zip(reps, reps[1:]):
            assert a["end_s"] <= b["start_s"], (a, b)


def test_lying_thigh_elevation_is_hip_flexion_plus_pelvic_tilt() -> None:
    for seed in range(3):
        opts = SimulationOptions(seed=seed, n_reps=5, noise=0)
        body = body_of(opts)
        t = np.arange(0.0, body.hip_knots.t[-1], 0.005)
        R, _ = body.sensor_pose("thigh", t, np.eye(3), np.zeros(3), wobble=False)  # identity mounting
        knee_dir = -R[:, :, 1]  # segment -Y (inferior) in the world: hip -> knee
        # lying: the feet point to world -x, up is +z; elevation measured from the floor towards the head
        elevation = np.degrees(np.arctan2(knee_dir[:, 2], -knee_dir[:, 0]))
        ang = body.angles_deg(t)
        err = np.abs(elevation - (ang["hip"] + ang["tilt"]))
        assert elevation.max() > 95  # abdominal reps go past vertical
        # the residual is the small out-of-plane motion (abduction/rotation of a few degrees)
        assert err.max() < 0.2, f"elevation differs from hip + tilt by {err.max():.3f} deg"
        # and the truth file agrees with the body's angles
        sim = simulate_session(opts)
        np.testing.assert_allclose(sim.truth["hip_flexion_deg"], np.interp(sim.truth["time_s"], t, ang["hip"]), atol=0.05)


def test_fidgets_stay_small_and_outside_reps() -> None:
    n = 0
    for seed in range(4):
        sim = simulate_session(SimulationOptions(seed=seed, n_reps=4, fidgets=3, noise=0))
        fid = sim.truth_meta["fidgets"]
        assert len(fid) == 3
        for a, b in fid:
            m = (sim.truth["time_s"] >= a) & (sim.truth["time_s"] <= b)
            peak = sim.truth.loc[m, "hip_flexion_deg"].max()
            assert 5.0 < peak < 20.0
            for r in sim.truth_reps:
                assert b <= r["start_s"] or a >= r["end_s"]
            n += 1
    assert n == 12


# --------------------------------------------------------------------------- corruptions


def _sample_index(time_s: np.ndarray, rate: float) -> tuple[np.ndarray, float]:
    """Index of each recorded sample on the nominal grid t0 + k / rate, and t0."""
    x = time_s * rate
    frac = float(np.median(x % 1.0))
    k = np.round(x - frac).astype(int)
    assert np.abs(x - frac - k).max() < 1e-6  # every recorded sample sits on the nominal grid
    return k, frac / rate


def test_packet_loss_drops_whole_packets_and_invents_nothing() -> None:
    lossless = simulate_session(SimulationOptions(seed=8, n_reps=2, thigh_rate_hz=400, pelvis_rate_hz=400))
    lossy = simulate_session(SimulationOptions(seed=8, n_reps=2, thigh_rate_hz=400, pelvis_rate_hz=400, packet_loss=0.2))
    for s in ("thigh", "pelvis"):
        ss = lossy.recording.sensors[s]
        assert np.all(np.diff(ss.time_s) > 0)
        k, t0 = _sample_index(ss.time_s, 400.0)
        drift = lossy.truth_meta["mounting"][s]["clock_drift_ppm"] * 1e-6
        n_all = int(np.floor((lossy.truth_meta["duration_s"] - t0) * 400.0 * (1 + drift))) + 1  # as generated
        assert k.min() >= 0 and k.max() < n_all
        missing = np.setdiff1d(np.arange(k.max() + 1), k)
        runs = np.split(missing, np.flatnonzero(np.diff(missing) > 1) + 1)
        packet = np.gcd.reduce([len(r) for r in runs] + [int(r[0]) for r in runs])
        assert packet >= 8, f"{s}: lost runs are not whole packets of 20-40 ms (gcd {packet} samples)"
        assert 0.12 < (n_all - len(ss)) / n_all < 0.28
        assert lossy.truth_meta["mounting"][s]["lost_samples"] == n_all - len(ss)
    assert len(lossless.recording.sensors["thigh"]) == int(np.floor(
        (lossy.truth_meta["duration_s"] - _sample_index(lossy.recording.sensors["thigh"].time_s, 400.0)[1]) * 400.0
        * (1 + lossy.truth_meta["mounting"]["thigh"]["clock_drift_ppm"] * 1e-6))) + 1
    # the thigh's samples are drawn before any loss: the lossy thigh is a subset of the lossless one
    a, b = lossy.recording.sensors["thigh"], lossless.recording.sensors["thigh"]
    k, _ = _sample_index(a.time_s, 400.0)
    assert len(k) < len(b)
    np.testing.assert_array_equal(a.time_s, b.time_s[k])
    np.testing.assert_array_equal(a.acc, b.acc[k])
    np.testing.assert_array_equal(a.gyr, b.gyr[k])


def _gaps(t: np.ndarray, longer_than_s: float) -> list[tuple[float, float]]:
    """(last sample before, first sample after) of every interval longer than the threshold."""
    i = np.flatnonzero(np.diff(t) > longer_than_s)
    return [(float(t[k]), float(t[k + 1])) for k in i]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_disconnect_leaves_one_gap_in_one_sensor(seed: int) -> None:
    sim = simulate_session(SimulationOptions(seed=seed, n_reps=3, disconnect=True))
    ev = sim.recording.meta["events"]
    assert [e["kind"] for e in ev] == ["disconnected", "reconnected"]
    assert ev[0]["sensor"] == ev[1]["sensor"]
    lost = ev[0]["sensor"]
    other = "pelvis" if lost == "thigh" else "thigh"
    gaps = _gaps(sim.recording.sensors[lost].time_s, 0.1)
    assert len(gaps) == 1
    a, b = gaps[0]
    assert 2.0 <= b - a <= 5.0 + 0.02
    assert a == pytest.approx(ev[0]["time_s"], abs=0.02) and b == pytest.approx(ev[1]["time_s"], abs=0.02)
    assert _gaps(sim.recording.sensors[other].time_s, 0.1) == []
    assert sim.truth_meta["disconnect"][1] - sim.truth_meta["disconnect"][0] == pytest.approx(b - a, abs=0.02)
    a0, a1 = sim.truth_meta["disconnect"]
    truth = sim.truth
    for r in sim.truth_reps:
        # a rep whose raised part (hip > 20 deg) lies entirely in a thigh dropout cannot be observed;
        # one whose top (hip > 80 % of its peak) lies mostly in a dropout cannot be labelled
        m = (truth.time_s >= r["start_s"]) & (truth.time_s <= r["end_s"])
        t, h = truth.time_s[m].to_numpy(), truth.hip_flexion_deg[m].to_numpy()
        raised, top = t[h > 20], t[h > 0.8 * h.max()]
        hidden = lost == "thigh" and raised.size > 0 and bool(np.all((raised >= a0) & (raised < a1)))
        # labels need both sensors over at least half of the top of the rep
        unlabelled = bool(np.mean((top < a0) | (top >= a1)) <= 0.5)
        assert r["observable"] is not hidden
        assert r["label_observable"] is not unlabelled
    plain = simulate_session(SimulationOptions(seed=seed, n_reps=3))
    assert plain.recording.meta["events"] == [] and plain.truth_meta["disconnect"] is None
    assert all(r["observable"] and r["label_observable"] for r in plain.truth_reps)


def test_rates_per_sensor_as_requested() -> None:
    sim = simulate_session(SimulationOptions(seed=1, n_reps=2, thigh_rate_hz=52, pelvis_rate_hz=400))
    rec = sim.recording
    assert median_rate_hz(rec.sensors["thigh"].time_s) == pytest.approx(52.0, rel=1e-6)
    assert median_rate_hz(rec.sensors["pelvis"].time_s) == pytest.approx(400.0, rel=1e-6)
    assert rec.meta["sensors"]["thigh"]["sample_rate_hz"] == 52
    assert rec.meta["sensors"]["pelvis"]["sample_rate_hz"] == 400
    for s, rate in (("thigh", 52), ("pelvis", 400)):
        n = len(rec.sensors[s])
        assert n == pytest.approx(sim.truth_meta["duration_s"] * rate, abs=2)


def test_declared_mounting_only_when_asked() -> None:
    yes = simulate_session(SimulationOptions(seed=6, n_reps=1))
    no = simulate_session(SimulationOptions(seed=6, n_reps=1, declare_mounting=False))
    for s in ("thigh", "pelvis"):
        assert "mounting" not in no.recording.meta["sensors"][s]
        assert no.recording.mounting(s) is None
        declared = yes.recording.meta["sensors"][s]["mounting"]
        tm = yes.truth_meta["mounting"][s]
        assert declared == tm["declared"] and declared in PLACEMENTS[tm["placement"]]["mountings"]
        # the declared axes are the true ones up to the strap misalignment
        R_nom = mounting_matrix(declared)
        R_true = np.array(tm["R_seg_sensor"])
        ang = math.degrees(math.acos(np.clip((np.trace(R_nom.T @ R_true) - 1) / 2, -1, 1)))
        assert ang == pytest.approx(tm["misalignment_deg"], abs=1e-6)
        assert 0.4 * 12.0 - 1e-9 <= ang <= 12.0 + 1e-9


def test_placement_mountings_point_z_out_of_the_skin() -> None:
    wrong = []
    for name, pl in PLACEMENTS.items():
        off = np.array(pl["offset"], dtype=float)
        outward = off * np.array([1.0, 0.0, 1.0])  # drop the along-the-segment part
        outward /= np.linalg.norm(outward)
        for m in pl["mountings"]:
            z = mounting_matrix(m)[:, 2]
            if z @ outward < 0.7:
                wrong.append((name, m))
    assert not wrong, (
        f"BUG simulate.py PLACEMENTS: these mountings put the sensor's z axis into the body, not out of the skin "
        f"as the comment says: {wrong}. The 'pelvis-anterior' and 'pelvis-posterior' mounting lists are swapped "
        "(e.g. x=superior, y=left gives z=posterior on the anterior pelvis)")


def test_quantisation_to_int16_lsb() -> None:
    sim = simulate_session(SimulationOptions(seed=2, n_reps=1))
    for ss in sim.recording.sensors.values():
        a = ss.acc / ACC_RANGE * 32767
        g = ss.gyr / GYR_RANGE * 32767
        np.testing.assert_allclose(a, np.round(a), atol=1e-6)
        np.testing.assert_allclose(g, np.round(g), atol=1e-6)
    raw = simulate_session(SimulationOptions(seed=2, n_reps=1, quantize=False)).recording.sensors["thigh"].acc
    assert np.abs(raw / ACC_RANGE * 32767 - np.round(raw / ACC_RANGE * 32767)).max() > 0.1


def test_same_seed_same_output_different_seed_differs() -> None:
    kw = dict(n_reps=2, packet_loss=0.05, disconnect=True)
    a = simulate_session(SimulationOptions(seed=21, **kw))
    b = simulate_session(SimulationOptions(seed=21, **kw))
    c = simulate_session(SimulationOptions(seed=22, **kw))
    for s in ("thigh", "pelvis"):
        for f in ("time_s", "acc", "gyr"):
            np.testing.assert_array_equal(getattr(a.recording.sensors[s], f), getattr(b.recording.sensors[s], f))
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert a.truth_reps == b.truth_reps and a.recording.meta == b.recording.meta
    assert a.truth_reps != c.truth_reps
    assert len(a.recording.sensors["thigh"]) != len(c.recording.sensors["thigh"]) or \
        not np.array_equal(a.recording.sensors["thigh"].acc, c.recording.sensors["thigh"].acc)


@pytest.mark.parametrize("kw, what", [
    ({"pose": "sitting"}, "pose must be one of"),
    ({"mix": ("crunch",)}, r"unknown rep kind\(s\) \['crunch'\]"),
    ({"mix": ("swing",)}, "only in hanging raises"),
    ({"mix": ()}, "empty"),
    ({"thigh_rate_hz": 5}, "thigh_rate_hz must be 10..2000 Hz"),
    ({"packet_loss": 0.5}, r"packet_loss must be in \[0, 0.5\)"),
    ({"noise": -1}, "noise must be >= 0"),
    ({"misalignment_deg": 60}, "misalignment_deg must be 0..45"),
    ({"rest_s": (2.0, 1.0)}, "rest_s must be"),
    ({"n_reps": -1}, "n_reps must be 0..500"),
])
def test_bad_options(kw: dict, what: str) -> None:
    with pytest.raises(ValueError, match=what):
        SimulationOptions(**kw)


# --------------------------------------------------------------------------- files


def test_write_simulation_files_read_back(tmp_path: Path) -> None:
    sim = simulate_session(SimulationOptions(seed=9, n_reps=2, packet_loss=0.02, disconnect=True))
    out = tmp_path / "sess.csv"
    paths = write_simulation(sim, out)
    assert paths == {"csv": out, "truth_csv": tmp_path / "sess.truth.csv", "truth_json": tmp_path / "sess.truth.json"}
    for name in ("sess.csv", "sess.json", "sess.truth.csv", "sess.truth.json"):
        assert (tmp_path / name).is_file(), name
    rec = read_recording(out)  # no error, no warning
    assert rec.warnings == []
    for s in ("thigh", "pelvis"):
        np.testing.assert_allclose(rec.sensors[s].time_s, sim.recording.sensors[s].time_s, atol=5e-7)
        np.testing.assert_allclose(rec.sensors[s].acc, sim.recording.sensors[s].acc, atol=5e-6)
        np.testing.assert_allclose(rec.sensors[s].gyr, sim.recording.sensors[s].gyr, atol=5e-7)
    assert rec.events() == json.loads(json.dumps(sim.recording.meta["events"]))
    assert rec.meta["simulated"]["options"]["seed"] == 9
    truth_csv = pd.read_csv(tmp_path / "sess.truth.csv")
    assert list(truth_csv.columns) == ["time_s", "hip_flexion_deg", "pelvic_tilt_deg"]
    assert len(truth_csv) == len(sim.truth)
    truth, tj = load_truth(out)
    np.testing.assert_allclose(truth["hip_flexion_deg"], sim.truth["hip_flexion_deg"], atol=5e-5)
    assert [r["kind"] for r in tj["reps"]] == [r["kind"] for r in sim.truth_reps]
    assert tj["options"]["seed"] == 9 and tj["pose"] == "lying"
    with pytest.raises(FileExistsError, match="already exists"):
        write_simulation(sim, out)
    write_simulation(sim, out, overwrite=True)
    with pytest.raises(ValueError, match="must end in .csv"):
        write_simulation(sim, tmp_path / "sess.txt")
