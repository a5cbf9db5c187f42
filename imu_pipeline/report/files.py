"""Writing output files: one place that turns OS errors into messages naming the file."""

from __future__ import annotations

import os
from pathlib import Path

from imu_pipeline.errors import OutputError


def output_error(path: str | os.PathLike[str], what: str, e: OSError) -> OutputError:
    """An OutputError naming the file, what it was for and the reason."""
    reason = e.strerror or str(e)
    hint = ""
    if isinstance(e, FileNotFoundError) and not Path(path).parent.exists():
        hint = " (the folder does not exist)"
    elif isinstance(e, PermissionError):
        hint = " (no permission: is the folder read-only?)"
    return OutputError(f"cannot write the {what} {path}: {reason}{hint}")


def write_text(path: str | os.PathLike[str], text: str, *, what: str) -> None:
    """Write a UTF-8 text file; an OS error becomes an :class:`OutputError`."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise output_error(path, what, e) from None
