"""Shared helpers of the bench scripts (machine description)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """``nproc``, CPU model and Python version, for the figures' header."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc={os.cpu_count()} cpu={model!r} python={platform.python_version()}"
