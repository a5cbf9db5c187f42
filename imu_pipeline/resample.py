"""One sensor's samples -> interval means on the common grid (the first job of the front half;
see :mod:`imu_pipeline.front` for the whole policy: duplicates, rate, outages, interval means).

Units: time in s (float64, session clock), specific force in m/s², angular rate in rad/s, both in
the sensor frame; nothing is converted here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from imu_pipeline.config import FrontConfig
from imu_pipeline.errors import ImuPipelineError
from imu_pipeline.io.recording import median_rate_hz

#: Rows integrated per array operation (bounds the temporaries; the result does not depend on it).
EXTEND_ROWS = 1 << 15

#: Channels carried per sensor: acc x, y, z (m/s²), gyr x, y, z (rad/s), sensor frame.
N_CHANNELS = 6


class FrontError(ImuPipelineError):
    """Samples that cannot be used (unknown sensor, mismatched array shapes)."""


@dataclass
class Outage:
    """A stretch of the session (s) in which one sensor delivered no samples."""

    sensor: str
    start_s: float
    end_s: float
    where: str  # 'start' (before its first sample), 'middle', 'end' (after its last sample)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, object]:
        return {"sensor": self.sensor, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "duration_s": round(self.duration_s, 3), "where": self.where}


@dataclass
class SensorQuality:
    """What one sensor delivered.

    Attributes
    ----------
    samples : samples kept
    dropped_duplicate : samples dropped for a time stamp not later than the previous one
    dropped_late : samples that arrived after their grid rows were released (live skew)
    dropped_frozen : samples dropped as a frozen sensor's repeats (see ``frozen_after_s``)
    first_s, last_s : time of the first / last kept sample (s; NaN without samples)
    rate_hz : nominal rate used for the outage threshold (Hz; NaN if never known)
    declared_rate_hz : the rate the sidecar or device profile declares (Hz), or None
    effective_rate_hz : samples per second over the time the sensor was delivering
    gap_threshold_s : intervals longer than this were outages
    outages : outages in the middle of its data (start and end ones are in
        :class:`DataQuality`, which knows the session span)
    """

    samples: int = 0
    dropped_duplicate: int = 0
    dropped_late: int = 0
    dropped_frozen: int = 0
    first_s: float = math.nan
    last_s: float = math.nan
    rate_hz: float = math.nan
    declared_rate_hz: float | None = None
    effective_rate_hz: float = math.nan
    gap_threshold_s: float = math.nan
    outages: list[Outage] = field(default_factory=list)


class SensorResampler:
    """One sensor's samples -> interval means on the common grid (see the module docstring).

    Parameters
    ----------
    sensor : 'thigh' or 'pelvis'
    cfg : FrontConfig (grid rate in Hz, thresholds in s)
    declared_rate_hz : the rate the sidecar or the device profile declares (Hz), or None

    Attributes
    ----------
    quality_ : SensorQuality, updated as samples arrive
    final_k_ : every grid index up to this one is final for this sensor (values released or
        known missing); ``-inf`` before the rate is known
    """

    def __init__(self, sensor: str, cfg: FrontConfig, declared_rate_hz: float | None = None) -> None:
        self.sensor = sensor
        self.cfg = cfg
        self.fs = float(cfg.grid_rate_hz)
        self.declared_rate_hz = declared_rate_hz
        self.quality_ = SensorQuality(declared_rate_hz=declared_rate_hz)
        self.final_k_: float = -math.inf
        self.newest_s: float = -math.inf  # newest kept raw time (known as soon as it arrives)
        self._prev_values = np.full(N_CHANNELS, np.nan)  # the last sample's values (frozen-sensor check)
        self._run_start_s = -math.inf  # when the current run of identical samples began
        self._probe: list[np.ndarray] = []  # rows (t, 6 values) held until the rate is known
        self._gap_s = math.inf
        self._shift_s = 0.0  # half a sample interval (s): where an interval-mean sample belongs
        self._last: np.ndarray | None = None  # (7,) the last processed sample: t, 6 values
        self._cum = np.zeros(N_CHANNELS)  # integral of each channel from the block start to _last
        self._block = -1
        self._block_t0 = math.nan
        self._next_k = 0  # next grid index this block may release
        self._edge: np.ndarray | None = None  # integral at t_{next_k - 1} (None: not yet evaluated)

    # ------------------------------------------------------------------ input
    def push(self, t: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add samples (time s, (N, 6) values); return released ``(k, values, block)``."""
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        v = np.asarray(values, dtype=np.float64).reshape(-1, N_CHANNELS)
        if t.size != v.shape[0]:
            raise FrontError(f"{self.sensor}: {t.size} time stamps but {v.shape[0]} samples")
        rows = np.empty((t.size, 1 + N_CHANNELS))
        rows[:, 0] = t
        rows[:, 1:] = v
        return self.push_rows(rows, owned=True)

    def push_rows(self, rows: np.ndarray, *, owned: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add samples as (N, 7) rows: time (s), then the 6 values; return released ``(k, values, block)``.
        ``owned``: the array is this object's to modify (else it is copied)."""
        if rows.shape[0] == 0:
            return _empty_release()
        if not owned:
            rows = np.array(rows, dtype=np.float64)
        t = rows[:, 0]
        keep = self._keep_mask(t)
        if not keep.all():
            self.quality_.dropped_duplicate += int((~keep).sum())
            rows = rows[keep]
            t = rows[:, 0]
        if t.size == 0:
            return _empty_release()
        frozen = self._frozen_mask(rows)
        if frozen.any():
            self.quality_.dropped_frozen += int(frozen.sum())
            rows = rows[~frozen]
            t = rows[:, 0]
            if t.size == 0:
                return _empty_release()
        q = self.quality_
        if q.samples == 0:
            q.first_s = float(t[0])
        q.samples += int(t.size)
        q.last_s = float(t[-1])
        self.newest_s = float(t[-1])
        if not math.isfinite(self._gap_s):
            self._probe.append(rows)
            held = np.concatenate(self._probe)
            if len(held) < self.cfg.rate_probe_samples:
                return _empty_release()
            self._probe.clear()
            self._set_rate(held[: self.cfg.rate_probe_samples, 0])
            rows = held
        return self._process(rows)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """End of stream: process samples still held for the rate estimate."""
        out = _empty_release()
        if self._probe:
            held = np.concatenate(self._probe)
            self._probe.clear()
            self._set_rate(held[: self.cfg.rate_probe_samples, 0])
            out = self._process(held)
        q = self.quality_
        if q.samples > 1 and q.last_s > q.first_s:
            busy = (q.last_s - q.first_s) - sum(o.duration_s for o in q.outages)
            q.effective_rate_hz = (q.samples - 1 - len(q.outages)) / busy if busy > 0 else math.nan
        return out

    # ------------------------------------------------------------------ internals
    def _frozen_mask(self, rows: np.ndarray) -> np.ndarray:
        """Samples that repeat the previous sample's six values exactly, in a run that has lasted
        ``frozen_after_s``, while reading a turn of at least ``frozen_min_rate_deg_s``: a sensor
        that stopped measuring but kept sending its last sample. A turning sensor never repeats
        itself (noise and motion); a still one may (coarse quantisation, the ideal simulator), and
        its repeats are harmless. These are dropped, which leaves an outage."""
        v = rows[:, 1:]
        same = np.empty(len(v), bool)
        same[0] = bool(np.all(v[0] == self._prev_values))
        np.all(v[1:] == v[:-1], axis=1, out=same[1:])
        self._prev_values = v[-1].copy()
        t = rows[:, 0]
        if not same.any():  # the usual case: nothing repeats
            self._run_start_s = float(t[-1])
            return same
        starts = np.where(~same, np.arange(len(t)), -1)
        np.maximum.accumulate(starts, out=starts)
        run_start = np.where(starts >= 0, t[np.maximum(starts, 0)], self._run_start_s)
        self._run_start_s = float(run_start[-1])
        frozen = same & (t - run_start >= self.cfg.frozen_after_s)
        idx = np.flatnonzero(frozen)
        if idx.size:  # ... and only while reading a turn
            still = np.linalg.norm(v[idx, 3:], axis=1) < np.radians(self.cfg.frozen_min_rate_deg_s)
            frozen[idx[still]] = False
        return frozen

    def _keep_mask(self, t: np.ndarray) -> np.ndarray:
        """A sample is kept when its time is later than every earlier one (NaN times are dropped)."""
        prev = np.maximum.accumulate(np.concatenate([[self.newest_s], np.nan_to_num(t, nan=-np.inf)]))[:-1]
        return np.isfinite(t) & (t > prev)

    def _set_rate(self, t: np.ndarray) -> None:
        rate = median_rate_hz(t)
        decl = self.declared_rate_hz
        if decl and (not math.isfinite(rate) or abs(rate - decl) / decl < self.cfg.declared_rate_tolerance):
            rate = float(decl)
        self.quality_.rate_hz = rate
        gap = self.cfg.max_gap_s
        if math.isfinite(rate) and rate > 0:
            gap = max(gap, self.cfg.gap_intervals / rate)
        self._gap_s = gap
        self.quality_.gap_threshold_s = gap
        self._shift_s = 0.5 / rate if math.isfinite(rate) and rate > 0 else 0.0

    def _process(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run kept, time-ordered rows through the block integrator; release grid values.

        A sample is its sensor's mean over the interval that ends at its time stamp (an IMU's
        decimation filter), so it stands for the middle of that interval: it is placed half an
        interval earlier (5 ms at 100 Hz; 50 ms at 10 Hz, where leaving it would lag the angle
        by several degrees in a fast rep)."""
        if self._shift_s:
            rows[:, 0] -= self._shift_s  # rows are this object's own (push_rows copies the caller's)
        t = rows[:, 0]
        prev_t = self._last[0] if self._last is not None else -math.inf
        cut = np.flatnonzero(np.diff(np.concatenate([[prev_t], t])) > self._gap_s)
        starts = cut.tolist()
        if self._last is None and (not starts or starts[0] != 0):
            starts = [0] + starts
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        edges = [0] + [s for s in starts if s > 0] + [len(t)]
        for a, b in zip(edges[:-1], edges[1:]):
            if a in starts:
                if self._last is not None:
                    sh = self._shift_s  # outages in the recording's own time stamps
                    self.quality_.outages.append(Outage(self.sensor, float(self._last[0]) + sh, float(t[a]) + sh,
                                                        "middle"))
                self._start_block(rows[a])
                a += 1
            for c in range(a, b, EXTEND_ROWS):  # bounded temporaries; any split gives the same values
                out.append(self._extend(rows[c:min(b, c + EXTEND_ROWS)]))
        self.final_k_ = k_at_or_before(float(t[-1]), self.fs)
        if not out:
            return _empty_release()
        return (np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out]),
                np.concatenate([o[2] for o in out]))

    def _start_block(self, row: np.ndarray) -> None:
        self._block += 1
        self._last = row.copy()
        self._cum = np.zeros(N_CHANNELS)
        self._block_t0 = float(row[0])
        # the first grid value whose whole interval (t_k - 1/fs, t_k] lies inside the block
        self._next_k = k_at_or_after(self._block_t0, self.fs) + 1
        self._edge = None

    def _extend(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Append rows to the current block; release every grid value now covered.

        The signal is linear between samples, so its integral is quadratic there; a grid value
        is the difference of the integral at its interval's two edges. Every edge is evaluated
        once, on the segment ``T[i] < t <= T[i + 1]`` (so the same segment whatever the chunking),
        and the running integral is accumulated sequentially: chunked pushes agree bit for bit.
        """
        assert self._last is not None
        T = np.concatenate([self._last[:1], rows[:, 0]])
        V = np.empty((N_CHANNELS, len(T)))  # channels first: the running sums stream along rows
        V[:, 0] = self._last[1:]
        V[:, 1:] = rows[:, 1:].T
        h = np.diff(T)
        C = np.empty_like(V)
        C[:, 0] = self._cum
        np.add(V[:, :-1], V[:, 1:], out=C[:, 1:])
        C[:, 1:] *= 0.5 * h
        np.add.accumulate(C, axis=1, out=C)
        self._last = rows[-1].copy()
        self._cum = C[:, -1].copy()
        k1 = k_at_or_before(float(T[-1]), self.fs)
        k0 = self._next_k
        # the first edge of a block is evaluated as soon as the data reach it (possibly in a push
        # that releases no value yet), so it always lies on its own segment
        first = k0 - 1 if self._edge is None else k0
        if k1 < first:
            return _empty_release()
        ks = np.arange(first, k1 + 1, dtype=np.int64)
        tau = ks / self.fs
        i = np.clip(np.searchsorted(T, tau, side="left") - 1, 0, len(h) - 1)
        u = tau - T[i]
        Vi = V[:, i]
        Ci = (C[:, i] + Vi * u + (V[:, i + 1] - Vi) * (u * u / (2.0 * h[i]))).T
        if self._edge is not None:
            Ci = np.vstack([self._edge, Ci])
        means = np.diff(Ci, axis=0) * self.fs
        self._edge = Ci[-1].copy()
        self._next_k = k1 + 1
        out_k = np.arange(k0, k1 + 1, dtype=np.int64)
        return out_k, means, np.full(len(out_k), self._block, dtype=np.int64)


def k_at_or_before(t: float, fs: float) -> int:
    """Largest grid index ``k`` with ``k / fs <= t`` (exact in floating point)."""
    k = math.floor(t * fs)
    while k / fs > t:
        k -= 1
    while (k + 1) / fs <= t:
        k += 1
    return k


def k_at_or_after(t: float, fs: float) -> int:
    """Smallest grid index ``k`` with ``k / fs >= t`` (exact in floating point)."""
    k = math.ceil(t * fs)
    while k / fs < t:
        k += 1
    while (k - 1) / fs >= t:
        k -= 1
    return k


def _empty_release() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.empty(0, np.int64), np.empty((0, N_CHANNELS)), np.empty(0, np.int64)
