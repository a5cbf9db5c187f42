"""``imu-pipeline`` command line: one entry point, one module per subcommand.

Every error a user can cause is an :class:`~imu_pipeline.errors.ImuPipelineError`; :func:`main`
catches it once and prints ``imu-pipeline COMMAND: error: MESSAGE`` (exit status 2), never a
traceback. Output that the console cannot encode (an ASCII-only terminal) is replaced, not fatal.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Every matrix product here is (N x 3) @ (3 x 3): BLAS threads only spin and, on a loaded machine
# (batch runs one process per core), cost up to 10x. Set before numpy is imported; a user's own
# setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
from collections.abc import Sequence

from imu_pipeline import __version__
from imu_pipeline.errors import ImuPipelineError

#: Subcommand modules, each with ``register(subparsers)``; imported only to build the parser.
COMMAND_MODULES = ("info", "simulate", "analyze", "replay", "batch", "evaluate", "scan", "record", "import_")


def build_parser(only: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or with the ``only`` ones (a command run imports its own
    module and nothing the other commands need: ``analyze`` does not import bleak or matplotlib)."""
    p = argparse.ArgumentParser(
        prog="imu-pipeline",
        description="Thigh + pelvis IMUs -> hip flexion, pelvic tilt and a verdict on every leg raise.",
    )
    p.add_argument("--version", action="version", version=f"imu-pipeline {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in only or COMMAND_MODULES:
        importlib.import_module(f"imu_pipeline.cli.{name}").register(sub)
    return p


#: How a character the console cannot show is written instead (an ASCII-only console, LC_ALL=C,
#: PYTHONIOENCODING=ascii, a Windows code page): the meaning kept, not a bare "?".
ASCII_FALLBACK = {
    "°": " deg", "±": "+/-", "→": "->", "←": "<-", "–": "-", "—": "-", "−": "-", "…": "...", "≈": "~",
    "≥": ">=", "≤": "<=", "²": "^2", "³": "^3", "·": "*", "×": "x", "µ": "u", "‘": "'", "’": "'",
    "“": '"', "”": '"', "\u00a0": " ",
}
CONSOLE_ERRORS = "imu-pipeline-console"


def _console_fallback(e: UnicodeError) -> tuple[str | bytes, int]:
    """Codec error handler for the console streams (see :func:`_tolerant_console`)."""
    if not isinstance(e, UnicodeEncodeError):
        raise e
    bad = e.object[e.start:e.end]
    if all("\udc80" <= c <= "\udcff" for c in bad):  # bytes of a file name the locale could not decode:
        return bytes(ord(c) - 0xDC00 for c in bad), e.end  # give them back as they were (surrogateescape)
    out = []
    for i, c in enumerate(bad, e.start):
        sub = ASCII_FALLBACK.get(c, "?")
        if c == "°" and not (i > 0 and e.object[i - 1].isdigit()):  # "78.6°" is " deg"; in a file name, "?"
            sub = "?"
        try:  # the replacement itself must fit the console's encoding
            sub.encode(e.encoding)
        except (UnicodeError, LookupError):
            sub = "?"
        out.append(sub)
    return "".join(out), e.end


def _tolerant_console() -> None:
    """Never fail on a character the console cannot encode; write a readable ASCII stand-in.

    Decided once here, for every command, rather than by keeping messages ASCII: the text keeps
    its °, ±, → on every console that can show them (all UTF-8 ones), and only on one that cannot
    (``LC_ALL=C`` with ``PYTHONUTF8=0``, ``PYTHONIOENCODING=ascii``, a Windows code page, output
    piped under such a locale) is each such character written as an ASCII equivalent ("°" ->
    " deg", "±" -> "+/-", "→" -> "->", others "?") instead of raising UnicodeEncodeError. File
    names the locale could not decode are written back as their original bytes. The encoding is
    left as the locale chose; files the program writes do not depend on it (always UTF-8), and
    ``--print-json`` escapes non-ASCII characters (``\\u00b0``) on such a console, so the JSON stays
    exact.
    """
    import codecs

    try:
        codecs.lookup_error(CONSOLE_ERRORS)
    except LookupError:
        codecs.register_error(CONSOLE_ERRORS, _console_fallback)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors=CONSOLE_ERRORS)
            except (ValueError, OSError, LookupError):  # a stream that cannot be reconfigured: leave it
                pass


def console_can_show(text: str, stream: object = None) -> bool:
    """Whether ``stream`` (default sys.stdout) can encode ``text`` as it is."""
    enc = getattr(stream or sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(enc)
    except (UnicodeError, LookupError):
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_console()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMAND_MODULES else None
    parser = build_parser((command,) if command else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ImuPipelineError as e:
        print(f"imu-pipeline {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"imu-pipeline {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` etc.: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
