"""The per-sample angles as CSV on the session clock."""

from __future__ import annotations

from pathlib import Path

from imu_pipeline.pipeline.offline import SessionAnalysis
from imu_pipeline.report.files import write_text


def write_angles_csv(an: SessionAnalysis, path: str | Path) -> None:
    """``time_s,hip_flexion_deg,pelvic_tilt_deg,thigh_angle_deg`` on the session clock; empty cells
    where an angle was not measured (hip flexion needs both sensors)."""
    text = an.angles.to_frame().to_csv(index=False, float_format="%.4f", na_rep="", lineterminator="\n")
    write_text(path, text, what="angles CSV")
