"""The user's settings, read from ``config.toml``.

Every setting lives in the ``[daemon]`` table::

    [daemon]
    host = "127.0.0.1"          # the address the daemon listens on
    port = 8080                 # 0 picks a free port
    max_request_bytes = 1048576 # larger request bodies get 413
    trigger_limit = 120         # runs one token may trigger per minute; 0: no limit
    max_concurrent_runs = 0     # runs executing at once; 0: the number of CPUs
    cancel_grace = 10           # seconds from SIGTERM to SIGKILL when cancelling
    stop_grace = 10             # seconds running runs get to finish when the daemon
                                # stops; those still running are then cancelled
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from uniflow import paths
from uniflow.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class Settings:
    """The settings in force."""

    host: str = DEFAULT_HOST
    """The address the daemon listens on."""
    port: int = DEFAULT_PORT
    """The port the daemon listens on; 0 picks a free one."""
    max_request_bytes: int = 1024 * 1024
    """The largest request body the API accepts."""
    trigger_limit: int = 120
    """How many runs one token may trigger per minute; 0 lifts the limit."""
    max_concurrent_runs: int = 0
    """How many runs execute at once; 0 means the number of CPUs."""
    cancel_grace: int = 10
    """Seconds a cancelled run has to stop after SIGTERM before SIGKILL."""
    stop_grace: int = 10
    """Seconds running runs get to finish when the daemon stops."""


# The range each whole-number setting must fall in, and how to say it.
_RANGES: dict[str, tuple[int, int, str]] = {
    "port": (0, 65535, "a whole number from 0 to 65535"),
    "max_request_bytes": (1024, 1024**3, "a whole number of bytes from 1024 to 1 GiB"),
    "trigger_limit": (0, 1_000_000, "a whole number from 0 (no limit) to 1000000"),
    "max_concurrent_runs": (0, 1024, "a whole number from 0 (the CPUs) to 1024"),
    "cancel_grace": (1, 3600, "a whole number of seconds from 1 to 3600"),
    "stop_grace": (0, 3600, "a whole number of seconds from 0 to 3600"),
}


def load() -> Settings:
    """Return the settings of the user's config file, or the defaults.

    Raises:
        ConfigError: The file is not valid TOML or holds unknown or wrong values.
    """
    path = paths.config_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.", path=path) from None

    unknown_sections = set(data) - {"daemon"}
    if unknown_sections:
        raise ConfigError(
            f"Unknown sections in {path}: {sorted(unknown_sections)}; "
            "the valid one: [daemon].",
            path=path,
        )
    daemon = data.get("daemon", {})
    if not isinstance(daemon, dict):
        raise ConfigError(f"daemon in {path} must be a [daemon] table.", path=path)

    valid = [f.name for f in fields(Settings)]
    unknown = set(daemon) - set(valid)
    if unknown:
        raise ConfigError(
            f"Unknown settings in [daemon] of {path}: {sorted(unknown)}; "
            f"valid keys: {', '.join(valid)}.",
            path=path,
        )
    for key, value in daemon.items():
        _check(path, key, value)
    return Settings(**daemon)


def _check(path: Path, key: str, value: Any) -> None:
    if key == "host":
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"daemon.host in {path} must be a non-empty string.", path=path
            )
        return

    low, high, expected = _RANGES[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise ConfigError(
            f"daemon.{key} in {path} must be {expected}; got {value!r}.", path=path
        )
