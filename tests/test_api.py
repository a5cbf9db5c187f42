"""The notebook API (imu_pipeline.analyze, imu_pipeline.batch): the same tables, types and defaults as
the command line, messages that name the API's own arguments, and Ctrl-C handled as the command does."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import imu_pipeline
from imu_pipeline.errors import ImuPipelineError, UsageError
from imu_pipeline.simulate import SimulationOptions, simulate_session, write_simulation
from imu_pipeline.study import REP_COLUMNS


@pytest.fixture(scope="module")
def rec(tmp_path_factory) -> Path:
    """A folder with two simulated sessions, s1 (3 reps) and s2 (2 reps)."""
    root = tmp_path_factory.mktemp("rec")
    for name, seed, n in (("s1", 5, 3), ("s2", 6, 2)):
        write_simulation(simulate_session(SimulationOptions(seed=seed, n_reps=n)), root / f"{name}.csv")
    return root


def test_analyze_reps_have_the_columns_and_dtypes_of_the_batch_reps_table(rec: Path) -> None:
    res = imu_pipeline.analyze(rec / "s1.csv")
    assert {c: str(t) for c, t in res.reps.dtypes.items()} == {c: t for c, t in REP_COLUMNS.items() if c != "key"}
    assert res.reps["pause_before_next_s"].isna().iloc[-1]  # the last rep has no next one: NaN, not None
    _, reps = imu_pipeline.batch([rec / "s1.csv"], jobs=1)
    pd.testing.assert_frame_equal(res.reps, reps.drop(columns="key"))


def test_batch_uses_every_core_by_default_as_the_command_does(rec: Path, monkeypatch) -> None:
    from imu_pipeline import study

    asked: list[int] = []
    real_run = study.run

    def spy(items, **kwargs):  # noqa: ANN001, ANN003
        asked.append(kwargs["jobs"])
        return real_run(items, **{**kwargs, "jobs": 1})

    monkeypatch.setattr(study, "run", spy)
    imu_pipeline.batch([rec])
    assert asked == [os.cpu_count() or 1]
    assert "as many as the machine has cores" in (imu_pipeline.batch.__doc__ or "")


def test_api_messages_name_the_api_arguments(rec: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^jobs must be at least 1 \(--jobs on the command line\), got 0$"):
        imu_pipeline.batch([rec], jobs=0)
    (tmp_path / "f").write_text("a file\n")
    with pytest.raises(ImuPipelineError, match=r"^out='.*f' is a file; give a folder"):
        imu_pipeline.batch([rec], out=tmp_path / "f")
    with pytest.raises(ImuPipelineError, match=r"^out='.*x\.csv' looks like a file name; .*e\.g\. out='.*x'$"):
        imu_pipeline.batch([rec], out=tmp_path / "x.csv")
    pytest.importorskip("distributed")
    with pytest.raises(UsageError, match=r"^scheduler='notanaddress': cannot connect to a Dask scheduler"):
        imu_pipeline.batch([rec], scheduler="notanaddress")


@pytest.mark.parametrize("paths", [[], ()])
def test_no_inputs_is_said_so(paths) -> None:  # noqa: ANN001
    with pytest.raises(UsageError, match="^no inputs given"):
        imu_pipeline.batch(paths, jobs=1)


def test_ctrl_c_writes_the_tables_of_the_finished_sessions_into_out_and_is_raised_again(
        rec: Path, tmp_path: Path, monkeypatch) -> None:
    from imu_pipeline import study

    real = study.analyze_one

    def ctrl_c_on_s2(path, key, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if key == "s2":
            raise KeyboardInterrupt
        return real(path, key, *args, **kwargs)

    monkeypatch.setattr(study, "analyze_one", ctrl_c_on_s2)
    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt) as e:
        imu_pipeline.batch([rec], jobs=1, out=out)
    assert [r.key for r in e.value.results] == ["s1"]
    assert pd.read_parquet(out / "sessions.parquet").key.tolist() == ["s1"]
    assert len(pd.read_csv(out / "reps.csv")) == 3
