"""imu_pipeline.joint_angles: the sagittal angle of a segment and angle wrapping, against
values derived from world physics."""

from __future__ import annotations

import numpy as np
import pytest

from imu_pipeline.frames import rot_z
from imu_pipeline.joint_angles import sagittal_angle, wrap
from imu_pipeline.simulate import POSE_MATRIX

DEG = np.pi / 180.0

# --------------------------------------------------------------------------- sagittal_angle, wrap


def _up_seg_after_rotation(pose: str, theta_deg: float) -> np.ndarray:
    """'Up' in the segment frame after a rotation by ``theta`` about the segment's +Z axis,
    derived from world physics: the segment's world-from-segment matrix is POSE @ Rz(theta)
    (the simulator's convention), and up is the world z axis."""
    R_ws = POSE_MATRIX[pose] @ rot_z(theta_deg * DEG)
    return R_ws.T @ np.array([0.0, 0.0, 1.0])


@pytest.mark.parametrize("pose", ["lying", "hanging"])
@pytest.mark.parametrize("theta", [0.0, 30.0, -30.0, 90.0, 150.0, -90.0])
def test_sagittal_angle_known_values(pose: str, theta: float) -> None:
    up = _up_seg_after_rotation(pose, theta)
    assert np.degrees(sagittal_angle(up, pose)) == pytest.approx(theta, abs=1e-9)


def test_sagittal_angle_explicit_vectors() -> None:
    # lying: X (anterior) is up at 0; thigh vertical (90 deg flexion) -> up is the segment's -Y
    assert np.degrees(sagittal_angle(np.array([1.0, 0, 0]), "lying")) == pytest.approx(0.0)
    assert np.degrees(sagittal_angle(np.array([0.0, -1, 0]), "lying")) == pytest.approx(90.0)
    assert np.degrees(sagittal_angle(np.array([np.cos(np.pi / 6), -0.5, 0]), "lying")) == pytest.approx(30.0)
    # lying at 150 deg (legs well over the head): up is (-cos 30, -sin 30)
    assert np.degrees(sagittal_angle(np.array([-np.cos(np.pi / 6), -0.5, 0]), "lying")) == pytest.approx(150.0)
    # hanging: Y (superior) up at 0; thigh horizontal in front (90 deg) -> up is the segment's +X
    assert np.degrees(sagittal_angle(np.array([0.0, 1, 0]), "hanging")) == pytest.approx(0.0)
    assert np.degrees(sagittal_angle(np.array([1.0, 0, 0]), "hanging")) == pytest.approx(90.0)
    assert np.degrees(sagittal_angle(np.array([-0.5, np.cos(np.pi / 6), 0]), "hanging")) == pytest.approx(-30.0)


@pytest.mark.parametrize("pose", ["lying", "hanging"])
def test_sagittal_angle_ignores_out_of_plane_components_and_is_vectorised(pose: str) -> None:
    thetas = np.array([0.0, 30.0, -30.0, 90.0, 150.0])
    ups = []
    for i, th in enumerate(thetas):
        u = _up_seg_after_rotation(pose, th)
        lean = (10.0 + 8 * i) * DEG  # an out-of-plane lean (about the in-plane axis) of 10..42 deg
        v = np.cos(lean) * u + np.sin(lean) * np.array([0.0, 0.0, 1.0 if i % 2 else -1.0])
        ups.append(v * (0.5 + i))  # the length does not matter either
    got = np.degrees(sagittal_angle(np.array(ups), pose))
    np.testing.assert_allclose(got, thetas, atol=1e-9)
    assert got.shape == (5,)


def test_wrap_known_values() -> None:
    np.testing.assert_allclose(wrap(np.array([1.5 * np.pi]), -np.pi), [-0.5 * np.pi])
    np.testing.assert_allclose(wrap(np.array([-np.pi]), -np.pi), [-np.pi])
    np.testing.assert_allclose(wrap(np.array([np.pi]), -np.pi), [-np.pi])  # [low, low + 2 pi)
    np.testing.assert_allclose(wrap(np.radians([-100.0, 200.0, 239.0, 241.0, -130.0]), -2 * np.pi / 3),
                               np.radians([-100.0, 200.0, 239.0, -119.0, 230.0]), atol=1e-12)
    np.testing.assert_allclose(wrap(np.radians([-91.0, 269.0, 10.0 + 720.0]), -np.pi / 2),
                               np.radians([269.0, 269.0, 10.0]), atol=1e-12)
    assert np.isnan(wrap(np.array([np.nan]), 0.0)).all()


