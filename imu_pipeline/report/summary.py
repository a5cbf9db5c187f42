"""Session summary: human text, machine JSON (schema in docs/summary-format.md), plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from imu_pipeline import __version__
from imu_pipeline.pipeline.offline import SessionAnalysis
from imu_pipeline.reps.core import LABEL_ABDOMINAL, LABEL_HIP_FLEXOR

SUMMARY_SCHEMA_VERSION = 1


def _r(x: float | None, nd: int = 2) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def totals(an: SessionAnalysis) -> dict[str, Any]:
    reps = an.reps
    n = len(reps)
    ab = sum(r.label == LABEL_ABDOMINAL for r in reps)
    mom = sum(r.momentum for r in reps)
    reasons: dict[str, int] = {}
    for r in reps:
        for k in r.momentum_reasons:
            reasons[k] = reasons.get(k, 0) + 1
    conc = [r.concentric_s for r in reps]
    ecc = [r.eccentric_s for r in reps]
    return {
        "reps": n, "abdominal_engaging": ab, "hip_flexor_only": n - ab, "momentum": mom,
        "controlled": n - mom, "momentum_reasons": reasons, "back_arch": sum(r.back_arch for r in reps),
        "median_concentric_s": _r(float(np.median(conc))) if n else None,
        "median_eccentric_s": _r(float(np.median(ecc))) if n else None,
        "median_peak_hip_flexion_deg": _r(float(np.median([r.peak_hip_flexion_deg for r in reps])), 1) if n else None,
    }


def verdict(an: SessionAnalysis) -> str:
    t = totals(an)
    n = t["reps"]
    if n == 0:
        return "No reps found: hip flexion never rose 30° above its resting level and came back."
    parts = []
    if t["abdominal_engaging"] == n:
        parts.append(f"all {n} reps engaged the abdominals (pelvis curled posteriorly)")
    elif t["abdominal_engaging"] == 0:
        parts.append(f"all {n} reps were hip-flexor-only: take the legs past vertical and curl the pelvis "
                     "toward the ribs to work the abs")
    else:
        parts.append(f"{t['abdominal_engaging']} of {n} reps engaged the abdominals")
    if t["momentum"] == 0:
        parts.append("every rep was controlled")
    else:
        why = ", ".join(f"{k} {v}" for k, v in sorted(t["momentum_reasons"].items()))
        parts.append(f"{t['momentum']} used momentum ({why}): slow down, 1–2 s up and 1–2 s down")
    if t["back_arch"]:
        parts.append(f"the back arched in {t['back_arch']} (anterior tilt with the legs low)")
    s = "; ".join(parts)
    return s[0].upper() + s[1:] + "."


def summary_dict(an: SessionAnalysis) -> dict[str, Any]:
    """The machine summary (docs/summary-format.md)."""
    rec = an.recording
    cal = an.angles.calibration
    ang = an.angles
    valid = np.isfinite(ang.hip_flexion)
    return {
        "schema": "imu-pipeline-summary", "schema_version": SUMMARY_SCHEMA_VERSION, "software_version": __version__,
        "recording": str(rec.path) if rec.path else rec.name,
        "exercise": cal.pose,
        "duration_s": _r(rec.t_end - rec.t_start, 3),
        "start_s": _r(rec.t_start, 3),
        "angles_coverage": _r(float(valid.mean()) if valid.size else 0.0, 4),
        "calibration": cal.to_dict(),
        "warnings": list(rec.warnings) + list(cal.notes),
        "verdict": verdict(an),
        "reps": [r.to_dict() for r in an.reps],
        "totals": totals(an),
        "thresholds": {"labels": vars(an.config.labels), "momentum": vars(an.config.momentum),
                       "reps": vars(an.config.reps)},
    }


def summary_text(an: SessionAnalysis) -> str:
    rec = an.recording
    cal = an.angles.calibration
    lines = [f"{rec.name}: {cal.pose} leg raises, {rec.t_end - rec.t_start:.1f} s, {len(an.reps)} reps"
             f"  (calibration: {cal.pose_source}, {cal.neutral_s:.1f} s in the start pose, confidence {cal.confidence})"]
    for w in list(rec.warnings) + list(cal.notes):
        lines.append(f"  warning: {w}")
    if an.reps:
        lines.append("")
        for r in an.reps:
            lines.append("  " + str(r))
            if r.momentum:
                for k in r.momentum_reasons:
                    lines.append(f"        {k}: {r.decided_by.get(k, '')}")
            if r.back_arch:
                lines.append(f"        back arch: pelvis tilted {r.peak_anterior_tilt_low_deg:.1f}° anteriorly with the legs low")
        t = totals(an)
        lines.append("")
        lines.append(f"  tempo: median {t['median_concentric_s']} s up, {t['median_eccentric_s']} s down; "
                     f"median peak hip flexion {t['median_peak_hip_flexion_deg']}°")
    lines.append("")
    lines.append("verdict: " + verdict(an))
    return "\n".join(lines)


def write_json(an: SessionAnalysis, path: str | Path) -> None:
    Path(path).write_text(json.dumps(summary_dict(an), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def write_angles_csv(an: SessionAnalysis, path: str | Path) -> None:
    """``time_s,hip_flexion_deg,pelvic_tilt_deg`` on the recording's clock; empty cells in gaps."""
    df = an.angles.to_frame()
    df.to_csv(path, index=False, float_format="%.4f", na_rep="")


LABEL_COLOURS = {LABEL_ABDOMINAL: "#2a9d8f", LABEL_HIP_FLEXOR: "#e9c46a"}


def plot_session(an: SessionAnalysis, path: str | Path, *, width_in: float = 12.0, height_in: float = 6.5,
                 dpi: int = 100) -> dict[str, Any]:
    """Hip flexion and pelvic tilt over time, the 90° line, reps shaded by label, momentum
    and back arch marked. Saved as PNG (``width_in * dpi`` x ``height_in * dpi`` pixels).

    Returns what was drawn (the plotted series and rep spans), read back from the figure's
    artists, so callers and tests can check the picture shows the analysis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    a = an.angles
    t = a.time_s
    hip = np.degrees(a.hip_flexion)
    tilt = np.degrees(a.pelvic_tilt)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(width_in, height_in), dpi=dpi, sharex=True,
                                   gridspec_kw={"height_ratios": [2.2, 1]})
    for r in an.reps:
        for ax in (ax1, ax2):
            ax.axvspan(r.start_s, r.end_s, color=LABEL_COLOURS[r.label], alpha=0.35, lw=0)
    ax1.plot(t, hip, color="#264653", lw=1.4, label="hip flexion")
    ax1.axhline(90, color="#555", ls="--", lw=0.9)
    ax1.text(t[0], 91, " legs vertical (90°)" if an.pose == "lying" else " legs horizontal (90°)", fontsize=8,
             color="#555", va="bottom")
    top = np.nanmax(hip) if np.isfinite(hip).any() else 90
    for r in an.reps:
        y = r.peak_hip_flexion_deg + 4
        txt = f"{r.index + 1}"
        if r.momentum:
            txt += "\n" + "/".join(r.momentum_reasons)
            ax1.annotate(txt, (r.peak_s, y), ha="center", va="bottom", fontsize=8, color="#c1121f", fontweight="bold")
        else:
            ax1.annotate(txt, (r.peak_s, y), ha="center", va="bottom", fontsize=8, color="#333")
        if r.back_arch:
            ax2.annotate("back arch", (r.start_s, -r.peak_anterior_tilt_low_deg), fontsize=7, color="#c1121f",
                         va="top")
    ax1.set_ylim(min(-10, np.nanmin(hip) - 5) if np.isfinite(hip).any() else -10, max(110, top + 25))
    ax1.set_ylabel("hip flexion (°)")
    ax1.grid(alpha=0.3)
    ax2.plot(t, tilt, color="#6a4c93", lw=1.2)
    ax2.axhline(0, color="#555", lw=0.8)
    ax2.axhline(an.config.labels.abdominal_min_posterior_tilt_deg, color="#2a9d8f", ls=":", lw=0.9)
    ax2.set_ylabel("pelvic tilt (°)\nposterior +")
    ax2.set_xlabel("time (s)")
    ax2.grid(alpha=0.3)
    handles = [Patch(color=LABEL_COLOURS[LABEL_ABDOMINAL], alpha=0.5, label="abdominal-engaging"),
               Patch(color=LABEL_COLOURS[LABEL_HIP_FLEXOR], alpha=0.6, label="hip-flexor-only"),
               Patch(color="#c1121f", label="momentum (reason)")]
    ax1.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    n = len(an.reps)
    ab = sum(r.label == LABEL_ABDOMINAL for r in an.reps)
    mom = sum(r.momentum for r in an.reps)
    ax1.set_title(f"{an.recording.name} — {an.pose} leg raises: {n} reps, {ab} abdominal-engaging, "
                  f"{mom} with momentum", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    hip_line, tilt_line = ax1.get_lines()[0], ax2.get_lines()[0]
    drawn = {"time_s": np.asarray(hip_line.get_xdata()), "hip_flexion_deg": np.asarray(hip_line.get_ydata()),
             "pelvic_tilt_deg": np.asarray(tilt_line.get_ydata()), "title": ax1.get_title(),
             "rep_spans": [(float(p.get_x()), float(p.get_x() + p.get_width())) for p in ax1.patches
                           if p.get_width() > 0 and p.get_height() >= 1]}
    plt.close(fig)
    return drawn
