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
COMMAND_MODULES = ("info", "simulate", "analyze", "replay", "batch", "evaluate", "scan", "record")


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


def _tolerant_console() -> None:
    """Replace characters the console cannot encode (°, –) instead of failing on them."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):  # a stream that cannot be reconfigured: leave it
                pass


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
