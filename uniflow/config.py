"""The user's settings, read from ``config.toml``.

Only the daemon's address is configurable so far::

    [daemon]
    host = "127.0.0.1"
    port = 8080
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

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


def load() -> Settings:
    """Return the settings of the user's config file, or the defaults.

    Raises:
        ConfigError: The file is not valid TOML or holds wrong values.
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
    unknown = set(daemon) - {"host", "port"}
    if unknown:
        raise ConfigError(
            f"Unknown settings in [daemon] of {path}: {sorted(unknown)}; "
            "valid keys: host, port.",
            path=path,
        )
    host = daemon.get("host", DEFAULT_HOST)
    port = daemon.get("port", DEFAULT_PORT)
    if not isinstance(host, str) or not host:
        raise ConfigError(
            f"daemon.host in {path} must be a non-empty string.", path=path
        )
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(
            f"daemon.port in {path} must be a whole number from 0 to 65535.", path=path
        )
    return Settings(host=host, port=port)
