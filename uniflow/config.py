"""The user's settings: defaults, the user's ``config.toml``, and environment
variables.

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
    allowed_hosts = []          # exact Host names besides localhost, 127.0.0.1, [::1]
    auth_failure_limit = 20     # failed authentications a client may make a
                                # minute before it gets 429; 0: no limit

and the token rules in ``[tokens]``::

    [tokens]
    default_lifetime = "90d"    # how long a token lives unless told otherwise
    max_lifetime = ""           # the longest allowed, such as "365d"; "": any, and
                                # tokens without expiry

A setting is addressed as ``section.key`` (``daemon.port``). Its value comes from,
first to last: a command-line flag (``--host``, ``--port``), the environment
variable ``UNIFLOW_<SECTION>_<KEY>`` (``UNIFLOW_DAEMON_PORT=9000``), the config
file, the default.

There is no project layer (a project's ``uniflow.toml``): one daemon serves every
project of a data folder, so its address, limits and token rules cannot differ
from one project to the next.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uniflow import durations, paths
from uniflow.errors import ConfigError, DurationError, shorten

if TYPE_CHECKING:
    from collections.abc import Callable

    from uniflow.tokens import Policy

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
ENV_PREFIX = "UNIFLOW_"
"""Environment variables ``UNIFLOW_<SECTION>_<KEY>`` override the config file."""


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


@dataclass(frozen=True)
class Entry:
    """One setting in force, and where its value comes from."""

    key: str
    """The setting as ``section.key``, such as ``daemon.port``."""
    value: Any
    """Its value as TOML writes it: a string, a whole number, a bool or a list."""
    origin: str
    """``env:<VARIABLE>``, ``file:<path of config.toml>`` or ``default``."""


@dataclass(frozen=True)
class Change:
    """What :func:`set_value` or :func:`unset` did to the config file."""

    key: str
    """The setting as ``section.key``."""
    path: Path
    """The config file."""
    changed: bool
    """False when :func:`unset` found the key absent and left the file alone."""
    value: Any = None
    """The value written, as TOML writes it; None after :func:`unset`."""
    overridden_by: str | None = None
    """The environment variable that takes precedence over the file, if it is set."""
    problem: ConfigError | None = None
    """What is still wrong with the file elsewhere (it was invalid before)."""


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
KEYS = tuple(
    f"{section}.{name}" for section, names in _SECTIONS.items() for name in names
)
"""Every setting as ``section.key``, in the order of the file."""
_DEFAULTS = Settings()
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def env_var(key: str) -> str:
    """Return the environment variable of a setting: ``UNIFLOW_DAEMON_PORT``."""
    return ENV_PREFIX + key.replace(".", "_").upper()


def load() -> Settings:
    """Return the settings in force: the environment's, the config file's, defaults.

    Raises:
        ConfigError: The file is not valid TOML or holds unknown or wrong values,
            or a ``UNIFLOW_<SECTION>_<KEY>`` variable is unknown or wrong.
    """
    return _resolve()[0]


def entries() -> list[Entry]:
    """Return every setting in force with where its value comes from.

    Raises:
        ConfigError: As :func:`load` does.
    """
    settings, origins = _resolve()
    return [
        Entry(key, _toml_value(getattr(settings, _name(key))), origins[key])
        for key in KEYS
    ]


def get(key: str) -> Entry:
    """Return one setting in force, given as ``section.key``.

    Raises:
        ConfigError: The key is unknown, or the settings are invalid.
    """
    _check_key(key)
    return next(entry for entry in entries() if entry.key == key)


def set_value(key: str, text: str) -> Change:
    """Write a setting to the config file, its value given as text, the other
    contents kept.

    ``text`` is read as the key's type: a whole number, ``true`` or ``false``, a
    list as ``a,b`` or a TOML array, a duration such as ``30d``, or a string.

    Raises:
        ConfigError: The key is unknown, the value wrong (also when it clashes with
            another setting of the file), or the file not valid TOML; the file is
            then left as it was.
    """
    _check_key(key)
    value = _toml_value(_check(key, _parse_text(key, text), key))
    name = _name(key)
    return _rewrite(
        paths.config_file(), key, lambda table: table.__setitem__(name, value), value
    )


def unset(key: str) -> Change:
    """Remove a setting from the config file, so that its default applies again.

    A key that the file does not hold is no error: ``changed`` is then False.

    Raises:
        ConfigError: The key is unknown, or the file is not valid TOML.
    """
    _check_key(key)
    path = paths.config_file()
    section, _, name = key.partition(".")
    table = _read(path).get(section)
    if not isinstance(table, dict) or name not in table:
        return Change(key, path, changed=False, overridden_by=_overridden(key))
    return _rewrite(path, key, lambda table: table.pop(name), None)


def _parse_text(key: str, text: str) -> Any:
    # Text (an argument of `config set`, an environment variable) as the TOML value
    # of the key's type; text that does not fit stays text, for _check to refuse
    # with the form it expects.
    default = getattr(_DEFAULTS, _name(key))
    text = text.strip()
    if isinstance(default, bool):
        return {"true": True, "false": False}.get(text.lower(), text)
    if isinstance(default, int):
        return int(text) if _WHOLE_NUMBER.fullmatch(text) else text
    if isinstance(default, tuple):
        if text.startswith("["):
            try:
                return tomllib.loads(f"value = {text}")["value"]
            except tomllib.TOMLDecodeError:
                return text
        return [item.strip() for item in text.split(",")] if text else []
    return text


def _resolve() -> tuple[Settings, dict[str, str]]:
    # The values in force and the origin of each, by key.
    path = paths.config_file()
    origins = dict.fromkeys(KEYS, "default")
    values = _file_values(path, _read(path))
    origins.update(dict.fromkeys(values, f"file:{path}"))
    from_env = _env_values()
    values.update(from_env)
    origins.update({key: f"env:{env_var(key)}" for key in from_env})
    return _settings(values, origins), origins


def _read(path: Path) -> dict[str, Any]:
    # The file as TOML, or nothing when there is none. It decides where the daemon
    # listens and for whom, so one that another user owns is refused; it may be a
    # link (dotfile managers make those) to a file of the user's.
    paths.keep_private(path.parent, link_ok=True)
    paths.keep_private(path, link_ok=True)
    try:
        return tomllib.loads(paths.read_small(path).decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.", path=path) from None
    except OSError as exc:  # a folder of that name, no permission
        raise ConfigError(
            f"{path} cannot be read ({exc.strerror or exc}); make it a file you can "
            "read, or remove it to use the defaults.",
            path=path,
        ) from None


def _file_values(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    # The file's checked values, by key.
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
        for name, value in table.items():
            key = f"{section}.{name}"
            values[key] = _check(key, value, f"{key} in {path}", path)
    return values


def _env_values() -> dict[str, Any]:
    # The checked values of UNIFLOW_<SECTION>_<KEY> variables, by key.
    known = {env_var(key): key for key in KEYS}
    prefixes = tuple(f"{ENV_PREFIX}{section.upper()}_" for section in _SECTIONS)
    unknown = sorted(
        name for name in os.environ if name.startswith(prefixes) and name not in known
    )
    if unknown:
        raise ConfigError(
            f"Unknown setting variables in the environment: {', '.join(unknown)}; "
            f"the valid ones: {', '.join(known)}."
        )
    return {
        key: _check(key, _parse_text(key, os.environ[variable]), variable)
        for variable, key in known.items()
        if variable in os.environ
    }


def _settings(values: dict[str, Any], origins: dict[str, str]) -> Settings:
    # Settings of checked values, once the token lifetimes agree with each other.
    settings = Settings(**{_name(key): value for key, value in values.items()})
    policy = settings.token_policy()
    if policy.max_lifetime is None or policy.default_lifetime <= policy.max_lifetime:
        return settings
    if "tokens.default_lifetime" not in values:
        # A cap below the 90 days of the default becomes the default.
        return Settings(
            **{_name(key): value for key, value in values.items()},
            default_lifetime=settings.max_lifetime,
        )
    default_from = _where(origins["tokens.default_lifetime"])
    max_from = _where(origins["tokens.max_lifetime"])
    raise ConfigError(
        f"tokens.default_lifetime ({settings.default_lifetime}) {default_from} is "
        f"longer than tokens.max_lifetime ({settings.max_lifetime}) {max_from}; make "
        "it at most that, or every token created without a lifetime is refused.",
        path=_origin_path(origins["tokens.default_lifetime"]),
    )


def _where(origin: str) -> str:
    # An origin as a sentence says it.
    kind, _, place = origin.partition(":")
    return {"file": f"in {place}", "env": f"from {place}"}.get(kind, "by default")


def _origin_path(origin: str) -> Path | None:
    kind, _, place = origin.partition(":")
    return Path(place) if kind == "file" else None


def _check_key(key: str) -> None:
    # Refuse a key that is not section.key of a setting, naming the valid ones.
    if key in KEYS:
        return
    similar = [k for k in KEYS if k.partition(".")[2] == key.rpartition(".")[2]]
    hint = f" Did you mean {similar[0]}?" if similar else ""
    raise ConfigError(
        f"Unknown setting {key!r}; the valid ones: {', '.join(KEYS)}.{hint}"
    )


def _name(key: str) -> str:
    # The Settings attribute of a key.
    return key.partition(".")[2]


def _overridden(key: str) -> str | None:
    variable = env_var(key)
    return variable if variable in os.environ else None


def _rewrite(
    path: Path, key: str, edit: Callable[[dict[str, Any]], object], value: Any
) -> Change:
    # Apply edit(table) to the key's table of the file and write the file, unless
    # that makes a valid file invalid; a file invalid before is still written, with
    # its problem reported, so that fixing one key at a time works.
    data = _read(path)
    before = _problem(path, data)
    section = key.partition(".")[0]
    table = data.setdefault(section, {})
    if not isinstance(table, dict):
        raise ConfigError(
            f"{section} in {path} must be a [{section}] table; fix it by hand, "
            "nothing was changed.",
            path=path,
        )
    edit(table)
    if not table:
        del data[section]
    after = _problem(path, data)
    if after is not None and before is None:
        raise ConfigError(f"{after} {path} was left as it was.", path=path)
    _write(path, data)
    return Change(key, path, True, value, _overridden(key), after)


def _problem(path: Path, data: dict[str, Any]) -> ConfigError | None:
    # What load() would refuse in the file's contents alone, if anything.
    try:
        values = _file_values(path, data)
        _settings(values, dict.fromkeys(values, f"file:{path}"))
    except ConfigError as exc:
        return exc
    return None


def _write(path: Path, data: dict[str, Any]) -> None:
    # Replace the file at once, readable by the user only: a reader (a daemon
    # starting) sees the old contents or the new, never half of them. A symlinked
    # config.toml (kept with dotfiles) keeps its link; the file it points at changes.
    import tomli_w

    target = path.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".config.toml.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(tomli_w.dumps(data))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(
            f"{path} cannot be written: {exc.strerror}; nothing was changed.",
            path=path,
        ) from None


def _toml_value(value: Any) -> Any:
    # A value of Settings as TOML (and JSON) write it.
    return list(value) if isinstance(value, tuple) else value


def _check(key: str, value: Any, subject: str, path: Path | None = None) -> Any:
    # Return the value as Settings holds it, or refuse it naming the key where it
    # was given: "daemon.port in <path>", "UNIFLOW_DAEMON_PORT" or "daemon.port".
    name = _name(key)
    if name == "host":
        if not isinstance(value, str) or not _is_address(value):
            raise ConfigError(
                f"{subject} must be an IP address or a host name, such as "
                f"127.0.0.1; got {_shown(value)}.",
                path=path,
            )
        return value
    if name == "allow_remote":
        if not isinstance(value, bool):
            raise ConfigError(
                f"{subject} must be true or false; got {value!r}.", path=path
            )
        return value
    if name == "allowed_hosts":
        if isinstance(value, list) and any(
            isinstance(h, str) and ("*" in h or "?" in h) for h in value
        ):
            raise ConfigError(
                f"{subject} takes exact host names, not patterns: each name the "
                'daemon is reached by, such as ["uniflow.internal"]; got '
                f"{_shown(value)}.",
                path=path,
            )
        if not isinstance(value, list) or not all(
            isinstance(h, str) and _is_address(h) for h in value
        ):
            raise ConfigError(
                f"{subject} must be a list of host names or IP addresses, such as "
                f'["uniflow.internal"]; got {_shown(value)}.',
                path=path,
            )
        return tuple(h.lower() for h in value)
    if name in ("default_lifetime", "max_lifetime"):
        return _duration(key, value, subject, path)

    low, high, expected = _RANGES[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise ConfigError(f"{subject} must be {expected}; got {value!r}.", path=path)
    return value


_HOST_NAME = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?",
    re.ASCII,
)


def _is_address(text: str) -> bool:
    # An IP address (IPv6 with or without brackets) or a host name made of
    # letters, digits and hyphens; dotted numbers must be a real IPv4 address.
    import ipaddress

    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", text):
        return False  # such as 999.1.1.1
    # No underscore: a token's secret (uf_…) can never pass for a name.
    return bool(_HOST_NAME.fullmatch(text))


def _shown(value: Any) -> str:
    # A refused value as the message shows it: never a token's secret, never long.
    from uniflow.tokens import mask_secrets

    return shorten(mask_secrets(repr(value)), 120)


def _duration(key: str, value: Any, subject: str, path: Path | None) -> str:
    if key.endswith("max_lifetime") and value == "":
        return ""
    try:
        if not isinstance(value, str):
            raise DurationError("", text=repr(value))
        durations.parse(value)
    except DurationError:
        raise ConfigError(
            f"{subject} must be a duration such as {durations.EXAMPLES}; got "
            f"{value!r}.",
            path=path,
        ) from None
    return value
