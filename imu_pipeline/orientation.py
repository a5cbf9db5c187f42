"""Orientation per sensor with VQF, on the common grid the front half delivers.

What leaves this module is, per sensor and grid row, the direction of *up* (opposite to gravity)
in the sensor frame and the bias-corrected angular rate — both NaN where the sensor had no
data. The filter restarts at each new gap-free block (an outage is never bridged). Heading is not
used anywhere: both output angles are rotations about the horizontal left-right axis, observable
from gravity alone (GUIDE §3).

Two estimators, the same inputs and outputs: :class:`OfflineOrientation` (``vqf.offlineVQF``,
acausal, for whole recordings) and :class:`StreamingOrientation` (``vqf.VQF``, causal, bounded
memory, for the live path). VQF integrates each rate sample over the interval that ends at it,
which is what the front half's interval means are.

References: D. Laidig, T. Seel, "VQF: Highly accurate IMU orientation estimation with bias
estimation and magnetic disturbance rejection", Information Fusion 91 (2023) 187–204.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import vqf

from imu_pipeline.config import OrientationConfig
from imu_pipeline.frames import up_in_sensor_frame
from imu_pipeline.front import GridBatch
from imu_pipeline.io.recording import SENSORS


@dataclass
class GridSignals:
    """Both sensors' orientation on the common grid (NaN where a sensor has no data).

    Attributes
    ----------
    time_s : (N,) s, session clock, ``k / grid_rate_hz``
    up : sensor -> (N, 3) unit 'up' direction in the sensor frame
    gyr : sensor -> (N, 3) bias-corrected angular rate, rad/s, sensor frame
    rest : sensor -> (N,) bool, VQF rest detection
    acc : sensor -> (N, 3) specific force, m/s², sensor frame (the start pose's gravity, foot strikes;
        None where not kept)
    bias : sensor -> (N, 3) the gyro bias estimate removed from ``gyr``, rad/s (the causal filter's;
        None offline)
    """

    time_s: np.ndarray
    up: dict[str, np.ndarray]
    gyr: dict[str, np.ndarray]
    rest: dict[str, np.ndarray]
    acc: dict[str, np.ndarray] | None = None
    bias: dict[str, np.ndarray] | None = None

    def acc_of(self, sensor: str) -> np.ndarray:
        """(N, 3) specific force of a sensor, m/s², sensor frame (NaN where unknown)."""
        if self.acc is None:
            return np.full((len(self.time_s), 3), np.nan)
        return self.acc[sensor]

    def norm_of(self, sensor: str) -> np.ndarray:
        """(N,) |specific force| of a sensor, m/s² (NaN where unknown)."""
        return np.linalg.norm(self.acc_of(sensor), axis=1)

    @property
    def dt(self) -> float:
        """Grid interval (s)."""
        return float(np.median(np.diff(self.time_s))) if len(self.time_s) > 1 else 0.01

    def valid(self, sensor: str) -> np.ndarray:
        """(N,) bool: the sensor has an orientation in this row."""
        return np.isfinite(self.up[sensor][:, 0])

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    @classmethod
    def concat(cls, parts: list[GridSignals]) -> GridSignals:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls(np.empty(0), {s: np.empty((0, 3)) for s in SENSORS}, {s: np.empty((0, 3)) for s in SENSORS},
                       {s: np.empty(0, bool) for s in SENSORS})
        return cls(np.concatenate([p.time_s for p in parts]),
                   {s: np.concatenate([p.up[s] for p in parts]) for s in SENSORS},
                   {s: np.concatenate([p.gyr[s] for p in parts]) for s in SENSORS},
                   {s: np.concatenate([p.rest[s] for p in parts]) for s in SENSORS},
                   {s: np.concatenate([p.acc_of(s) for p in parts]) for s in SENSORS},
                   None if any(p.bias is None for p in parts) else
                   {s: np.concatenate([p.bias[s] for p in parts]) for s in SENSORS})  # type: ignore[index]

    def tail(self, n: int) -> GridSignals:
        """The last ``n`` rows."""
        return GridSignals(self.time_s[-n:], {s: v[-n:] for s, v in self.up.items()},
                           {s: v[-n:] for s, v in self.gyr.items()}, {s: v[-n:] for s, v in self.rest.items()},
                           {s: self.acc_of(s)[-n:] for s in SENSORS},
                           None if self.bias is None else {s: v[-n:] for s, v in self.bias.items()})


def grid_acc(rows: GridBatch) -> dict[str, np.ndarray]:
    """Per sensor (N, 3) specific force of the grid rows, m/s² (NaN where missing)."""
    return {s: rows.acc[s] for s in SENSORS}


def vqf_params(cfg: OrientationConfig) -> dict[str, object]:
    """VQF keyword parameters from the config (everything else: VQF defaults)."""
    return {"tauAcc": float(cfg.tau_acc_s), "restBiasEstEnabled": bool(cfg.rest_bias_estimation),
            "motionBiasEstEnabled": bool(cfg.motion_bias_estimation), "magDistRejectionEnabled": False}


def orient_uniform(acc: np.ndarray, gyr: np.ndarray, rate_hz: float, cfg: OrientationConfig | None = None,
                   *, offline: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orientation of one uniformly sampled, gap-free block (pure function).

    Parameters
    ----------
    acc : (N, 3) m/s², sensor frame
    gyr : (N, 3) rad/s, sensor frame
    rate_hz : sampling rate (Hz)
    offline : ``offlineVQF`` (acausal) or a fresh causal ``VQF``

    Returns
    -------
    up : (N, 3) unit 'up' in the sensor frame; gyr : (N, 3) rad/s minus VQF's bias estimate;
    rest : (N,) bool
    """
    cfg = cfg or OrientationConfig()
    g = np.ascontiguousarray(gyr, dtype=np.float64)
    a = np.ascontiguousarray(acc, dtype=np.float64)
    if offline:
        out = vqf.offlineVQF(g, a, None, 1.0 / rate_hz, vqf_params(cfg))
    else:
        out = vqf.VQF(1.0 / rate_hz, **vqf_params(cfg)).updateBatch(g, a)
    return up_in_sensor_frame(out["quat6D"]), g - out["bias"], out["restDetected"].astype(bool)


def _runs(block: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, stop, block id)`` of the runs of equal block ids that are not -1."""
    if block.size == 0:
        return []
    edges = np.flatnonzero(np.diff(block) != 0) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [block.size]])
    return [(int(a), int(b), int(block[a])) for a, b in zip(starts, stops) if block[a] >= 0]


def _empty_like(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.full((n, 3), np.nan), np.full((n, 3), np.nan), np.zeros(n, bool)


class OfflineOrientation:
    """Whole-recording orientation of both sensors with ``vqf.offlineVQF`` (acausal).

    Parameters
    ----------
    cfg : OrientationConfig
    grid_rate_hz : rate of the grid rows (Hz)
    fork : let a long recording's pelvis filter run in a second process (``[orientation]
        parallel_min_s``); False where the cores are already busy (``batch`` on several processes)

    Attributes
    ----------
    result_ : GridSignals, set by :meth:`estimate`

    Example
    -------
    >>> rows, quality = front_half_offline(rec)                            # doctest: +SKIP
    >>> sig = OfflineOrientation(OrientationConfig(), 100.0).estimate(rows).result_
    """

    def __init__(self, cfg: OrientationConfig | None = None, grid_rate_hz: float = 100.0, fork: bool = True) -> None:
        self.cfg = cfg or OrientationConfig()
        self.grid_rate_hz = grid_rate_hz
        self.fork = fork

    def estimate(self, rows: GridBatch) -> OfflineOrientation:
        """Orientation of both sensors over ``rows``; sets :attr:`result_` (and ``forked_``: whether
        the pelvis filter ran in a second process)."""
        def one(s: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            up, gyr, rest = _empty_like(len(rows))
            for a, b, _ in _runs(rows.block[s]):
                up[a:b], gyr[a:b], rest[a:b] = orient_uniform(rows.acc[s][a:b], rows.gyr[s][a:b],
                                                              self.grid_rate_hz, self.cfg, offline=True)
            return up, gyr, rest

        out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.forked_ = False
        if self.fork and len(rows) / self.grid_rate_hz >= self.cfg.parallel_min_s:
            child = fork_call(lambda: one("pelvis"), len(rows))
            out["thigh"] = one("thigh")
            res = child()
            if res is not None:
                out["pelvis"], self.forked_ = res, True
        for s in SENSORS:
            if s not in out:
                out[s] = one(s)
        self.result_ = GridSignals(rows.time_s, {s: out[s][0] for s in SENSORS}, {s: out[s][1] for s in SENSORS},
                                   {s: out[s][2] for s in SENSORS}, grid_acc(rows))
        return self


def fork_call(fn: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]],
              n: int) -> Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Start ``fn`` (returning ``up`` (n, 3), ``gyr`` (n, 3), ``rest`` (n,)) in a forked child; the
    returned function collects its result, or None when it could not run there (no fork, other
    threads alive — forking them is unsafe —, the child failed): the caller then computes it itself."""
    if not hasattr(os, "fork") or (os.cpu_count() or 1) < 2 or threading.active_count() > 1:
        return lambda: None
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return lambda: None
    if pid == 0:  # the child: compute, send the bytes, leave without running any cleanup
        code = 1
        try:
            os.close(r)
            up, gyr, rest = fn()
            payload = memoryview(np.concatenate([up.ravel(), gyr.ravel(), rest.astype(np.float64)]).tobytes())
            while payload:
                payload = payload[os.write(w, payload):]
            code = 0
        finally:
            os._exit(code)
    os.close(w)

    def collect() -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        buf = bytearray()
        with os.fdopen(r, "rb") as f:
            while chunk := f.read(1 << 20):
                buf += chunk
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0 or len(buf) != 7 * n * 8:
            return None
        v = np.frombuffer(buf, dtype=np.float64)
        return v[:3 * n].reshape(n, 3).copy(), v[3 * n:6 * n].reshape(n, 3).copy(), v[6 * n:].astype(bool)

    return collect


class StreamingOrientation:
    """Causal orientation of both sensors (``vqf.VQF``), batch by batch, bounded memory.

    A filter restarted after an outage would start from one accelerometer sample, maybe taken in
    motion (tens of degrees off, converging with ``tau_acc_s``). Instead the rows of a restarted
    block are held until ``restart_window_s`` of it has arrived (or the block ended); the
    inclination at the block's start is then the mean specific force over that window, carried back
    to the start by the gyro (dynamic accelerations average out), and the new filter starts from it
    with the bias estimate the sensor had before the outage. So :meth:`update` may return fewer rows
    than it was given (they follow later); :meth:`finish` returns the rest.

    Parameters
    ----------
    cfg : OrientationConfig
    grid_rate_hz : rate of the grid rows (Hz)

    Attributes
    ----------
    restarts_ : sensor -> number of filter (re)starts (one per gap-free block)
    """

    def __init__(self, cfg: OrientationConfig | None = None, grid_rate_hz: float = 100.0) -> None:
        self.cfg = cfg or OrientationConfig()
        self.grid_rate_hz = grid_rate_hz
        self._filter: dict[str, vqf.VQF | None] = {s: None for s in SENSORS}
        self._block: dict[str, int] = {s: -1 for s in SENSORS}
        self.restarts_: dict[str, int] = {s: 0 for s in SENSORS}
        self._held: list[GridBatch] = []
        self._window = max(1, int(round(self.cfg.restart_window_s * grid_rate_hz)))

    @property
    def held_rows(self) -> int:
        """Rows held back while a restarted filter's first window arrives."""
        return sum(len(b) for b in self._held)

    def update(self, rows: GridBatch) -> GridSignals:
        """Orientation for the rows that can be computed now (in order; they follow the previous ones)."""
        self._held.append(rows)
        buf = GridBatch.concat(self._held)
        n = len(buf)
        upto = n
        for s in SENSORS:
            for a, b, blk in _runs(buf.block[s]):
                if self._filter[s] is not None and blk != self._block[s] and b == n and b - a < self._window:
                    upto = min(upto, a)  # a restarted block still short of its window: wait for it
                    break
        self._held = [buf.slice(upto, n)] if upto < n else []
        return self._run(buf.slice(0, upto))

    def finish(self) -> GridSignals:
        """End of stream: the rows still held."""
        buf = GridBatch.concat(self._held)
        self._held = []
        return self._run(buf)

    def bias(self, sensor: str) -> np.ndarray | None:
        """A sensor's current gyro bias estimate (rad/s), None before its filter started."""
        f = self._filter[sensor]
        return None if f is None else np.asarray(f.getBiasEstimate()[0], float)

    def set_bias(self, sensor: str, bias: np.ndarray, sigma: float) -> None:
        """Set a sensor's gyro bias estimate (rad/s) and its uncertainty (rad/s), e.g. measured in
        a still start pose; no effect before the sensor's filter has started."""
        f = self._filter[sensor]
        if f is not None:
            f.setBiasEstimate(np.asarray(bias, float), float(sigma))

    def _run(self, rows: GridBatch) -> GridSignals:
        up, gyr, rest, bias = {}, {}, {}, {}
        for s in SENSORS:
            up[s], gyr[s], rest[s] = _empty_like(len(rows))
            bias[s] = np.full((len(rows), 3), np.nan)
            for a, b, blk in _runs(rows.block[s]):
                if blk != self._block[s] or self._filter[s] is None:
                    self._restart(s, blk, rows.acc[s][a:b], rows.gyr[s][a:b])
                f = self._filter[s]
                assert f is not None
                g = np.ascontiguousarray(rows.gyr[s][a:b])
                out = f.updateBatch(g, np.ascontiguousarray(rows.acc[s][a:b]))
                up[s][a:b] = up_in_sensor_frame(out["quat6D"])
                gyr[s][a:b] = g - out["bias"]
                bias[s][a:b] = out["bias"]
                rest[s][a:b] = out["restDetected"].astype(bool)
        return GridSignals(rows.time_s, up, gyr, rest, grid_acc(rows), bias)

    def _restart(self, s: str, blk: int, acc: np.ndarray, gyr: np.ndarray) -> None:
        old = self._filter[s]
        f = vqf.VQF(1.0 / self.grid_rate_hz, **vqf_params(self.cfg))
        if old is not None:  # after an outage: warm start from the block's first window
            bias, sigma = old.getBiasEstimate()  # an outage does not change the gyro's bias
            n = min(len(acc), self._window)
            g0 = gravity_at_start(acc[:n], gyr[:n] - bias, 1.0 / self.grid_rate_hz)
            # VQF's accelerometer low-pass starts by averaging its first tau_acc_s of input: fill that
            # with the estimate (still samples), so the real data continues from it
            # with the bias estimators off: the still samples say nothing about the gyro's bias
            n_still = int(np.ceil(self.cfg.tau_acc_s * self.grid_rate_hz)) + 1
            f.setRestBiasEstEnabled(False)
            f.setMotionBiasEstEnabled(False)
            f.updateBatch(np.zeros((n_still, 3)), np.tile(g0, (n_still, 1)))
            f.setRestBiasEstEnabled(bool(self.cfg.rest_bias_estimation))
            f.setMotionBiasEstEnabled(bool(self.cfg.motion_bias_estimation))
            f.setBiasEstimate(bias, sigma)
        self._filter[s] = f
        self._block[s] = blk
        self.restarts_[s] += 1


def gravity_at_start(acc: np.ndarray, gyr: np.ndarray, dt: float) -> np.ndarray:
    """Specific force at rest (m/s²) in the sensor frame at the first sample: the mean over the
    window of each sample's specific force carried back to the first sample's frame by the
    (bias-corrected, rad/s) gyro. Dynamic accelerations average to their velocity change over the
    window, small against gravity for a limb."""
    R = np.eye(3)  # sensor frame at sample k -> sensor frame at the first sample
    total = np.zeros(3)
    for k in range(len(acc)):
        total += R @ acc[k]
        w = gyr[k] * dt
        th = float(np.linalg.norm(w))
        if th > 0:
            x = w / th
            K = np.array([[0, -x[2], x[1]], [x[2], 0, -x[0]], [-x[1], x[0], 0]])
            R = R @ (np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * (K @ K))
    return total / max(len(acc), 1)
