"""``uniflow daemon start|status|stop``: a real background daemon per home."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# The helpers of tests/cli/conftest.py come as fixtures (make_cli, alive): pytest's
# importlib mode gives test modules no import path to a conftest.


def _dead_process() -> int:
    """Return the pid of a process that has exited and been reaped."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory, make_cli):
    """A daemon started with ``uniflow daemon start --port 0`` in a home of its own."""
    runner = make_cli(tmp_path_factory.mktemp("daemon-control"))
    try:
        outcome = runner("daemon", "start", "--port", "0")
        yield runner, outcome
    finally:
        runner.stop_daemon()


def test_start_returns_once_healthy(started):
    runner, outcome = started
    state = runner.state()

    assert outcome.code == 0, outcome
    assert state is not None, outcome
    assert f"started at {state['url']}" in outcome.said
    # No waiting here: start must only return once the daemon answers.
    answer = httpx.get(f"{state['url']}/healthz", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["service"] == "uniflow"


def test_start_records_pid_and_url(started, alive):
    runner, outcome = started
    state = json.loads((runner.home / "daemon.json").read_text(encoding="utf-8"))

    assert isinstance(state["pid"], int)
    assert alive(state["pid"])
    assert state["url"].startswith("http://127.0.0.1:")
    assert int(state["url"].rpartition(":")[2]) > 0
    assert f"pid {state['pid']}" in outcome.said
    cmdline = Path(f"/proc/{state['pid']}/cmdline").read_bytes().split(b"\0")
    assert b"uniflow.daemon" in cmdline


def test_second_start_says_already_runs(started):
    runner, _ = started
    before = runner.state()

    again = runner("daemon", "start", "--port", "0")

    assert again.code == 0, again
    assert "already runs" in again.said
    assert before is not None and f"pid {before['pid']}" in again.said
    assert runner.state() == before


def test_status_exits_zero_while_running(started):
    runner, _ = started
    state = runner.state()

    status = runner("daemon", "status")

    assert status.code == 0, status
    assert state is not None
    assert state["url"] in status.said
    assert str(state["pid"]) in status.said
    cpus = os.cpu_count() or 2
    assert f"Runs: 0 running, 0 queued (at most {cpus} at once)." in status.said


def test_status_exits_three_when_stopped(cli):
    status = cli("daemon", "status")

    assert status.code == 3, status
    assert "uniflow daemon start" in status.said
    assert "Traceback" not in status.err


def test_stop_ends_the_daemon_and_record(cli, alive):
    assert cli("daemon", "start", "--port", "0").code == 0
    state = cli.state()
    assert state is not None

    stopped = cli("daemon", "stop")

    assert stopped.code == 0, stopped
    assert f"pid {state['pid']}" in stopped.said
    assert "running runs get 10 s to finish" in stopped.said
    # stop returns once the process has exited: no waiting here either.
    assert not alive(state["pid"])
    assert not (cli.home / "daemon.json").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{state['url']}/healthz", timeout=5)
    assert cli("daemon", "status").code == 3


def test_stop_without_daemon_is_harmless(cli):
    stopped = cli("daemon", "stop")

    assert stopped.code == 0, stopped
    assert "No UniFlow daemon is running" in stopped.said


def test_stale_record_is_cleared_on_start(cli, alive):
    dead = _dead_process()
    dead_pid = dead
    assert not alive(dead_pid)
    record = {"pid": dead_pid, "url": "http://127.0.0.1:9", "started_at": "x"}
    (cli.home / "daemon.json").write_text(json.dumps(record), encoding="utf-8")

    started = cli("daemon", "start", "--port", "0")

    assert started.code == 0, started
    assert "already runs" not in started.said
    state = cli.state()
    assert state is not None and state["pid"] != dead_pid
    assert alive(state["pid"])
    assert httpx.get(f"{state['url']}/healthz", timeout=5).status_code == 200


def test_status_drops_a_stale_record(cli):
    dead = _dead_process()
    record = {"pid": dead, "url": "http://127.0.0.1:9", "started_at": "x"}
    (cli.home / "daemon.json").write_text(json.dumps(record), encoding="utf-8")

    status = cli("daemon", "status")

    assert status.code == 3, status
    assert not (cli.home / "daemon.json").exists()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port on which this process listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_busy_port_fails_naming_the_port(cli, busy_port):
    started = cli("daemon", "start", "--port", str(busy_port))

    assert started.code != 0, started
    assert str(busy_port) in started.err
    assert "--port" in started.said
    assert "Traceback" not in started.err
    assert cli.state() is None
    assert cli("daemon", "status").code == 3


def test_start_closes_a_log_and_runs_folder_left_open(cli):
    # As an older version, or a copy under the usual umask, may have left them.
    (cli.home / "daemon.log").write_text("before\n")
    (cli.home / "daemon.log").chmod(0o644)
    (cli.home / "runs").mkdir(mode=0o755)
    (cli.home / "runs").chmod(0o755)

    started = cli("daemon", "start", "--port", "0")
    try:
        assert started.code == 0, started
        assert (cli.home / "daemon.log").stat().st_mode & 0o777 == 0o600
        assert (cli.home / "runs").stat().st_mode & 0o777 == 0o700
        assert (cli.home / "daemon.log").read_text().startswith("before\n")
    finally:
        cli("daemon", "stop")


def test_start_refuses_a_log_that_is_a_link(cli, tmp_path):
    # A link planted while the folder was open to others must not lead the
    # daemon's writes, or a change of mode, to another file.
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    victim.chmod(0o644)
    (cli.home / "daemon.log").symlink_to(victim)

    started = cli("daemon", "start", "--port", "0")

    assert started.code != 0, started
    assert "symbolic link" in started.said
    assert victim.read_text() == "untouched\n"
    assert victim.stat().st_mode & 0o777 == 0o644
    assert cli.state() is None


@pytest.mark.parametrize("name", ["daemon.log", "daemon.json"])
def test_a_fifo_in_the_data_folder_hangs_nothing(cli, name):
    os.mkfifo(cli.home / name)

    status = cli("daemon", "status")
    started = cli("daemon", "start", "--port", "0")
    try:
        assert status.code == 3, status  # no daemon recorded
        if name == "daemon.log":
            assert started.code != 0, started
            assert "daemon's log" in started.said and "remove" in started.said
        else:
            assert started.code == 0, started  # the record is written anew
    finally:
        cli("daemon", "stop")


def test_start_refuses_runs_that_is_no_folder(cli):
    (cli.home / "runs").write_text("not a folder\n")

    started = cli("daemon", "start", "--port", "0")

    assert started.code != 0, started
    assert "is not a folder" in started.said
    assert cli.state() is None
