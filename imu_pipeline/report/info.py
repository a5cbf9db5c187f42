"""What ``imu-pipeline info`` says about a recording: per sensor what it delivered, and every
outage including at the start and the end (the front half's data-quality record)."""

from __future__ import annotations

from typing import Any

from imu_pipeline.config import FrontConfig
from imu_pipeline.front import front_half_offline
from imu_pipeline.io.recording import Recording
from imu_pipeline.report.quality import quality_sentences

#: The sidecar's ``recorder`` of a session recorded by ``imu-pipeline record``.
RECORDER = "imu-pipeline record"
#: Keys the recorder writes into the sidecar only when it closes the session.
CLOSING_KEYS = ("duration_s", "end_reason")


def session_closed(meta: dict[str, Any]) -> bool | None:
    """Whether ``imu-pipeline record`` closed the session normally (its sidecar has the keys it
    writes at the end, :data:`CLOSING_KEYS`); None for a recording that did not come from it."""
    if meta.get("recorder") != RECORDER:
        return None
    return all(k in meta for k in CLOSING_KEYS)


def recording_notes(meta: dict[str, Any]) -> list[str]:
    """What the sidecar says of how the recording came to be that a reader must know: a session the
    recorder did not close (killed: the last line may be cut off), a simulated demo session."""
    out = []
    if session_closed(meta) is False:
        out.append("the session was not closed normally (the recorder was killed or crashed, or is still "
                   "recording): the sidecar has no duration_s or end_reason, and the last line may be cut off")
    demo = meta.get("demo")
    if isinstance(demo, dict) and demo.get("simulated"):
        out.append("a simulated session (record --demo): the sensors and the person are the simulator's, not "
                   "measured")
    return out


def info_dict(rec: Recording, cfg: FrontConfig | None = None) -> dict[str, Any]:
    """Duration, per-sensor samples, rates, coverage, mounting; outages; whether the recorder closed
    the session (``session_closed``: None when not recorded by it); warnings."""
    _, q = front_half_offline(rec, cfg)
    dq = q.to_dict()
    closed = session_closed(rec.meta)
    out: dict[str, Any] = {"recording": rec.name, "duration_s": q.end_s - q.start_s, "start_s": q.start_s,
                           "end_s": q.end_s, "session_closed": closed, "sensors": {}, "gaps": dq["gaps"],
                           "warnings": list(rec.warnings)}
    out["warnings"][:0] = recording_notes(rec.meta)
    for s, si in dq["sensors"].items():  # type: ignore[union-attr]
        sm = rec.sensor_meta(s)
        out["sensors"][s] = {**si, "declared_rate_hz": sm.get("sample_rate_hz"), "mounting": sm.get("mounting"),
                             "model": sm.get("model")}
        if sm.get("mounting") is None:
            out["warnings"].append(f"no mounting declared for the {s} sensor: axes will be estimated from the motion "
                                   "(reduced confidence)")
    out["warnings"].extend(quality_sentences(q, (cfg or FrontConfig()).declared_rate_tolerance))
    return out
