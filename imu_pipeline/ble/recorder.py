"""Record a two-sensor session to a format v1 recording, with live status and feedback.

:class:`Recorder` connects the thigh and pelvis sensors concurrently, writes every sample
the moment it is timed (:class:`~imu_pipeline.io.writer.RecordingWriter`, flushed at least
once a second), puts connection events into the sidecar, prints a status line about once a
second, feeds an optional live-feedback object and prints what it returns. Ctrl-C, the
duration, or a sensor that never comes back end the session cleanly: notifications and
streams are stopped, the file is flushed and closed, and a summary is printed.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner

from imu_pipeline.ble.clock import Clock, MonotonicClock, sleep_or_until
from imu_pipeline.ble.errors import BleError, SensorLostError
from imu_pipeline.ble.profile import DeviceProfile
from imu_pipeline.ble.reader import ReconnectPolicy, SensorStatus, SensorStream
from imu_pipeline.config import SensorSpec
from imu_pipeline.io.writer import RecordingWriter

#: The sidecar's ``ble_summary`` counters are rewritten this often during a session (s).
COUNTS_INTERVAL_S = 10.0
#: Waits shorter than this (s) end the session instead (a float clock cannot always advance by less).
MIN_WAIT_S = 1e-3
#: The status line shows a sensor's rate once it has streamed this long since its (re)connection
#: (s); until then it shows ``—`` (a rate over a shorter time reads as half the real one).
RATE_MIN_SPAN_S = 1.0
#: The status line's rate is the samples received over the last this many seconds (s), or since
#: the (re)connection when that is shorter.
RATE_WINDOW_S = 2.0


class LiveFeedback(Protocol):
    """What the recorder feeds: ``push`` per batch of samples, ``finish`` at the end.

    Items returned are printed with ``str(item)`` as they come.
    """

    def push(self, sensor: str, time_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> list[Any]: ...

    def finish(self) -> list[Any]: ...


def tell_held(live: Any, streams: dict[str, SensorStream]) -> None:
    """Tell live feedback that has a ``hold(sensor, held)`` method which sensors' samples the
    readers are holding back (:attr:`SensorStream.holding`), so it waits for them."""
    hold = getattr(live, "hold", None)
    if hold is not None:
        for role, stream in streams.items():
            hold(role, stream.holding)


@dataclass
class SensorSummary:
    """End-of-session numbers of one sensor."""

    samples: int
    lost_samples: int
    loss_is_estimate: bool
    decode_errors: int
    disconnects: int
    battery_percent: float | None
    last_data_s: float | None = None  # session time (s) of its last samples received (None: none)

    @property
    def loss_fraction(self) -> float:
        total = self.samples + self.lost_samples
        return self.lost_samples / total if total else 0.0


@dataclass
class SessionResult:
    """What :meth:`Recorder.run` returns.

    Attributes
    ----------
    sensors : per-sensor summary
    duration_s : session length (s)
    end_reason : ``"duration"``, ``"stopped"`` or the message of the sensor that was lost
    lost_sensor : role of a sensor that never came back, or None
    """

    sensors: dict[str, SensorSummary]
    duration_s: float
    end_reason: str
    lost_sensor: str | None = None


def status_rate_hz(st: SensorStatus, now: float, since: float | None) -> float | None:
    """The rate a status line shows (Hz): the samples received over the last :data:`RATE_WINDOW_S`,
    or since the (re)connection at ``since`` (session time, s) when that is shorter; None while the
    sensor is not connected or has streamed less than :data:`RATE_MIN_SPAN_S` since then.
    ``since`` None: the connection time is not known (the full window is used)."""
    if not st.connected:
        return None
    if since is None:
        return st.rate_hz(now, RATE_WINDOW_S)
    span = now - since
    if span < RATE_MIN_SPAN_S:
        return None
    return st.rate_hz(now, min(RATE_WINDOW_S, span))


def format_status(t: float, statuses: Mapping[str, SensorStatus], now: float,
                  since: Mapping[str, float | None] | None = None) -> str:
    """One status line: per-sensor rate (``—`` until it is measured, :func:`status_rate_hz`), loss
    and battery. ``since``: per sensor the session time (s) of its last (re)connection."""
    parts = [f"{t:7.1f} s"]
    for role, st in statuses.items():
        bat = f"{st.battery_percent:.0f}%" if st.battery_percent is not None else "--"
        loss = ("~" if st.loss_is_estimate else "") + f"{100 * st.loss_fraction:.1f}%"
        state = "" if st.connected else " (reconnecting)"
        bad = f" bad {st.decode_errors}" if st.decode_errors else ""
        rate = status_rate_hz(st, now, since.get(role) if since is not None else None)
        rate_text = f"{rate:5.1f}" if rate is not None else f"{'—':>5}"
        parts.append(f"{role} {rate_text} Hz loss {loss}{bad} bat {bat}{state}")
    return " | ".join(parts)


def format_summary(result: SessionResult) -> list[str]:
    """Short end-of-session report, one line per sensor."""
    lines = [f"recorded {result.duration_s:.1f} s ({result.end_reason})"]
    for role, s in result.sensors.items():
        est = " (estimated)" if s.loss_is_estimate else ""
        lines.append(f"  {role:<6} {s.samples} samples, {s.lost_samples} lost{est} ({100 * s.loss_fraction:.1f}%), "
                     f"{s.disconnects} disconnect(s), {s.decode_errors} bad packet(s)")
    return lines


class Recorder:
    """Two sensors -> one recording.

    Parameters
    ----------
    specs
        The thigh and the pelvis :class:`~imu_pipeline.config.SensorSpec`.
    profiles
        Configured profile per role.
    writer
        An open :class:`~imu_pipeline.io.writer.RecordingWriter`; the recorder closes it.
    live
        Optional live feedback (:class:`LiveFeedback`).
    backend, scanner_backend
        bleak backend classes (None: the platform's), passed down to every BleakClient/BleakScanner.
    clock
        Host clock (default monotonic).
    out
        Prints event lines, live items and the summary.
    status_out
        Prints the status line (default: ``out``).
    status_interval_s
        Status line and flush period (s); at most 1 s so the file is flushed every second.
    battery_interval_s
        Battery polling period (s).
    policy
        Reconnection policy shared by both sensors.
    scan_timeout_s
        How long the first connection looks for each sensor (s).
    explain_loss
        ``(role, give_up_s) -> reason``: the words for a sensor given up, instead of the reader's
        (``record --demo`` explains its simulated sensors this way); None: the reader's message.
    """

    def __init__(self, specs: list[SensorSpec], profiles: Mapping[str, DeviceProfile], writer: RecordingWriter, *,
                 live: LiveFeedback | None = None, backend: type[BaseBleakClient] | None = None,
                 scanner_backend: type[BaseBleakScanner] | None = None, clock: Clock | None = None,
                 out: Callable[[str], None] = print, status_out: Callable[[str], None] | None = None,
                 status_interval_s: float = 1.0, battery_interval_s: float = 30.0,
                 policy: ReconnectPolicy | None = None, scan_timeout_s: float = 10.0,
                 explain_loss: Callable[[str, float], str] | None = None) -> None:
        self.specs = {s.role: s for s in specs}
        self.profiles = dict(profiles)
        self.writer = writer
        self.live = live
        self.backend = backend
        self.scanner_backend = scanner_backend
        self.clock = clock or MonotonicClock()
        self.out = out
        self.status_out = status_out or out
        self.status_interval_s = min(1.0, float(status_interval_s))
        self.battery_interval_s = float(battery_interval_s)
        self.policy = policy or ReconnectPolicy()
        self.scan_timeout_s = scan_timeout_s
        self.explain_loss = explain_loss
        self.streams: dict[str, SensorStream] = {}
        self._connected_since: dict[str, float | None] = {}  # session time of each sensor's (re)connection
        self._failure: BaseException | None = None  # a write that failed: the session stops
        self._rows_failed = False  # the rows themselves cannot be written (a failed sidecar still lets them)
        self.session_start = 0.0

    # ------------------------------------------------------------------ callbacks
    def _on_samples(self, sensor: str, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        if self._rows_failed:
            return
        try:
            self.writer.write(sensor, t, acc, gyr)
        except Exception as e:  # disk full, closed file: stop the session, keep what is written
            self._failure = self._failure or e
            self._rows_failed = True
            return
        if self.live is not None:
            try:
                tell_held(self.live, self.streams)
                items = self.live.push(sensor, t, acc, gyr)
            except Exception as e:
                self.out(f"live feedback failed ({type(e).__name__}: {e}); recording continues without it")
                self.live = None
                return
            for item in items or []:
                self.out(str(item))

    def _on_event(self, t: float, sensor: str, kind: str, extra: dict[str, Any]) -> None:
        if kind in ("connected", "reconnected"):
            self._connected_since[sensor] = t
        elif kind in ("disconnected", "no_data", "gave_up"):
            self._connected_since[sensor] = None
        try:
            self.writer.add_event(t, sensor, kind, **{k: v for k, v in extra.items() if v is not None})
        except Exception as e:  # the folder turned read-only, the disk is full: stop, keep what is written
            self._failure = self._failure or e
        if kind != "connected":
            detail = ", ".join(f"{k} {v}" for k, v in extra.items() if v is not None)
            self.out(f"{t:7.1f} s  {sensor} {kind}" + (f" ({detail})" if detail else ""))

    def _session_meta(self) -> dict[str, Any]:
        sensors = {}
        for role, spec in self.specs.items():
            prof = self.profiles[role]
            stream = self.streams.get(role)
            adv = stream.advertisement if stream else None
            sensors[role] = {**prof.describe(), "address": adv.address if adv else spec.address,
                             "name": adv.name if adv else spec.name, "sample_rate_hz": prof.sample_rate_hz,
                             "mounting": spec.mounting}
        return {"sensors": sensors}

    def _counts(self) -> dict[str, dict[str, Any]]:
        """Per-sensor counters for the sidecar's ``ble_summary``."""
        return {r: {"samples": st.samples, "lost_samples": st.lost_samples, "loss_is_estimate": st.loss_is_estimate,
                    "bad_packets": st.decode_errors, "packets": st.packets,
                    "disconnects": st.disconnects, "stalls": st.stalls}
                for r, st in ((r, s.status) for r, s in self.streams.items())}

    def _write_counts(self) -> None:
        try:
            self.writer.update_meta(ble_summary=self._counts())
        except Exception as e:  # noqa: BLE001 - reported by the session loop
            self._failure = self._failure or e

    # ------------------------------------------------------------------ session
    async def run(self, duration_s: float | None = None, stop: asyncio.Event | None = None) -> SessionResult:
        """Record until ``duration_s`` (s) passes, ``stop`` is set, or a sensor is lost.

        Raises
        ------
        BleError
            When the sensors cannot be connected at the start (nothing is recorded then;
            the empty recording is closed).
        """
        stopping = stop or asyncio.Event()
        self.session_start = self.clock.now()
        started = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.writer.update_meta(started_at=started, recorder="imu-pipeline record", **self._session_meta())
        for role, spec in self.specs.items():
            self.streams[role] = SensorStream(
                role, self.profiles[role], on_samples=self._on_samples, on_event=self._on_event,
                address=spec.address, name=spec.name, session_start=self.session_start, clock=self.clock,
                backend=self.backend, scanner_backend=self.scanner_backend, policy=self.policy,
                scan_timeout_s=self.scan_timeout_s)
        results = await asyncio.gather(*(s.open() for s in self.streams.values()), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await asyncio.gather(*(s.close() for s in self.streams.values()))
            self.writer.close()
            for e in errors:
                if not isinstance(e, BleError):
                    raise e
            messages = list(dict.fromkeys(str(e) for e in errors))  # the same cause once
            raise BleError("; ".join(messages)) if len(messages) > 1 else errors[0]
        self.writer.update_meta(**self._session_meta())
        self.out("recording: " + ", ".join(f"{r} = {s.advertisement.name or s.advertisement.address}"
                                           for r, s in self.streams.items() if s.advertisement)
                 + (f" for {duration_s:g} s" if duration_s else "") + "; Ctrl-C ends the session")
        supervisors = {role: asyncio.ensure_future(s.supervise(stopping)) for role, s in self.streams.items()}
        end_reason, lost = "stopped", None
        next_battery = self.battery_interval_s
        next_counts = COUNTS_INTERVAL_S
        try:
            while True:
                t = self.clock.now() - self.session_start
                for role, task in supervisors.items():
                    if task.done() and task.exception() is not None:
                        exc = task.exception()
                        if isinstance(exc, SensorLostError):
                            end_reason, lost = str(exc), role
                            if self.explain_loss is not None:
                                end_reason = self.explain_loss(role, self.policy.give_up_after_s)
                        else:
                            raise exc  # type: ignore[misc]
                if lost is not None or stopping.is_set():
                    break
                if self._failure is not None:
                    raise self._failure
                if duration_s is not None and t >= duration_s - MIN_WAIT_S:
                    end_reason = "duration"
                    break
                wait = self.status_interval_s if duration_s is None else min(self.status_interval_s, duration_s - t)
                if await sleep_or_until(self.clock, max(0.0, wait), stopping):
                    continue
                now = self.clock.now()
                self.writer.maybe_flush()
                t_now = now - self.session_start
                if t_now >= next_counts:  # counters in the sidecar as it goes: a killed session keeps them
                    next_counts += COUNTS_INTERVAL_S
                    self._write_counts()
                self.status_out(format_status(t_now, {r: s.status for r, s in self.streams.items()}, t_now,
                                              self._connected_since))
                if now - self.session_start >= next_battery:
                    next_battery += self.battery_interval_s
                    await asyncio.gather(*(s.poll_battery() for s in self.streams.values()))
        finally:
            stopping.set()
            try:
                await asyncio.gather(*supervisors.values(), return_exceptions=True)
                await asyncio.gather(*(s.close() for s in self.streams.values()), return_exceptions=True)
            finally:  # even when cancelled (a second Ctrl-C): the recording is closed with its sidecar
                result = self._finish(end_reason, lost)
        for line in format_summary(result):
            self.out(line)
        return result

    def _finish(self, end_reason: str, lost: str | None) -> SessionResult:
        """End of session: the live feedback's last items, the counters, the recording closed."""
        duration = self.clock.now() - self.session_start
        if self.live is not None:
            try:
                for item in self.live.finish() or []:
                    self.out(str(item))
            except Exception as e:
                self.out(f"live feedback failed at the end ({type(e).__name__}: {e})")
        result = SessionResult(
            sensors={r: SensorSummary(s.status.samples, s.status.lost_samples, s.status.loss_is_estimate,
                                      s.status.decode_errors, s.status.disconnects, s.status.battery_percent,
                                      s.status.last_data_s)
                     for r, s in self.streams.items()},
            duration_s=duration, end_reason=end_reason, lost_sensor=lost)
        try:
            self.writer.update_meta(duration_s=round(duration, 3), end_reason=end_reason,
                                    ble_summary=self._counts())
        finally:
            self.writer.close()
        return result
