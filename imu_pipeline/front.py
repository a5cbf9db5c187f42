"""The front half: raw samples of both sensors -> one common time grid, with data quality.

One stateful object, :class:`FrontHalf`, serves both paths. The offline path pushes the whole
recording and calls :meth:`FrontHalf.finish`; the live path pushes each BLE notification as it
arrives. Any chunking of a stream in arrival order gives the same arrays, bit for bit (a test
checks random chunkings with loss, jitter, duplicate time stamps and gaps).

What happens to the samples
---------------------------
1. **Per sensor** (:class:`SensorResampler`): a sample whose time is not later than the last
   kept one (a duplicate or out-of-order time stamp) is dropped and counted. The sensor's
   nominal rate is the median interval of its first ``rate_probe_samples`` samples (the declared
   rate when it agrees within ``declared_rate_tolerance``). An interval longer than
   ``max(max_gap_s, gap_intervals / rate)`` is an *outage*: never bridged; the samples after it
   start a new *block* (the orientation filter restarts there).
2. Inside a block the signal is taken as piecewise linear between samples, and each grid value is
   its **mean over the grid interval** ``(t_k - 1/fs, t_k]``, from the exact integral of that
   piecewise-linear signal. For the angular rate this is what an orientation filter needs (the
   rotation over the interval is preserved, so lost packets and rate changes do not bias the
   integrated angle); a faster sensor is averaged (no aliasing), a slower one interpolated.
   Grid values whose interval is not wholly inside a block are missing (NaN): nothing is
   invented across an outage or before a sensor's first sample.
3. **Both sensors** (:class:`FrontHalf`): the common grid is ``t_k = k / grid_rate_hz`` on the
   session clock. A grid row is released once both sensors' values there are final: a sensor
   has delivered samples past it, or it has been silent for ``absent_after_s`` while the other
   streamed on (it is then missing there). ``absent_after_s`` must exceed the longest outage
   threshold plus the largest delivery skew between the two sensors; with a larger skew a late
   sample of an already released row is dropped and counted (``late``).

Units: time in s (float64, session clock), specific force in m/s², angular rate in rad/s, both in
the sensor frame; nothing is converted here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from imu_pipeline.config import FrontConfig
from imu_pipeline.errors import ImuPipelineError
from imu_pipeline.io.recording import SENSORS, Recording, median_rate_hz

#: Rows integrated per array operation (bounds the temporaries; the result does not depend on it).
EXTEND_ROWS = 1 << 15

#: Channels carried per sensor: acc x, y, z (m/s²), gyr x, y, z (rad/s), sensor frame.
N_CHANNELS = 6


class FrontError(ImuPipelineError):
    """Samples that cannot be used (unknown sensor, mismatched array shapes)."""


@dataclass
class GridBatch:
    """Rows of the common grid released by the front half.

    Attributes
    ----------
    k : (N,) int64, grid index; ``time_s = k / grid_rate_hz``
    time_s : (N,) float64, s, session clock
    acc : sensor -> (N, 3) m/s², sensor frame, interval mean; NaN where the sensor is missing
    gyr : sensor -> (N, 3) rad/s, sensor frame, interval mean; NaN where the sensor is missing
    block : sensor -> (N,) int64, index of the sensor's gap-free block (-1 where missing)
    """

    k: np.ndarray
    time_s: np.ndarray
    acc: dict[str, np.ndarray]
    gyr: dict[str, np.ndarray]
    block: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.k.shape[0])

    @classmethod
    def empty(cls) -> "GridBatch":
        return cls(np.empty(0, np.int64), np.empty(0), {s: np.empty((0, 3)) for s in SENSORS},
                   {s: np.empty((0, 3)) for s in SENSORS}, {s: np.empty(0, np.int64) for s in SENSORS})

    @classmethod
    def concat(cls, parts: list["GridBatch"]) -> "GridBatch":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.k for p in parts]), np.concatenate([p.time_s for p in parts]),
                   {s: np.concatenate([p.acc[s] for p in parts]) for s in SENSORS},
                   {s: np.concatenate([p.gyr[s] for p in parts]) for s in SENSORS},
                   {s: np.concatenate([p.block[s] for p in parts]) for s in SENSORS})

    def valid(self, sensor: str) -> np.ndarray:
        """(N,) bool: the sensor has a value in this row."""
        return self.block[sensor] >= 0


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
    first_s, last_s : time of the first / last kept sample (s; NaN without samples)
    rate_hz : nominal rate used for the outage threshold (Hz; NaN if never known)
    effective_rate_hz : samples per second over the time the sensor was delivering
    gap_threshold_s : intervals longer than this were outages
    outages : outages in the middle of its data (start and end ones are in
        :class:`DataQuality`, which knows the session span)
    """

    samples: int = 0
    dropped_duplicate: int = 0
    dropped_late: int = 0
    first_s: float = math.nan
    last_s: float = math.nan
    rate_hz: float = math.nan
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
        self.quality_ = SensorQuality()
        self.final_k_: float = -math.inf
        self.newest_s: float = -math.inf  # newest kept raw time (known as soon as it arrives)
        self._probe: list[np.ndarray] = []  # rows (t, 6 values) held until the rate is known
        self._gap_s = math.inf
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
        return self.push_rows(rows)

    def push_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add samples as (N, 7) rows: time (s), then the 6 values; return released ``(k, values, block)``."""
        if rows.shape[0] == 0:
            return _empty_release()
        t = rows[:, 0]
        keep = self._keep_mask(t)
        if not keep.all():
            self.quality_.dropped_duplicate += int((~keep).sum())
            rows = rows[keep]
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
            self._set_rate(held[:, 0])
            rows = held
        return self._process(rows)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """End of stream: process samples still held for the rate estimate."""
        out = _empty_release()
        if self._probe:
            held = np.concatenate(self._probe)
            self._probe.clear()
            self._set_rate(held[:, 0])
            out = self._process(held)
        q = self.quality_
        if q.samples > 1 and q.last_s > q.first_s:
            busy = (q.last_s - q.first_s) - sum(o.duration_s for o in q.outages)
            q.effective_rate_hz = (q.samples - 1 - len(q.outages)) / busy if busy > 0 else math.nan
        return out

    # ------------------------------------------------------------------ internals
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

    def _process(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run kept, time-ordered rows through the block integrator; release grid values."""
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
                    self.quality_.outages.append(Outage(self.sensor, float(self._last[0]), float(t[a]), "middle"))
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


@dataclass
class DataQuality:
    """Per sensor what was delivered, and every outage of the session including its ends.

    Attributes
    ----------
    start_s, end_s : the session's span (s): first and last sample of either sensor
    sensors : sensor -> SensorQuality
    outages : every stretch a sensor delivered nothing, at the start, middle or end
    coverage : sensor -> fraction of the session's span not inside one of its outages
    """

    start_s: float
    end_s: float
    sensors: dict[str, SensorQuality]
    outages: list[Outage]
    coverage: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
            "sensors": {s: {"samples": q.samples, "first_s": _r(q.first_s, 3), "last_s": _r(q.last_s, 3),
                            "coverage": _r(self.coverage.get(s, 0.0), 4), "rate_hz": _r(q.rate_hz, 2),
                            "effective_rate_hz": _r(q.effective_rate_hz, 2),
                            "gap_threshold_s": _r(q.gap_threshold_s, 3),
                            "dropped_duplicate": q.dropped_duplicate, "dropped_late": q.dropped_late}
                        for s, q in self.sensors.items()},
            "gaps": [o.to_dict() for o in self.outages],
        }


def _r(x: float, nd: int) -> float | None:
    return round(float(x), nd) if x is not None and math.isfinite(x) else None


class FrontHalf:
    """Both sensors -> rows of the common grid, released causally (see the module docstring).

    Parameters
    ----------
    cfg : FrontConfig
    declared_rates_hz : sensor -> declared rate (Hz) or None

    Attributes
    ----------
    resamplers_ : sensor -> SensorResampler
    quality_ : DataQuality, set by :meth:`finish`

    Example
    -------
    >>> fh = FrontHalf(FrontConfig())                       # doctest: +SKIP
    >>> rows = fh.push("thigh", t, acc, gyr)               # live: per notification
    >>> rows = GridBatch.concat([rows, fh.finish()])       # offline: push everything, then finish
    """

    def __init__(self, cfg: FrontConfig | None = None,
                 declared_rates_hz: dict[str, float | None] | None = None) -> None:
        self.cfg = cfg or FrontConfig()
        self.fs = float(self.cfg.grid_rate_hz)
        rates = declared_rates_hz or {}
        self.resamplers_ = {s: SensorResampler(s, self.cfg, rates.get(s)) for s in SENSORS}
        self._pending: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {s: [] for s in SENSORS}
        self._next_k: int | None = None
        self._first_s = math.inf
        self.quality_: DataQuality | None = None

    # ------------------------------------------------------------------ input
    def push(self, sensor: str, time_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> GridBatch:
        """Add samples of one sensor (s, m/s², rad/s); return the grid rows now final."""
        self._ingest(sensor, time_s, acc, gyr)
        return self._release(final=False)

    def push_recording(self, rec: Recording) -> GridBatch:
        """Add every sample of a recording (both sensors) before releasing rows."""
        for s in SENSORS:
            ss = rec.sensors.get(s)
            if ss is not None and len(ss):
                self._ingest(s, ss.time_s, ss.acc, ss.gyr)
        return self._release(final=False)

    def finish(self) -> GridBatch:
        """End of stream: release every remaining row and compute :attr:`quality_`."""
        for s, r in self.resamplers_.items():
            self._stash(s, r.finish())
        out = self._release(final=True)
        self.quality_ = self._quality()
        return out

    # ------------------------------------------------------------------ internals
    def _ingest(self, sensor: str, time_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        if sensor not in self.resamplers_:
            raise FrontError(f"unknown sensor {sensor!r}; expected one of {', '.join(SENSORS)}")
        t = np.atleast_1d(np.asarray(time_s, dtype=np.float64))
        if t.size == 0:
            return
        a = np.asarray(acc, dtype=np.float64).reshape(-1, 3)
        g = np.asarray(gyr, dtype=np.float64).reshape(-1, 3)
        if not (len(a) == len(g) == len(t)):
            raise FrontError(f"{sensor}: {len(t)} times, {len(a)} acc and {len(g)} gyr samples")
        self._first_s = min(self._first_s, float(np.nanmin(t)) if np.isfinite(t).any() else math.inf)
        rows = np.empty((t.size, 1 + N_CHANNELS))
        rows[:, 0], rows[:, 1:4], rows[:, 4:] = t, a, g
        self._stash(sensor, self.resamplers_[sensor].push_rows(rows))

    def _stash(self, sensor: str, rel: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        if len(rel[0]):
            self._pending[sensor].append(rel)

    def _resolved_k(self, final: bool) -> int | None:
        """Highest grid index final for both sensors (None: nothing yet)."""
        res = self.resamplers_
        newest = max(r.newest_s for r in res.values())
        if not math.isfinite(newest):
            return None
        if final:
            return k_at_or_before(newest, self.fs)
        ks = []
        for r in res.values():
            k = r.final_k_
            silent_since = r.newest_s if math.isfinite(r.newest_s) else self._first_s
            if newest - silent_since > self.cfg.absent_after_s:
                k = max(k, k_at_or_before(newest - self.cfg.absent_after_s, self.fs))
            ks.append(k)
        k = min(ks)
        return None if not math.isfinite(k) else int(k)

    def _release(self, final: bool) -> GridBatch:
        kmax = self._resolved_k(final)
        if kmax is None:
            return GridBatch.empty()
        if self._next_k is None:
            if not math.isfinite(self._first_s):
                return GridBatch.empty()
            self._next_k = k_at_or_after(self._first_s, self.fs)
        k0 = self._next_k
        if kmax < k0:
            return GridBatch.empty()
        n = kmax - k0 + 1
        ks = np.arange(k0, kmax + 1, dtype=np.int64)
        acc, gyr, block = {}, {}, {}
        for s in SENSORS:
            vals = np.full((n, N_CHANNELS), np.nan)
            blk = np.full(n, -1, dtype=np.int64)
            keep: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
            for kk, vv, bb in self._pending[s]:
                late = kk < k0
                if late.any():
                    self.resamplers_[s].quality_.dropped_late += int(late.sum())
                now = (kk >= k0) & (kk <= kmax)
                idx = kk[now] - k0
                vals[idx] = vv[now]
                blk[idx] = bb[now]
                later = kk > kmax
                if later.any():
                    keep.append((kk[later], vv[later], bb[later]))
            self._pending[s] = keep
            acc[s], gyr[s], block[s] = vals[:, :3], vals[:, 3:], blk
        self._next_k = kmax + 1
        return GridBatch(ks, ks / self.fs, acc, gyr, block)

    def _quality(self) -> DataQuality:
        qs = {s: r.quality_ for s, r in self.resamplers_.items()}
        firsts = [q.first_s for q in qs.values() if q.samples]
        lasts = [q.last_s for q in qs.values() if q.samples]
        start = min(firsts) if firsts else math.nan
        end = max(lasts) if lasts else math.nan
        outages: list[Outage] = []
        for s, q in qs.items():
            if not q.samples:
                if firsts:
                    outages.append(Outage(s, start, end, "start"))
                continue
            thr = q.gap_threshold_s if math.isfinite(q.gap_threshold_s) else self.cfg.max_gap_s
            if q.first_s - start > thr:
                outages.append(Outage(s, start, q.first_s, "start"))
            outages.extend(q.outages)
            if end - q.last_s > thr:
                outages.append(Outage(s, q.last_s, end, "end"))
        outages.sort(key=lambda o: (o.start_s, o.sensor))
        span = end - start
        cov = {s: (max(0.0, 1.0 - sum(o.duration_s for o in outages if o.sensor == s) / span)
                   if span > 0 else float(qs[s].samples > 0)) for s in SENSORS}
        return DataQuality(start, end, qs, outages, cov)


def front_half_offline(rec: Recording, cfg: FrontConfig | None = None) -> tuple[GridBatch, DataQuality]:
    """The whole recording through the front half: every grid row and the data quality."""
    fh = FrontHalf(cfg, {s: rec.sensor_meta(s).get("sample_rate_hz") for s in SENSORS})
    rows = GridBatch.concat([fh.push_recording(rec), fh.finish()])
    assert fh.quality_ is not None
    return rows, fh.quality_
