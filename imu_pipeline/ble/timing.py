"""Session timing for BLE samples: one clock for both sensors, losses counted, never invented.

Every notification arrives at a *host time* ``h`` (seconds on the session clock, i.e.
``time.monotonic()`` minus the session start). The samples in it were taken earlier, by the
*latency* ``h - t_true >= 0`` (radio, connection interval, OS). Each sample also has a
*device time* ``d``:

* ``device_time`` profiles send it (e.g. Movesense's millisecond timestamp);
* ``counter`` profiles send a sequence counter: ``d = sample index / nominal rate``;
* ``nominal`` profiles send neither: ``d = running sample index / nominal rate``.

:class:`ClockMapper` fits ``t = c + (1 + e)·d`` to the **lower envelope** of the points
``(d, h)`` — the least-delayed packets — so latency jitter does not enter the timestamps.
The drift ``e`` (device clock or real output rate against nominal) is a least-squares slope
through per-segment minima, clamped to ``±max_drift`` so it can never run away; the
offset ``c`` is the lowest recent point, so a mapped sample is never later than the moment
it was received. :class:`SampleTimer` adds unwrapping, loss detection from counter or
timestamp gaps (lost samples are counted, never filled in) and guarantees non-decreasing
output times.

All times are seconds (float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Nominal mode: after a delay, packets arriving later than this (s) are still its backlog.
DELAY_OVER_S = 0.1
#: Relative drift limit for devices with their own clock (crystals are ±50 ppm).
DEVICE_CLOCK_MAX_DRIFT = 1e-3
#: Relative limit for the real output rate of devices timed by the nominal rate (MEMS
#: output data rates come from internal oscillators, typically within ±2 %).
NOMINAL_RATE_MAX_DRIFT = 0.05


class ClockMapper:
    """Map device time to session time with a lower-envelope, drift-corrected linear fit.

    Parameters
    ----------
    max_drift
        Largest relative rate difference accepted for the slope (e.g. ``1e-3`` = 1000 ppm).
    segment_s
        Device-time length of one segment; the minimum of ``h - d`` per segment forms the
        lower envelope.
    window_s
        Segments older than this (device time) are forgotten.
    intercept_segments
        The offset is the lowest point among this many most recent segments.
    min_fit_segments
        Segments needed before the slope is estimated (until then it stays at its prior).

    Attributes
    ----------
    drift_ : float
        Current slope minus one (dimensionless).
    offset_s_ : float or None
        Current offset ``c`` (s); None before the first observation.
    """

    def __init__(self, *, max_drift: float = DEVICE_CLOCK_MAX_DRIFT, segment_s: float = 1.0,
                 window_s: float = 60.0, intercept_segments: int = 6, min_fit_segments: int = 3) -> None:
        self.max_drift = float(max_drift)
        self.segment_s = float(segment_s)
        self.window_s = float(window_s)
        self.intercept_segments = int(intercept_segments)
        self.min_fit_segments = int(min_fit_segments)
        self.drift_ = 0.0
        self.offset_s_: float | None = None
        self._seg: dict[int, tuple[float, float]] = {}  # key -> (min h-d, d at that min)

    def reset(self) -> None:
        """Forget the offset history (keeps the drift estimate), e.g. after the device clock restarted."""
        self._seg.clear()
        self.offset_s_ = None

    def observe(self, device_t: float, host_t: float) -> None:
        """Add one point: the device time of a packet's last sample and its host receive time."""
        o = host_t - device_t
        key = math.floor(device_t / self.segment_s)
        cur = self._seg.get(key)
        if cur is None or o < cur[0]:
            self._seg[key] = (o, device_t)
        oldest = key - int(math.ceil(self.window_s / self.segment_s))
        for k in [k for k in self._seg if k < oldest or k > key + 1]:
            del self._seg[k]
        self._refit(device_t, o)

    def _refit(self, device_t: float, o: float) -> None:
        keys = sorted(self._seg)
        pts = np.array([self._seg[k] for k in keys])  # columns: o_min, d
        if len(keys) >= self.min_fit_segments and (keys[-1] - keys[0]) >= self.min_fit_segments - 1:
            om, dm = pts[:, 0], pts[:, 1]
            dc = dm - dm.mean()
            denom = float(dc @ dc)
            if denom > 0:
                slope = float(dc @ (om - om.mean())) / denom
                self.drift_ = min(self.max_drift, max(-self.max_drift, slope))
        recent = pts[-self.intercept_segments:]
        # the newest point always takes part, so a mapped sample is never later than its receipt
        self.offset_s_ = float(min(np.min(recent[:, 0] - self.drift_ * recent[:, 1]), o - self.drift_ * device_t))

    def map(self, device_t: np.ndarray | float) -> np.ndarray:
        """Session time (s) of device times (s). Call :meth:`observe` first."""
        if self.offset_s_ is None:
            raise RuntimeError("ClockMapper.map before any observation")
        d = np.asarray(device_t, dtype=np.float64)
        return self.offset_s_ + (1.0 + self.drift_) * d

    def inverse(self, session_t: float) -> float:
        """Device time that maps to ``session_t``."""
        if self.offset_s_ is None:
            raise RuntimeError("ClockMapper.inverse before any observation")
        return (session_t - self.offset_s_) / (1.0 + self.drift_)


class Unwrapper:
    """Unwrap a value that wraps at ``period`` (a counter or a device timestamp).

    A step backwards by less than half a period counts as a wrap only when the value
    really crossed the wrap point; :meth:`unwrap` returns the continuous value.
    """

    def __init__(self, period: float | None) -> None:
        self.period = period
        self._last_raw: float | None = None
        self._base = 0.0

    def reset(self) -> None:
        self._last_raw = None
        self._base = 0.0

    def unwrap(self, raw: float) -> float:
        if self.period is None:
            return float(raw)
        if self._last_raw is not None and raw < self._last_raw - self.period / 2:
            self._base += self.period
        self._last_raw = float(raw)
        return self._base + float(raw)


@dataclass
class Ingested:
    """Device times given to one notification's samples (before mapping to the session clock).

    Attributes
    ----------
    device_t : (N,) float64, continuous device time (s)
    lost_samples : samples missing just before this batch (counted, not filled in)
    """

    device_t: np.ndarray
    lost_samples: int = 0


class SampleTimer:
    """Place one sensor's samples on the session clock.

    Use :meth:`ingest` for every notification, then :meth:`to_session` on the device times
    — right away, or after holding them until :attr:`settled` so that the first samples
    after a (re)connection get the settled offset and drift too. :meth:`place` does both at once.

    Parameters
    ----------
    nominal_rate_hz
        The configured output data rate (Hz).
    mode
        ``"device_time"``, ``"counter"`` or ``"nominal"`` (see the module docstring).
    counter_modulus, counter_unit
        For ``"counter"``: the counter wraps at ``counter_modulus`` and counts ``"packet"``
        or ``"sample"`` steps.
    timestamp_wrap_s
        For ``"device_time"``: the device time wraps after this many seconds (None: never).
    max_drift
        Slope limit for the :class:`ClockMapper`; defaults to :data:`DEVICE_CLOCK_MAX_DRIFT`
        for ``device_time`` and :data:`NOMINAL_RATE_MAX_DRIFT` otherwise.
    gap_s
        ``nominal`` mode only: a packet later than expected by more than this is taken as
        a loss of the samples that fit into the gap (an *estimate*: such devices send no counter)
        once the next packet, a packet interval later, is as late; when the next one comes at once
        and less late it is a delay (the host stalled and the radio queued): its backlog keeps the
        sequence, nothing is counted lost, and its arrival times stay out of the clock fit.
    settle_s, settle_packets
        :attr:`settled` becomes True this long (host time, s) and this many packets after
        each anchoring. Defaults: 0.5 s with device timestamps, 2 s otherwise (enough
        segments to estimate the real output rate).

    Attributes
    ----------
    lost_samples : int
        Samples known (or, in ``nominal`` mode, estimated) to be lost, in total.
    loss_is_estimate : bool
        True in ``nominal`` mode.
    mapper : ClockMapper
    """

    def __init__(self, nominal_rate_hz: float, mode: str = "nominal", *, counter_modulus: int | None = None,
                 counter_unit: str = "packet", timestamp_wrap_s: float | None = None,
                 max_drift: float | None = None, gap_s: float = 0.5, settle_s: float | None = None,
                 settle_packets: int = 5) -> None:
        if mode not in ("device_time", "counter", "nominal"):
            raise ValueError(f"unknown timing mode {mode!r}")
        if mode == "counter" and not counter_modulus:
            raise ValueError("counter mode needs counter_modulus")
        if not nominal_rate_hz > 0:
            raise ValueError("nominal_rate_hz must be positive")
        self.mode = mode
        self.period_s = 1.0 / float(nominal_rate_hz)
        self.counter_unit = counter_unit
        self.gap_s = float(gap_s)
        device_clock = mode == "device_time"
        if max_drift is None:
            max_drift = DEVICE_CLOCK_MAX_DRIFT if device_clock else NOMINAL_RATE_MAX_DRIFT
        self.mapper = ClockMapper(max_drift=max_drift, segment_s=1.0 if device_clock else 0.5,
                                  window_s=60.0 if device_clock else 30.0)
        self.settle_s = float(settle_s if settle_s is not None else (0.5 if device_clock else 2.0))
        self.settle_packets = int(settle_packets)
        self._unwrap = Unwrapper(timestamp_wrap_s if device_clock else counter_modulus)
        self.loss_is_estimate = mode == "nominal"
        self.lost_samples = 0
        self._next_index: int | None = None  # counter/nominal: index of the next expected sample
        self._last_counter: float | None = None
        self._last_n = 0
        self._next_device_t: float | None = None  # device_time: expected device time of the next sample
        self._last_out: float | None = None
        self._reanchor = False
        self._anchor_host_t: float | None = None
        self._packets_since_anchor = 0
        self._last_host_t = -math.inf
        # nominal: the first packet of a run of late ones (host time, lateness, sample index)
        self._late_run: tuple[float, float, int] | None = None
        self._delayed = False  # nominal: a delay's backlog is arriving (kept out of the clock fit)
        self._delay_since: tuple[float, float] | None = None  # ... since (host time, lateness)

    @property
    def settled(self) -> bool:
        """True once the offset (and, without device clock, the rate) had time to settle."""
        return (self._anchor_host_t is not None and self._packets_since_anchor >= self.settle_packets
                and self._last_host_t - self._anchor_host_t >= self.settle_s)

    def restart(self) -> None:
        """Call after a reconnection: the gap is a disconnect, not a loss; counters may have reset."""
        self._reanchor = True
        self._anchor_host_t = None
        self._late_run, self._delayed, self._delay_since = None, False, None
        if self.mode != "device_time":
            self._unwrap.reset()
            self._last_counter = None

    def place(self, n: int, host_t: float, device_time_s: np.ndarray | None = None,
              counter: int | None = None) -> tuple[np.ndarray, int]:
        """:meth:`ingest` and :meth:`to_session` at once: ``(session times (N,), lost samples)``."""
        ing = self.ingest(n, host_t, device_time_s, counter)
        return self.to_session(ing.device_t), ing.lost_samples

    def to_session(self, device_t: np.ndarray) -> np.ndarray:
        """Session times (s) of device times from :meth:`ingest`; non-decreasing across calls."""
        if len(device_t) == 0:
            return np.zeros(0)
        out = self.mapper.map(device_t)
        if self._last_out is not None and out[0] <= self._last_out:
            out = out + (self._last_out + 0.5 * self.period_s - out[0])
        self._last_out = float(out[-1])
        return out

    def ingest(self, n: int, host_t: float, device_time_s: np.ndarray | None = None,
               counter: int | None = None) -> Ingested:
        """Give device times to ``n`` samples received at ``host_t`` (s, session clock).

        Parameters
        ----------
        n
            Number of samples in the notification.
        host_t
            Receive time on the session clock (s).
        device_time_s
            Per-sample device times (s, possibly wrapped) — ``device_time`` mode.
        counter
            The packet's raw counter — ``counter`` mode.
        """
        if n <= 0:
            return Ingested(np.zeros(0))
        lost = 0
        if self.mode == "device_time":
            if device_time_s is None or len(device_time_s) != n:
                raise ValueError("device_time mode needs one device time per sample")
            raw = np.asarray(device_time_s, dtype=np.float64)
            d = self._unwrap.unwrap(float(raw[0])) + (raw - raw[0])
            if self._next_device_t is not None and d[0] < self._next_device_t - 1.0:
                # the device clock went back by more than a second: it restarted
                self.mapper.reset()
                self._unwrap.reset()
                d = self._unwrap.unwrap(float(raw[0])) + (raw - raw[0])
                self._anchor_host_t = None
            elif self._next_device_t is not None and not self._reanchor:
                gap = d[0] - self._next_device_t
                if gap > 0.5 * self.period_s:
                    lost = int(round(gap / self.period_s))
            self._next_device_t = float(d[-1]) + self.period_s
        else:
            idx0 = self._index_for(n, host_t, counter)
            if self._next_index is not None and not self._reanchor:
                lost = max(0, idx0 - self._next_index)
            self._next_index = idx0 + n
            d = (idx0 + np.arange(n)) * self.period_s
        self._reanchor = False
        if self._anchor_host_t is None:
            self._anchor_host_t = host_t
            self._packets_since_anchor = 0
        self._packets_since_anchor += 1
        self._last_host_t = host_t
        self.lost_samples += lost
        if not self._delayed:  # a queued backlog's arrival times say nothing of when it was sampled
            self.mapper.observe(float(d[-1]), host_t)
        return Ingested(d, lost)

    def _index_for(self, n: int, host_t: float, counter: int | None) -> int:
        """Sample index of the first sample of this packet (counter/nominal modes)."""
        if self.mode == "counter" and counter is not None:
            c = self._unwrap.unwrap(float(counter))
            prev, self._last_counter = self._last_counter, c
            prev_n, self._last_n = self._last_n, n
            if self._next_index is None:
                return 0
            if prev is not None and not self._reanchor:
                step = c - prev
                if step <= 0:  # a repeated or older packet: keep its samples, in arrival order
                    return self._next_index
                missing = (step - 1) * n if self.counter_unit == "packet" else step - prev_n
                return self._next_index + max(0, int(round(missing)))
        if self._next_index is None:
            return 0
        # nominal mode, or re-anchoring after a reconnection: where does the host time put it?
        if self.mapper.offset_s_ is None:
            return self._next_index
        expected_last = float(self.mapper.map((self._next_index + n - 1) * self.period_s))
        late = host_t - expected_last
        if not self._reanchor and self.mode == "nominal":
            run = self._late_run
            if late <= self.gap_s:
                self._late_run = None
                # the backlog is in once a packet is hardly late (or long after it began: bounded)
                if self._delayed and (late <= DELAY_OVER_S or self._delay_since is None
                                      or host_t - self._delay_since[0] > self._delay_since[1] + 1.0):
                    self._delayed, self._delay_since = False, None
                return self._next_index
            # Late by more than gap_s: lost samples, or a delay (the host stalled, the radio queued)
            # whose backlog now arrives as a burst. The packets after it tell: in a burst each comes
            # less late than the one before (the sequence catches up with the host clock); after a
            # loss they come at the usual cadence, as late. Until that is clear the samples continue
            # the sequence (a stall's backlog, squeezed into a burst, was counted as lost).
            if run is None:
                self._late_run = (host_t, late, self._next_index)
                self._delayed, self._delay_since = True, (host_t, late)
                return self._next_index
            first_h, first_late, first_idx = run
            k = self._next_index - first_idx  # samples since the first late packet
            if first_late - late > 0.5 * k * self.period_s or host_t - first_h < 3 * n * self.period_s:
                self._delayed = True
                return self._next_index  # a burst (caught up by more than half its samples), or too soon
            self._late_run, self._delayed, self._delay_since = None, False, None
        if self._reanchor or (self.mode == "nominal" and late > self.gap_s):
            d_last = self.mapper.inverse(host_t)
            k_last = int(math.floor(d_last / self.period_s + 1e-9))
            return max(self._next_index, k_last - n + 1)
        return self._next_index
