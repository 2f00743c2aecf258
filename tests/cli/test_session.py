"""The CLI's own credential, and the server and token it picks from the environment."""

from __future__ import annotations

import getpass
import json
import os
import socket
import stat
from pathlib import Path

import pytest


def _cli_token_name() -> str:
    return f"cli {getpass.getuser()}@{socket.gethostname()}"


def test_first_command_provisions_admin(cli_daemon):
    listed = cli_daemon.cli("token", "list", "--output", "json")

    assert listed.code == 0, listed
    mine = [t for t in json.loads(listed.out) if t["name"] == _cli_token_name()]
    assert [(t["role"], t["state"]) for t in mine] == [("admin", "active")]
    # The stored secret is that admin token: it may manage tokens.
    with cli_daemon.http(cli_daemon.cli_secret()) as http:
        assert http.get("/api/v1/tokens").status_code == 200


def test_cli_token_lives_in_private_file(cli_daemon):
    path = cli_daemon.home / "credentials.json"

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = json.loads(path.read_text(encoding="utf-8"))
    assert list(entries) == [cli_daemon.url]
    assert entries[cli_daemon.url].startswith("uf_")


def test_fallback_notice_comes_once(cli_daemon):
    notice = f"kept in file {cli_daemon.home / 'credentials.json'}"

    assert notice in cli_daemon.first.said
    assert "readable by you only" in cli_daemon.first.said
    later = cli_daemon.cli("runs", "list")
    assert later.code == 0, later
    assert "keyring" not in later.err.lower()
    assert "credentials.json" not in later.said


def _wait_running(cli_daemon, run_id: str, wait_for) -> None:
    def running() -> bool:
        with cli_daemon.http() as http:
            status = http.get(f"/api/v1/runs/{run_id}").json()["status"]
        assert status in {"queued", "running"}, status
        return status == "running"

    wait_for(running, 30, f"run {run_id} to start")


def _argv_holding(secret: bytes) -> list[str]:
    """Return the pids whose argument list holds ``secret``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if secret in (proc / "cmdline").read_bytes():
                    found.append(proc.name)
            except OSError:
                pass  # gone, or not ours to read
    return found


def test_secret_stays_out_of_argv(cli_daemon, wait_for):
    secret = cli_daemon.cli_secret().encode()
    started = cli_daemon.cli(
        "run", "sleepy", "-p", "seconds=1.5", cwd=cli_daemon.project
    )
    assert started.code == 0, started
    run_id = started.out.strip()
    _wait_running(cli_daemon, run_id, wait_for)

    # The daemon and the run's child process both live now.
    daemon_argv = Path(f"/proc/{cli_daemon.pid}/cmdline").read_bytes()
    assert b"uniflow.daemon" in daemon_argv
    assert _argv_holding(secret) == []
    assert cli_daemon.wait_run(run_id)["status"] == "success"


def test_secret_stays_out_of_the_log(cli_daemon):
    secret = cli_daemon.cli_secret()
    # A request that fails adds its own lines to the log.
    cli_daemon.cli("runs", "show", "run_0000000000000000")

    log = (cli_daemon.home / "daemon.log").read_text(encoding="utf-8")

    assert "listening on" in log
    assert secret not in log
    assert secret[3:] not in log


def test_secret_stays_out_of_the_store(cli_daemon):
    secret = cli_daemon.cli_secret().encode()
    files = [p for p in cli_daemon.home.iterdir() if p.name.startswith("uniflow.db")]

    assert cli_daemon.home / "uniflow.db" in files
    for path in files:
        assert secret not in path.read_bytes(), path.name


def test_env_token_overrides_the_stored(cli_daemon):
    viewer = cli_daemon.cli(
        "token", "create", "--name", f"viewer-{os.getpid()}", "--role", "viewer"
    )
    assert viewer.code == 0, viewer

    done = cli_daemon.cli("token", "list", UNIFLOW_TOKEN=viewer.out.strip())

    assert done.code == 1, done
    assert "viewer" in done.err and "admin" in done.err
    assert done.out == ""
    assert "Traceback" not in done.err
    # The viewer may still read runs with the same override.
    assert cli_daemon.cli("runs", "list", UNIFLOW_TOKEN=viewer.out.strip()).code == 0


def test_env_token_is_not_replaced(cli_daemon):
    """A bad UNIFLOW_TOKEN gets an error, not a silently provisioned admin token."""
    before = (cli_daemon.home / "credentials.json").read_bytes()

    done = cli_daemon.cli("runs", "list", UNIFLOW_TOKEN="uf_not-a-real-token")

    assert done.code == 4, done
    assert "Traceback" not in done.err
    assert (cli_daemon.home / "credentials.json").read_bytes() == before


@pytest.fixture
def dead_url() -> str:
    """A loopback URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_url_with_no_daemon_exits_three(cli, dead_url):
    done = cli("runs", "list", UNIFLOW_URL=dead_url, UNIFLOW_TOKEN="uf_anything")

    assert done.code == 3, done
    assert dead_url in done.said
    assert "`uniflow daemon start`" in done.said
    assert "Traceback" not in done.err
    assert cli.state() is None


def test_url_without_token_exits_four(cli, dead_url):
    done = cli("runs", "list", UNIFLOW_URL=dead_url)

    assert done.code == 4, done
    assert "UNIFLOW_TOKEN" in done.said
    assert "Traceback" not in done.err
    assert not (cli.home / "credentials.json").exists()
    assert cli.state() is None


def test_env_token_may_end_in_newline(cli_daemon):
    viewer = cli_daemon.cli(
        "token", "create", "--name", f"nl-{os.getpid()}", "--role", "viewer"
    )
    secret = viewer.out.strip()

    done = cli_daemon.cli("runs", "list", UNIFLOW_TOKEN=f" {secret}\n")

    assert done.code == 0, done


@pytest.mark.parametrize("token", ["uf_abc\u00e9", "uf_a b", "uf_\x1b[2J"])
def test_odd_env_token_is_refused_unquoted(cli_daemon, token):
    done = cli_daemon.cli("runs", "list", UNIFLOW_TOKEN=token)

    assert done.code == 4, done
    assert "Traceback" not in done.err
    assert token.strip() not in done.said


@pytest.mark.parametrize(
    "url", ["localhost:8080", "ftp://x", "not a url", "http://[::1"]
)
def test_bad_url_is_a_usage_error(cli, url):
    done = cli("runs", "list", UNIFLOW_URL=url, UNIFLOW_TOKEN="uf_anything")

    assert done.code == 2, done
    assert "http://127.0.0.1:8080" in done.said
    assert "Traceback" not in done.err


@pytest.mark.parametrize("home", ["relative/home", "/etc/passwd"])
def test_bad_home_is_a_usage_error(cli, home):
    done = cli("runs", "list", UNIFLOW_HOME=home)

    assert done.code == 2, done
    assert "UNIFLOW_HOME" in done.said
    assert "Traceback" not in done.err
