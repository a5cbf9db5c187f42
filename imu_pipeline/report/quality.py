"""The data-quality record in plain words (one wording for text, JSON warnings and ``info``)."""

from __future__ import annotations

from imu_pipeline.front import DataQuality


def outage_sentences(quality: DataQuality) -> list[str]:
    """One sentence per outage: which sensor, when, how long (start and end outages included)."""
    out = []
    for o in quality.outages:
        if o.where == "start":
            what = ("never delivered data" if o.duration_s >= quality.end_s - quality.start_s - 1e-9
                    else f"started {o.duration_s:.1f} s after the session began")
        elif o.where == "end":
            what = f"stopped {o.duration_s:.1f} s before the session ended (at {o.start_s:.1f} s)"
        else:
            what = f"was silent for {o.duration_s:.1f} s from {o.start_s:.1f} s"
        out.append(f"the {o.sensor} sensor {what}: no hip flexion there")
    return out
