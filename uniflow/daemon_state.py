"""The local daemon's record in the data folder: which process runs, and where.

A running daemon holds ``daemon.lock`` in the data folder and records its pid and
address in ``daemon.json``. The daemon writes them; the CLI and
:meth:`uniflow.Client.from_environment` read them to find it.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from uniflow import paths

LOCK_NAME = "daemon.lock"


@dataclass(frozen=True)
class DaemonState:
    """What a running daemon records about itself in the data folder."""

    pid: int
    url: str
    started_at: str
    stop_grace: int | None = None
    """Seconds its running runs get to finish when it stops; None in a record
    written before daemons kept it."""
    cancel_grace: int | None = None
    """Seconds from SIGTERM to SIGKILL when it cancels a run."""
    default_lifetime: str | None = None
    """The lifetime of its new tokens, such as ``90d``; None in older records."""
    max_lifetime: str | None = None
    """Its cap on token lifetimes, ``""`` for none; None in older records. The CLI
    makes its own token by the daemon's rules, which may come from variables the
    CLI's own environment lacks."""

    def alive(self) -> bool:
        """Whether the recorded daemon still runs: its process lives and holds the
        data folder's daemon lock (so a reused pid is not taken for it)."""
        return pid_alive(self.pid) and lock_held()


def take_lock() -> int | None:
    """Take the data folder's daemon lock; return its descriptor, or None if held.

    The kernel drops the lock when the holder exits, even through ``kill -9``.
    """
    fd = os.open(
        paths.home() / LOCK_NAME, os.O_RDWR | os.O_CREAT | paths.NO_FOLLOW, 0o600
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lock_held() -> bool:
    """Whether a daemon holds the data folder's daemon lock now."""
    fd = take_lock()
    if fd is None:
        return True
    os.close(fd)
    return False


def lock_holder() -> int | None:
    """Return the pid of the daemon holding the data folder's lock, or None.

    This finds a running daemon even when its ``daemon.json`` was deleted.
    """
    if not lock_held():
        return None
    try:
        return int(paths.read_small(paths.home() / LOCK_NAME, 64).strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists and has not exited."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An exited process stays a zombie until its parent (often init, for a
    # daemon whose starter has gone) reaps it; it is gone for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def read_state() -> DaemonState | None:
    """Return the recorded daemon, or None when there is no readable record."""
    try:
        data = json.loads(paths.read_small(paths.daemon_state(), 64 * 1024))
        return DaemonState(
            int(data["pid"]),
            str(data["url"]),
            str(data["started_at"]),
            _seconds(data.get("stop_grace")),
            _seconds(data.get("cancel_grace")),
            _text(data.get("default_lifetime")),
            _text(data.get("max_lifetime")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _seconds(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def clear_state(pid: int | None = None) -> None:
    """Remove the record, only if it is still ``pid``'s when one is given."""
    state = read_state()
    if pid is None or state is None or state.pid == pid:
        paths.daemon_state().unlink(missing_ok=True)


def client_url(host: str, port: int) -> str:
    """Return the URL a client on this machine uses for a daemon bound to host."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
