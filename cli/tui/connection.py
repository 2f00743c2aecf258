"""The TUI's link to the server: the CLI's own session, shared by worker threads.

The server and the token are found exactly as the CLI finds them
(:func:`uniflow.cli.session.open_session`): ``$UNIFLOW_URL`` or the local daemon,
which is started when none answers, and ``$UNIFLOW_TOKEN`` or the credential kept
for that server, provisioned for the local daemon when there is none.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from rich.console import Console

from uniflow.cli.session import Rotation, Session, call, open_session, rotate
from uniflow.client import Client
from uniflow.errors import (
    APIError,
    AuthenticationError,
    DaemonError,
    DaemonNotRunning,
    UniFlowError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

OPEN_TIMEOUT = 60.0
"""Seconds a request waits for the session to open (the daemon may be starting)."""


@dataclass(frozen=True)
class Problem:
    """What went wrong, in words for a notification."""

    title: str
    message: str


class _ToLog(io.StringIO):
    def write(self, text: str) -> int:
        if text.strip():
            logger.warning("%s", text.strip())
        return len(text)


class NotConnected(UniFlowError):
    """No session is open yet, or opening it failed."""


class Connection:
    """The session the TUI talks through; every method may be called from a thread."""

    def __init__(self) -> None:
        self._session: Session | None = None
        self._failure: UniFlowError | None = None
        self._opened = threading.Event()
        self._lock = threading.Lock()
        self.own_token: dict[str, object] = {}
        """The token this TUI uses (id, name, role), once the session is open."""

    @property
    def local(self) -> bool:
        """Whether the server is the local daemon, which the TUI may start."""
        return self._session is not None and self._session.local

    @property
    def url(self) -> str:
        """The server's address, or an empty string before the session opens."""
        return self._session.url if self._session else ""

    def open(self) -> list[str]:
        """Find the server, starting the local daemon if needed, and the token.

        Returns:
            What the CLI would have said on stderr, such as that it started the
            daemon, one line each.

        Raises:
            UniFlowError: No server could be reached or no token found; requests
                raise the same error until the next call.
        """
        said = io.StringIO()
        console = Console(file=said, width=200, highlight=False, markup=False)
        self._opened.clear()
        try:
            session = open_session(console)
            with session.client() as client:
                self.own_token = client.own_token()
        except UniFlowError as exc:
            self._failure = exc
            raise
        else:
            with self._lock:
                self._session, self._failure = session, None
        finally:
            self._opened.set()
        return [line for line in said.getvalue().splitlines() if line.strip()]

    def request(self, action: Callable[[Client], T]) -> T:
        """Run ``action`` with a client of the session and return what it returns.

        Against the local daemon, a token the store no longer knows is replaced
        once, as the CLI does.

        Raises:
            UniFlowError: The request failed, or the session is not open.
        """
        session = self._session_or_failure()
        before = session.credential
        result = call(session, self._quiet(), action)
        if session.credential is not before:
            # The token was replaced (provisioned again, or rotated by another
            # worker): what the screens say of "the token this TUI uses" follows.
            with session.client() as client:
                self.own_token = client.own_token()
        return result

    @staticmethod
    def _quiet() -> Console:
        """Where the CLI's code says things during a request (say, that the
        fallback file holds the token): the log, since the TUI owns the terminal."""
        return Console(file=_ToLog(), width=200, highlight=False, markup=False)

    def _session_or_failure(self) -> Session:
        if not self._opened.wait(OPEN_TIMEOUT):
            raise NotConnected("The TUI is still looking for the server.")
        session = self._session
        if session is None:
            raise self._failure or NotConnected("The TUI is not connected.")
        return session

    def rotate(self, token_id: str, grace: str | None) -> Rotation:
        """Rotate a token as ``uniflow token rotate`` does: the new secret of the
        TUI's own token replaces the old one where that was kept.

        Raises:
            UniFlowError: The request failed, or the session is not open.
        """
        session = self._session_or_failure()
        rotation = rotate(session, self._quiet(), token_id, grace)
        if rotation.own:
            self.own_token = {k: v for k, v in rotation.token.items() if k != "secret"}
        return rotation


def describe(exc: UniFlowError, *, local: bool = False) -> Problem:
    """Return what a failed request means for the user, and what to do next.

    Args:
        exc: The error.
        local: The server is the local daemon, which Ctrl+R starts again.
    """
    if isinstance(exc, DaemonNotRunning):
        again = " or press Ctrl+R to start it and connect again" if local else ""
        return Problem(
            "Daemon not running",
            f"No UniFlow daemon answers at {exc.url}; start one with "
            f"`uniflow daemon start`{again}.",
        )
    if isinstance(exc, APIError) and exc.status == 401:
        return Problem(
            "Not authenticated",
            f"The server refused the token: {exc.detail} Log in again with "
            "`uniflow login`, or set UNIFLOW_TOKEN to a valid token.",
        )
    if isinstance(exc, APIError) and exc.status == 403:
        return Problem(
            "Not allowed",
            f"{exc.detail} Use a token whose role allows it (`uniflow login` "
            "keeps one).",
        )
    if isinstance(exc, APIError):
        return Problem(f"{exc.status} {exc.title}", exc.detail or str(exc))
    if isinstance(exc, AuthenticationError):
        return Problem("Not authenticated", str(exc))
    if isinstance(exc, DaemonError):
        return Problem("Daemon unreachable", str(exc))
    return Problem("Failed", str(exc))
