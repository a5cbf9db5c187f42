"""The session summary as text for a terminal (ASCII-safe output is the CLI's job)."""

from __future__ import annotations

from typing import Any

from imu_pipeline.pipeline.offline import SessionAnalysis
from imu_pipeline.report.summary import count_of, exercise_set, verdict, warnings_of
from imu_pipeline.reps import rep_totals


def _or_na(value: float | None, unit: str) -> str:
    """``1.06 s``, or ``n/a`` when the value was not measured."""
    return "n/a" if value is None else f"{value}{unit}"


def _tempo_line(totals: dict[str, Any]) -> str:
    """The medians over the session's reps (:func:`~imu_pipeline.reps.rep_totals`); a median no rep
    measured reads ``n/a``, and none at all says so."""
    up, down, peak = (totals[k] for k in ("median_concentric_s", "median_eccentric_s", "median_peak_hip_flexion_deg"))
    if up is None and down is None and peak is None:
        return "  tempo and peak hip flexion: not measured in any rep"
    return (f"  tempo: median {_or_na(up, ' s')} up, {_or_na(down, ' s')} down; "
            f"median peak hip flexion {_or_na(peak, '°')}")


def summary_text(an: SessionAnalysis) -> str:
    """The human summary: the session line, warnings, one line per rep with its reasons, the verdict."""
    rec = an.recording
    cal = an.angles.calibration
    lines = [f"{rec.name}: {cal.pose} leg raises, {rec.t_end - rec.t_start:.1f} s, {count_of(len(an.reps), 'rep')}"
             f"  (calibration: {cal.pose_source}, {cal.neutral_s:.1f} s in the start pose, confidence {cal.confidence})"]
    if an.not_exercise or an.not_reps:
        st = exercise_set(an)
        where = "none found" if st["start_s"] is None else f"{st['start_s']:.1f}-{st['end_s']:.1f} s"
        lines.append(f"  set: {where}; not exercise: "
                     + ("; ".join(f"{s.start_s:.1f}-{s.end_s:.1f} s {s.reason}" for s in an.not_exercise) or "none"))
        for s in an.not_reps[:3]:
            lines.append(f"  not counted: {s.start_s:.1f}-{s.end_s:.1f} s, {s.reason}")
        if len(an.not_reps) > 3:
            lines.append(f"  not counted: {len(an.not_reps) - 3} more movements outside the exercise "
                         "(all in the JSON summary's exercise_set)")
    for w in warnings_of(an):
        lines.append(f"  warning: {w}")
    if an.reps:
        lines.append("")
        for r in an.reps:
            lines.append("  " + str(r))
            if r.momentum:
                for k in r.momentum_reasons:
                    lines.append(f"        {k}: {r.decided_by.get(k, '')}")
            for k, why in r.decided_by.items():
                if isinstance(why, str) and why.startswith("not judged"):
                    lines.append(f"        {k}: {why}")
            if r.back_arch:
                lines.append(f"        back arch: pelvis tilted {r.peak_anterior_tilt_low_deg:.1f}° anteriorly with the legs low")
        t = rep_totals(an.reps)
        lines.append("")
        lines.append(_tempo_line(t))
    lines.append("")
    lines.append("verdict: " + verdict(an))
    return "\n".join(lines)
