"""Where the CLI keeps the token it uses for each server.

A token is looked up in a fixed order: the ``UNIFLOW_TOKEN`` environment variable,
then the OS keyring (service ``uniflow``, username the server's URL), then a
fallback JSON file that only exists when no keyring backend works. Each result says
where the token came from, so the CLI can show it next to the masked secret.

Every call into ``keyring`` happens here, in a daemon thread bounded by a timeout:
a locked or hung keyring must not freeze the CLI.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from uniflow import paths
from uniflow.errors import ConfigError, CredentialError

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

TOKEN_ENV = "UNIFLOW_TOKEN"
SERVICE = "uniflow"

_TIMEOUT_ENV = "UNIFLOW_KEYRING_TIMEOUT"
_DEFAULT_TIMEOUT = 3.0
_QUIET_TIMEOUT = 1.0
_SHOWN_HEAD = 6
_SHOWN_TAIL = 4
_MASKABLE_LENGTH = 32  # 10 of them shown: under a third of a secret

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Credential:
    """A token's secret and where it was found."""

    secret: str = field(repr=False)
    """The token itself; kept out of ``repr`` so it cannot leak into a log."""
    source: str
    """Where it came from, such as ``environment variable UNIFLOW_TOKEN``."""

    def masked(self) -> str:
        """Return a form of the secret that is safe to show.

        Long secrets keep their first 6 and last 4 characters, enough to tell two
        tokens apart; shorter ones would give away too much, so they show nothing.
        """
        if len(self.secret) < _MASKABLE_LENGTH:
            return "********"
        return f"{self.secret[:_SHOWN_HEAD]}…{self.secret[-_SHOWN_TAIL:]}"


@dataclass(frozen=True)
class Stored:
    """Where :func:`store` put a token."""

    location: str
    """Where it went, in the same words as :attr:`Credential.source`."""
    fallback: bool
    """True when no keyring backend worked and the token went to the plain file."""


class _NoKeyring(Exception):
    """No keyring backend works here; never leaves this module."""


class _KeyringFailed(Exception):
    """The keyring backend raised (the cause is chained); never leaves this module."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def get(server_url: str, *, interactive: bool = True) -> Credential | None:
    """Return the token for a server, or None when none is stored.

    Args:
        server_url: The server's address; a trailing slash does not matter.
        interactive: False to read the keyring only when it cannot ask the user
            anything (an unlocked Secret Service), within at most a second; shell
            completion must never pop up an unlock dialog or hang.

    Returns:
        The token from ``UNIFLOW_TOKEN`` (stripped of white space; an empty value
        counts as unset), else
        the OS keyring, else the fallback file, with its source; None when none
        of them has one.

    Raises:
        CredentialError: The keyring did not answer in time or failed, or the
            fallback file cannot be read.
    """
    # Secrets read from files or CI settings often end in a newline.
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return Credential(from_env, f"environment variable {TOKEN_ENV}")
    return _kept(_key(server_url), interactive=interactive)


def _kept(key: str, *, interactive: bool = True) -> Credential | None:
    """Return the token kept for a server's key, in the keyring or the file."""
    failure: _KeyringFailed | None = None
    try:
        if interactive:
            secret, location = _in_keyring(lambda kr: kr.get_password(SERVICE, key))
        else:
            secret, location = _in_keyring(
                lambda kr: kr.get_password(SERVICE, key) if _unlocked(kr) else None,
                timeout=min(_timeout(), _QUIET_TIMEOUT),
            )
    except _NoKeyring:
        pass
    except _KeyringFailed as exc:
        failure = exc
    else:
        if secret is not None:
            return Credential(secret, location)

    secret = _read_file().get(key)
    if secret:
        return Credential(secret, f"file {paths.credentials_file()}")

    if failure is not None:
        raise CredentialError(
            f"The {failure.location} failed to read the token for {key!r}; "
            f"unlock it, or set {TOKEN_ENV}."
        ) from failure.__cause__
    return None


def store(server_url: str, secret: str) -> Stored:
    """Keep a server's token in the OS keyring, or in the fallback file.

    Args:
        server_url: The server's address; a trailing slash does not matter.
        secret: The token to keep.

    Returns:
        Where the token went, and whether that is the fallback file.

    Raises:
        CredentialError: ``UNIFLOW_TOKEN`` is set, the secret is empty, the keyring
            did not answer in time, or the fallback file cannot be written.
    """
    _refuse_when_env_is_set("store another token")
    return _keep(_key(server_url), secret)


def replace_kept(server_url: str, old: str, new: str) -> str | None:
    """Replace the token kept for a server if it is ``old``, even while
    ``UNIFLOW_TOKEN`` is set: after a rotation, a kept copy of the old secret
    could only mislead.

    Returns:
        Where the new secret went, or None when another token, or none, is kept.

    Raises:
        CredentialError: The keyring or the fallback file failed.
    """
    key = _key(server_url)
    kept = _kept(key)
    if kept is None or not secrets.compare_digest(kept.secret, old):
        return None
    return _keep(key, new).location


def _keep(key: str, secret: str) -> Stored:
    """Keep a token for a server's key in the OS keyring, or in the fallback file."""
    if not secret:
        raise CredentialError(
            f"Refusing to store an empty token for {key!r}; pass the token's secret."
        )

    try:
        _, location = _in_keyring(lambda kr: kr.set_password(SERVICE, key, secret))
    except _NoKeyring:
        logger.debug("No keyring backend works; using the fallback file")
    except _KeyringFailed as exc:
        # A keyring that works but refuses (locked, denied) is no reason to write
        # the token in plain text. No traceback: its frames hold the secret.
        raise CredentialError(
            f"The {exc.location} refused to keep the token "
            f"({type(exc.__cause__).__name__}); unlock it and try again, or set "
            f"{TOKEN_ENV}."
        ) from None
    else:
        # A plain-text copy left from an earlier fallback must not outlive the
        # token's move into the keyring.
        _forget_in_file(key)
        return Stored(location, fallback=False)

    entries = _read_file()
    entries[key] = secret
    _write_file(entries)
    return Stored(f"file {paths.credentials_file()}", fallback=True)


def delete(server_url: str) -> bool:
    """Forget a server's token, in the OS keyring and in the fallback file.

    Args:
        server_url: The server's address; a trailing slash does not matter.

    Returns:
        True when a token was deleted from either place.

    Raises:
        CredentialError: ``UNIFLOW_TOKEN`` is set, or the keyring did not answer in
            time or failed.
    """
    _refuse_when_env_is_set("delete the stored token")
    key = _key(server_url)

    # The file goes first: it cannot hang, so a keyring that times out still
    # leaves no plain-text copy behind.
    deleted = _forget_in_file(key)
    try:
        in_keyring, _ = _in_keyring(lambda kr: _delete_password(kr, key))
    except _NoKeyring:
        return deleted
    except _KeyringFailed as exc:
        raise CredentialError(
            f"The {exc.location} failed to delete the token for {key!r}; "
            "unlock it and try again."
        ) from exc.__cause__
    return deleted or in_keyring


def _key(server_url: str) -> str:
    """Return the server URL in the form tokens are filed under."""
    key = server_url.strip().rstrip("/")
    if not key:
        raise CredentialError(
            "A server URL is needed to find its token; "
            "pass one such as 'http://127.0.0.1:8080'."
        )
    return key


def _refuse_when_env_is_set(action: str) -> None:
    """Raise when the token comes from the environment, which we cannot change."""
    if os.environ.get(TOKEN_ENV, "").strip():
        raise CredentialError(
            f"{TOKEN_ENV} is set and always wins, so UniFlow will not {action}; "
            f"unset {TOKEN_ENV} first."
        )


def _delete_password(backend: KeyringBackend, key: str) -> bool:
    """Delete the keyring entry for a server; return False when it had none."""
    from keyring.errors import PasswordDeleteError

    try:
        backend.delete_password(SERVICE, key)
    except PasswordDeleteError:
        return False
    return True


def _in_keyring(
    operation: Callable[[KeyringBackend], _T], *, timeout: float | None = None
) -> tuple[_T, str]:
    """Run an operation on the configured keyring backend, bounded by a timeout.

    The call runs in a daemon thread: a keyring that never answers (a locked
    collection waiting for a prompt, a stopped daemon) leaves that thread behind
    instead of freezing the CLI, and it cannot hold up the interpreter's exit.

    Args:
        operation: What to do with the backend.
        timeout: Seconds to wait; UNIFLOW_KEYRING_TIMEOUT's, or 3, when None.

    Returns:
        The operation's result and the backend's description.

    Raises:
        CredentialError: The keyring did not answer within the timeout.
        _NoKeyring: No backend works.
        _KeyringFailed: The backend raised.
    """
    if timeout is None:
        timeout = _timeout()
    results: list[tuple[_T, str]] = []
    errors: list[Exception] = []

    def attempt() -> None:
        try:
            results.append(_run(operation))
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=attempt, name="uniflow-keyring", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise CredentialError(
            f"The OS keyring did not answer within {timeout:g} s; "
            f"unlock it, or set {TOKEN_ENV} to skip the keyring."
        )

    if errors:
        raise errors[0]
    return results[0]


def _run(operation: Callable[[KeyringBackend], _T]) -> tuple[_T, str]:
    """Run an operation on the configured backend, sorting out its failures."""
    from keyring.errors import InitError, NoKeyringError

    backend = _backend()
    location = f"OS keyring ({backend.name})"
    try:
        return operation(backend), location
    except (NoKeyringError, InitError) as exc:
        raise _NoKeyring(location) from exc
    except Exception as exc:
        raise _KeyringFailed(location) from exc


def _unlocked(backend: KeyringBackend) -> bool:
    """Whether reading from the backend cannot make it ask the user anything.

    Only an open Secret Service collection is known not to: reading a locked one
    pops up an unlock dialog, and the macOS Keychain and KWallet may ask too.
    """
    from keyring.backends import SecretService

    if not isinstance(backend, SecretService.Keyring):
        return False

    import secretstorage

    # The same collection the backend would read, found without unlocking it.
    with contextlib.closing(secretstorage.dbus_init()) as connection:
        path = getattr(backend, "preferred_collection", None)
        if path:
            collection = secretstorage.Collection(connection, path)
        else:
            collection = secretstorage.get_default_collection(connection)
        return not collection.is_locked()


def _backend() -> KeyringBackend:
    """Return the backend keyring's configuration selects, if one works.

    This repeats keyring's own choice (``PYTHON_KEYRING_BACKEND``, then
    ``keyringrc.cfg``, then the best available backend) at each call instead of
    using ``keyring.get_keyring()``, which caches its first answer in a global: a
    long-lived process should follow a change of configuration, and a thread left
    behind by a timeout must not overwrite the backend another call relies on.
    """
    import keyring.backend
    import keyring.core
    from keyring.backends import fail, null

    try:
        backend = (
            keyring.core.load_env()
            or keyring.core.load_config()
            or max(
                keyring.backend.get_all_keyring(),
                key=keyring.backend.by_priority,
                default=None,
            )
        )
    except Exception as exc:
        # A configured backend that cannot start here should raise RuntimeError,
        # but not all do: SecretService lets FileNotFoundError out when the D-Bus
        # socket is gone, and a misspelt PYTHON_KEYRING_BACKEND raises ImportError.
        logger.debug("The configured keyring backend cannot start", exc_info=exc)
        raise _NoKeyring() from exc

    # The null backend accepts a token and silently drops it: no better than none.
    if backend is None or isinstance(backend, (fail.Keyring, null.Keyring)):
        raise _NoKeyring()
    return backend


def _timeout() -> float:
    """Return the seconds a keyring call may take, from UNIFLOW_KEYRING_TIMEOUT."""
    configured = os.environ.get(_TIMEOUT_ENV)
    if not configured:
        return _DEFAULT_TIMEOUT

    try:
        seconds = float(configured)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise CredentialError(
            f"{_TIMEOUT_ENV} must be a positive number of seconds, not "
            f"{configured!r}; fix or unset it."
        )
    return seconds


def _read_file() -> dict[str, str]:
    """Return the fallback file's map of server URL to token (empty if none)."""
    path = paths.credentials_file()
    try:
        # Before reading: a link or a file of another user's is not ours to trust.
        paths.keep_private(path)
    except ConfigError as exc:
        raise CredentialError(
            f"The credential file {exc} Or set {TOKEN_ENV} instead."
        ) from None
    try:
        data = paths.read_small(path)
    except FileNotFoundError:
        return {}
    except paths.NotASmallFile as exc:
        raise CredentialError(
            f"The credential file {str(path)!r} is {exc.strerror}; delete it and "
            "store the token again."
        ) from None
    except OSError as exc:
        raise CredentialError(
            f"Cannot read the credential file {str(path)!r} ({exc.strerror}); "
            "check its owner and permissions, or delete it and store the token again."
        ) from exc
    text = data.decode("utf-8", errors="replace")

    try:
        entries = json.loads(text)
    except ValueError:
        entries = None
    if not isinstance(entries, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
    ):
        # No `from exc`: a JSON error can quote the file, and the file holds tokens.
        raise CredentialError(
            f"The credential file {str(path)!r} is not a JSON object of server URLs "
            "to tokens; delete it and store the token again."
        )
    return entries


def _write_file(entries: dict[str, str]) -> None:
    """Replace the fallback file atomically; remove it when no entry is left."""
    path = paths.credentials_file()
    try:
        if entries:
            _replace_private(path, json.dumps(entries, indent=2, sort_keys=True))
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise CredentialError(
            f"Cannot write the credential file {str(path)!r} ({exc.strerror}); "
            f"check that {str(path.parent)!r} is writable, or set {TOKEN_ENV}."
        ) from exc


def _replace_private(path: Path, text: str) -> None:
    """Write text to a new file readable by the owner only, then move it to path."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # Created 0600 from the start: a chmod after writing would leave a moment in
    # which other users could read the tokens.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _forget_in_file(key: str) -> bool:
    """Drop a server's entry from the fallback file; return True if it had one."""
    entries = _read_file()
    if entries.pop(key, None) is None:
        return False

    _write_file(entries)
    return True
