"""Causal rep segmentation on hip flexion: one segmenter for the offline and the live path.

:class:`RepSegmenter` is fed uniformly sampled hip flexion (degrees at this edge, NaN where
missing) with :meth:`~RepSegmenter.push`, sample by sample or in batches of any size, and emits
each finished rep as :class:`RepBounds`. Definitions (thresholds in
:class:`~imu_pipeline.config.RepConfig`; GUIDE §5): a rep rises at least ``min_rep_deg`` above
its running baseline and comes back down by ``return_fraction`` of that excursion; it ends when
the angle settles near its new minimum for ``settle_s`` or turns up again by ``reversal_deg``
(touch-and-go). A gap longer than ``gap_reset_s`` closes a rep under way (counted once, flagged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imu_pipeline.config import PipelineConfig


class CausalLowpass:
    """Second-order Butterworth low-pass (bilinear transform), state kept across calls.

    A plain biquad in direct form II transposed; written out so the live path and the CLI do
    not pay for importing scipy.signal.
    """

    def __init__(self, cutoff_hz: float, fs_hz: float) -> None:
        fc = min(cutoff_hz, 0.45 * fs_hz)
        k = math.tan(math.pi * fc / fs_hz)
        q = 1 / math.sqrt(2)
        norm = 1 / (1 + k / q + k * k)
        self.b = (k * k * norm, 2 * k * k * norm, k * k * norm)
        self.a = (2 * (k * k - 1) * norm, (1 - k / q + k * k) * norm)
        self.z: tuple[float, float] | None = None

    def reset(self) -> None:
        self.z = None

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        y = np.empty_like(x)
        if x.size == 0:
            return y
        b0, b1, b2 = self.b
        a1, a2 = self.a
        if self.z is None:  # start at rest at the first value (no step response)
            x0 = float(x[0])
            self.z = (x0 * (1 - b0), x0 * (b2 - a2))
        z1, z2 = self.z
        for i, xi in enumerate(x.tolist()):
            yi = b0 * xi + z1
            z1 = b1 * xi - a1 * yi + z2
            z2 = b2 * xi - a2 * yi
            y[i] = yi
        self.z = (z1, z2)
        return y


@dataclass
class RepBounds:
    """Times (s, recording clock) of one rep found by the segmenter."""

    start_s: float
    peak_s: float
    end_s: float
    ended_by: str  # 'settle' | 'reversal' | 'end-of-data'
    pause_s: float  # time spent near the bottom before turning up again (inf if it settled)
    has_gap: bool = False
    partial: bool = False  # the data stopped during the rep, or resumed with the rep under way


class RepSegmenter:
    """Causal rep segmentation on hip flexion (degrees at this edge).

    Feed uniformly sampled hip flexion with :meth:`push` (NaN = missing); each finished rep
    comes out as :class:`RepBounds` no later than ``settle_s`` (plus the low-pass delay)
    after its end. :meth:`finish` closes a rep that was coming down when the data ended.
    Memory is bounded by the length of one rep.
    """

    def __init__(self, cfg: PipelineConfig, fs_hz: float) -> None:
        self.c = cfg.reps
        self.fs = fs_hz
        self.lp = CausalLowpass(self.c.smoothing_hz, fs_hz)
        self.state = "base"
        self._reset_base()
        self.last_t = -math.inf
        self.gap_in_rep = False
        self.gap_reset_s = cfg.reps.gap_reset_s
        self._closed_by_gap = False
        self._resumed = False  # the rep under way began inside a gap (its start was not seen)
        self._closed_peak_t = -math.inf  # peak time of the last rep a gap closed
        self._closed_rising = False  # ... and whether it was on its way up then
        self._closed_last = (-math.inf, math.nan)  # ... and its last sample (s, deg)
        self.last_x = math.nan
        self._filt_last_t = -math.inf

    def _reset_base(self, base: float = math.inf, last_low_t: float = -math.inf) -> None:
        self.base = base
        self.last_low_t = last_low_t

    def push(self, t: np.ndarray, hip_deg: np.ndarray) -> list[RepBounds]:
        t = np.asarray(t, dtype=float)
        x = np.asarray(hip_deg, dtype=float)
        out: list[RepBounds] = []
        ok = np.isfinite(x)
        xf = self._smooth(t, x, ok)
        # runs of finite samples: the state machine advances over each run with array operations
        change = np.flatnonzero((np.diff(ok.astype(np.int8)) != 0) | (np.diff(t) > self.gap_reset_s)) + 1
        edges = np.concatenate([[0], change, [len(t)]]).tolist()
        for a, b in zip(edges[:-1], edges[1:]):
            if b <= a:
                continue
            if not ok[a]:
                for i in range(a, b):
                    self._missing(float(t[i]), out)
                continue
            self._resume(float(t[a]), float(x[a]), out)
            self._closed_by_gap = False
            self._advance(t[a:b], xf[a:b], out)
            self.last_t = float(t[b - 1])
            self.last_x = float(xf[b - 1])
        return out

    def _missing(self, ti: float, out: list[RepBounds]) -> None:
        """A missing sample: a rep under way is flagged, and closed once the gap is too long."""
        if self._closed_by_gap:
            return  # the rep this gap interrupted is closed; nothing is under way
        if self.state != "base" or self._rising():
            self.gap_in_rep = True
            if ti - self.last_t > self.gap_reset_s and not self._closed_by_gap:
                # the sensor has been away too long: close the rep now (counted once)
                out.append(self._close_at_gap())
                self._closed_by_gap = True

    def _resume(self, ti: float, xi: float, out: list[RepBounds]) -> None:
        """The first sample after missing ones. After a long gap what happened inside is
        unknown: a rep under way (or clearly on its way up) is closed at the gap (counted once,
        flagged); the smoother and baseline restart."""
        if not ti - self.last_t > self.gap_reset_s:
            return
        pre_base = self.base
        was_resting = self.state == "base" and (
            not self._closed_by_gap or (ti - self._closed_peak_t > self.c.resume_new_rep_after_s
                                        and not self._closed_tail(ti, xi)))
        if (self.state in ("up", "down") or self._rising()) and not self._closed_by_gap:
            out.append(self._close_at_gap())
            was_resting = False
        self._reset_base()
        if was_resting and np.isfinite(pre_base) and xi - pre_base >= self.c.resume_min_deg:
            # the legs went up while the sensor was away: a rep under way (counted once)
            self.state, self.start_t, self.start_base = "up", ti, pre_base
            self.peak, self.peak_t, self.gap_in_rep = xi, ti, True
            self._resumed = True

    def _advance(self, t: np.ndarray, x: np.ndarray, out: list[RepBounds]) -> None:
        """Run the state machine over finite, gap-free samples, a window at a time."""
        k, n = 0, len(t)
        step = {"base": self._base_run, "up": self._up_run, "down": self._down_run}
        while k < n:
            k = step[self.state](t, x, k, min(n, k + self.SCAN), out)

    #: Samples examined per array operation of the state machine.
    SCAN = 1024

    def _base_run(self, t: np.ndarray, x: np.ndarray, k: int, stop: int, out: list[RepBounds]) -> int:
        """Resting: track the baseline (running minimum) and the last time near it; a rise of
        ``min_rep_deg`` above it starts a rep."""
        c = self.c
        xs = x[k:stop]
        base = np.minimum(np.minimum.accumulate(xs), self.base)
        trig = np.flatnonzero(xs >= base + c.min_rep_deg)
        end = int(trig[0]) if trig.size else len(xs) - 1
        low = np.flatnonzero(xs[:end + 1] <= base[:end + 1] + c.onset_deg)
        if low.size:
            self.last_low_t = float(t[k + low[-1]])
        self.base = float(base[end])
        if not trig.size:
            return stop
        j = k + end
        self.state = "up"
        self.start_t = self.last_low_t if np.isfinite(self.last_low_t) else float(t[j])
        self.start_base = self.base
        self.peak, self.peak_t = float(x[j]), float(t[j])
        return j + 1

    def _up_run(self, t: np.ndarray, x: np.ndarray, k: int, stop: int, out: list[RepBounds]) -> int:
        """Rising: track the peak; coming down by ``return_fraction`` of the excursion starts the descent."""
        c = self.c
        xs = x[k:stop]
        peak = np.maximum(np.maximum.accumulate(xs), self.peak)
        trig = np.flatnonzero(xs <= peak - c.return_fraction * (peak - self.start_base))
        end = int(trig[0]) if trig.size else len(xs) - 1
        m = int(np.argmax(xs[:end + 1]))
        if xs[m] > self.peak:
            self.peak, self.peak_t = float(xs[m]), float(t[k + m])
        if not trig.size:
            return stop
        j = k + end
        self.state = "down"
        self.post_min = float(x[j])
        self.trace: list[tuple[np.ndarray, np.ndarray]] = [(t[j:j + 1].copy(), x[j:j + 1].copy())]
        self.band_since = float(t[j])
        return j + 1

    def _down_run(self, t: np.ndarray, x: np.ndarray, k: int, stop: int, out: list[RepBounds]) -> int:
        """Descending: the rep ends when the angle stays within ``onset_deg`` of its new minimum
        for ``settle_s`` (settle) or turns up again by ``reversal_deg`` (touch-and-go)."""
        c = self.c
        xs, ts = x[k:stop], t[k:stop]
        low = np.minimum(np.minimum.accumulate(xs), self.post_min)
        above = xs > low + c.onset_deg
        last_above = np.maximum.accumulate(np.where(above, np.arange(len(xs)), -1))
        since = np.where(last_above >= 0, ts[np.maximum(last_above, 0)], self.band_since)
        reversal = xs >= low + c.reversal_deg
        settle = (ts - since >= c.settle_s) & ~above
        ev = np.flatnonzero(reversal | settle)
        end = int(ev[0]) if ev.size else len(xs) - 1
        self.trace.append((ts[:end + 1].copy(), xs[:end + 1].copy()))
        self.post_min = float(low[end])
        self.band_since = float(since[end])
        if not ev.size:
            return stop
        out.append(self._emit("reversal" if reversal[end] else "settle"))
        return k + end + 1

    def _smooth(self, t: np.ndarray, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Low-pass the finite samples, one filter call per run; the filter restarts after a
        gap longer than ``gap_reset_s`` (NaN elsewhere)."""
        xf = np.full_like(x, np.nan)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return xf
        times = t[idx]
        prev = np.concatenate([[self._filt_last_t], times[:-1]])
        starts = np.flatnonzero(times - prev > self.gap_reset_s)
        edges = np.concatenate([[0], starts, [idx.size]])
        for a, b in zip(edges[:-1], edges[1:]):
            if b <= a:
                continue
            if a in starts:
                self.lp.reset()
            xf[idx[a:b]] = self.lp.process(x[idx[a:b]])
        self._filt_last_t = float(times[-1])
        return xf

    def _emit(self, how: str) -> RepBounds:
        c = self.c
        level = self.post_min + c.onset_deg
        tt = np.concatenate([p[0] for p in self.trace])
        xx = np.concatenate([p[1] for p in self.trace])
        lows = tt[xx <= level]  # never empty: the minimum itself is in the trace
        end_t = float(lows[0])
        last_low = float(lows[-1])  # the last time it was in the band before now
        pause = (last_low - end_t) if how == "reversal" else math.inf
        r = RepBounds(self.start_t, self.peak_t, end_t, how, pause, self.gap_in_rep, partial=self._resumed)
        self._resumed = False
        self.state = "base"
        self.gap_in_rep = False
        self.trace = []
        self._reset_base(self.post_min, last_low)
        return r

    def _rising(self) -> bool:
        """Resting state, but already well on the way up (a rep the gap interrupts)."""
        return self.state == "base" and np.isfinite(self.base) and self.last_x - self.base >= self.c.resume_min_deg

    def _closed_tail(self, ti: float, xi: float) -> bool:
        """Data resuming high at ``ti`` (value ``xi``) after a gap that closed a rep are that rep's
        remainder when the gap began within ``resume_tail_max_s``, and the rep was then on its way
        up (its top and descent fell in the gap) or coming down and the data resume lower."""
        t_last, x_last = self._closed_last
        if ti - t_last > self.c.resume_tail_max_s:
            return False
        return self._closed_rising or (np.isfinite(x_last) and xi <= x_last)

    def _close_at_gap(self) -> RepBounds:
        self._closed_rising = self.state in ("base", "up")
        self._closed_last = (self.last_t, self.last_x)
        if self.state == "base":  # interrupted on its way up
            start = self.last_low_t if np.isfinite(self.last_low_t) else self.last_t
            self.start_t, self.peak_t = start, self.last_t
        r = RepBounds(self.start_t, self.peak_t, self.last_t, "gap", math.inf, True, partial=True)
        self._closed_peak_t = self.peak_t
        self._resumed = False
        self.state = "base"
        self.gap_in_rep = False
        return r

    def finish(self) -> list[RepBounds]:
        """Close a rep that was on its way down when the data ended; one that had not come back within
        ``onset_deg`` of its starting level is ``partial`` (its descent was not seen to the end)."""
        if self.state == "down":
            unfinished = np.isfinite(self.last_x) and self.last_x - self.start_base > self.c.onset_deg
            r = self._emit("end-of-data")
            r.partial = r.partial or bool(unfinished)
            return [r]
        return []
