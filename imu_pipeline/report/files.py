"""Writing output files: one place that turns OS errors into messages naming the file.

Every output (summary JSON, angles CSV, plot, batch tables, evaluate scores) is written through
:func:`replacing`: into a temporary file beside the final name, renamed over it only once it is
complete. A full disk, a lost permission or any other failure while writing therefore leaves the
previous file (or nothing) under the final name, never half a file, and the temporary file is
removed. Text is always UTF-8, whatever the locale. Errors are :class:`OutputError` naming the
file, what it was for and why (no traceback; the command line prints them as one line).

:func:`check_output_file` runs the same checks before any work is done, so a read-only folder or a
missing one is reported in a second, not after the analysis.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imu_pipeline.errors import OutputError

_counter = itertools.count()

#: errno -> what to do about it, appended to the OS's own reason.
_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is used up: free some space or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EACCES: "no permission: is the folder read-only?",
    errno.EPERM: "no permission: is the folder read-only?",
    errno.EISDIR: "a folder of that name is in the way: give a file name",
    errno.ENOTDIR: "part of the path is a file, not a folder",
    errno.ENAMETOOLONG: "the name is too long",
}


def output_error(path: str | os.PathLike[str], what: str, e: OSError) -> OutputError:
    """An OutputError naming the file, what it was for and the reason."""
    reason = e.strerror or str(e)
    hint = _HINTS.get(e.errno or 0, "")
    if isinstance(e, FileNotFoundError) and not Path(path).parent.is_dir():
        hint = f"the folder {Path(path).parent} does not exist"
    return OutputError(f"cannot write the {what} {path}: {reason}" + (f" ({hint})" if hint else ""))


def _create(path: Path) -> None:
    """Create an empty file that must not exist yet (with the permissions a new file gets)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def _temp_name(final: Path) -> Path:
    """A hidden name beside ``final`` that no other writer uses (process id + counter)."""
    return final.with_name(f".{final.name}.{os.getpid()}-{next(_counter)}.tmp")


@contextmanager
def replacing(path: str | os.PathLike[str], *, what: str) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write the whole output into; on success it is
    renamed over ``path`` (atomic on one file system), on any error it is removed and an OSError
    becomes an :class:`OutputError` naming ``path`` and ``what`` it was.

    The temporary file is created empty first (with the permissions a new file gets), so the
    writer may open it by name (``savefig``); an existing output keeps its permission bits, and a
    symbolic link is written through, as a plain ``open(path, "w")`` would.
    """
    final = Path(os.path.realpath(path))
    tmp = _temp_name(final)
    try:
        _create(tmp)
    except OSError as e:
        raise output_error(path, what, e) from None
    try:
        yield tmp
        if final.exists():
            shutil.copymode(final, tmp)
        os.replace(tmp, final)
    except OSError as e:
        remove_quietly(tmp)
        raise output_error(path, what, e) from None
    except BaseException:
        remove_quietly(tmp)
        raise


def remove_quietly(tmp: Path) -> None:
    """Remove a file if it is there; failing to (its folder gone or read-only) must not hide the
    error being reported."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def write_text(path: str | os.PathLike[str], text: str, *, what: str) -> None:
    """Write a UTF-8 text file in one piece (:func:`replacing`); an OS error becomes an :class:`OutputError`."""
    with replacing(path, what=what) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def check_output_file(path: str | os.PathLike[str], *, what: str) -> None:
    """Before any work: ``path`` can be written — it is not a folder, its folder exists (the
    output files of analyze, replay, evaluate and record never create folders; ``simulate`` and
    ``batch --out`` do) and a file can be created there.

    ``what`` names the output in the message, e.g. ``"--json"`` or ``"the summary"``.
    """
    out = Path(path)
    if out.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name")
    parent = out.parent
    if not parent.resolve().is_dir():
        why = f"{parent} is a file, not a folder" if parent.exists() else \
            f"the folder {parent} does not exist (create it first)"
        raise OutputError(f"{what} {path}: {why}")
    check_folder_writable(parent, what=f"{what} {path}")


def check_folder_writable(folder: str | os.PathLike[str], *, what: str) -> None:
    """A file can be created in ``folder`` (tried, not inferred from permission bits, which do not
    bind root and say nothing of read-only mounts); else an :class:`OutputError`."""
    probe = _temp_name(Path(folder) / ".imu-pipeline-write-test")
    try:
        _create(probe)
    except OSError as e:
        hint = _HINTS.get(e.errno or 0, "")
        raise OutputError(f"{what}: cannot write in the folder {folder}: {e.strerror or e}"
                          + (f" ({hint})" if hint else "")) from None
    remove_quietly(probe)
