"""One base class for every error a user can cause and fix.

The command line catches :class:`ImuPipelineError` once and prints its message (which names the
file, line, field or option and what was expected) without a traceback. Each stage raises its
own subclass so that a caller can tell them apart; every subclass is also a ``ValueError`` where
the problem is a bad value.
"""

from __future__ import annotations


class ImuPipelineError(Exception):
    """A problem the user can fix; the message says what and how."""


class UsageError(ImuPipelineError):
    """A bad command-line option or combination of options."""


class ConfigError(ImuPipelineError, ValueError):
    """A configuration file or value that cannot be used; the message names file and key."""


class RecordingError(ImuPipelineError, ValueError):
    """A file that is not a valid format v1 recording; the message names file, line and column."""


class MountingError(ImuPipelineError, ValueError):
    """A mounting declaration that does not name two perpendicular anatomical directions."""


class CalibrationError(ImuPipelineError, ValueError):
    """The data cannot be turned into trustworthy angles; the message says what to do."""


class MountingCheckError(CalibrationError):
    """The data contradict the declared mounting or the sensor roles (a final refusal: more data
    from the same session will not change it)."""


class OutputError(ImuPipelineError):
    """An output file that cannot be written (folder missing or read-only, unknown extension)."""


class OutputExistsError(OutputError, FileExistsError):
    """An output file already exists and overwriting was not asked for."""
