"""SPARC and LDLJ against the published reference values (GUIDE section 5; Balasubramanian
et al., J NeuroEng Rehabil 12:112, 2015)."""

import numpy as np
import pytest

from imu_pipeline.reps.smoothness import ldlj, sparc


def min_jerk_speed(duration_s: float, fs: float = 100.0) -> np.ndarray:
    s = np.arange(0, duration_s + 1e-9, 1 / fs) / duration_s
    return 30 * s**2 * (1 - s) ** 2


def test_gaussian_reference() -> None:
    t = np.arange(-1, 1, 0.01)
    v = np.exp(-5 * t**2)
    assert sparc(v, 100.0) == pytest.approx(-1.41403, abs=1e-4)
    assert ldlj(v, 100.0) == pytest.approx(-5.81636, abs=1e-3)


@pytest.mark.parametrize("duration", [0.5, 1.0, 2.0, 4.0])
def test_minimum_jerk_sparc_is_independent_of_duration(duration: float) -> None:
    assert sparc(min_jerk_speed(duration), 100.0) == pytest.approx(-1.406, abs=1e-3)


def test_minimum_jerk_ldlj() -> None:
    assert ldlj(min_jerk_speed(2.0), 100.0) == pytest.approx(-5.32, abs=0.03)


def test_two_submovements_are_less_smooth() -> None:
    one = min_jerk_speed(1.0)
    two = np.concatenate([one, one])
    assert sparc(two, 100.0) == pytest.approx(-2.25, abs=0.05)
    assert ldlj(two, 100.0) < ldlj(one, 100.0)


def test_sparc_is_robust_to_sensor_noise_ldlj_is_not() -> None:
    """Why SPARC (GUIDE section 5): white gyro-like noise barely moves it, but wrecks LDLJ."""
    v = min_jerk_speed(1.5)
    noisy = v + np.random.default_rng(0).normal(0, 0.05, v.size)
    assert abs(sparc(noisy, 100.0) - sparc(v, 100.0)) < 0.05
    assert ldlj(noisy, 100.0) < ldlj(v, 100.0) - 2.0
    assert sparc(7.3 * v, 100.0) == pytest.approx(sparc(v, 100.0), abs=1e-12)


def test_a_tremor_on_the_movement_lowers_sparc() -> None:
    v = min_jerk_speed(2.0)
    t = np.arange(v.size) / 100.0
    shaky = v * (1 + 0.3 * np.sin(2 * np.pi * 4.0 * t))  # 4 Hz wobble within the 10 Hz cut-off
    assert sparc(shaky, 100.0) < sparc(v, 100.0) - 0.3


def test_vibration_above_the_cutoff_is_not_counted() -> None:
    """A 20 Hz strap vibration (10 % of the peak speed: its spectral line stands well above the 0.05
    threshold) lies beyond the 10 Hz cut-off: SPARC stays the minimum-jerk value, -1.406."""
    v = min_jerk_speed(2.0)
    t = np.arange(v.size) / 100.0
    buzzing = v + 0.1 * v.max() * np.sin(2 * np.pi * 20.0 * t)
    assert sparc(buzzing, 100.0) == pytest.approx(-1.406, abs=0.02)
    assert sparc(buzzing, 100.0, cutoff_hz=25.0) < -2.0  # with a cut-off above 20 Hz the line counts


def test_degenerate_inputs_give_nan() -> None:
    assert np.isnan(sparc(np.zeros(50), 100.0))
    assert np.isnan(sparc(np.array([1.0, 2.0]), 100.0))
    assert np.isnan(ldlj(np.array([1.0, np.nan, 2.0, 3.0, 1.0]), 100.0))
