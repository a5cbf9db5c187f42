"""The session summary as text for a terminal (ASCII-safe output is the CLI's job)."""

from __future__ import annotations

from imu_pipeline.pipeline.offline import SessionAnalysis
from imu_pipeline.report.summary import exercise_set, verdict, warnings_of
from imu_pipeline.reps import rep_totals


def summary_text(an: SessionAnalysis) -> str:
    """The human summary: the session line, warnings, one line per rep with its reasons, the verdict."""
    rec = an.recording
    cal = an.angles.calibration
    lines = [f"{rec.name}: {cal.pose} leg raises, {rec.t_end - rec.t_start:.1f} s, {len(an.reps)} reps"
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
        lines.append(f"  tempo: median {t['median_concentric_s']} s up, {t['median_eccentric_s']} s down; "
                     f"median peak hip flexion {t['median_peak_hip_flexion_deg']}°")
    lines.append("")
    lines.append("verdict: " + verdict(an))
    return "\n".join(lines)
