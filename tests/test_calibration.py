"""Calibration, start pose and the two angles (imu_pipeline.calibration, imu_pipeline.joint_angles).

The :class:`Calibrator` on short
simulated sessions checked against the simulator's truth (true ``R_seg_sensor`` in
``truth_meta``, true hip flexion and pelvic tilt), then the errors a user can cause — each a
:class:`CalibrationError` / :class:`RecordingError` with a clear message, and exit status 2
with one ``error:`` line (never a traceback) from ``imu-pipeline analyze``.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import numpy as np
import pytest

from imu_pipeline.pipeline.offline import analyze_recording, declared_mounting, orientation_offline
from imu_pipeline.pipeline.replay import replay
from imu_pipeline.cli import main
from imu_pipeline.config import PipelineConfig
from imu_pipeline.calibration import Calibrator, infer_pose
from imu_pipeline.errors import CalibrationError
from imu_pipeline.joint_angles import JointAngles
from imu_pipeline.orientation import GridSignals
from imu_pipeline.io.recording import Recording, RecordingError, SensorSamples, read_recording
from imu_pipeline.io.writer import write_recording
from imu_pipeline.simulate import SimResult, SimulationOptions, simulate_session, write_simulation

DEG = np.pi / 180.0
OPPOSITE = {"superior": "inferior", "inferior": "superior", "anterior": "posterior",
            "posterior": "anterior", "left": "right", "right": "left"}


# --------------------------------------------------------------------------- helpers


def estimate_angles(rec: Recording, cfg: PipelineConfig | None = None, *, pose: str | None = None,
                    offline: bool = True) -> JointAngles:
    """Hip flexion and pelvic tilt of a whole recording: the offline path, or the live path
    replayed sample for sample."""
    if offline:
        return analyze_recording(rec, cfg, pose=pose).angles
    lp, _ = replay(rec, cfg=cfg, pose=pose, keep_angles=True)
    ang = lp.angles()
    assert ang is not None, lp.calibration_error
    return ang


def grid_signals(rec: Recording, cfg: PipelineConfig) -> GridSignals:
    return orientation_offline(rec, cfg)[0]


@functools.lru_cache(maxsize=None)
def _sim(pose: str = "lying", seed: int = 0, n_reps: int = 3, declare_mounting: bool = True,
         no_rest: bool = False) -> SimResult:
    """A short simulated session (cached: simulations are deterministic; tests copy before editing)."""
    kw = dict(start_still=False, end_still=False, rest_s=(0.0, 0.0), touch_and_go=1.0) if no_rest else {}
    return simulate_session(SimulationOptions(seed=seed, pose=pose, n_reps=n_reps, misalignment_deg=15.0,
                                              declare_mounting=declare_mounting, **kw))


def _rec_with_meta(rec: Recording, edit) -> Recording:
    """A copy of ``rec`` whose sidecar dict has been changed by ``edit(meta)``."""
    meta = copy.deepcopy(rec.meta)
    edit(meta)
    return Recording(sensors=rec.sensors, meta=meta, path=rec.path)


def _errors_vs_truth(sim: SimResult, ang) -> dict[str, float]:
    """RMSE (deg) of hip flexion and pelvic tilt vs truth, correlation with truth, and the
    estimated hip flexion at each true rep peak."""
    tr = sim.truth
    t = tr["time_s"].to_numpy()
    hip = np.interp(t, ang.time_s, np.degrees(ang.hip_flexion))
    tilt = np.interp(t, ang.time_s, np.degrees(ang.pelvic_tilt))
    ht, pt = tr["hip_flexion_deg"].to_numpy(), tr["pelvic_tilt_deg"].to_numpy()
    ok = np.isfinite(hip) & np.isfinite(tilt)
    assert ok.mean() > 0.95, "the angles are NaN for more than 5 % of a gap-free session"
    peaks = [float(np.interp(r["peak_s"], t, hip)) for r in sim.truth_reps]
    true_peaks = [r["peak_hip_flexion_deg"] for r in sim.truth_reps]
    return {
        "hip_rmse": float(np.sqrt(np.mean((hip - ht)[ok] ** 2))),
        "tilt_rmse": float(np.sqrt(np.mean((tilt - pt)[ok] ** 2))),
        "hip_corr": float(np.corrcoef(hip[ok], ht[ok])[0, 1]),
        "tilt_corr": float(np.corrcoef(tilt[ok], pt[ok])[0, 1]),
        "peaks": peaks, "true_peaks": true_peaks,
    }


def _z_error_deg(sim: SimResult, cal, sensor: str) -> float:
    """Angle between the calibrated and the true segment Z axis (both in the sensor frame)."""
    R_true = np.array(sim.truth_meta["mounting"][sensor]["R_seg_sensor"])
    z_true = R_true[2]  # row 2 of R_seg_sensor = segment Z in sensor coordinates
    z_est = cal.segments[sensor].R_seg_sensor[2]
    return float(np.degrees(np.arccos(np.clip(z_true @ z_est, -1.0, 1.0))))


def _run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_one_error_line(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, f"exit status {rc}, expected 2; stderr: {err!r}"
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1, f"expected one 'error:' line on stderr, got {lines!r}"
    for n in needles:
        assert n in errors[0], f"{n!r} not in the error line {errors[0]!r}"


def test_infer_pose_from_exercise_text() -> None:
    assert infer_pose("lying-leg-raise") == "lying"
    assert infer_pose("Supine leg raise on the floor") == "lying"
    assert infer_pose("hanging-leg-raise") == "hanging"
    assert infer_pose("captain's chair") == "hanging"
    assert infer_pose("leg raise") is None
    assert infer_pose(None) is None and infer_pose("") is None


# --------------------------------------------------------------------------- calibration on simulated sessions


@pytest.mark.parametrize("pose", ["lying", "hanging"])
@pytest.mark.parametrize("seed", [0, 1])
def test_calibrator_finds_true_axes_pose_and_accurate_angles(pose: str, seed: int) -> None:
    sim = _sim(pose, seed, n_reps=3)
    rec = sim.recording
    cfg = PipelineConfig()
    sig = grid_signals(rec, cfg)
    cal = Calibrator(cfg.calibration).fit(sig, declared_mounting(rec), exercise=None, where=rec.name).calibration_
    assert cal.pose == pose
    assert cal.pose_source.startswith("gravity")
    assert cal.confidence == "normal" and cal.notes == []
    assert cal.neutral_s >= cfg.calibration.min_neutral_s
    for s in ("thigh", "pelvis"):
        seg = cal.segments[s]
        assert seg.declared and seg.axis_source in ("motion", "declared")
        R = seg.R_seg_sensor
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-9)
        # the simulator couples ~2.5 deg of hip (internal) rotation to 90 deg of flexion
        # (simulate.py _Body.angles_deg: hip_rotation = ... + 3.0 * hf), so the thigh's functional
        # flexion axis leans ~2-2.7 deg towards the long axis; lying, that lean is not removed by
        # making Z perpendicular to the neutral 'up' (= anterior). 3 deg there, 2 deg elsewhere.
        tol = 3.0 if (s == "thigh" and pose == "lying") else 2.0
        zerr = _z_error_deg(sim, cal, s)
        assert zerr < tol, f"{s}: calibrated Z is {zerr:.2f} deg from the true Z"
        # the declared mounting was 15 deg off at most: the calibration corrected it
        assert seg.correction_deg < 20.0
    e = _errors_vs_truth(sim, estimate_angles(rec, cfg))
    assert e["hip_rmse"] < 1.5 and e["tilt_rmse"] < 0.75, e


@pytest.mark.parametrize("offline", [True, False])
def test_estimate_angles_causal_and_offline_both_accurate(offline: bool) -> None:
    sim = _sim("hanging", 2, n_reps=3)
    e = _errors_vs_truth(sim, estimate_angles(sim.recording, offline=offline))
    assert e["hip_rmse"] < 1.5 and e["tilt_rmse"] < 0.75, e


@pytest.mark.parametrize("pose", ["lying", "hanging"])
def test_start_pose_from_gravity_overrides_a_contradicting_exercise_text(pose: str) -> None:
    sim = _sim(pose, 0)
    wrong = "hanging-leg-raise" if pose == "lying" else "lying-leg-raise"
    rec = _rec_with_meta(sim.recording, lambda m: m.update(exercise=wrong))
    ang = estimate_angles(rec)
    assert ang.calibration.pose == pose
    assert ang.calibration.pose_source == "gravity (pelvis sensor)"
    e = _errors_vs_truth(sim, ang)
    assert e["hip_rmse"] < 1.5


@pytest.mark.parametrize("pose", ["lying", "hanging"])
def test_pose_option_is_used_as_given(pose: str) -> None:
    ang = estimate_angles(_sim(pose, 0).recording, pose=pose)
    assert ang.calibration.pose == pose and ang.calibration.pose_source == "option"


@pytest.mark.parametrize("pose", ["lying", "hanging"])
def test_exercise_text_gives_the_pose_when_no_mounting_is_declared(pose: str) -> None:
    sim = _sim(pose, 0, declare_mounting=False)
    assert all("mounting" not in v for v in sim.recording.meta["sensors"].values())
    cal = estimate_angles(sim.recording).calibration
    assert cal.pose == pose and cal.pose_source == "sidecar exercise"
    # the text decides: 'captain' on a hanging session, 'floor' on a lying one
    text = "floor leg raise" if pose == "lying" else "captain's chair"
    cal2 = estimate_angles(_rec_with_meta(sim.recording, lambda m: m.update(exercise=text))).calibration
    assert cal2.pose == pose and cal2.pose_source == "sidecar exercise"


def test_pose_guessed_without_mounting_or_exercise_is_flagged() -> None:
    sim = _sim("lying", 0, declare_mounting=False)
    rec = _rec_with_meta(sim.recording, lambda m: m.pop("exercise"))
    cal = estimate_angles(rec).calibration
    assert cal.pose_source == "guessed"
    assert cal.confidence == "reduced"
    assert any("guessed" in n and "--pose" in n for n in cal.notes), cal.notes


# --------------------------------------------------------------------------- no declared mounting: signs


@pytest.mark.parametrize("pose", ["lying", "hanging"])
@pytest.mark.parametrize("seed", [0, 3])
def test_no_declared_mounting_keeps_signs_and_says_reduced(pose: str, seed: int) -> None:
    sim = _sim(pose, seed, n_reps=3, declare_mounting=False)
    ang = estimate_angles(sim.recording)
    cal = ang.calibration
    assert cal.confidence == "reduced"
    assert any("no mounting declared" in n for n in cal.notes), cal.notes
    assert all(not c.declared for c in cal.segments.values())
    e = _errors_vs_truth(sim, ang)
    # never a flipped sign: hip flexion positive at every rep peak, tilt posterior-positive
    assert e["hip_corr"] > 0.95, e
    for est, true in zip(e["peaks"], e["true_peaks"]):
        assert est > 0.8 * true, f"rep peak {true:.0f} deg estimated as {est:.1f} deg"
    assert e["tilt_corr"] > 0.9, e
    # the abdominal rep (2nd of the mix) curls the pelvis posteriorly: positive tilt at its top
    abd = [r for r in sim.truth_reps if r["kind"] == "abdominal"][0]
    i = int(np.argmin(np.abs(ang.time_s - abd["peak_s"])))
    t0 = int(np.argmin(np.abs(ang.time_s - abd["start_s"])))
    assert np.degrees(ang.pelvic_tilt[i] - ang.pelvic_tilt[t0]) > 0.5 * abd["peak_posterior_tilt_deg"] > 5
    assert e["hip_rmse"] < 2.0 and e["tilt_rmse"] < 1.5, e


# --------------------------------------------------------------------------- errors: wrong mounting


def _swap_xy(m: dict) -> dict:
    return {"x": m["y"], "y": m["x"]}


def _flip_x(m: dict) -> dict:
    return {"x": OPPOSITE[m["x"]], "y": m["y"]}


WRONG_MOUNTINGS = {"thigh-swap-xy": ("thigh", _swap_xy), "thigh-flip-x": ("thigh", _flip_x),
                   "pelvis-flip-x": ("pelvis", _flip_x)}

BUG_WRONG_MOUNTING = (
    "imu_pipeline/kinematics.py Calibrator.fit / _neutral_mask: a wrong mounting declaration is accepted "
    "and turned into wrong angles. Cause: (1) with the declared up axis wrong, _neutral_mask (near &= ... "
    "< neutral_max_deviation_deg, ~line 333, with the rate threshold relaxed x4 at ~line 336) takes the "
    "quasi-still rep TOPS as the start pose, so the dev check (~line 234) passes; (2) a mirrored "
    "declaration (one axis sign flipped: same 'up', opposite Z) passes because the motion axis takes its "
    "sign from the declaration (~line 237: z = axis if axis @ z_decl >= 0 else -axis), which flips the sign "
    "of hip flexion / pelvic tilt. Fix: after calibrating a declared segment, check the result like the "
    "undeclared branch does (step 4, ~line 262): the thigh's sagittal angle must be mostly positive "
    "(99th percentile > |1st percentile| and the neutral at the low end of its range) and the pelvis's "
    "mean tilt with the legs high (> 60 deg) must not be clearly negative; otherwise raise "
    "CalibrationError naming sensors.<sensor>.mounting."
)


@pytest.mark.parametrize("pose", ["lying", "hanging"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", sorted(WRONG_MOUNTINGS))
def test_wrong_mounting_declaration_is_rejected_not_turned_into_wrong_angles(pose: str, seed: int,
                                                                             case: str) -> None:
    sensor, change = WRONG_MOUNTINGS[case]
    sim = _sim(pose, seed)
    declared = sim.recording.meta["sensors"][sensor]["mounting"]
    rec = _rec_with_meta(sim.recording, lambda m: m["sensors"][sensor].update(mounting=change(declared)))
    try:
        ang = estimate_angles(rec)
    except CalibrationError as e:
        msg = str(e)
        assert "mounting" in msg and sensor in msg, msg
        assert "Traceback" not in msg and "\n" not in msg
        return
    e = _errors_vs_truth(sim, ang)
    pytest.fail(f"{pose} seed {seed}: {sensor} mounting {declared} declared as {change(declared)} was "
                f"accepted; hip RMSE {e['hip_rmse']:.1f} deg, tilt RMSE {e['tilt_rmse']:.1f} deg, "
                f"hip corr {e['hip_corr']:+.2f}, tilt corr {e['tilt_corr']:+.2f}. {BUG_WRONG_MOUNTING}")


def test_wrong_mounting_in_sidecar_via_cli_is_one_error_line(tmp_path: Path, capsys) -> None:
    """lying seed 1: the thigh's x/y swapped in the sidecar JSON -> no neutral moment matches."""
    sim = _sim("lying", 1)
    p = tmp_path / "x.csv"
    write_simulation(sim, p, overwrite=True)
    sp = p.with_suffix(".json")
    meta = json.loads(sp.read_text())
    meta["sensors"]["thigh"]["mounting"] = _swap_xy(meta["sensors"]["thigh"]["mounting"])
    sp.write_text(json.dumps(meta))
    with pytest.raises(CalibrationError, match=r"(?s)start pose.*check the declared mounting"):
        estimate_angles(read_recording(p))
    rc, out, err = _run_cli(["analyze", str(p)], capsys)
    _assert_one_error_line(rc, err, "x.csv", "mounting")


def test_mirrored_thigh_mounting_in_sidecar_via_cli_is_rejected(tmp_path: Path, capsys) -> None:
    """lying seed 0: the thigh declared x='inferior' where it is 'superior' (one sign flipped)."""
    sim = _sim("lying", 0)
    p = tmp_path / "x.csv"
    write_simulation(sim, p, overwrite=True)
    sp = p.with_suffix(".json")
    meta = json.loads(sp.read_text())
    assert meta["sensors"]["thigh"]["mounting"]["x"] == "superior"
    meta["sensors"]["thigh"]["mounting"]["x"] = "inferior"
    sp.write_text(json.dumps(meta))
    rc, out, err = _run_cli(["analyze", str(p)], capsys)
    assert rc == 2, (f"exit status {rc}: the mirrored thigh mounting was analysed without complaint. "
                     f"{BUG_WRONG_MOUNTING}")
    _assert_one_error_line(rc, err, "mounting")


def test_mirrored_pelvis_mounting_in_sidecar_via_cli_is_rejected(tmp_path: Path, capsys) -> None:
    """lying seed 2, abdominal reps: the pelvis declared with its x axis reversed (same 'up', opposite
    left-right axis). The curl with the legs high then reads as an anterior tilt: one error line."""
    sim = simulate_session(SimulationOptions(seed=2, n_reps=3, mix=("abdominal", "hip-flexor")))
    p = tmp_path / "x.csv"
    write_simulation(sim, p, overwrite=True)
    sp = p.with_suffix(".json")
    meta = json.loads(sp.read_text())
    m = meta["sensors"]["pelvis"]["mounting"]
    meta["sensors"]["pelvis"]["mounting"] = {"x": OPPOSITE[m["x"]], "y": m["y"]}
    sp.write_text(json.dumps(meta))
    rc, out, err = _run_cli(["analyze", str(p)], capsys)
    _assert_one_error_line(rc, err, "x.csv", "pelvis tilts", "anteriorly", "sensors.pelvis.mounting")


def test_impossible_mounting_in_sidecar_via_cli_is_one_error_line(tmp_path: Path, capsys) -> None:
    sim = _sim("lying", 0)
    p = tmp_path / "x.csv"
    write_simulation(sim, p, overwrite=True)
    sp = p.with_suffix(".json")
    meta = json.loads(sp.read_text())
    meta["sensors"]["pelvis"]["mounting"] = {"x": "superior", "y": "inferior"}
    sp.write_text(json.dumps(meta))
    rc, out, err = _run_cli(["analyze", str(p)], capsys)
    _assert_one_error_line(rc, err, "sensors.pelvis.mounting", "perpendicular")


# --------------------------------------------------------------------------- errors: no still moment


@pytest.mark.parametrize("pose", ["lying", "hanging"])
@pytest.mark.parametrize("seed", [0, 1])
def test_no_rest_at_all_with_declared_mounting_still_accurate(pose: str, seed: int) -> None:
    """No still start, no still end, no rest between reps (touch-and-go): the pipeline finds the
    quasi-still turning points at the bottom of each rep (rate threshold relaxed up to 4x) and
    the angles stay accurate, so it rightly does not raise."""
    sim = _sim(pose, seed, n_reps=4, no_rest=True)
    ang = estimate_angles(sim.recording)
    assert ang.calibration.pose == pose
    e = _errors_vs_truth(sim, ang)
    assert e["hip_rmse"] < 2.5 and e["tilt_rmse"] < 1.5, e
    assert e["hip_corr"] > 0.99


BUG_NO_REST_UNDECLARED = (
    "imu_pipeline/kinematics.py Calibrator._neutral_mask, undeclared branch (~line 357 'most common still "
    "orientation of the thigh = its resting pose', keep = idx[th < 10 deg] ~line 363): with touch-and-go "
    "reps the only (quasi-)still moments are the pauses at the rep TOPS, so their median is taken as the "
    "start pose; step 4 (~line 266) then flips the axis to make that offset angle positive, giving hip "
    "flexion with the WRONG SIGN and an ~80 deg offset, reported only as confidence 'reduced'. Fix: without "
    "a declared mounting, take the neutral from the end of the thigh's sagittal range that every rep "
    "returns to (the low end of the angle about the motion axis, where the thigh is flat/hanging), not the "
    "median of still samples; or raise CalibrationError when the still samples form clusters > 30 deg "
    "apart and no mounting is declared."
)


@pytest.mark.parametrize("pose", ["lying", "hanging"])
def test_no_rest_at_all_without_declared_mounting_never_flips_the_sign(pose: str) -> None:
    sim = _sim(pose, 0, n_reps=4, no_rest=True, declare_mounting=False)
    try:
        ang = estimate_angles(sim.recording)
    except CalibrationError as e:  # refusing is acceptable, with a message saying what to do
        assert "mounting" in str(e) or "start pose" in str(e), str(e)
        return
    e = _errors_vs_truth(sim, ang)
    assert e["hip_corr"] > 0.95 and e["hip_rmse"] < 5.0, (
        f"{pose}: hip corr with truth {e['hip_corr']:+.3f}, RMSE {e['hip_rmse']:.1f} deg, rep peaks "
        f"{[round(p) for p in e['peaks']]} vs truth {[round(p) for p in e['true_peaks']]}. {BUG_NO_REST_UNDECLARED}")


# --------------------------------------------------------------------------- errors: missing sensor, no overlap


@pytest.mark.parametrize("present, missing", [("thigh", "pelvis"), ("pelvis", "thigh")])
def test_one_sensor_missing_is_rejected_by_name(tmp_path: Path, capsys, present: str, missing: str) -> None:
    sim = _sim("lying", 0)
    p = tmp_path / "x.csv"
    write_recording(p, {present: sim.recording.sensors[present]}, sim.recording.meta)
    with pytest.raises(RecordingError, match=rf"no samples from the {missing} sensor"):
        read_recording(p)
    rc, out, err = _run_cli(["analyze", str(p)], capsys)
    _assert_one_error_line(rc, err, f"{missing} sensor", "x.csv")


def test_calibrator_rejects_a_sensor_without_data() -> None:
    sim = _sim("lying", 0)
    sig = grid_signals(sim.recording, PipelineConfig())
    nan = GridSignals(sig.time_s, {**sig.up, "pelvis": np.full_like(sig.up["pelvis"], np.nan)},
                      {**sig.gyr, "pelvis": np.full_like(sig.gyr["pelvis"], np.nan)}, sig.rest)
    with pytest.raises(CalibrationError, match=r"no usable data from the pelvis sensor"):
        Calibrator().fit(nan, declared_mounting(sim.recording), where="rec")


def test_sensors_not_overlapping_in_time(tmp_path: Path, capsys) -> None:
    sim = _sim("lying", 0)
    th, pv = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    shifted = SensorSamples(pv.time_s + th.time_s[-1] + 2.0, pv.acc, pv.gyr)
    rec = Recording(sensors={"thigh": th, "pelvis": shifted}, meta=sim.recording.meta)
    with pytest.raises(CalibrationError, match=r"overlap for less than 1 s.*same time"):
        estimate_angles(rec)
    p = tmp_path / "x.csv"
    write_recording(p, rec.sensors, rec.meta)
    rc, out, err = _run_cli(["analyze", str(p)], capsys)
    _assert_one_error_line(rc, err, "overlap")


def test_sensors_overlapping_only_briefly_is_rejected() -> None:
    sim = _sim("lying", 0)
    th, pv = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    # 0.5 s of overlap: not enough
    shift = th.time_s[-1] - pv.time_s[0] - 0.5
    rec = Recording(sensors={"thigh": th, "pelvis": SensorSamples(pv.time_s + shift, pv.acc, pv.gyr)},
                    meta=sim.recording.meta)
    with pytest.raises(CalibrationError, match="overlap"):
        estimate_angles(rec)


@pytest.mark.parametrize("declared", [True, False])
def test_swapped_sensors_are_reported_not_analysed(tmp_path: Path, declared: bool, capsys) -> None:
    """Thigh and pelvis rows exchanged (a mix-up in the recorder's config): a clear error."""
    sim = simulate_session(SimulationOptions(seed=2, n_reps=4, declare_mounting=declared))
    meta = copy.deepcopy(sim.recording.meta)
    sens = meta.get("sensors", {})
    sens["thigh"], sens["pelvis"] = sens.get("pelvis"), sens.get("thigh")
    s = sim.recording.sensors
    p = write_recording(tmp_path / "swapped.csv", {"thigh": s["pelvis"], "pelvis": s["thigh"]}, meta)
    assert main(["analyze", str(p)]) == 2
    err = capsys.readouterr().err
    assert "swapped" in err and "Traceback" not in err


def test_a_recording_too_short_is_said_to_be_too_short_not_badly_overlapping(tmp_path: Path, capsys) -> None:
    """`record --duration 0.5` ended with 'the sensors overlap for less than 1 s; they must record
    at the same time' although they did: the session was just too short."""
    sim = _sim("lying", 0)
    keep = {s: v.time_s < v.time_s[0] + 0.5 for s, v in sim.recording.sensors.items()}
    rec = Recording(sensors={s: SensorSamples(v.time_s[keep[s]], v.acc[keep[s]], v.gyr[keep[s]])
                             for s, v in sim.recording.sensors.items()}, meta=sim.recording.meta)
    with pytest.raises(CalibrationError, match=r"too short to analyse: less than 1 s of usable data from both "
                                                r"sensors; at least 1 s from both"):
        estimate_angles(rec)
    p = tmp_path / "short.csv"
    write_recording(p, rec.sensors, rec.meta)
    rc, out, err = _run_cli(["analyze", str(p)], capsys)
    _assert_one_error_line(rc, err, "too short")
