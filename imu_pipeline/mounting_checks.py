"""The anatomy checks of a calibration: the angles a calibration gives must have the signs and
ranges a leg raise has. A failed check is a final refusal
(:class:`~imu_pipeline.errors.MountingCheckError`): a wrong declaration would otherwise turn into
plausible wrong angles. A check that cannot judge yet (no rep with the legs high) is
``inconclusive``; the live path waits for it (thresholds in ``[calibration]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from imu_pipeline.config import CalibrationConfig
from imu_pipeline.errors import MountingCheckError
from imu_pipeline.io.recording import SENSORS
from imu_pipeline.joint_angles import segment_angle
from imu_pipeline.orientation import GridSignals

if TYPE_CHECKING:
    from imu_pipeline.calibration import SegmentCalibration

DEG = np.pi / 180.0
PASSED, FAILED, INCONCLUSIVE = "passed", "failed", "inconclusive"


def run_checks(cfg: CalibrationConfig, sig: GridSignals, segments: dict[str, SegmentCalibration], pose: str,
               where: str, only: set[str] | None = None, exercise: np.ndarray | None = None) -> dict[str, str]:
    """Every check's result by name (``passed`` / ``inconclusive``), or only the ``only`` ones; a
    failed one raises. The swap check comes first and sees every row (swapped sensors put the
    'pelvis' out of the pose, which the set finding would cut away); the mounting checks see only
    the ``exercise`` rows (standing before a lying set is not hip extension)."""
    ex = sig if exercise is None or exercise.all() else masked(sig, exercise)
    todo: dict[str, Any] = {"sensors_not_swapped": lambda: check_not_swapped(cfg, sig, segments, pose, where)}
    todo.update({f"{s}_mounting": (lambda s=s: check_declared(cfg, ex, segments, s, pose, where))
                 for s in SENSORS if segments[s].declared})
    done = {name: run() for name, run in todo.items() if only is None or name in only}
    order = [f"{s}_mounting" for s in SENSORS] + ["sensors_not_swapped"]
    return {name: done[name] for name in order if name in done}


def masked(sig: GridSignals, keep: np.ndarray) -> GridSignals:
    """The signals with rows outside ``keep`` set missing (NaN) for both sensors."""
    k = keep[:, None]
    return GridSignals(sig.time_s, {s: np.where(k, v, np.nan) for s, v in sig.up.items()},
                       {s: np.where(k, v, np.nan) for s, v in sig.gyr.items()},
                       {s: v & keep for s, v in sig.rest.items()}, sig.acc, sig.bias)


def check_not_swapped(cfg: CalibrationConfig, sig: GridSignals, segments: dict[str, SegmentCalibration],
                      pose: str, where: str) -> str:
    """In a leg raise the thigh always turns through more than the pelvis (its angle is hip
    flexion plus pelvic tilt). A 'pelvis' that swept far more than the 'thigh' means the two
    sensors were swapped (in the recorder's config or on the body)."""
    rng = {}
    both = sig.valid("thigh") & sig.valid("pelvis")  # a sensor's turns while the other was silent compare with nothing
    for s in SENSORS:
        if segments[s].axis_source == "none":
            return INCONCLUSIVE
        th = segment_angle(segments[s].R_seg_sensor, sig.up[s][both], pose)
        if not np.isfinite(th).any():
            return INCONCLUSIVE
        lo, hi = np.nanpercentile(th, [cfg.check_range_percentile, 100 - cfg.check_range_percentile])
        rng[s] = np.degrees(hi - lo)
    if rng["pelvis"] > cfg.swap_min_pelvis_range_deg and rng["pelvis"] > cfg.swap_range_ratio * rng["thigh"]:
        raise MountingCheckError(
            f"{where}: the 'pelvis' sensor turned through {rng['pelvis']:.0f}° but the 'thigh' sensor only "
            f"{rng['thigh']:.0f}° — in a leg raise the thigh always moves more. The two sensors look swapped: "
            "check which sensor is which in the recording (the sensor config of `imu-pipeline record`) and on "
            "the body")
    return PASSED if rng["thigh"] >= cfg.thigh_check_min_range_deg else INCONCLUSIVE


def check_declared(cfg: CalibrationConfig, sig: GridSignals, segments: dict[str, SegmentCalibration], s: str,
                   pose: str, where: str) -> str:
    """A declared mounting must give angles with the anatomy's signs: hip flexion goes positive
    from the start pose (the low end of its range), and the pelvis does not tilt clearly
    anteriorly on average while the legs are high (it passes once it tilts clearly posteriorly).
    Anything else is a wrong declaration (an axis reversed or swapped) that would turn into wrong
    angles. Rows without the sensors it needs do not count: with none (a sensor silent through the
    rows given, as after a link drop live) it cannot judge yet."""
    th_t = segment_angle(segments["thigh"].R_seg_sensor, sig.up["thigh"], pose)
    if not np.isfinite(th_t).any():
        return INCONCLUSIVE  # no thigh in these rows: no range to judge by (not a pass)
    lo, hi = np.nanpercentile(th_t, [cfg.check_range_percentile, 100 - cfg.check_range_percentile])
    fix = (f"Check sensors.{s}.mounting (which way the printed x and y axes point on the {s}) "
           "and that the thigh and pelvis sensors are not swapped")
    min_range = cfg.thigh_check_min_range_deg * DEG
    if s == "thigh":
        if hi < min_range and lo > -min_range:
            return INCONCLUSIVE  # no reps to judge by
        if -lo > max(min_range, cfg.thigh_max_extension_fraction * hi):
            raise MountingCheckError(
                f"{where}: with the declared mounting the thigh moves to {np.degrees(lo):.0f}° (hip extension) "
                f"but only up to {np.degrees(hi):.0f}° of flexion: the declaration does not match the "
                f"movement (an axis is reversed or the start pose is wrong). {fix}")
        return PASSED
    th_p = segment_angle(segments["pelvis"].R_seg_sensor, sig.up["pelvis"], pose)
    high = (th_t > cfg.legs_high_deg * DEG) & np.isfinite(th_p)  # legs high, and the pelvis seen there
    if high.sum() * sig.dt < cfg.legs_high_min_s:
        return INCONCLUSIVE
    m = float(np.mean(th_p[high]))
    if m < -cfg.pelvis_sign_check_deg * DEG:
        raise MountingCheckError(
            f"{where}: with the declared mounting the pelvis tilts {-np.degrees(m):.0f}° anteriorly on average "
            "while the legs are high — the opposite of what a pelvis does in a leg raise; its declared axes "
            f"are probably reversed. {fix}")
    # a pelvis that stayed still (hip-flexor-only reps) does not show its sign: not yet judged
    return PASSED if m > cfg.pelvis_sign_check_deg * DEG else INCONCLUSIVE
