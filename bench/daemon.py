"""A real daemon, started as ``python -m uniflow.daemon`` over a throwaway home."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import BenchError
from bench.load import pinned, split_cpus

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
STARTUP = 30.0
"""Seconds the daemon may take to answer its health check."""
SHUTDOWN = 15.0
"""Seconds the daemon may take to stop after SIGTERM before it is killed."""


@contextmanager
def running(home: Path, *, settings: str = "", pin: bool = True) -> Iterator[str]:
    """Run a daemon on a free loopback port over ``home``; yield its URL.

    The daemon is stopped with SIGTERM when the block ends, on errors too.

    Args:
        home: The daemon's data folder.
        settings: More lines for the ``[daemon]`` section of its config file.
        pin: Keep the daemon, and the runs it starts, on a CPU of their own.

    Raises:
        BenchError: The daemon exited or did not answer within ``STARTUP`` seconds.
    """
    # The address goes both ways: `python -m uniflow.daemon` takes it from its
    # options, `uniflow daemon start` from the config file.
    (home / "config.toml").write_text(
        f'[daemon]\nhost = "{HOST}"\nport = 0\n{settings}\n'
    )
    cpus = split_cpus() if pin else None
    with open(home / "daemon.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uniflow.daemon", "--host", HOST, "--port", "0"],
            cwd=home,
            env=_environment(home),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=pinned(cpus[0] if cpus else None),
        )
    try:
        url = _wait_ready(home, process)
        logger.info("Daemon %d answers on %s", process.pid, url)
        yield url
    finally:
        _stop(process)


def _environment(home: Path) -> dict[str, str]:
    """Return this process's environment with only ``home`` as UniFlow setting."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UNIFLOW_") and name != "PYTHON_KEYRING_BACKEND"
    }
    env["UNIFLOW_HOME"] = str(home)
    # The daemon has no business with the developer's keyring.
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return env


def _wait_ready(home: Path, process: subprocess.Popen[bytes]) -> str:
    """Return the daemon's URL once it has recorded it and answers ``/healthz``."""
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"The daemon exited with {process.returncode}: {_tail(home)}"
            )
        url = _recorded_url(home, process.pid)
        if url is not None and _healthy(url):
            return url
        time.sleep(0.05)

    raise BenchError(f"The daemon did not answer within {STARTUP:g} s: {_tail(home)}")


def _recorded_url(home: Path, pid: int) -> str | None:
    """Return the URL in ``daemon.json`` when the record is ``pid``'s."""
    try:
        state = json.loads((home / "daemon.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("pid") != pid:
        return None
    return str(state["url"])


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the daemon with SIGTERM, and kill it if it does not stop in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN)
    except subprocess.TimeoutExpired:
        logger.warning("The daemon did not stop within %g s; killing it", SHUTDOWN)
        process.kill()
        process.wait()


def _tail(home: Path) -> str:
    """Return the end of the daemon's log, for an error message."""
    try:
        text = (home / "daemon.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return text.strip()[-2000:] or "(no output)"
