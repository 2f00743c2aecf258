"""Starting, finding and stopping the local daemon from the CLI."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time

from uniflow import paths
from uniflow.cli.locks import exclusive
from uniflow.daemon_state import (
    DaemonState,
    clear_state,
    client_url,
    lock_holder,
    pid_alive,
    read_state,
)
from uniflow.errors import DaemonError

START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
_POLL = 0.05


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether a UniFlow daemon answers its health check at ``url``."""
    import httpx

    try:
        answer = httpx.get(f"{url}/healthz", timeout=timeout)
        return answer.status_code == 200 and answer.json().get("service") == "uniflow"
    except (httpx.HTTPError, ValueError):
        return False


def current() -> DaemonState | None:
    """Return the local daemon's record when its process lives; drop a stale one."""
    state = read_state()
    if state is None:
        return None
    if not state.alive():
        clear_state(state.pid)
        return None
    return state


def running_url() -> str | None:
    """Return the URL of a local daemon that answers, or None."""
    state = current()
    return state.url if state and healthy(state.url) else None


def start(host: str, port: int) -> tuple[DaemonState, bool]:
    """Start the local daemon in the background unless one already answers.

    Returns:
        The daemon's record, and whether it was already running.

    Raises:
        DaemonError: The daemon exited or did not answer in time; the message
            carries the end of its log.
    """
    with exclusive("daemon-start"):
        state = current()
        if state is not None and healthy(state.url):
            return state, False
        return _spawn(host, port), True


def _spawn(host: str, port: int) -> DaemonState:
    log = paths.daemon_log()
    env = {k: v for k, v in os.environ.items() if k != "UNIFLOW_TOKEN"}
    # Not a link, nor a FIFO that would block the open; closed to others if an
    # older version left it open.
    paths.keep_private(log)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | paths.NO_FOLLOW
    try:
        fd = os.open(log, flags, 0o600)
    except OSError as exc:
        raise DaemonError(
            f"Cannot write the daemon's log {str(log)!r} ({exc.strerror}); remove "
            "whatever is in its place."
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DaemonError(
            f"The daemon's log {str(log)!r} is not a regular file; remove it."
        )
    with os.fdopen(fd, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uniflow.daemon",
                "--host",
                host,
                "--port",
                str(port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = _log_tail()
            hint = (
                " Check --host and --port, or the [daemon] settings of config.toml."
                if "Cannot listen" in tail
                else ""
            )
            raise DaemonError(
                f"The daemon could not start on {client_url(host, port)}: "
                f"{tail} (log: {log}).{hint}"
            )
        state = read_state()
        if state is not None and state.pid == process.pid and healthy(state.url):
            return state
        time.sleep(_POLL)

    process.terminate()
    raise DaemonError(
        f"The daemon did not answer within {START_TIMEOUT:.0f} s; see its log: {log}."
    )


def stop(timeout: float = STOP_TIMEOUT) -> DaemonState | None:
    """Stop the local daemon and wait up to ``timeout`` seconds for it to exit.

    Returns:
        The stopped daemon's record, or None when none was running.

    Raises:
        DaemonError: It did not exit in time.
    """
    state = current()
    if state is None:
        holder = lock_holder()
        if holder is None:
            return None
        # Its daemon.json is gone, but it still holds the data folder.
        state = DaemonState(holder, "", "")
    try:
        os.kill(state.pid, signal.SIGTERM)
    except ProcessLookupError:
        clear_state(state.pid)
        return state

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(state.pid):
            clear_state(state.pid)
            return state
        time.sleep(_POLL)
    raise DaemonError(
        f"The daemon (pid {state.pid}) did not stop within {timeout:.0f} s; "
        f"stop it with `kill {state.pid}`."
    )


def _log_tail() -> str:
    # The last line only, read from the end: the log grows for as long as the data
    # folder lives, and a FIFO in its place must not hang the CLI.
    try:
        fd = os.open(paths.daemon_log(), os.O_RDONLY | os.O_NONBLOCK | paths.NO_FOLLOW)
    except OSError:
        return "no log"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "no log"
        os.lseek(fd, max(0, info.st_size - 16 * 1024), os.SEEK_SET)
        text = os.read(fd, 16 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return "no log"
    finally:
        os.close(fd)
    tail = [line for line in text.strip().splitlines() if line.strip()][-1:]
    # Without the log's own time, level and logger: the message is what matters.
    return _LOG_PREFIX.sub("", tail[0]) if tail else "no log"


_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ [\w.]+: ")
