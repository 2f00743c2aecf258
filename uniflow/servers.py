"""Which server to talk to, and with which token, found as the CLI finds them.

The server is ``$UNIFLOW_URL`` when set, else the local daemon at the address its
state file records. The token is ``$UNIFLOW_TOKEN``, else the one kept for that
server's URL (see :mod:`uniflow.credentials`). Nothing here starts a daemon or
creates a token: the CLI does that on top, and :meth:`uniflow.Client.from_environment`
does without.
"""

from __future__ import annotations

import os

from uniflow import config, credentials, daemon_state
from uniflow.client import check_url
from uniflow.errors import AuthenticationError, DaemonNotRunning

URL_ENV = "UNIFLOW_URL"


def configured_url(url: str | None = None) -> str | None:
    """Return the server named by ``url``, else by ``$UNIFLOW_URL``, checked.

    Args:
        url: An address given by the caller; wins over the variable.

    Returns:
        The address without its trailing slash, or None when neither names one.

    Raises:
        ConfigError: The address is not an http or https URL with a host.
        DaemonNotRunning: It is where this data folder's daemon listens, and that
            daemon does not run: whatever answers there must not get its token.
    """
    given = (url or os.environ.get(URL_ENV, "")).strip()
    if not given:
        return None

    checked = check_url(given)
    if _own_daemon_missing(checked):
        raise DaemonNotRunning(checked)
    return checked


def local_url() -> str | None:
    """Return the address of this data folder's daemon if its process lives.

    The daemon is not asked whether it answers, and its state file is only read.
    """
    state = daemon_state.read_state()
    return state.url if state is not None and state.alive() else None


def default_local_url() -> str:
    """Return the address the local daemon gets from the settings when started."""
    settings = config.load()
    return daemon_state.client_url(settings.host, settings.port)


def token(url: str, *, local: bool) -> credentials.Credential:
    """Return the token for a server: ``$UNIFLOW_TOKEN``, else the one kept for it.

    Args:
        url: The server's address.
        local: Whether it is this data folder's daemon, for the message's advice.

    Raises:
        AuthenticationError: No token is set or kept for the server.
        CredentialError: The OS keyring failed or did not answer in time.
    """
    credential = credentials.get(url)
    if credential is not None:
        return credential

    if local:
        advice = (
            f"set {credentials.TOKEN_ENV}, or run a `uniflow` command such as "
            "`uniflow runs list` once so that the CLI keeps a token for it"
        )
    else:
        advice = (
            f"run `uniflow login --url {url}`, or set {credentials.TOKEN_ENV} to a "
            "token of that server"
        )
    raise AuthenticationError(f"No token for {url}; {advice}.", reason="missing")


def _own_daemon_missing(url: str) -> bool:
    """Whether ``url`` is where this data folder's daemon listens, yet it does not
    run: a process of another user may hold the port."""
    if url != default_local_url():
        return False
    return local_url() != url
