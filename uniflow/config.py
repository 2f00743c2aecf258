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
    allow_remote = false        # must be true to listen on a non-loopback address
    allowed_hosts = []          # Host names besides localhost, 127.0.0.1 and [::1]
    auth_failure_limit = 20     # failed authentications a client may make a
                                # minute before it gets 429; 0: no limit

and the token rules in ``[tokens]``::

    [tokens]
    default_lifetime = "90d"    # how long a token lives unless told otherwise
    max_lifetime = ""           # the longest allowed, such as "365d"; "": any, and
                                # tokens without expiry
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uniflow import durations, paths
from uniflow.errors import ConfigError, DurationError

if TYPE_CHECKING:
    from uniflow.tokens import Policy

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
    allow_remote: bool = False
    """Whether the daemon may listen on an address other than loopback."""
    allowed_hosts: tuple[str, ...] = ()
    """``Host`` names the daemon answers besides the loopback ones."""
    auth_failure_limit: int = 20
    """Failed authentications one client may make a minute; 0 lifts the limit."""
    default_lifetime: str = field(default="90d", metadata={"section": "tokens"})
    """How long a token lives when its creator gives no expiry."""
    max_lifetime: str = field(default="", metadata={"section": "tokens"})
    """The longest lifetime a token may have; empty allows any, and none."""

    def token_policy(self) -> Policy:
        """Return the lifetime rules for new tokens."""
        from uniflow.tokens import Policy

        return Policy(
            default_lifetime=durations.parse(self.default_lifetime),
            max_lifetime=durations.parse(self.max_lifetime)
            if self.max_lifetime
            else None,
        )


# The range each whole-number setting must fall in, and how to say it.
_RANGES: dict[str, tuple[int, int, str]] = {
    "port": (0, 65535, "a whole number from 0 to 65535"),
    "max_request_bytes": (1024, 1024**3, "a whole number of bytes from 1024 to 1 GiB"),
    "trigger_limit": (0, 1_000_000, "a whole number from 0 (no limit) to 1000000"),
    "max_concurrent_runs": (0, 1024, "a whole number from 0 (the CPUs) to 1024"),
    "cancel_grace": (1, 3600, "a whole number of seconds from 1 to 3600"),
    "stop_grace": (0, 3600, "a whole number of seconds from 0 to 3600"),
    "auth_failure_limit": (0, 1_000_000, "a whole number from 0 (no limit) to 1000000"),
}
_SECTIONS = {
    name: [
        f.name for f in fields(Settings) if f.metadata.get("section", "daemon") == name
    ]
    for name in ("daemon", "tokens")
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

    unknown_sections = set(data) - set(_SECTIONS)
    if unknown_sections:
        raise ConfigError(
            f"Unknown sections in {path}: {sorted(unknown_sections)}; "
            f"the valid ones: {', '.join(f'[{name}]' for name in _SECTIONS)}.",
            path=path,
        )
    values: dict[str, Any] = {}
    for section, valid in _SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(
                f"{section} in {path} must be a [{section}] table.", path=path
            )
        unknown = set(table) - set(valid)
        if unknown:
            raise ConfigError(
                f"Unknown settings in [{section}] of {path}: {sorted(unknown)}; "
                f"valid keys: {', '.join(valid)}.",
                path=path,
            )
        for key, value in table.items():
            values[key] = _check(path, f"{section}.{key}", value)
    settings = Settings(**values)
    policy = settings.token_policy()
    if policy.max_lifetime is None or policy.default_lifetime <= policy.max_lifetime:
        return settings
    if "default_lifetime" not in values:
        # A cap below the 90 days of the default becomes the default.
        return Settings(**{**values, "default_lifetime": settings.max_lifetime})
    raise ConfigError(
        f"tokens.default_lifetime ({settings.default_lifetime}) in {path} is longer "
        f"than tokens.max_lifetime ({settings.max_lifetime}); make it at most that, "
        "or every token created without a lifetime is refused.",
        path=path,
    )


def _check(path: Path, key: str, value: Any) -> Any:
    # Return the value as Settings holds it, or refuse it naming the key.
    name = key.partition(".")[2]
    if name == "host":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key} in {path} must be a non-empty string.", path=path)
        return value
    if name == "allow_remote":
        if not isinstance(value, bool):
            raise ConfigError(f"{key} in {path} must be true or false.", path=path)
        return value
    if name == "allowed_hosts":
        if not isinstance(value, list) or not all(
            isinstance(h, str) and h and h.isprintable() and " " not in h for h in value
        ):
            raise ConfigError(
                f"{key} in {path} must be a list of host names, such as "
                '["uniflow.internal"].',
                path=path,
            )
        return tuple(h.lower() for h in value)
    if name in ("default_lifetime", "max_lifetime"):
        return _duration(path, key, value)

    low, high, expected = _RANGES[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise ConfigError(
            f"{key} in {path} must be {expected}; got {value!r}.", path=path
        )
    return value


def _duration(path: Path, key: str, value: Any) -> str:
    if key.endswith("max_lifetime") and value == "":
        return ""
    try:
        if not isinstance(value, str):
            raise DurationError("", text=repr(value))
        durations.parse(value)
    except DurationError:
        raise ConfigError(
            f"{key} in {path} must be a duration such as {durations.EXAMPLES}; got "
            f"{value!r}.",
            path=path,
        ) from None
    return value
