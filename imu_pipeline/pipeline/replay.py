"""A stored recording through the live path, sample for sample, in arrival order.

:func:`replay` cuts the recording into the packets a BLE session would have delivered
(``chunk_s`` of stream at a time, per sensor, in time order), pushes them through
:class:`~imu_pipeline.pipeline.live.LivePipeline`, optionally at real-time speed, and returns
the pipeline with the reps and the stream time at which each was reported.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator

import numpy as np

from imu_pipeline.config import PipelineConfig
from imu_pipeline.errors import CalibrationError, UsageError
from imu_pipeline.exercise_set import blank_outside_exercise
from imu_pipeline.io.recording import Recording
from imu_pipeline.pipeline.live import LivePipeline
from imu_pipeline.pipeline.offline import SessionAnalysis
from imu_pipeline.reps import Rep

#: Stream time (s) delivered per push, like a BLE notification burst.
REPLAY_CHUNK_S = 0.05

#: The slowest replay (times real time): 1 s of recording in 100 s. Slower is surely a typo, and a
#: factor near 0 would ask time.sleep for an overflowing wait.
MIN_SPEED = 0.01

RepCallback = Callable[[Rep, float], None]


def check_speed(speed: float | None) -> None:
    """``speed`` is None (as fast as possible) or a finite factor of real time >= :data:`MIN_SPEED`;
    else :class:`~imu_pipeline.errors.UsageError`."""
    if speed is None:
        return
    if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed >= MIN_SPEED):
        raise UsageError(f"--speed must be a number from {MIN_SPEED:g} (100 times slower than real time) "
                         f"upwards, or 'max'; got {speed!r}")


def iter_chunks(rec: Recording, chunk_s: float = REPLAY_CHUNK_S) -> Iterator[tuple[float, str, slice]]:
    """``(stream_time, sensor, index slice)`` in arrival order, ``chunk_s`` of stream at a time."""
    idx = {s: 0 for s in rec.sensors}
    tc = rec.t_start
    while tc <= rec.t_end + chunk_s:
        tc += chunk_s
        for s, ss in rec.sensors.items():
            j = int(np.searchsorted(ss.time_s, tc, side="right"))
            if j > idx[s]:
                yield tc, s, slice(idx[s], j)
                idx[s] = j


def live_pipeline_for(rec: Recording, cfg: PipelineConfig | None = None, *, pose: str | None = None,
                      keep_angles: bool = False) -> LivePipeline:
    """A LivePipeline set up from the recording's sidecar (mountings, declared rates, exercise)."""
    return LivePipeline({s: rec.sensor_meta(s).get("mounting") for s in rec.sensors}, rec.meta.get("exercise"), cfg,
                        pose=pose, sample_rates={s: rec.sensor_meta(s).get("sample_rate_hz") for s in rec.sensors},
                        keep_angles=keep_angles, where=rec.name)


def replay(rec: Recording, speed: float | None = None, on_rep: RepCallback | None = None, *,
           cfg: PipelineConfig | None = None, pose: str | None = None,
           keep_angles: bool = False) -> tuple[LivePipeline, list[tuple[Rep, float]]]:
    """Feed ``rec`` through the live path; ``speed`` None = as fast as possible, 1 = real time.

    Returns the pipeline (its ``reps``, ``calibration``, ``angles()``, ``quality_``) and the list
    of ``(rep, stream time at which it was reported)``.
    """
    check_speed(speed)
    lp = live_pipeline_for(rec, cfg, pose=pose, keep_angles=keep_angles)
    reported: list[tuple[Rep, float]] = []
    wall0 = time.monotonic()
    for tc, s, sl in iter_chunks(rec):
        if speed:
            delay = (tc - rec.t_start) / speed - (time.monotonic() - wall0)
            if delay > 0:
                time.sleep(delay)
        ss = rec.sensors[s]
        for r in lp.push(s, ss.time_s[sl], ss.acc[sl], ss.gyr[sl]):
            reported.append((r, tc))
            if on_rep:
                on_rep(r, tc)
    for r in lp.finish():
        reported.append((r, rec.t_end))
        if on_rep:
            on_rep(r, rec.t_end)
    return lp, reported


def live_session(rec: Recording, lp: LivePipeline) -> SessionAnalysis:
    """The finished live session as a SessionAnalysis (the summary's input, like analyze's).

    Raises
    ------
    CalibrationError
        When the stream never gave a calibration (the reason it gives).
    """
    ang = lp.angles()
    if lp.calibration is None or ang is None or lp.quality_ is None:
        raise CalibrationError(lp.calibration_error or f"{rec.name}: the stream never showed the start pose; "
                               "no angles could be computed")
    spans = lp.not_exercise
    ang = blank_outside_exercise(ang, spans)
    if np.isfinite(lp.doubtful_until_s):  # estimated with a gyro bias far off: no angle rather than a wrong one
        bad = np.where(ang.time_s <= lp.doubtful_until_s, np.nan, 1.0)
        ang = dataclasses.replace(ang, hip_flexion=ang.hip_flexion * bad, pelvic_tilt=ang.pelvic_tilt * bad,
                                  thigh_angle=ang.thigh_angle * bad)
    return SessionAnalysis(rec, lp.quality_, ang, list(lp.reps), lp.cfg, path="live", not_exercise=spans,
                           not_reps=lp.not_reps)
