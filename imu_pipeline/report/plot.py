"""The session plot: hip flexion and pelvic tilt over time, reps shaded by label (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imu_pipeline.errors import OutputError
from imu_pipeline.pipeline.offline import SessionAnalysis
from imu_pipeline.report.files import replacing
from imu_pipeline.reps import LABEL_ABDOMINAL, LABEL_HIP_FLEXOR

#: File types the plot can be written as (matplotlib's Agg backend).
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def check_plot_path(path: str | Path) -> None:
    """Refuse an extension the plot cannot be written as (any case: ``out.PNG`` is a PNG), before
    any work is done."""
    suffix = Path(path).suffix
    if suffix.lower() not in PLOT_SUFFIXES:
        what = f"unknown file type {suffix!r}" if suffix else "no file extension"
        example = Path(path).parent / ((Path(path).stem.strip(".") or "plot") + ".png")
        raise OutputError(f"--plot {path}: {what}; the plot can be written as {', '.join(PLOT_SUFFIXES)} "
                          f"(e.g. {example})")


LABEL_COLOURS = {LABEL_ABDOMINAL: "#2a9d8f", LABEL_HIP_FLEXOR: "#e9c46a"}
NOT_MEASURED = "#bbbbbb"


def plot_session(an: SessionAnalysis, path: str | Path, *, width_in: float = 12.0, height_in: float = 6.5,
                 dpi: int = 100) -> dict[str, Any]:
    """Hip flexion and pelvic tilt over time, the 90° line, reps shaded by label, momentum
    and back arch marked. Saved as PNG (``width_in * dpi`` x ``height_in * dpi`` pixels).

    Returns what was drawn (the plotted series and rep spans), read back from the figure's
    artists, so callers and tests can check the picture shows the analysis. An extension other
    than those in :data:`PLOT_SUFFIXES`, or a file that cannot be written, is an :class:`OutputError`.
    """
    check_plot_path(path)
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
            if r.label is None:  # not measured: grey and hatched, never a label colour
                ax.axvspan(r.start_s, r.end_s, facecolor=NOT_MEASURED, alpha=0.35, hatch="//", edgecolor="#777", lw=0)
            else:  # a low-confidence label keeps its colour, hatched
                ax.axvspan(r.start_s, r.end_s, color=LABEL_COLOURS[r.label], alpha=0.35, lw=0,
                           hatch="//" if r.label_confidence == "low" else None)
    for o in an.quality.outages:  # where a sensor delivered nothing: say so on both panels
        for ax in (ax1, ax2):
            ax.axvspan(o.start_s, o.end_s, facecolor="none", hatch="xx", edgecolor="#999", lw=0, gid="outage")
        ax1.annotate(f"no {o.sensor} data", ((o.start_s + o.end_s) / 2, 0), ha="center", va="bottom", fontsize=7,
                     color="#666")
    for x in an.not_exercise:  # walking over, lying down, getting up: no angles, labelled as such
        for ax in (ax1, ax2):
            ax.axvspan(x.start_s, x.end_s, facecolor="#e9ecef", alpha=0.8, lw=0, gid="not-exercise")
        ax1.annotate("not exercise\n" + x.reason.split(" (")[0].split(";")[0], ((x.start_s + x.end_s) / 2, 0),
                     ha="center", va="bottom", fontsize=7, color="#666")
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
    if any(r.label is None for r in an.reps):
        handles.append(Patch(facecolor=NOT_MEASURED, hatch="//", edgecolor="#777", label="no label (top not seen)"))
    ax1.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    n = len(an.reps)
    ab = sum(r.label == LABEL_ABDOMINAL for r in an.reps)
    mom = sum(bool(r.momentum) for r in an.reps)
    ax1.set_title(f"{an.recording.name} — {an.pose} leg raises: {n} reps, {ab} abdominal-engaging, "
                  f"{mom} with momentum", fontsize=11)
    fig.tight_layout()
    try:  # the format from the name's extension, any case (out.PNG); the file replaced only when complete
        with replacing(path, what="plot") as tmp:
            fig.savefig(tmp, dpi=dpi, format=Path(path).suffix.lower().lstrip(".") or None)
    except BaseException:
        plt.close(fig)
        raise
    hip_line, tilt_line = ax1.get_lines()[0], ax2.get_lines()[0]
    drawn = {"time_s": np.asarray(hip_line.get_xdata()), "hip_flexion_deg": np.asarray(hip_line.get_ydata()),
             "pelvic_tilt_deg": np.asarray(tilt_line.get_ydata()), "title": ax1.get_title(),
             "rep_spans": [(float(p.get_x()), float(p.get_x() + p.get_width())) for p in ax1.patches
                           if p.get_width() > 0 and p.get_height() >= 1 and p.get_gid() not in ("outage", "not-exercise")],
             "outage_spans": [(float(p.get_x()), float(p.get_x() + p.get_width())) for p in ax1.patches
                              if p.get_gid() == "outage"],
             "not_exercise_spans": [(float(p.get_x()), float(p.get_x() + p.get_width())) for p in ax1.patches
                                    if p.get_gid() == "not-exercise"]}
    plt.close(fig)
    return drawn
