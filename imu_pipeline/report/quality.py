"""The data-quality record in plain words (one wording for text, JSON warnings and ``info``)."""

from __future__ import annotations

from imu_pipeline.front import DataQuality


def quality_sentences(quality: DataQuality, rate_tolerance: float) -> list[str]:
    """One sentence per outage (which sensor, when, how long; start and end outages included), per
    sensor whose repeated or backward time stamps were dropped, and per sensor whose measured rate
    is not the declared one (beyond ``rate_tolerance``, relative)."""
    out = []
    if quality.clock_offset_s is not None:
        later = "pelvis" if quality.clock_offset_s > 0 else "thigh"
        out.append(f"the two sensors' movements line up best with the {later} sensor's data "
                   f"{abs(quality.clock_offset_s):.2f} s late: their clocks may be out of step (time stamps from two "
                   "hosts or devices?); hip flexion and labels may be wrong")
    for s, q in quality.sensors.items():
        if q.dropped_duplicate:
            share = 100 * q.dropped_duplicate / max(1, q.samples + q.dropped_duplicate)
            out.append(f"{q.dropped_duplicate} samples ({share:.1f} %) of the {s} sensor were dropped: their time "
                       "stamp repeated or went back (a host stamping packets on arrival?)")
        if q.dropped_frozen:
            out.append(f"the {s} sensor sent the very same values over and over ({q.dropped_frozen} samples): "
                       "frozen, treated as missing")
        d, r = q.declared_rate_hz, q.effective_rate_hz
        if d and r == r and abs(r - d) > rate_tolerance * d:
            out.append(f"the {s} sensor delivered {r:.1f} samples/s although {d:g} Hz is declared")
    for o in quality.outages:
        if o.where == "start":
            what = ("never delivered data" if o.duration_s >= quality.end_s - quality.start_s - 1e-9
                    else f"started {_dur(o.duration_s)} after the session began")
        elif o.where == "end":
            what = f"stopped {_dur(o.duration_s)} before the session ended (at {o.start_s:.1f} s)"
        else:
            what = f"was silent for {_dur(o.duration_s)} from {o.start_s:.1f} s"
        out.append(f"the {o.sensor} sensor {what}: no hip flexion there")
    return out


def _dur(s: float) -> str:
    """A duration for a sentence: 0.04 s, 3.1 s."""
    return f"{s:.2f} s" if s < 0.095 else f"{s:.1f} s"
