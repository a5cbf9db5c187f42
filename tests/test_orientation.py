"""imu_pipeline.orientation: VQF per sensor on the front half's grid rows, offline and streaming,
on synthetic sensors whose inclination is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from imu_pipeline.config import FrontConfig, OrientationConfig
from imu_pipeline.frames import GRAVITY_M_S2, axis_angle_matrix, rot_x
from imu_pipeline.front import FrontHalf, GridBatch
from imu_pipeline.io.recording import SENSORS, Recording, SensorSamples
from imu_pipeline.orientation import GridSignals, OfflineOrientation, StreamingOrientation, orient_uniform

G_UP = np.array([0.0, 0.0, GRAVITY_M_S2])  # specific force of a sensor at rest, world frame
FS = 100.0


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def _rows(t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> GridBatch:
    """Both sensors carry the same samples; the front half's rows of the whole recording."""
    rec = Recording({s: SensorSamples(t, acc, gyr) for s in SENSORS})
    fh = FrontHalf(FrontConfig())
    return GridBatch.concat([fh.push_recording(rec), fh.finish()])


def _rotation(n: int, rate: float, w: float = np.radians(60.0)):
    t = np.arange(n) / rate
    R0 = axis_angle_matrix(np.array([0.3, 1.0, 0.5]), np.radians(40))
    R = np.array([rot_x(w * ti) @ R0 for ti in t])  # world-from-sensor
    acc = np.einsum("nji,j->ni", R, G_UP)  # R^T g: no linear acceleration
    gyr = np.tile(R0.T @ np.array([w, 0.0, 0.0]), (n, 1))  # constant in the sensor frame
    return t, acc, gyr, R0, w


def _up_true(time_s: np.ndarray, R0: np.ndarray, w: float) -> np.ndarray:
    R = np.array([rot_x(w * ti) @ R0 for ti in time_s])
    return np.einsum("nji,j->ni", R, np.array([0.0, 0.0, 1.0]))


def _estimate(kind: str, rows: GridBatch) -> GridSignals:
    if kind == "offline":
        return OfflineOrientation(OrientationConfig(), FS).estimate(rows).result_
    return StreamingOrientation(OrientationConfig(), FS).update(rows)


@pytest.mark.parametrize("kind", ["offline", "streaming"])
@pytest.mark.parametrize("tilt_deg, axis", [(35.0, (1.0, 1.0, 0.0)), (80.0, (0.0, 1.0, 0.3)), (150.0, (1.0, 0.0, 0.0))])
def test_static_tilted_sensor_up_is_the_true_up(kind: str, tilt_deg: float, axis) -> None:
    R0 = axis_angle_matrix(np.array(axis), np.radians(tilt_deg))  # world-from-sensor
    n = 500
    t = 10.0 + np.arange(n) / FS
    acc = np.tile(R0.T @ G_UP, (n, 1))
    sig = _estimate(kind, _rows(t, acc, np.zeros((n, 3))))
    for s in SENSORS:
        ok = sig.valid(s)
        assert ok.sum() >= n - 2
        assert _angle_deg(sig.up[s][ok], np.tile(R0.T @ [0, 0, 1.0], (ok.sum(), 1))).max() < 0.1


@pytest.mark.parametrize("kind", ["offline", "streaming"])
@pytest.mark.parametrize("rate", [100.0, 52.0, 208.0])
def test_constant_rotation_about_a_horizontal_axis_follows_the_truth(kind: str, rate: float) -> None:
    t, acc, gyr, R0, w = _rotation(int(10 * rate), rate)
    sig = _estimate(kind, _rows(t, acc, gyr))
    ok = sig.valid("thigh")
    # the grid value at t_k is the interval mean over (t_k - 1/fs, t_k]: VQF's orientation at t_k
    err = _angle_deg(sig.up["thigh"][ok], _up_true(sig.time_s[ok], R0, w))
    assert err.max() < 0.5, f"inclination off by up to {err.max():.3f} deg"
    assert np.abs(sig.gyr["thigh"][ok] - gyr[0]).max() < np.radians(0.5)  # bias estimate keeps the rate


@pytest.mark.parametrize("kind", ["offline", "streaming"])
def test_lost_packets_and_jitter_do_not_bend_the_inclination(kind: str) -> None:
    """200 Hz rotation, 5 % of 5-sample packets lost, ±1.5 ms host jitter: still within 1°."""
    rate = 200.0
    t, acc, gyr, R0, w = _rotation(4000, rate)
    rng = np.random.default_rng(3)
    keep = np.ones(len(t), bool)
    for a in np.flatnonzero(rng.random(len(t) // 5) < 0.05) * 5:
        keep[a:a + 5] = False
    tj = np.maximum.accumulate(t + rng.uniform(-0.0015, 0.0015, len(t)))
    sig = _estimate(kind, _rows(tj[keep], acc[keep], gyr[keep]))
    ok = sig.valid("thigh")
    assert ok.mean() > 0.99  # lost packets are bridged, not outages
    err = _angle_deg(sig.up["thigh"][ok], _up_true(sig.time_s[ok], R0, w))
    assert np.percentile(err, 99) < 1.0, f"99th percentile {np.percentile(err, 99):.2f} deg"


def test_outage_is_nan_and_the_filter_restarts_after_it() -> None:
    t = np.arange(300) / FS
    keep = ~((t > 1.0) & (t < 1.3))
    R0 = axis_angle_matrix(np.array([1.0, 0.0, 0.0]), np.radians(20))
    acc = np.tile(R0.T @ G_UP, (keep.sum(), 1))
    rows = _rows(t[keep], acc, np.zeros((keep.sum(), 3)))
    so = StreamingOrientation(OrientationConfig(), FS)
    sig = so.update(rows)
    gap = (sig.time_s > 1.0) & (sig.time_s <= 1.3 + 1e-9)
    assert np.isnan(sig.up["thigh"][gap]).all()
    assert sig.valid("thigh")[(sig.time_s > 1.31) & (sig.time_s < 2.98)].all()
    assert so.restarts_["thigh"] == 2
    off = OfflineOrientation(OrientationConfig(), FS).estimate(rows).result_
    np.testing.assert_array_equal(off.valid("thigh"), sig.valid("thigh"))


def test_streaming_gives_the_same_result_whatever_the_batches() -> None:
    t, acc, gyr, _, _ = _rotation(1500, 100.0)
    rows = _rows(t, acc, gyr)
    whole = StreamingOrientation(OrientationConfig(), FS).update(rows)
    so = StreamingOrientation(OrientationConfig(), FS)
    cuts = [0, 1, 7, 300, 301, 999, len(rows)]
    parts = [so.update(rows.slice(a, b)) for a, b in zip(cuts[:-1], cuts[1:])]
    got = GridSignals.concat(parts)
    np.testing.assert_array_equal(got.up["thigh"], whole.up["thigh"])
    np.testing.assert_array_equal(got.gyr["pelvis"], whole.gyr["pelvis"])


def test_orient_uniform_offline_and_causal_agree_once_converged() -> None:
    t, acc, gyr, R0, w = _rotation(2000, 100.0)
    up_off, _, _ = orient_uniform(acc, gyr, 100.0, offline=True)
    up_on, _, _ = orient_uniform(acc, gyr, 100.0, offline=False)
    assert _angle_deg(up_off[300:], up_on[300:]).max() < 0.5


def test_offline_pelvis_filter_in_a_second_process_gives_identical_results() -> None:
    t, acc, gyr, _, _ = _rotation(1500, 100.0)
    rows = _rows(t, acc, gyr)
    here = OfflineOrientation(OrientationConfig(parallel_min_s=1e9), FS).estimate(rows)
    there = OfflineOrientation(OrientationConfig(parallel_min_s=0.0), FS).estimate(rows)
    assert not here.forked_
    # fork=False (batch on as many worker processes as cores): one process whatever the length
    assert not OfflineOrientation(OrientationConfig(parallel_min_s=0.0), FS, fork=False).estimate(rows).forked_
    import os
    if hasattr(os, "fork") and (os.cpu_count() or 1) > 1:
        import threading
        assert there.forked_ == (threading.active_count() == 1)
    for s in SENSORS:
        np.testing.assert_array_equal(there.result_.up[s], here.result_.up[s])
        np.testing.assert_array_equal(there.result_.gyr[s], here.result_.gyr[s])
        np.testing.assert_array_equal(there.result_.rest[s], here.result_.rest[s])


def _biased_session(t_move: float) -> float:
    """Max inclination error (deg) of the streaming filter once a sensor with a 2°/s gyro bias
    that rested 20 s rotates steadily (20°/s about a horizontal axis) from ``t_move`` on; with
    ``t_move`` > 20 s the sensor was silent in between (an outage: the filter restarts)."""
    rate = 100.0
    bias = np.radians([2.0, -1.5, 1.0])
    t_rest = np.arange(0, 20, 1 / rate)
    R0 = axis_angle_matrix(np.array([0.3, 1.0, 0.5]), np.radians(40))
    w = np.radians(20.0)
    t_mov = t_move + np.arange(0, 15, 1 / rate)

    def up_and_acc(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        R = np.array([rot_x(w * (ti - t_move)) @ R0 for ti in ts])
        return np.einsum("nji,j->ni", R, [0.0, 0.0, 1.0]), np.einsum("nji,j->ni", R, G_UP)

    t = np.concatenate([t_rest, t_mov])
    acc = np.vstack([np.tile(R0.T @ G_UP, (len(t_rest), 1)), up_and_acc(t_mov)[1]])
    gyr = np.vstack([np.zeros((len(t_rest), 3)), np.tile(R0.T @ np.array([w, 0.0, 0.0]), (len(t_mov), 1))]) + bias
    sig = StreamingOrientation(OrientationConfig(), FS).update(_rows(t, acc, gyr))
    after = (sig.time_s > t_move + 0.5) & sig.valid("thigh")
    return float(_angle_deg(sig.up["thigh"][after], up_and_acc(sig.time_s[after])[0]).max())


def test_streaming_filter_keeps_the_gyro_bias_across_an_outage() -> None:
    """After a 1 s outage the restarted filter is as good as one that never stopped, because the
    gyro bias estimate survives the outage (a MEMS gyro's bias does not change with a BLE drop;
    a filter that forgot it was off by 6° here)."""
    continuous = _biased_session(20.0)
    restarted = _biased_session(21.0)
    assert restarted <= continuous + 0.5, (restarted, continuous)

# --------------------------------------------------------------------------- gyro bias

#: A typical MEMS gyro offset (rad/s): 0.8, -0.5 and 0.3 deg/s on x, y, z.
GYRO_BIAS = np.radians([0.8, -0.5, 0.3])


def _still_with_bias(n: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sensor lying still, tilted 35°, whose gyro reads only its offset."""
    R0 = axis_angle_matrix(np.array([1.0, 1.0, 0.0]), np.radians(35))
    return np.arange(n) / FS, np.tile(R0.T @ G_UP, (n, 1)), np.tile(GYRO_BIAS, (n, 1))


def test_offline_rates_of_a_still_sensor_are_zero_once_the_bias_is_removed() -> None:
    """At rest the true angular rate is zero: what is left of a 0.8 deg/s offset after VQF's rest bias
    estimate (whole recording, offlineVQF) is below 0.05 deg/s on every axis, in every row."""
    t, acc, gyr = _still_with_bias()
    sig = _estimate("offline", _rows(t, acc, gyr))
    ok = sig.valid("thigh")
    assert ok.sum() > 900
    assert np.degrees(np.abs(sig.gyr["thigh"][ok])).max() < 0.05


def test_causal_rates_of_a_still_sensor_lose_the_bias_within_three_seconds() -> None:
    t, acc, gyr = _still_with_bias()
    for kind in ("streaming", "causal block"):
        if kind == "streaming":
            g = _estimate("streaming", _rows(t, acc, gyr)).gyr["pelvis"]
        else:
            _, g, _ = orient_uniform(acc, gyr, FS, offline=False)
        assert np.nanmax(np.degrees(np.abs(g[300:]))) < 0.05, kind  # (the last row: no whole interval)


def test_joint_angle_rates_at_rest_are_zero_despite_gyro_offsets() -> None:
    """Ideal simulated sensors (noise 0) plus a known offset on both gyros: during the still start
    and end of the session (truth: hip flexion 0, no motion) the sagittal rates the rep rules use
    are zero within 0.1 deg/s, not the offset's projection."""
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.simulate import SimulationOptions, simulate_session

    sim = simulate_session(SimulationOptions(seed=0, n_reps=1, noise=0.0, misalignment_deg=0.0))
    rec = sim.recording
    biased = Recording({s: SensorSamples(ss.time_s, ss.acc, ss.gyr + GYRO_BIAS) for s, ss in rec.sensors.items()},
                       rec.meta)
    ang = analyze_recording(biased).angles
    rep = sim.truth_reps[0]
    rest = ((ang.time_s > rec.t_start + 0.5) & (ang.time_s < rep["start_s"] - 0.3)) | \
        ((ang.time_s > rep["end_s"] + 0.5) & (ang.time_s < rec.t_end - 0.5))
    assert rest.sum() > 200
    assert np.degrees(np.abs(np.nanmean(ang.thigh_rate[rest]))) < 0.1
    assert np.degrees(np.abs(np.nanmean(ang.pelvis_rate[rest]))) < 0.1
