"""Shell completion, run as a shell runs it: the installed ``uniflow`` with
typer's completion variables, against a real daemon or none."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

# The console script a shell runs, installed next to this interpreter.
UNIFLOW = [str(Path(sys.executable).with_name("uniflow"))]


def _complete(cli: Any, words: str, **extra: str) -> list[str]:
    """Return what bash would offer for the last word of ``words``."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    done = subprocess.run(
        UNIFLOW,
        env=cli.env(
            _UNIFLOW_COMPLETE="complete_bash",
            COMP_WORDS=words,
            COMP_CWORD=str(cword),
            **extra,
        ),
        cwd=cli.home,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout.split()


def _zsh(cli: Any, words: str) -> str:
    done = subprocess.run(
        UNIFLOW,
        env=cli.env(_UNIFLOW_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS=words),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout


def test_commands_complete_without_a_daemon(cli: Any):
    assert "show" in _complete(cli, "uniflow runs sh")
    assert "completion" in _complete(cli, "uniflow comp")


def test_pipeline_names_come_from_the_daemon(cli_daemon: Any):
    assert "hello" in _complete(cli_daemon.cli, "uniflow run ")
    assert _complete(cli_daemon.cli, "uniflow run hel") == ["hello"]
    assert "hello" in _complete(cli_daemon.cli, "uniflow pipelines show h")


def test_run_ids_come_from_the_daemon(cli_daemon: Any):
    with cli_daemon.http() as http:
        runs = http.get("/api/v1/runs").raise_for_status().json()["items"]
    run_id = runs[0]["run_id"]

    assert run_id in _complete(cli_daemon.cli, "uniflow runs show ")
    assert run_id in _complete(cli_daemon.cli, f"uniflow runs logs {run_id[:6]}")
    # A finished run cannot be cancelled, so it is not offered.
    assert run_id not in _complete(cli_daemon.cli, "uniflow runs cancel ")


def test_zsh_and_fish_get_names_too(cli_daemon: Any):
    assert '"hello"' in _zsh(cli_daemon.cli, "uniflow run ")
    done = subprocess.run(
        UNIFLOW,
        env=cli_daemon.cli.env(
            _UNIFLOW_COMPLETE="complete_fish",
            _TYPER_COMPLETE_FISH_ACTION="get-args",
            _TYPER_COMPLETE_ARGS="uniflow pipelines show ",
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "hello" in done.stdout.split()


def test_token_from_the_environment_is_used(cli_daemon: Any):
    offered = _complete(
        cli_daemon.cli,
        "uniflow run ",
        UNIFLOW_URL=cli_daemon.url,
        UNIFLOW_TOKEN=cli_daemon.cli_secret(),
    )
    assert "hello" in offered


def test_refused_token_gives_nothing(cli_daemon: Any):
    offered = _complete(cli_daemon.cli, "uniflow run ", UNIFLOW_TOKEN="uf_" + "a" * 36)
    assert offered == []


def test_no_daemon_gives_nothing_fast_and_starts_none(cli: Any):
    started = time.monotonic()
    offered = _complete(cli, "uniflow run ")
    offered_ids = _complete(cli, "uniflow runs show ")
    took = time.monotonic() - started

    assert offered == offered_ids == []
    assert took < 10
    assert cli.state() is None
    assert not (cli.home / "uniflow.db").exists()


def test_silent_with_a_server_that_does_not_answer(cli: Any):
    started = time.monotonic()
    offered = _complete(cli, "uniflow run ", UNIFLOW_URL="http://127.0.0.1:9")
    assert offered == []
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script(cli: Any, shell: str):
    done = cli("completion", shell)

    assert done.code == 0, done
    assert "_UNIFLOW_COMPLETE=complete_" + shell in done.out


def test_bash_script_is_valid_bash(cli: Any, tmp_path):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    script = tmp_path / "uniflow.bash"
    script.write_text(cli("completion", "bash").out, encoding="utf-8")

    checked = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    sourced = subprocess.run(
        [bash, "-c", f"source {script} && complete -p uniflow"],
        capture_output=True,
        text=True,
    )
    assert "_uniflow_completion" in sourced.stdout, sourced.stderr


def test_unknown_shell_is_a_usage_error(cli: Any):
    done = cli("completion", "tcsh")

    assert done.code == 2
    assert "tcsh" in done.err
