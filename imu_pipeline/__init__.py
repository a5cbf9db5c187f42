"""imu-pipeline: two BLE IMUs (thigh + pelvis) -> hip flexion, pelvic tilt, and an honest
verdict on every leg raise (hip-flexor-only vs abdominal-engaging, momentum).

For notebooks: :func:`analyze` (one recording -> reps and angles DataFrames and the summary) and
:func:`batch` (many -> the sessions and reps tables, on local processes or a Dask cluster). The
imports happen on call, so ``import imu_pipeline`` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__version__ = "0.1.0"


@dataclass
class AnalysisResult:
    """One analysed recording: ``reps`` (one row per rep), ``angles`` (one row per grid sample:
    ``time_s, hip_flexion_deg, pelvic_tilt_deg, thigh_angle_deg``, NaN where not measured) and the
    summary dict (docs/summary-format.md)."""

    reps: Any  # pandas.DataFrame
    angles: Any  # pandas.DataFrame
    summary: dict[str, Any]


def analyze(path: str | Path, *, pose: str | None = None, config: str | Path | None = None) -> AnalysisResult:
    """Analyse one recording (the offline path, as ``imu-pipeline analyze``)."""
    import pandas as pd

    from imu_pipeline.config import PipelineConfig, load_config
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.report.summary import summary_dict

    cfg = load_config(config) if config is not None else PipelineConfig()
    an = analyze_recording(read_recording(path, warn=False), cfg, pose=pose)
    d = summary_dict(an)
    reps = pd.DataFrame([{k: (";".join(v) if isinstance(v, list) else v) for k, v in r.items() if k != "decided_by"}
                         for r in d["reps"]])
    return AnalysisResult(reps, an.angles.to_frame(), d)


def batch(paths: list[str | Path] | str | Path, *, jobs: int = 1, scheduler: str | None = None,
          pose: str | None = None, out: str | Path | None = None):  # -> tuple[DataFrame, DataFrame]
    """Analyse many recordings (files or folders) on ``jobs`` local processes or a Dask
    ``scheduler``; returns the ``sessions`` and ``reps`` tables (:mod:`imu_pipeline.study`). With
    ``out``, summaries are written there (and reused on a re-run)."""
    from imu_pipeline.study import discover, run, tables

    inputs = [paths] if isinstance(paths, (str, Path)) else list(paths)
    return tables(run(discover(inputs, out), jobs=jobs, scheduler=scheduler, pose=pose, out=out))
