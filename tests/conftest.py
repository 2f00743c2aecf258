"""Fixtures shared by every test: a clean environment and a private UNIFLOW_HOME."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_until

from uniflow import tokens
from uniflow.client import Client
from uniflow.store import SQLiteStore


@pytest.fixture(autouse=True)
def clean_environ(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Drop every UNIFLOW_* variable and point UNIFLOW_HOME at a fresh folder.

    The keyring is pointed at keyring's own "fail" backend unless a test asks for
    another one, so no test ever touches the developer's own keyring.
    """
    for name in list(os.environ):
        if name.startswith("UNIFLOW_") or name == "PYTHON_KEYRING_BACKEND":
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("UNIFLOW_HOME", str(home))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    yield home


# --- Secret Service (GNOME Keyring) for credential tests ------------------------------
# A private D-Bus session bus and an unlocked GNOME Keyring on it, started once per
# test session, so credential tests use a real keyring backend and never the
# developer's own.

_SECRET_SERVICE_PACKAGES = "gnome-keyring dbus"
_SECRET_SERVICE_STARTUP = 15.0

# A session bus with no service directories: with the stock session.conf, a client
# that arrives before our daemon would make D-Bus start a second, locked
# gnome-keyring-daemon under the developer's own HOME.
_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture(scope="session")
def secret_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """Run a headless, unlocked GNOME Keyring Secret Service for the whole session.

    Yields the environment variables a test or a subprocess needs to use it,
    including ``PYTHON_KEYRING_BACKEND`` and ``DBUS_SESSION_BUS_ADDRESS``, plus
    ``GNOME_KEYRING_PID`` for a test that needs to make the daemon hang.
    """
    missing = [
        name
        for name in ("dbus-daemon", "gnome-keyring-daemon")
        if shutil.which(name) is None
    ]
    if missing:
        pytest.fail(
            f"The Secret Service tests need {', '.join(missing)}; install the Debian "
            f"packages with `apt-get install {_SECRET_SERVICE_PACKAGES}`.",
            pytrace=False,
        )

    with running_secret_service(tmp_path_factory.mktemp("secret-service")) as env:
        yield env


@contextlib.contextmanager
def running_secret_service(root: Path) -> Iterator[dict[str, str]]:
    """Run a private D-Bus and GNOME Keyring in ``root`` until the block ends."""
    with contextlib.ExitStack() as stack:
        address = _start_bus(root, stack)
        keyring_daemon = _start_gnome_keyring(root, address, stack)
        _wait_for_secret_service(address, keyring_daemon, root)
        yield {
            "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
            "DBUS_SESSION_BUS_ADDRESS": address,
            # gnome-keyring-daemon prints nothing in --foreground mode; these are
            # the variables it would export when started by a desktop session.
            "GNOME_KEYRING_CONTROL": str(root / "run" / "keyring"),
            "GNOME_KEYRING_PID": str(keyring_daemon.pid),
        }


@pytest.fixture
def use_secret_service(
    secret_service: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point this test's keyring at the session's Secret Service."""
    for name, value in secret_service.items():
        monkeypatch.setenv(name, value)
    return secret_service


def _start_bus(root: Path, stack: contextlib.ExitStack) -> str:
    """Start a private D-Bus session bus and return its address."""
    config = root / "bus.conf"
    config.write_text(_BUS_CONFIG.format(socket=root / "bus"), encoding="utf-8")
    log = stack.enter_context(open(root / "dbus.log", "wb"))
    bus = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    stack.callback(_stop, bus)

    # The daemon prints its address once it listens, or exits and closes stdout.
    assert bus.stdout is not None
    address = bus.stdout.readline().strip()
    bus.stdout.close()
    if not address:
        pytest.fail(f"dbus-daemon did not start: {_tail(root / 'dbus.log')}")
    return address


def _start_gnome_keyring(
    root: Path, address: str, stack: contextlib.ExitStack
) -> subprocess.Popen[bytes]:
    """Start gnome-keyring-daemon on the bus, its login keyring unlocked."""
    folders = {
        name: root / folder
        for name, folder in [
            ("HOME", "home"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_RUNTIME_DIR", "run"),
        ]
    }
    for folder in folders.values():
        folder.mkdir(mode=0o700)
    env = {name: value for name, value in os.environ.items() if "DISPLAY" not in name}
    env.update({name: str(folder) for name, folder in folders.items()})
    env["DBUS_SESSION_BUS_ADDRESS"] = address

    log = stack.enter_context(open(root / "gnome-keyring.log", "wb"))
    daemon = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=log,
        env=env,
    )
    stack.callback(_stop, daemon)

    # --unlock reads the password until end of file and creates the login keyring
    # with it, which also becomes the default collection.
    assert daemon.stdin is not None
    daemon.stdin.write(b"uniflow-tests")
    daemon.stdin.close()
    return daemon


def _wait_for_secret_service(
    address: str, daemon: subprocess.Popen[bytes], root: Path
) -> None:
    """Return once the Secret Service answers with an unlocked default collection."""
    import secretstorage
    from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

    deadline = time.monotonic() + _SECRET_SERVICE_STARTUP
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            pytest.fail(
                f"gnome-keyring-daemon exited with {daemon.returncode}: "
                f"{_tail(root / 'gnome-keyring.log')}"
            )
        with contextlib.closing(open_dbus_connection(bus=address)) as connection:
            try:
                if not secretstorage.Collection(connection).is_locked():
                    return
            except secretstorage.exceptions.SecretStorageException:
                pass  # not on the bus yet, or the login keyring is not made yet
        time.sleep(0.05)

    pytest.fail(
        f"The Secret Service did not answer within {_SECRET_SERVICE_STARTUP:g} s: "
        f"{_tail(root / 'gnome-keyring.log')}"
    )


def _stop(process: subprocess.Popen[Any]) -> None:
    """Stop a process even if a test left it stopped (SIGSTOP)."""
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: Path) -> str:
    """Return the end of a daemon's log, for a failure message."""
    text = log.read_text(encoding="utf-8", errors="replace").strip()
    return text[-2000:] or "(no output)"


# A real daemon, started once per test session as a child process on a free
# loopback port, with its own UNIFLOW_HOME.

REPO = Path(__file__).resolve().parent.parent
FIXTURE_PROJECT = Path(__file__).resolve().parent / "fixtures" / "project"
EXAMPLE_PROJECT = REPO / "examples"


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """Return this process's environment without UNIFLOW_* and with ``home``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("UNIFLOW_") and k != "PYTHON_KEYRING_BACKEND"
    }
    env.update(
        UNIFLOW_HOME=str(home),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        PYTHONDONTWRITEBYTECODE="1",
        **extra,
    )
    return env


@dataclass
class RunningDaemon:
    """A daemon process started for tests, and ways to talk to it."""

    home: Path
    process: subprocess.Popen[bytes]
    url: str = ""
    admin: str = ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the daemon records its address and answers."""
        import httpx

        from uniflow.daemon.server import read_state

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.home / "daemon.log").read_text(errors="replace")
                raise RuntimeError(f"The daemon exited: {log[-2000:]}")
            state = _state_in(self.home, read_state)
            if state is not None and state.pid == self.process.pid:
                try:
                    if httpx.get(f"{state.url}/healthz", timeout=2).status_code == 200:
                        self.url = state.url
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("The daemon did not answer in time.")

    def store(self) -> SQLiteStore:
        """Return the daemon's store, opened from this process."""
        return SQLiteStore(self.home / "uniflow.db")

    def token(self, role: str, name: str | None = None) -> str:
        """Create a token with ``role`` straight in the store; return its secret."""
        _, secret = tokens.issue(
            self.store(), name or f"{role}-{uuid.uuid4().hex[:8]}", role
        )
        return secret

    def client(self, secret: str | None = None) -> Client:
        """Return a client with ``secret`` (the admin token by default)."""
        return Client(self.url, secret or self.admin)

    def stop(self) -> None:
        """Stop the daemon with SIGTERM and wait for it.

        Raises:
            AssertionError: It was still running 30 s after SIGTERM (it is then
                killed): a daemon that ignores SIGTERM is a bug.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"The daemon {self.process.pid} ignored SIGTERM for 30 s."
                ) from None


def _state_in(home: Path, read: Any) -> Any:
    saved = os.environ.get("UNIFLOW_HOME")
    os.environ["UNIFLOW_HOME"] = str(home)
    try:
        return read()
    finally:
        if saved is None:
            del os.environ["UNIFLOW_HOME"]
        else:
            os.environ["UNIFLOW_HOME"] = saved


def start_daemon(home: Path) -> RunningDaemon:
    """Start ``python -m uniflow.daemon`` on a free port with ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "daemon.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "uniflow.daemon", "--port", "0"],
        env=isolated_env(home),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    running = RunningDaemon(home=home, process=process)
    running.wait_ready()
    return running


def copy_project(source: Path, target: Path) -> Path:
    """Copy a project folder (without caches) and return the copy's path."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@contextlib.contextmanager
def daemon_with_testproj(
    tmp_path_factory: pytest.TempPathFactory, name: str, settings: str = ""
) -> Iterator[RunningDaemon]:
    """Run a daemon with an admin token and a copy of the test project registered.

    ``settings`` are lines of the ``[daemon]`` table of its ``config.toml``.
    """
    home = tmp_path_factory.mktemp(f"{name}-home")
    if settings:
        (home / "config.toml").write_text(f"[daemon]\n{settings}\n", encoding="utf-8")
    running = start_daemon(home)
    try:
        running.admin = running.token("admin", f"{name}-admin")
        project = copy_project(
            FIXTURE_PROJECT, tmp_path_factory.mktemp(f"{name}-projects") / "testproj"
        )
        with running.client() as client:
            client.register_project("testproj", str(project))
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    """A real daemon with an admin token and the test project registered."""
    with daemon_with_testproj(tmp_path_factory, "session") as running:
        yield running


@pytest.fixture(scope="session")
def example_project(
    daemon: RunningDaemon, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The README's example project, registered with the session daemon."""
    project = copy_project(EXAMPLE_PROJECT, tmp_path_factory.mktemp("ex") / "examples")
    with daemon.client() as client:
        client.register_project("default", str(project))
    return project


@pytest.fixture
def spawn_daemon(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """Return ``start(home=None)``, which starts a daemon of the test's own.

    Every daemon started this way is stopped when the test ends.
    """
    started: list[RunningDaemon] = []

    def start(home: Path | None = None) -> RunningDaemon:
        running = start_daemon(home or tmp_path_factory.mktemp("own-daemon"))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def testproj_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Return ``start(settings="")``, which starts a daemon of the test's own with
    ``settings`` in its config's ``[daemon]`` table, an admin token and the test
    project registered. Every daemon started this way is stopped when the test ends.
    """
    with contextlib.ExitStack() as stack:

        def start(settings: str = "") -> RunningDaemon:
            return stack.enter_context(
                daemon_with_testproj(tmp_path_factory, "own", settings)
            )

        yield start


@pytest.fixture
def fixture_project(tmp_path: Path) -> Path:
    """A fresh copy of the test project (``testproj``)."""
    return copy_project(FIXTURE_PROJECT, tmp_path / "testproj")


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Any:
    """The :func:`wait_until` helper, for test modules (which cannot import here)."""
    return wait_until
