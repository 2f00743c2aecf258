"""Fixtures for the ``uniflow`` command: run it as a real subprocess, in a private home.

Every call goes through ``python -m uniflow.cli.main`` with an environment of the
test's own (no ``UNIFLOW_*`` variable leaks in from the developer's shell), the
keyring's "fail" backend so that the CLI keeps its token in the fallback file, and
a wide terminal so that tables and messages are not wrapped mid-value.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import wait_until

from uniflow.daemon_state import pid_alive

FIXTURE_PROJECT = Path(__file__).resolve().parents[1] / "fixtures" / "project"
# The console script installed next to this interpreter, as a user runs it.
_SCRIPT = Path(sys.executable).with_name("uniflow")
UNIFLOW = (
    [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "uniflow.cli.main"]
)
COMMAND_TIMEOUT = 90.0
RUN_TIMEOUT = 60.0
FINISHED = {"success", "failed", "cancelled"}
_DROPPED = {"PYTHON_KEYRING_BACKEND", "FORCE_COLOR", "COLUMNS", "LINES", "NO_COLOR"}


@dataclass(frozen=True)
class Outcome:
    """What one ``uniflow`` invocation did."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def said(self) -> str:
        """Stdout and stderr with runs of whitespace folded to one space."""
        return " ".join(f"{self.err}\n{self.out}".split())

    def __str__(self) -> str:
        return (
            f"uniflow {' '.join(self.args)} -> exit {self.code}\n"
            f"--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"
        )


@dataclass
class Cli:
    """Runs ``uniflow`` with ``home`` as its UNIFLOW_HOME."""

    home: Path
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        """Return the environment of a call: ours, minus UNIFLOW_*, plus the home."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("UNIFLOW_") and k not in _DROPPED
        }
        env.update(
            UNIFLOW_HOME=str(self.home),
            PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
            PYTHONDONTWRITEBYTECODE="1",
            COLUMNS="200",
        )
        env.update(self.extra)
        env.update(extra)
        return env

    def __call__(self, *args: str, cwd: Path | None = None, **extra: str) -> Outcome:
        """Run ``uniflow ARGS`` and return its exit code and output."""
        done = subprocess.run(
            [*UNIFLOW, *args],
            cwd=cwd or self.home,
            env=self.env(**extra),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=COMMAND_TIMEOUT,
        )
        return Outcome(tuple(args), done.returncode, done.stdout, done.stderr)

    # The daemon this home may have.

    def state(self) -> dict[str, Any] | None:
        """Return the parsed daemon.json of this home, or None."""
        try:
            return json.loads((self.home / "daemon.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def stop_daemon(self) -> None:
        """Stop this home's daemon with the CLI; kill it by its pid if that fails."""
        state = self.state()
        if state is None or not pid_alive(int(state["pid"])):
            return
        try:
            self("daemon", "stop")
        except subprocess.TimeoutExpired:
            pass
        pid = int(state["pid"])
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not pid_alive(pid), 10, f"daemon {pid} to die")


@dataclass
class CliDaemon:
    """A daemon that the CLI started by itself, and the first command that did it."""

    cli: Cli
    project: Path
    first: Outcome
    url: str
    pid: int

    @property
    def home(self) -> Path:
        return self.cli.home

    def cli_secret(self) -> str:
        """Return the CLI's own token, read from the fallback credential file."""
        entries = json.loads((self.home / "credentials.json").read_text("utf-8"))
        return entries[self.url]

    def http(self, secret: str | None = None) -> httpx.Client:
        """Return an HTTP client for the daemon, with ``secret`` or the CLI's token."""
        token = secret or self.cli_secret()
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def wait_run(self, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        """Wait until a run has finished and return it."""
        with self.http() as http:

            def finished() -> dict[str, Any] | None:
                run = http.get(f"/api/v1/runs/{run_id}").raise_for_status().json()
                return run if run["status"] in FINISHED else None

            return wait_until(finished, timeout, f"run {run_id} to finish")


@pytest.fixture
def cli(clean_environ: Path) -> Iterator[Cli]:
    """The CLI in this test's own UNIFLOW_HOME; any daemon it leaves is stopped."""
    runner = Cli(clean_environ)
    yield runner
    runner.stop_daemon()


@pytest.fixture(scope="session")
def cli_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliDaemon]:
    """A daemon auto-started by ``uniflow run hello --wait`` in a fixture project.

    The home's config.toml asks for a free port. The first command's outcome is
    kept for the tests that check what auto-start and provisioning do.
    """
    runner, project = new_cli(tmp_path_factory.mktemp("cli-session"))
    try:
        first = runner("run", "hello", "--wait", cwd=project)
        state = runner.state()
        if state is None or not pid_alive(int(state["pid"])):
            # Auto-start is under test elsewhere; the other tests still need a daemon.
            started = runner("daemon", "start")
            state = runner.state()
            if started.code != 0 or state is None:
                pytest.fail(f"No daemon for the CLI tests:\n{first}\n{started}")
        yield CliDaemon(
            cli=runner,
            project=project,
            first=first,
            url=state["url"],
            pid=int(state["pid"]),
        )
    finally:
        runner.stop_daemon()


def new_cli(root: Path) -> tuple[Cli, Path]:
    """Return a CLI whose home in ``root`` asks for a free port, and a copy of the
    test project beside it."""
    home = root / "home"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text("[daemon]\nport = 0\n", encoding="utf-8")
    project = root / "testproj"
    shutil.copytree(
        FIXTURE_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__")
    )
    return Cli(home), project


@pytest.fixture(scope="session")
def make_cli() -> type[Cli]:
    """The Cli class, for a fixture that needs a home other than the test's."""
    return Cli


@pytest.fixture(scope="session")
def cli_in() -> Any:
    """:func:`new_cli`, for test modules (which cannot import this conftest)."""
    return new_cli


@pytest.fixture(scope="session")
def alive() -> Any:
    """``alive(pid)``: whether that process exists and is not a zombie."""
    return pid_alive


@pytest.fixture(scope="session")
def wait_for() -> Any:
    """``wait_for(condition, timeout, what)``: poll until truthy, else fail."""
    return wait_until
