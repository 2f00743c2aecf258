"""Starting the terminal UI: from launching ``uniflow tui`` to its first data on screen.

``uniflow tui`` runs under a pseudo-terminal of 80x24, as a user's terminal would
run it, against a running daemon whose store holds one run. The time is from
launching the command to the moment that run's id appears in what the app
draws, which is when the runs table has been drawn with data. The first launch
is not timed: it provisions the TUI's token, as a user's first command does.
Its reference is starting and ending ``python -c pass`` with the same
interpreter, between the launches. Target: under 1 s.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass
from pathlib import Path

from bench import BenchError, daemon
from bench.figures import Figure, Measure, Target
from uniflow.runs import Run, RunStatus
from uniflow.store import SQLiteStore

logger = logging.getLogger(__name__)

RUN_ID = "run_00000000be4c0001"
"""The run whose id on screen means the runs table shows data."""
_SIZE = (24, 80)
_EXIT_WAIT = 10.0


@dataclass(frozen=True)
class Settings:
    """How often the TUI is launched, and its bound."""

    launches: int = 10
    """Timed launches, each with a reference measured after it."""
    warmup: int = 1
    """Launches first, not timed: the first provisions the TUI's token."""
    bound: float = 1000.0
    """Milliseconds under which the first screen must show data."""
    timeout: float = 30.0
    """Seconds one launch may take to show data before the benchmark gives up."""


def run(settings: Settings | None = None) -> list[Figure]:
    """Start a daemon with one run, launch ``uniflow tui`` repeatedly, time each.

    Raises:
        BenchError: The daemon did not start, or the TUI exited or showed no data
            in time.
    """
    settings = settings or Settings()
    launch_ms: list[float] = []
    python_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="uniflow-bench-") as folder:
        home = Path(folder) / "home"
        home.mkdir(mode=0o700)
        with daemon.running(home):
            _add_run(home)
            for _ in range(settings.warmup):
                _launch(home, settings)
            for index in range(1, settings.launches + 1):
                launch_ms.append(_launch(home, settings))
                python_ms.append(_python_pass())
                logger.info(
                    "%d/%d launches: %.0f ms to data (median so far)",
                    index,
                    settings.launches,
                    statistics.median(launch_ms),
                )
    return [_figure(launch_ms, python_ms, settings)]


def _add_run(home: Path) -> None:
    store = SQLiteStore(home / "uniflow.db")
    store.add_run(Run(RUN_ID, "first_screen", "bench", {}, RunStatus.SUCCESS))
    store.close()


def _command() -> list[str]:
    # The console script installed beside this interpreter, as a user runs it.
    script = Path(sys.executable).with_name("uniflow")
    if script.exists():
        return [str(script), "tui"]
    return [sys.executable, "-m", "uniflow.cli.main", "tui"]


def _environment(home: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UNIFLOW_") and name != "PYTHON_KEYRING_BACKEND"
    }
    env.update(
        UNIFLOW_HOME=str(home),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        TERM="xterm-256color",
    )
    return env


def _launch(home: Path, settings: Settings) -> float:
    """Launch the TUI under a pseudo-terminal; return the ms until data showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *_SIZE, 0, 0))
    began = time.perf_counter()
    process = subprocess.Popen(
        _command(),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=_environment(home),
        start_new_session=True,
    )
    os.close(slave)
    try:
        _read_until(master, RUN_ID.encode(), process, settings.timeout)
        elapsed = (time.perf_counter() - began) * 1000
        os.write(master, b"q")
        _drain_until_exit(master, process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(master)
    return elapsed


def _read_until(
    master: int, marker: bytes, process: subprocess.Popen[bytes], timeout: float
) -> None:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if process.poll() is not None:
            raise BenchError(
                f"`uniflow tui` exited with {process.returncode} before showing "
                f"data: {seen[-500:]!r}"
            )
        if time.monotonic() > deadline:
            raise BenchError(f"`uniflow tui` showed no data within {timeout:g} s.")
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            # Keep only the tail a split marker could start in.
            seen = seen[-len(marker) :] + os.read(master, 65536)


def _drain_until_exit(master: int, process: subprocess.Popen[bytes]) -> None:
    """Read what the app writes while it quits, so it never blocks on a full pty."""
    deadline = time.monotonic() + _EXIT_WAIT
    while process.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                os.read(master, 65536)
            except OSError:
                break
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=_EXIT_WAIT)


def _python_pass() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - began) * 1000


def _figure(
    launch_ms: list[float], python_ms: list[float], settings: Settings
) -> Figure:
    return Figure(
        measure=Measure(
            name="uniflow tui to data",
            value=statistics.median(launch_ms),
            unit="ms",
            repetitions=len(launch_ms),
            method="from launching `uniflow tui` under an 80x24 pseudo-terminal to "
            "a run's id appearing in its output (the runs table drawn with data), "
            "daemon already running",
            samples=tuple(round(s, 3) for s in launch_ms),
        ),
        reference=Measure(
            name="python -c pass",
            value=statistics.median(python_ms),
            unit="ms",
            repetitions=len(python_ms),
            method=f"`{Path(sys.executable).name} -c pass` started and ended, "
            "between the launches",
            samples=tuple(round(s, 3) for s in python_ms),
        ),
        target=Target(of="value", at_least=False, bound=settings.bound, unit="ms"),
    )
