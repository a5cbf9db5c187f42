"""The front half: raw samples of both sensors -> one common time grid, with data quality.

One stateful object, :class:`FrontHalf`, serves both paths. The offline path pushes the whole
recording and calls :meth:`FrontHalf.finish`; the live path pushes each BLE notification as it
arrives. Any chunking of a stream in arrival order gives the same arrays, bit for bit (a test
checks random chunkings with loss, jitter, duplicate time stamps and gaps).

What happens to the samples
---------------------------
1. **Per sensor** (:class:`~imu_pipeline.resample.SensorResampler`): a sample whose time is not later than the last
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
   sample of an already released row is dropped and counted (``late``). Live, the recorder says
   when a sensor's samples are being held back (:meth:`FrontHalf.hold`: its timing settles for
   up to ~2 s after each (re)connection, then they arrive in one burst); such a sensor is waited
   for up to ``held_max_s`` instead, so the burst is not dropped as late.

Units: time in s (float64, session clock), specific force in m/s², angular rate in rad/s, both in
the sensor frame; nothing is converted here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from imu_pipeline.config import FrontConfig
from imu_pipeline.io.recording import SENSORS, Recording
from imu_pipeline.resample import (
    N_CHANNELS,
    FrontError,
    Outage,
    SensorQuality,
    SensorResampler,
    k_at_or_after,
    k_at_or_before,
)

__all__ = ["DataQuality", "FrontError", "FrontHalf", "GridBatch", "Outage", "SensorQuality", "front_half_offline", "slower_rate_hz"]


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
    def empty(cls) -> GridBatch:
        return cls(np.empty(0, np.int64), np.empty(0), {s: np.empty((0, 3)) for s in SENSORS},
                   {s: np.empty((0, 3)) for s in SENSORS}, {s: np.empty(0, np.int64) for s in SENSORS})

    @classmethod
    def concat(cls, parts: list[GridBatch]) -> GridBatch:
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

    def slice(self, a: int, b: int) -> GridBatch:
        """Rows ``a`` to ``b`` (views)."""
        return GridBatch(self.k[a:b], self.time_s[a:b], {s: v[a:b] for s, v in self.acc.items()},
                         {s: v[a:b] for s, v in self.gyr.items()}, {s: v[a:b] for s, v in self.block.items()})


@dataclass
class DataQuality:
    """Per sensor what was delivered, and every outage of the session including its ends.

    Attributes
    ----------
    start_s, end_s : the session's span (s): first and last sample of either sensor
    sensors : sensor -> SensorQuality
    outages : every stretch a sensor delivered nothing, at the start, middle or end
    coverage : sensor -> fraction of the session's span not inside one of its outages
    clock_offset_s : offline, when the two sensors' movements correlate best at a lag beyond
        ``[front] sync_max_lag_s``: that lag (s, pelvis later than thigh positive); else None
    """

    start_s: float
    end_s: float
    sensors: dict[str, SensorQuality]
    outages: list[Outage]
    coverage: dict[str, float]
    clock_offset_s: float | None = None  # suspected: the pelvis's data late against the thigh's by this (s)

    def to_dict(self) -> dict[str, object]:
        return {
            "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
            "sensors": {s: {"samples": q.samples, "first_s": _r(q.first_s, 3), "last_s": _r(q.last_s, 3),
                            "coverage": _r(self.coverage.get(s, 0.0), 4), "rate_hz": _r(q.rate_hz, 2),
                            "effective_rate_hz": _r(q.effective_rate_hz, 2),
                            "gap_threshold_s": _r(q.gap_threshold_s, 3),
                            "dropped_duplicate": q.dropped_duplicate, "dropped_late": q.dropped_late,
                            "dropped_frozen": q.dropped_frozen}
                        for s, q in self.sensors.items()},
            "gaps": [o.to_dict() for o in self.outages],
            "suspected_clock_offset_s": _r(self.clock_offset_s, 2) if self.clock_offset_s is not None else None,
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
        self._held: set[str] = set()
        self.quality_: DataQuality | None = None

    def hold(self, sensor: str, held: bool) -> None:
        """Live: ``sensor``'s samples are being held back before delivery (True) or not (False).
        While held, the rows wait for it up to ``held_max_s`` (instead of ``absent_after_s``) of
        the other sensor's stream before it counts as missing there."""
        if sensor not in self.resamplers_:
            raise FrontError(f"unknown sensor {sensor!r}; expected one of {', '.join(SENSORS)}")
        if held:
            self._held.add(sensor)
        else:
            self._held.discard(sensor)

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
        self._stash(sensor, self.resamplers_[sensor].push_rows(rows, owned=True))

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
        for s, r in res.items():
            k = r.final_k_
            silent_since = r.newest_s if math.isfinite(r.newest_s) else self._first_s
            wait_s = self.cfg.held_max_s if s in self._held else self.cfg.absent_after_s
            if newest - silent_since > wait_s:
                k = max(k, k_at_or_before(newest - wait_s, self.fs))
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


def slower_rate_hz(sensors: Mapping[str, SensorQuality]) -> float | None:
    """The slower sensor's nominal rate (Hz), None while no rate is known."""
    rates = [q.rate_hz for q in sensors.values() if math.isfinite(q.rate_hz)]
    return min(rates) if rates else None


def front_half_offline(rec: Recording, cfg: FrontConfig | None = None) -> tuple[GridBatch, DataQuality]:
    """The whole recording through the front half: every grid row and the data quality (with the
    clock check, :func:`movement_lag`)."""
    cfg = cfg or FrontConfig()
    fh = FrontHalf(cfg, {s: rec.sensor_meta(s).get("sample_rate_hz") for s in SENSORS})
    rows = GridBatch.concat([fh.push_recording(rec), fh.finish()])
    assert fh.quality_ is not None
    lag = movement_lag(rows, cfg.grid_rate_hz)
    if lag is not None and abs(lag[0]) > cfg.sync_max_lag_s and lag[1] >= cfg.sync_min_correlation:
        fh.quality_.clock_offset_s = lag[0]
    return rows, fh.quality_


def movement_lag(rows: GridBatch, grid_rate_hz: float, max_lag_s: float = 1.0) -> tuple[float, float] | None:
    """The lag (s, pelvis later positive) at which the two sensors' angular speeds (smoothed over
    0.2 s, mean removed, rows both have) correlate best within ``max_lag_s``, and that normalised
    correlation. The pelvis moves with the legs (it tilts as they rise and curls at the top), so
    their movements line up within a few tenths of a second; a larger lag points at clocks out of
    step. None without 10 s of both."""
    both = np.isfinite(rows.gyr["thigh"][:, 0]) & np.isfinite(rows.gyr["pelvis"][:, 0])
    if both.sum() < 10 * grid_rate_hz:
        return None
    k = max(1, int(round(0.2 * grid_rate_hz)))
    kern = np.ones(k) / k

    def speed(s: str) -> np.ndarray:
        v = np.where(both, np.linalg.norm(np.nan_to_num(rows.gyr[s]), axis=1), 0.0)
        v = np.convolve(v, kern, mode="same")
        v = np.where(both, v - v[both].mean(), 0.0)
        return v

    a, b = speed("thigh"), speed("pelvis")
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if norm == 0:
        return None
    n = int(round(max_lag_s * grid_rate_hz))
    lags = np.arange(-n, n + 1)
    corr = np.array([float((a[max(0, -L):len(a) - max(0, L)] * b[max(0, L):len(b) - max(0, -L)]).sum()) for L in lags])
    i = int(np.argmax(corr))
    return float(lags[i] / grid_rate_hz), float(corr[i] / norm)
