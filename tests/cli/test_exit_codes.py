"""Every exit code the README documents, each from a real failure, with a message
that names the next step and no traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from uniflow import Client, tokens

_SCRIPT = Path(sys.executable).with_name("uniflow")
UNIFLOW = (
    [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "uniflow.cli.main"]
)


@pytest.fixture
def closed_url() -> str:
    """A loopback URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def revoked_secret(cli_daemon) -> str:
    """The secret of a viewer token that was revoked."""
    with Client(cli_daemon.url, cli_daemon.cli_secret()) as client:
        made = client.create_token(f"gone-{uuid.uuid4().hex[:8]}", "viewer")
        client.revoke_token(made["token_id"])
    return str(made["secret"])


def _expect(done, code: int, next_step: str) -> None:
    assert done.code == code, done
    assert next_step in done.said, done
    assert "Traceback" not in done.err, done


def test_failed_run_exits_one(cli_daemon):
    done = cli_daemon.cli("run", "fails", "--wait", cwd=cli_daemon.project)

    _expect(done, 1, "uniflow runs logs run_")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("runs", "list", "--output", "xml"), "--help"),
        (("config", "set", "daemon.port", "http"), "from 0 to 65535"),
    ],
)
def test_bad_value_exits_two(cli, args, says):
    done = cli(*args)

    _expect(done, 2, says)


def test_closed_port_exits_three(cli, closed_url):
    done = cli("runs", "list", UNIFLOW_URL=closed_url, UNIFLOW_TOKEN="uf_x")

    _expect(done, 3, "`uniflow daemon start`")


@pytest.mark.parametrize("spoil", ["revoked", "unknown"])
def test_refused_token_exits_four(cli_daemon, revoked_secret, spoil):
    secret = revoked_secret if spoil == "revoked" else tokens.new_secret()

    done = cli_daemon.cli("runs", "list", UNIFLOW_TOKEN=secret)

    _expect(done, 4, "`uniflow login`")
    assert "UNIFLOW_TOKEN" in done.said
    assert secret not in done.said


def test_interrupted_logs_exit_130(cli_daemon, wait_for, tmp_path):
    with Client(cli_daemon.url, cli_daemon.cli_secret()) as client:
        run = client.trigger_run(
            "ticks", {"count": 600, "every": 0.2}, project="testproj"
        )
    run_id = run["run_id"]
    lines: list[str] = []
    errors = tmp_path / "stderr"

    try:
        with (
            errors.open("w") as stderr,
            subprocess.Popen(
                [*UNIFLOW, "runs", "logs", run_id, "-f"],
                env=cli_daemon.cli.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            ) as follower,
        ):
            reader = threading.Thread(
                target=lambda: lines.extend(follower.stdout or []), daemon=True
            )
            reader.start()
            try:
                wait_for(lambda: any("tick" in line for line in lines), 60, "output")

                follower.send_signal(signal.SIGINT)

                code = follower.wait(timeout=30)
            finally:
                if follower.poll() is None:
                    follower.kill()
            reader.join(timeout=30)
    finally:
        cli_daemon.cli("runs", "cancel", run_id)

    err = errors.read_text()
    assert code == 130, err
    assert f"uniflow runs cancel {run_id}" in " ".join(err.split())
    assert "Traceback" not in err and "Aborted" not in err
