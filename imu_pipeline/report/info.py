"""What ``imu-pipeline info`` says about a recording: per sensor what it delivered, and every
outage including at the start and the end (the front half's data-quality record)."""

from __future__ import annotations

from typing import Any

from imu_pipeline.config import FrontConfig
from imu_pipeline.front import front_half_offline
from imu_pipeline.io.recording import Recording
from imu_pipeline.report.quality import quality_sentences


def info_dict(rec: Recording, cfg: FrontConfig | None = None) -> dict[str, Any]:
    """Duration, per-sensor samples, rates, coverage, mounting; outages; warnings."""
    _, q = front_half_offline(rec, cfg)
    dq = q.to_dict()
    out: dict[str, Any] = {"recording": rec.name, "duration_s": q.end_s - q.start_s, "start_s": q.start_s,
                           "end_s": q.end_s, "sensors": {}, "gaps": dq["gaps"], "warnings": list(rec.warnings)}
    for s, si in dq["sensors"].items():  # type: ignore[union-attr]
        sm = rec.sensor_meta(s)
        out["sensors"][s] = {**si, "declared_rate_hz": sm.get("sample_rate_hz"), "mounting": sm.get("mounting"),
                             "model": sm.get("model")}
        if sm.get("mounting") is None:
            out["warnings"].append(f"no mounting declared for the {s} sensor: axes will be estimated from the motion "
                                   "(reduced confidence)")
    out["warnings"].extend(quality_sentences(q, (cfg or FrontConfig()).declared_rate_tolerance))
    return out
