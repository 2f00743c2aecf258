"""``uniflow --version`` and ``--help``: they answer without a daemon."""

from __future__ import annotations

import re

from uniflow import __version__


def test_version_prints_the_version(cli):
    done = cli("--version")

    assert done.code == 0, done
    assert done.out.strip() == f"uniflow {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)


def test_help_lists_every_command(cli):
    done = cli("--help")

    assert done.code == 0, done
    assert "Usage: uniflow" in done.out
    for command in ("run", "runs", "token", "daemon"):
        assert re.search(rf"^\W*{command}\s", done.out, re.M), command
    assert "Traceback" not in done.err


def test_help_needs_no_daemon(cli):
    cli("--help")
    cli("run", "--help")

    assert not (cli.home / "daemon.json").exists()
    assert not (cli.home / "uniflow.db").exists()


def test_missing_option_is_usage_error(cli):
    done = cli("token", "create", "--role", "admin")

    assert done.code == 2, done
    assert "--name" in done.err
    assert "Traceback" not in done.err
    assert not (cli.home / "daemon.json").exists()


def test_invalid_utf8_argument_is_usage_error(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "uniflow.cli.main", "runs", "show", b"\xff"],
        capture_output=True,
        text=True,
        env={"UNIFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2, done
    assert "not valid UTF-8" in done.stderr
    assert "Traceback" not in done.stderr
