"""Unit tests of imu_pipeline.orientation with fully known inputs.

Blocks and gaps (split_blocks, uniform_block, common_grid, to_grid) and the VQF wrapper
(OfflineOrientation) on synthetic sensors whose inclination is known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from imu_pipeline.config import FusionConfig
from imu_pipeline.frames import GRAVITY_M_S2, axis_angle_matrix, rot_x
from imu_pipeline.orientation import (
    OfflineOrientation,
    SensorOrientation,
    common_grid,
    split_blocks,
    to_grid,
    uniform_block,
)
from imu_pipeline.io.recording import SensorSamples

G_UP = np.array([0.0, 0.0, GRAVITY_M_S2])  # specific force of a sensor at rest, world frame


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


# --------------------------------------------------------------------------- split_blocks


def test_split_blocks_cuts_only_at_gaps_longer_than_max_gap() -> None:
    # binary-exact times: the 0.25 s step equals max_gap (kept), 0.5 s and 0.375 s exceed it (cut)
    t = np.array([0.0, 0.125, 0.25, 0.5, 1.0, 1.125, 1.5, 1.625])
    assert split_blocks(t, 0.25) == [(0, 4), (4, 6), (6, 8)]
    # with a larger allowance nothing is cut
    assert split_blocks(t, 0.5) == [(0, 8)]
    # just below the 0.25 s step: it is cut too
    assert split_blocks(t, 0.2499) == [(0, 3), (3, 4), (4, 6), (6, 8)]


def test_split_blocks_edge_cases() -> None:
    assert split_blocks(np.array([]), 0.1) == []
    assert split_blocks(np.array([3.0]), 0.1) == [(0, 1)]
    # duplicate time stamps are no gap
    assert split_blocks(np.array([0.0, 0.0, 0.01, 0.01]), 0.1) == [(0, 4)]


# --------------------------------------------------------------------------- uniform_block


def test_uniform_block_reproduces_uniform_samples_exactly() -> None:
    rng = np.random.default_rng(1)
    n = 250
    t = 3.0 + np.arange(n) / 100.0
    acc = rng.normal(size=(n, 3))
    gyr = rng.normal(size=(n, 3))
    tu, au, gu = uniform_block(t, acc, gyr, 100.0)
    assert len(tu) == n
    np.testing.assert_allclose(tu, t, rtol=0, atol=1e-12)
    np.testing.assert_allclose(au, acc, rtol=0, atol=1e-9)
    np.testing.assert_allclose(gu, gyr, rtol=0, atol=1e-9)


def test_uniform_block_keeps_last_of_duplicate_time_stamps() -> None:
    t = np.array([0.0, 0.01, 0.01, 0.02, 0.03])
    acc = np.arange(15, dtype=float).reshape(5, 3)
    gyr = -acc
    tu, au, gu = uniform_block(t, acc, gyr, 100.0)
    np.testing.assert_allclose(tu, [0.0, 0.01, 0.02, 0.03], atol=1e-12)
    np.testing.assert_allclose(au[1], acc[2])
    np.testing.assert_allclose(gu[1], gyr[2])


def _lost_block(rate: float, lost: tuple[float, float], rate_fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples 0..2 s at ``rate`` with the open interval ``lost`` missing; gyro z = rate_fn(t)."""
    t = np.arange(int(2 * rate)) / rate
    keep = ~((t > lost[0]) & (t < lost[1]))
    tk = t[keep]
    gyr = np.column_stack([np.zeros(len(tk)), 0.1 * np.ones(len(tk)), rate_fn(tk)])
    acc = np.tile(G_UP, (len(tk), 1))
    return t, tk, np.ascontiguousarray(acc), gyr


def test_uniform_block_bridges_lost_samples_constant_rate_integral_exact() -> None:
    rate = 100.0
    w = 3.0  # rad/s about z, constant
    t, tk, acc, gyr = _lost_block(rate, (0.965, 1.035), lambda x: np.full(len(x), w))
    assert len(t) - len(tk) == 7  # 70 ms lost, below max_gap_s = 0.1
    tu, au, gu = uniform_block(tk, acc, gyr, rate)
    np.testing.assert_allclose(tu, t, atol=1e-12)  # the grid is restored, lost instants included
    span = (tu >= 0.96) & (tu <= 1.04)
    angle = np.trapezoid(gu[span, 2], tu[span])
    assert abs(angle - w * 0.08) / (w * 0.08) < 0.01
    np.testing.assert_allclose(gu[:, 2], w, rtol=1e-9)
    np.testing.assert_allclose(au, np.tile(G_UP, (len(tu), 1)), atol=1e-9)


def test_uniform_block_bridges_lost_samples_at_a_rate_peak_within_one_percent() -> None:
    """A fast movement whose peak rate falls into the lost samples: the rotation over the
    bridged span must come out right to < 1 % (a straight line loses ~2 % here)."""
    rate = 100.0

    def rate_fn(x: np.ndarray) -> np.ndarray:
        return 4.0 * np.cos(2 * np.pi * 1.0 * (x - 1.0))

    t, tk, acc, gyr = _lost_block(rate, (0.965, 1.035), rate_fn)
    tu, au, gu = uniform_block(tk, acc, gyr, rate)
    np.testing.assert_allclose(tu, t, atol=1e-12)
    span = (tu >= 0.96) & (tu <= 1.04)
    true_angle = np.trapezoid(rate_fn(tu[span]), tu[span])
    bridged = np.trapezoid(gu[span, 2], tu[span])
    assert abs(bridged - true_angle) / true_angle < 0.01, (bridged, true_angle)
    # the test case is discriminating: linear bridging would be off by more than 1 %
    linear = np.trapezoid(np.interp(tu[span], tk, gyr[:, 2]), tu[span])
    assert abs(linear - true_angle) / true_angle > 0.01
    # samples that were received are passed through unchanged
    have = np.isin(np.round(tu * rate), np.round(tk * rate))
    np.testing.assert_allclose(gu[have, 2], gyr[:, 2], atol=1e-9)


# --------------------------------------------------------------------------- common_grid


@pytest.mark.parametrize("t0, t1, rate, expected", [
    (0.013, 0.051, 100.0, [0.02, 0.03, 0.04, 0.05]),
    (0.02, 0.05, 100.0, [0.02, 0.03, 0.04, 0.05]),  # ends on the grid are included
    (-0.25, 0.25, 4.0, [-0.25, 0.0, 0.25]),
    (1.001, 1.009, 100.0, []),
])
def test_common_grid_covers_interval_on_k_over_rate(t0: float, t1: float, rate: float, expected: list[float]) -> None:
    g = common_grid(t0, t1, rate)
    np.testing.assert_allclose(g, expected, atol=1e-12)
    if len(g):
        k = g * rate
        np.testing.assert_allclose(k, np.round(k), atol=1e-9)  # every point is k / rate
        assert g[0] >= t0 - 1e-9 and g[-1] <= t1 + 1e-9
        assert g[0] - 1 / rate < t0 and g[-1] + 1 / rate > t1  # nothing of [t0, t1] left uncovered


def test_common_grid_long_session_has_no_drift() -> None:
    g = common_grid(0.0, 1800.0, 100.0)
    assert len(g) == 180001
    assert g[-1] == 1800.0
    np.testing.assert_allclose(np.diff(g), 0.01, atol=1e-9)


# --------------------------------------------------------------------------- to_grid


def _two_block_orientation() -> SensorOrientation:
    """Block 0: 0.003..1.003 s, up = +x; block 1: 1.503..2.503 s, up = +y. Gyro z = time."""
    ta = 0.003 + np.arange(101) / 100.0
    tb = 1.503 + np.arange(101) / 100.0
    t = np.concatenate([ta, tb])
    up = np.concatenate([np.tile([1.0, 0, 0], (101, 1)), np.tile([0.0, 1, 0], (101, 1))])
    gyr = np.column_stack([np.zeros(len(t)), np.ones(len(t)), t])
    rest = np.concatenate([np.ones(101, bool), np.zeros(101, bool)])
    block = np.concatenate([np.zeros(101, int), np.ones(101, int)])
    return SensorOrientation(t, up, gyr, rest, block, 100.0)


def test_to_grid_never_interpolates_across_the_gap_between_blocks() -> None:
    o = _two_block_orientation()
    grid = common_grid(0.0, 3.0, 100.0)
    up, gyr, rest = to_grid(o, grid)
    in_a = (grid >= 0.003) & (grid <= 1.003)
    in_b = (grid >= 1.503) & (grid <= 2.503)
    outside = ~(in_a | in_b)
    # the gap between the blocks, and before/after the data: NaN, rest False
    assert np.isnan(up[outside]).all() and np.isnan(gyr[outside]).all()
    assert not rest[outside].any()
    gap = (grid > 1.003) & (grid < 1.503)
    assert gap.sum() == 50
    # inside each block: the block's own values only (no mixture of +x and +y)
    np.testing.assert_allclose(up[in_a], np.tile([1.0, 0, 0], (in_a.sum(), 1)), atol=1e-12)
    np.testing.assert_allclose(up[in_b], np.tile([0.0, 1, 0], (in_b.sum(), 1)), atol=1e-12)
    # linear interpolation inside a block: gyro z equals the grid time
    np.testing.assert_allclose(gyr[in_a | in_b, 2], grid[in_a | in_b], atol=1e-12)
    assert rest[in_a].all() and not rest[in_b].any()
    assert in_a.sum() == 100 and in_b.sum() == 100  # 0.01..1.00 and 1.51..2.50


def test_to_grid_normalises_interpolated_up_vectors() -> None:
    t = np.arange(11) / 10.0
    ang = np.radians(90.0) * t
    up = np.column_stack([np.cos(ang), np.sin(ang), np.zeros_like(t)])
    o = SensorOrientation(t, up, np.zeros((11, 3)), np.zeros(11, bool), np.zeros(11, int), 10.0)
    grid = common_grid(0.0, 1.0, 100.0)
    u, _, _ = to_grid(o, grid)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.degrees(np.arctan2(u[:, 1], u[:, 0])), 90.0 * grid, atol=0.2)


def test_to_grid_empty_orientation_is_all_nan() -> None:
    e = np.empty((0, 3))
    o = SensorOrientation(np.empty(0), e, e, np.empty(0, bool), np.empty(0, int), 100.0)
    up, gyr, rest = to_grid(o, np.arange(5) / 100.0)
    assert np.isnan(up).all() and np.isnan(gyr).all() and not rest.any()


def test_orientation_gap_in_samples_becomes_nan_on_grid() -> None:
    """End to end: a 0.3 s disconnect (> max_gap_s) gives two blocks and NaN in between."""
    rate = 100.0
    t = np.arange(300) / rate
    keep = ~((t > 1.0) & (t < 1.3))
    R0 = axis_angle_matrix(np.array([1.0, 0.0, 0.0]), np.radians(20))
    acc = np.tile(R0.T @ G_UP, (keep.sum(), 1))
    s = SensorSamples(t[keep], acc, np.zeros((keep.sum(), 3)))
    o = OfflineOrientation(FusionConfig()).estimate(s, rate).result_
    assert sorted(set(o.block.tolist())) == [0, 1]
    grid = common_grid(0.0, 2.99, rate)
    up, _, _ = to_grid(o, grid)
    gap = (grid > 1.0 + 1e-9) & (grid < 1.3 - 1e-9)
    assert gap.sum() == 29 and np.isnan(up[gap]).all()
    assert np.isfinite(up[~gap]).all()
    assert _angle_deg(up[~gap], np.tile(R0.T @ [0, 0, 1.0], (int((~gap).sum()), 1))).max() < 0.1


# --------------------------------------------------------------------------- OfflineOrientation


@pytest.mark.parametrize("offline", [True, False])
@pytest.mark.parametrize("tilt_deg, axis", [(35.0, (1.0, 1.0, 0.0)), (80.0, (0.0, 1.0, 0.3)), (150.0, (1.0, 0.0, 0.0))])
def test_static_tilted_sensor_up_equals_normalised_accelerometer(offline: bool, tilt_deg: float, axis) -> None:
    R0 = axis_angle_matrix(np.array(axis), np.radians(tilt_deg))  # world-from-sensor
    n = 500
    t = 10.0 + np.arange(n) / 100.0
    acc = np.tile(R0.T @ G_UP, (n, 1))
    s = SensorSamples(t, acc, np.zeros((n, 3)))
    o = OfflineOrientation(FusionConfig(), offline=offline).estimate(s, 100.0).result_
    assert len(o.time_s) == n and o.rate_hz == 100.0
    err = _angle_deg(o.up, acc)
    assert err.max() < 0.1, f"max deviation {err.max():.3f} deg"
    # and that is the true up direction, R0^T z
    assert _angle_deg(o.up, np.tile(R0.T @ [0, 0, 1.0], (n, 1))).max() < 0.1


@pytest.mark.parametrize("offline", [True, False])
def test_constant_rate_rotation_about_horizontal_axis_inclination_follows_truth(offline: bool) -> None:
    rate = 100.0
    w = np.radians(60.0)  # rad/s about the world x axis (horizontal)
    n = 1000
    t = np.arange(n) / rate
    R0 = axis_angle_matrix(np.array([0.3, 1.0, 0.5]), np.radians(40))
    R = np.array([rot_x(w * ti) @ R0 for ti in t])  # world-from-sensor
    acc = np.einsum("nji,j->ni", R, G_UP)  # R^T g: no linear acceleration
    gyr = np.tile(R0.T @ np.array([w, 0.0, 0.0]), (n, 1))  # constant in the sensor frame
    up_true = np.einsum("nji,j->ni", R, np.array([0.0, 0.0, 1.0]))
    o = OfflineOrientation(FusionConfig(), offline=offline).estimate(SensorSamples(t, acc, gyr), rate).result_
    np.testing.assert_allclose(o.time_s, t, atol=1e-12)
    err = _angle_deg(o.up, up_true)
    assert err.max() < 0.5, f"inclination off by up to {err.max():.3f} deg"
    # the bias estimate must not eat the true rate: bias-corrected gyro stays ~ the input
    assert np.abs(o.gyr - gyr).max() < np.radians(0.5)


def test_offline_orientation_drops_blocks_shorter_than_half_a_second() -> None:
    rate = 100.0
    t = np.concatenate([np.arange(30) / rate, 2.0 + np.arange(200) / rate])  # 0.29 s, then 1.99 s
    acc = np.tile(G_UP, (len(t), 1))
    o = OfflineOrientation(FusionConfig()).estimate(SensorSamples(t, acc, np.zeros((len(t), 3))), rate).result_
    assert o.time_s.min() >= 2.0 - 1e-9
    assert len(o.time_s) == 200
