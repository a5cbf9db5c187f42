"""Shared helpers for the recording, config, simulator and CLI tests.

Everything here builds small, fully known inputs so a test can state the exact line, column,
time or value it expects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imu_pipeline.io.recording import CSV_COLUMNS, SensorSamples

HEADER = ",".join(CSV_COLUMNS) + "\n"


def rest_row(t: float, sensor: str) -> str:
    """One CSV row of a sensor lying still with its z axis up (acc in m/s², gyro in rad/s)."""
    return f"{t:.6f},{sensor},0.01000,-0.02000,9.81000,0.001000,-0.002000,0.000500\n"


def rest_rows(n: int = 5, dt: float = 0.01) -> str:
    """``n`` samples of each sensor, interleaved by time (thigh first, pelvis 1 ms later)."""
    return "".join(rest_row(i * dt, "thigh") + rest_row(i * dt + 0.001, "pelvis") for i in range(n))


def moving_samples(n: int, rate_hz: float, *, t0: float = 0.0, seed: int = 0,
                   gyr_amp: float = 1.5) -> SensorSamples:
    """A sensor swinging about its x axis: plausible specific force (m/s²) and rates (rad/s)."""
    rng = np.random.default_rng(seed)
    t = t0 + np.arange(n) / rate_hz
    ang = 0.8 * np.sin(2 * np.pi * 0.5 * t)
    gyr = np.column_stack([gyr_amp * np.cos(2 * np.pi * 0.5 * t), 0.05 * rng.standard_normal(n),
                           0.05 * rng.standard_normal(n)])
    acc = np.column_stack([0.2 * rng.standard_normal(n), 9.81 * np.sin(ang), 9.81 * np.cos(ang)])
    return SensorSamples(t, acc, gyr)


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """Write ``content`` (str or bytes) to ``tmp_path/name``; optionally a JSON sidecar beside it.

    ``sidecar`` may be a dict (dumped as JSON) or a str (written verbatim, to test bad JSON).
    """

    def _write(content: str | bytes, name: str = "rec.csv", sidecar: dict[str, Any] | str | None = None) -> Path:
        p = tmp_path / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8", newline="")
        if sidecar is not None:
            text = sidecar if isinstance(sidecar, str) else json.dumps(sidecar)
            p.with_suffix(".json").write_text(text, encoding="utf-8")
        return p

    return _write
