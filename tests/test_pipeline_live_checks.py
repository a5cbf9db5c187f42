"""Live re-checks of the mounting (imu_pipeline/pipeline/live.py LiveCalibration): a check that
passed stays passed; only checks that could not judge yet are run again."""

from __future__ import annotations

import numpy as np

from imu_pipeline.io.recording import Recording, SensorSamples
from imu_pipeline.pipeline.offline import analyze_recording
from imu_pipeline.pipeline.replay import replay
from imu_pipeline.simulate import SimulationOptions, simulate_session


def _thigh_silent(t0: float, t1: float) -> Recording:
    """A simulated session (6 reps) whose thigh sensor delivered nothing between t0 and t1 (s)."""
    rec = simulate_session(SimulationOptions(seed=5, n_reps=6)).recording
    th = rec.sensors["thigh"]
    keep = ~((th.time_s > t0) & (th.time_s < t1))
    return Recording({"thigh": SensorSamples(th.time_s[keep], th.acc[keep], th.gyr[keep]),
                      "pelvis": rec.sensors["pelvis"]}, meta=rec.meta)


def test_a_thigh_outage_after_a_passed_check_does_not_refuse_the_stream() -> None:
    """The thigh drops out for 10 s during the session (its filter restarts from one accelerometer
    sample, in motion). Its mounting check had already passed on the first rep: the transient after
    the restart must not turn into a 'wrong mounting' refusal that analyze would not make."""
    cut = _thigh_silent(8.0, 18.0)
    analyze_recording(cut)  # analyze accepts the file ...
    lp, _ = replay(cut)
    assert lp.calibration is not None, lp.calibration_error
    assert lp.calibration.checks["thigh_mounting"] == "passed"


def test_reps_after_a_thigh_outage_are_found_live_as_offline() -> None:
    """The outage ends mid-movement: a filter restarted from that one accelerometer sample was ~40°
    off (the segmenter took the transient for the rest level and missed the next reps); the warm
    start from the block's first window finds them as the offline path does."""
    cut = _thigh_silent(8.0, 18.0)
    off = analyze_recording(cut)
    lp, _ = replay(cut)
    assert len(lp.reps) == len(off.reps)
    assert np.isfinite([r.peak_s for r in lp.reps]).all()


def test_a_thigh_silent_through_the_recheck_rows_is_not_judged_and_warns_nothing() -> None:
    """The thigh drops out right after the start pose (a demo link drop): the live re-check ran on
    rows without any thigh, where numpy warned 'All-NaN slice encountered' on stderr and the thigh
    check came out 'passed' on no data. Now those rows cannot judge it, and nothing is warned."""
    import warnings

    from imu_pipeline.config import PipelineConfig
    from imu_pipeline.mounting_checks import INCONCLUSIVE, check_declared, masked
    from imu_pipeline.pipeline.offline import orientation_offline

    cut = _thigh_silent(4.0, 16.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        lp, _ = replay(cut)
    assert lp.calibration is not None and lp.calibration.checks["thigh_mounting"] == "passed"  # once it is back

    cfg = PipelineConfig()
    an = analyze_recording(cut, cfg)
    sig, _ = orientation_offline(cut, cfg)
    no_thigh = masked(sig, ~sig.valid("thigh"))  # only the rows the thigh was silent in
    segments = an.angles.calibration.segments
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for s in ("thigh", "pelvis"):
            assert check_declared(cfg.calibration, no_thigh, segments, s, "lying", "test") == INCONCLUSIVE
