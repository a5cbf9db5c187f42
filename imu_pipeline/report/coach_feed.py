"""Feeding the coach view from the live path: replay and record share :class:`CoachFeed`.

:class:`CoachFeed` is a :class:`~imu_pipeline.ble.recorder.LiveFeedback` (``push``/``finish``)
that forwards every packet to a :class:`~imu_pipeline.pipeline.live.LivePipeline` and publishes
what the pipeline produced to a :class:`~imu_pipeline.report.coach.CoachServer`: the new angle
samples (thinned to :data:`TRACE_HZ`), the current phase, each rep as soon as it is judged, and
the sensors' status from the front half's data-quality record (and, when recording, the BLE
status line: connected, battery, loss). It returns the pipeline's reps unchanged, so the reps the
page shows are exactly those the terminal prints.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from imu_pipeline.io.recording import Recording
from imu_pipeline.pipeline.live import LivePipeline
from imu_pipeline.report.coach import CoachServer
from imu_pipeline.reps import Rep

#: Angle samples per second sent to the page (the grid's 100 Hz thinned; enough for a smooth trace).
TRACE_HZ = 50.0
#: Minimum wall time between two angle publications / status publications (s).
ANGLES_EVERY_S = 0.1
STATUS_EVERY_S = 0.5
#: Hip rate (deg/s) above which the legs count as moving up or down (display only: the rep
#: segmenter, not this, decides the reps).
PHASE_RATE_DEG_S = 20.0


def phase_of(hip_deg: float, rate_deg_s: float, legs_down_deg: float) -> str:
    """The current phase for the page, from the newest hip flexion (deg) and its rate (deg/s):
    ``legs down`` (below ``legs_down_deg`` and still), ``up``, ``top`` (legs high, nearly still),
    ``down``; ``not measured`` when hip flexion is missing."""
    if not (math.isfinite(hip_deg) and math.isfinite(rate_deg_s)):
        return "not measured"
    if rate_deg_s > PHASE_RATE_DEG_S:
        return "up"
    if rate_deg_s < -PHASE_RATE_DEG_S:
        return "down"
    return "legs down" if hip_deg < legs_down_deg else "top"


#: One sensor in ``imu_pipeline.ble.recorder.format_status``'s line:
#: ``thigh  99.8 Hz loss ~0.2% bat 87% (reconnecting)``; the rate is ``—`` until it is measured,
#: and ``bad N`` counts undecodable packets.
_STATUS_PART = re.compile(r"^(?P<role>\w+)\s+(?P<rate>[\d.]+|nan|—|-) Hz loss (?P<est>~?)(?P<loss>[\d.]+)% "
                          r"(?:bad \d+ )?bat (?P<bat>[\d.]+%|--)(?P<rec> \(reconnecting\))?\s*$")


def parse_status_line(line: str) -> dict[str, dict[str, Any]]:
    """The recorder's status line (``format_status``) -> per sensor ``connected``, ``rate_hz``,
    ``loss_percent``, ``loss_is_estimate``, ``battery_percent``; parts it does not recognise are
    left out."""
    out: dict[str, dict[str, Any]] = {}
    for part in line.split(" | ")[1:]:
        m = _STATUS_PART.match(part.strip())
        if not m:
            continue
        rate = float(m["rate"]) if m["rate"] not in ("—", "-") else math.nan
        out[m["role"]] = {"connected": m["rec"] is None, "rate_hz": rate if math.isfinite(rate) else None,
                          "loss_percent": float(m["loss"]), "loss_is_estimate": m["est"] == "~",
                          "battery_percent": None if m["bat"] == "--" else float(m["bat"].rstrip("%"))}
    return out


class CoachFeed:
    """A LivePipeline that also publishes to a coach view (see the module docstring).

    Parameters
    ----------
    lp : the live pipeline (its ``keep_angles`` is switched on: the page's trace reads its angles)
    server : the coach view
    clock : wall clock for throttling (s)
    """

    def __init__(self, lp: LivePipeline, server: CoachServer, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lp = lp
        lp.keep_angles = True
        self.server = server
        self.clock = clock
        self.stream_s = -math.inf
        self.device_status: dict[str, dict[str, Any]] = {}
        self._last_t = -math.inf
        self._last_angles = -math.inf
        self._last_status = -math.inf
        self._fs = lp.cfg.front.grid_rate_hz
        self._step = max(1, round(self._fs / TRACE_HZ))

    # LiveFeedback
    def push(self, sensor: str, time_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> list[Rep]:
        reps = self.lp.push(sensor, time_s, acc, gyr)
        if len(time_s):
            self.stream_s = max(self.stream_s, float(time_s[-1]))
        self._publish(reps, final=False)
        return reps

    def hold(self, sensor: str, held: bool) -> None:
        self.lp.hold(sensor, held)

    def finish(self) -> list[Rep]:
        reps = self.lp.finish()
        self._publish(reps, final=True)
        return reps

    def on_status_line(self, line: str) -> None:
        """The recorder's status line (connected, battery, loss per sensor): merged into the status."""
        self.device_status.update(parse_status_line(line))
        self._publish_status()

    # internals
    def _publish(self, reps: list[Rep], final: bool) -> None:
        now = self.clock()
        if final or now - self._last_angles >= ANGLES_EVERY_S or reps:
            self._last_angles = now
            self._publish_angles()
        cal = self.lp.calibration
        for r in reps:
            self.server.publish_rep(r, pose=cal.pose if cal is not None else None)
        if final or now - self._last_status >= STATUS_EVERY_S:
            self._last_status = now
            self._publish_status()

    def _publish_angles(self) -> None:
        lp = self.lp
        if lp.calibrator_.refused_ is not None:
            self.server.publish_phase("refused", lp.calibrator_.refused_)
            return
        ang = lp.angles()
        if ang is None:
            self.server.publish_phase("calibrating", "hold the start pose still; the first rep shows the "
                                                     "flexion axis")
            return
        new = ang.time_s > self._last_t
        if not new.any():
            return
        t = ang.time_s[new]
        k = np.rint(t * self._fs).astype(np.int64)
        keep = k % self._step == 0
        hip = np.degrees(ang.hip_flexion[new])
        tilt = np.degrees(ang.pelvic_tilt[new])
        rate = np.degrees(ang.hip_rate[new])
        self._last_t = float(t[-1])
        recent = rate[-max(1, round(0.1 * self._fs)):]  # 0.1 s mean: the phase does not flicker
        finite = recent[np.isfinite(recent)]
        phase = phase_of(float(hip[-1]), float(finite.mean()) if finite.size else math.nan,
                         lp.cfg.reps.min_rep_deg / 2)
        detail = f"hip {hip[-1]:.0f}°" if math.isfinite(hip[-1]) else "a sensor is missing"
        if lp.calibrator_.provisional:
            detail += " (calibration still settling)"
        self.server.publish_samples(t[keep], hip[keep], tilt[keep], phase=phase, detail=detail)

    def _publish_status(self) -> None:
        self.server.publish_status(front_status(self.lp, self.stream_s, self.device_status))


def front_status(lp: LivePipeline, stream_s: float, device: dict[str, dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """Per sensor: connected (delivered within its outage threshold of the stream's newest sample,
    unless the BLE layer says otherwise), rate, loss (the BLE counters when recording; else
    estimated from the samples missing at the nominal rate), battery (BLE only) and every outage
    so far (the data-quality contract: ``{"sensor", "start_s", "end_s", "where"}``, ``end_s`` null
    for a sensor silent now)."""
    sensors: dict[str, Any] = {}
    for s, res in lp.front_.resamplers_.items():
        q = res.quality_
        gap = q.gap_threshold_s if math.isfinite(q.gap_threshold_s) else 0.5
        silent = not math.isfinite(q.last_s) or stream_s - q.last_s > max(gap, 0.25)
        outages = [o.to_dict() for o in q.outages]
        if math.isfinite(q.last_s) and silent and math.isfinite(stream_s):
            outages.append({"sensor": s, "start_s": round(q.last_s, 3), "end_s": None, "where": "now"})
        span = q.last_s - q.first_s if math.isfinite(q.first_s) else math.nan
        expected = span * q.rate_hz + 1 if math.isfinite(span) and math.isfinite(q.rate_hz) else math.nan
        loss = 100 * max(0.0, 1 - q.samples / expected) if math.isfinite(expected) and expected > 0 else None
        d: dict[str, Any] = {"connected": not silent, "rate_hz": q.rate_hz if math.isfinite(q.rate_hz) else None,
                             "loss_percent": loss, "loss_is_estimate": True, "battery_percent": None,
                             "samples": q.samples, "outages": outages}
        d.update((device or {}).get(s, {}))
        sensors[s] = d
    note = ""
    if lp.calibration is None:
        note = lp.calibration_error or "calibrating: waiting for the still start pose and the first rep"
    return {"stream_s": stream_s if math.isfinite(stream_s) else None, "sensors": sensors,
            "calibrated": lp.calibration is not None, "pose": lp.calibration.pose if lp.calibration else None,
            "note": note}


def replay_to_view(rec: Recording, lp: LivePipeline, server: CoachServer, speed: float | None,
                   on_rep: Callable[[Rep, float], None] | None = None) -> list[tuple[Rep, float]]:
    """:func:`imu_pipeline.pipeline.replay.replay` with the coach view: the same packets in the
    same order at the same pace, through a :class:`CoachFeed`. ``speed`` as for ``replay``
    (:func:`~imu_pipeline.pipeline.replay.check_speed`)."""
    from imu_pipeline.pipeline.replay import check_speed, iter_chunks

    check_speed(speed)
    feed = CoachFeed(lp, server)
    reported: list[tuple[Rep, float]] = []
    wall0 = time.monotonic()
    for tc, s, sl in iter_chunks(rec):
        if speed:
            delay = (tc - rec.t_start) / speed - (time.monotonic() - wall0)
            if delay > 0:
                time.sleep(delay)
        ss = rec.sensors[s]
        for r in feed.push(s, ss.time_s[sl], ss.acc[sl], ss.gyr[sl]):
            reported.append((r, tc))
            if on_rep:
                on_rep(r, tc)
    feed.stream_s = max(feed.stream_s, rec.t_end)
    for r in feed.finish():
        reported.append((r, rec.t_end))
        if on_rep:
            on_rep(r, rec.t_end)
    return reported
