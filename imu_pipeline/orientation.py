"""Orientation per sensor with VQF, and resampling onto one common time base.

Each sensor's samples are split into *blocks* at gaps longer than ``max_gap_s`` (a
disconnect or a burst of lost packets): a gap is never bridged, and the filter restarts
after it. Inside a block, short losses are bridged by linear interpolation onto the
sensor's own uniform grid, which is what VQF needs.

What leaves this module is, per sensor and on the common grid, the direction of *up*
(opposite to gravity) in the sensor frame and the bias-corrected angular rate, both NaN
where the sensor had no data. Heading is not used anywhere: both output angles are
rotations about the horizontal left-right axis, observable from gravity alone (GUIDE §3).

References: D. Laidig, T. Seel, "VQF: Highly accurate IMU orientation estimation with bias
estimation and magnetic disturbance rejection", Information Fusion 91 (2023) 187–204.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import vqf

from imu_pipeline.config import FusionConfig
from imu_pipeline.frames import up_in_sensor_frame
from imu_pipeline.io.recording import SensorSamples, effective_rate_hz

#: A block shorter than this (s) is too short for the filter to converge and is dropped.
MIN_BLOCK_S = 0.5


@dataclass
class SensorOrientation:
    """Orientation of one sensor on its own uniform grid, block by block.

    Attributes
    ----------
    time_s : (M,) float64 s, session clock; uniform inside each block
    up : (M, 3) unit vector, 'up' direction in the sensor frame
    gyr : (M, 3) rad/s, angular rate minus VQF's bias estimate, sensor frame
    rest : (M,) bool, VQF rest detection
    block : (M,) int, index of the contiguous block (blocks are separated by gaps)
    rate_hz : the sensor's rate (Hz) used for its uniform grid
    """

    time_s: np.ndarray
    up: np.ndarray
    gyr: np.ndarray
    rest: np.ndarray
    block: np.ndarray
    rate_hz: float


def vqf_params(cfg: FusionConfig) -> dict[str, object]:
    """VQF keyword parameters from the fusion config (everything else: VQF defaults)."""
    return {"tauAcc": float(cfg.tau_acc_s), "restBiasEstEnabled": bool(cfg.rest_bias_estimation),
            "motionBiasEstEnabled": bool(cfg.motion_bias_estimation), "magDistRejectionEnabled": False}


def split_blocks(time_s: np.ndarray, max_gap_s: float) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges of runs without a gap longer than ``max_gap_s``."""
    if len(time_s) == 0:
        return []
    cuts = np.flatnonzero(np.diff(time_s) > max_gap_s) + 1
    edges = np.concatenate([[0], cuts, [len(time_s)]])
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def uniform_block(t: np.ndarray, acc: np.ndarray, gyr: np.ndarray, rate_hz: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation of one gap-free block onto a uniform grid at ``rate_hz``.

    Duplicate time stamps (allowed by the format) are averaged away by keeping the last one.
    """
    keep = np.concatenate([np.diff(t) > 0, [True]])
    t, acc, gyr = t[keep], acc[keep], gyr[keep]
    n = int(np.floor((t[-1] - t[0]) * rate_hz + 1e-9)) + 1
    tu = t[0] + np.arange(n) / rate_hz
    au = np.column_stack([np.interp(tu, t, acc[:, i]) for i in range(3)])
    gu = np.column_stack([np.interp(tu, t, gyr[:, i]) for i in range(3)])
    lost = np.flatnonzero(np.diff(t) > 1.5 / rate_hz)
    if len(t) >= 5 and lost.size:
        # lost packets: a straight line through the missing angular rate loses the rotation of a
        # fast movement for good (the integral is what matters); Akima's local cubic keeps the
        # curvature without overshooting at noise. Akima depends on two neighbours each side,
        # so a local fit around each hole equals the global one.
        from scipy.interpolate import Akima1DInterpolator

        for g in lost:
            i0, i1 = np.searchsorted(tu, [t[g], t[g + 1]], side="right")
            lo, hi = max(g - 3, 0), min(g + 5, len(t))
            if i1 > i0 and hi - lo >= 5:
                gu[i0:i1] = Akima1DInterpolator(t[lo:hi], gyr[lo:hi], axis=0)(tu[i0:i1])
    return tu, au, gu


def sensor_rate_hz(samples: SensorSamples, declared: float | None = None) -> float:
    """The rate to resample a sensor at: the declared one when it agrees with the data
    within 5 %, else the median interval of the data."""
    eff = effective_rate_hz(samples.time_s)
    if declared and np.isfinite(eff) and abs(eff - declared) / declared < 0.05:
        return float(declared)
    return float(eff)


class OfflineOrientation:
    """Whole-recording orientation of one sensor with ``vqf.offlineVQF`` (acausal).

    Parameters
    ----------
    cfg : FusionConfig
        ``max_gap_s`` (s), ``tau_acc_s`` (s) and the bias estimation switches.

    Attributes
    ----------
    result_ : SensorOrientation
        Set by :meth:`estimate`.

    Example
    -------
    >>> est = OfflineOrientation(FusionConfig()).estimate(rec.sensors["thigh"])   # doctest: +SKIP
    >>> est.result_.up   # (M, 3) up direction in the sensor frame
    """

    def __init__(self, cfg: FusionConfig | None = None, offline: bool = True) -> None:
        self.cfg = cfg or FusionConfig()
        self.offline = offline

    def estimate(self, samples: SensorSamples, declared_rate_hz: float | None = None) -> "OfflineOrientation":
        rate = sensor_rate_hz(samples, declared_rate_hz)
        parts: list[tuple[np.ndarray, ...]] = []
        params = vqf_params(self.cfg)
        for bi, (a, b) in enumerate(split_blocks(samples.time_s, self.cfg.max_gap_s)):
            t = samples.time_s[a:b]
            if b - a < 2 or t[-1] - t[0] < MIN_BLOCK_S:
                continue
            tu, au, gu = uniform_block(t, samples.acc[a:b], samples.gyr[a:b], rate)
            gu = np.ascontiguousarray(gu)
            au = np.ascontiguousarray(au)
            if self.offline:
                out = vqf.offlineVQF(gu, au, None, 1.0 / rate, params)
            else:
                out = vqf.VQF(1.0 / rate, **params).updateBatch(gu, au)
            up = up_in_sensor_frame(out["quat6D"])
            # VQF integrates each rate sample over the interval that ends at it — right for
            # an IMU whose samples average their interval (checked on BROAD: no time shift)
            parts.append((tu, up, gu - out["bias"], out["restDetected"].astype(bool), np.full(len(tu), bi)))
        if not parts:
            empty = np.empty((0, 3))
            self.result_ = SensorOrientation(np.empty(0), empty, empty, np.empty(0, bool), np.empty(0, int), rate)
        else:
            cols = [np.concatenate([p[i] for p in parts]) for i in range(5)]
            self.result_ = SensorOrientation(*cols, rate_hz=rate)
        return self


def common_grid(t_start: float, t_end: float, rate_hz: float) -> np.ndarray:
    """Uniform grid ``k / rate_hz`` covering ``[t_start, t_end]`` on the recording's clock."""
    k0 = int(np.ceil(t_start * rate_hz - 1e-9))
    k1 = int(np.floor(t_end * rate_hz + 1e-9))
    return np.arange(k0, k1 + 1) / rate_hz


def to_grid(o: SensorOrientation, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up vectors, rates and rest flags of one sensor on the common grid; NaN (False) in gaps.

    Interpolation only happens inside a block, never across the gap between two blocks.
    """
    up = np.full((len(grid), 3), np.nan)
    gyr = np.full((len(grid), 3), np.nan)
    rest = np.zeros(len(grid), dtype=bool)
    if len(o.time_s) == 0:
        return up, gyr, rest
    edges = np.flatnonzero(np.diff(o.block) != 0) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [len(o.block)]])
    for a, b in zip(starts, stops):
        t = o.time_s[a:b]
        i0, i1 = np.searchsorted(grid, [t[0], t[-1]], side="left")
        i1 = np.searchsorted(grid, t[-1], side="right")
        if i1 <= i0:
            continue
        g = grid[i0:i1]
        for k in range(3):
            up[i0:i1, k] = np.interp(g, t, o.up[a:b, k])
            gyr[i0:i1, k] = np.interp(g, t, o.gyr[a:b, k])
        rest[i0:i1] = o.rest[a:b][np.clip(np.searchsorted(t, g), 0, b - a - 1)]
    n = np.linalg.norm(up, axis=1, keepdims=True)
    up = up / n
    return up, gyr, rest
