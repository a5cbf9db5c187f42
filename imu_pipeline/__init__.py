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
    """Analyse one recording (the offline path, as ``imu-pipeline analyze``). ``reps`` has the columns
    and dtypes of the batch ``reps`` table but ``key`` (nullable ``Int64``/``boolean``, ``float64``
    with NaN where a value is null, ``string``: docs/batch-tables.md)."""
    from imu_pipeline.config import PipelineConfig, load_config
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.report.summary import summary_dict
    from imu_pipeline.study import reps_frame

    cfg = load_config(config) if config is not None else PipelineConfig()
    an = analyze_recording(read_recording(path, warn=False), cfg, pose=pose)
    d = summary_dict(an)
    return AnalysisResult(reps_frame(d["reps"]), an.angles.to_frame(), d)


def batch(paths: list[str | Path] | str | Path, *, jobs: int | None = None, scheduler: str | None = None,
          pose: str | None = None, out: str | Path | None = None, config: Any = None, force: bool = False,
          angles: bool = False):  # -> tuple[DataFrame, DataFrame]
    """Analyse many recordings (files or folders) as ``imu-pipeline batch`` does; returns the
    ``sessions`` and ``reps`` tables (:mod:`imu_pipeline.study`, columns in docs/batch-tables.md).

    ``jobs`` local processes (default: as many as the machine has cores, like the command; at least
    1; ``--jobs``) or a Dask ``scheduler`` address (``--scheduler``); ``pose`` ``"lying"``/``"hanging"``
    overrides the start-pose detection (``--pose``); ``config`` a config TOML path or a
    :class:`~imu_pipeline.config.PipelineConfig` (``--config``). With ``out`` (a folder for the
    results, not one holding recordings; ``--out``) each summary is written there and reused on a
    re-run while its recording is unchanged, unless ``force`` (``--force``), and the tables are
    written there too; ``angles`` (needs ``out``) also writes every session's per-sample angles as
    the Parquet dataset ``out/angles`` (``--angles``).

    Ctrl-C (KeyboardInterrupt) waits for the sessions under way (a second one stops them), writes
    the tables of the finished sessions into ``out`` when given, as the command does, and is raised
    again (a :class:`~imu_pipeline.study.BatchInterrupted` with those sessions as ``results``; left
    uncaught in a script it ends it with exit status 1, as any exception but KeyboardInterrupt itself
    does). A Dask scheduler lost during the run is a :class:`~imu_pipeline.study.SchedulerLost`, with
    the tables of the sessions finished before it written the same way. Recordings that could not be
    analysed are rows with ``status`` ``"error"`` and their reason in ``error``, and a warning says how
    many.

    Raises
    ------
    ImuPipelineError
        A bad argument (``jobs`` below 1, an unknown ``pose``, a config that cannot be read, an
        ``out`` that is a file or holds recordings), no input, an input that does not exist, or no
        recording at all.
    """
    import os

    from imu_pipeline.config import PipelineConfig, load_config
    from imu_pipeline.errors import UsageError
    from imu_pipeline.study import (
        BatchInterrupted,
        SchedulerLost,
        check_jobs,
        check_out,
        discover,
        run,
        tables,
        write_tables,
    )

    if jobs is None:
        jobs = os.cpu_count() or 1
    check_jobs(jobs, "jobs")
    if pose not in (None, "lying", "hanging"):
        raise UsageError(f"pose must be 'lying', 'hanging' or None (--pose on the command line), got {pose!r}")
    if angles and out is None:
        raise UsageError("angles=True writes the angles into out/angles: give out= too")
    cfg = config if isinstance(config, PipelineConfig) else load_config(config)
    inputs = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if out is not None:
        check_out(Path(out), "out")
    try:
        results = run(discover(inputs, out), cfg=cfg, jobs=jobs, scheduler=scheduler, pose=pose, out=out,
                      force=force, angles=angles)
    except (BatchInterrupted, SchedulerLost) as e:
        if out is not None and e.results:
            write_tables(Path(out), *tables(e.results))
        raise
    failed = [r for r in results if r.status == "error"]
    if failed:
        import warnings

        first = "; ".join(r.error for r in failed[:3]) + ("; ..." if len(failed) > 3 else "")
        warnings.warn(f"{len(failed)} of {len(results)} recordings could not be analysed (the sessions table's "
                      f"status and error columns): {first}", stacklevel=2)
    sessions, reps = tables(results)
    if out is not None:
        write_tables(Path(out), sessions, reps)
    return sessions, reps
