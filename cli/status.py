"""The exit codes of the ``uniflow`` command, one set used everywhere, and its output
formats: what every command needs before it loads anything heavy."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ExitCode(IntEnum):
    """What a ``uniflow`` command's exit code means."""

    OK = 0
    """The command, or the run it waited for, succeeded."""
    FAILURE = 1
    """The operation or the run failed."""
    USAGE = 2
    """The command line or a value in it was wrong."""
    DAEMON_UNREACHABLE = 3
    """No daemon answers, and none could be started."""
    NOT_AUTHENTICATED = 4
    """No valid token for the server."""
    INTERRUPTED = 130
    """Stopped with Ctrl-C."""


class Output(StrEnum):
    """The formats of list and show commands."""

    TABLE = "table"
    JSON = "json"
