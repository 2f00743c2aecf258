"""The command line loads only what a command needs (checked in a child process,
through ``sys.modules``), so that it starts close to Python's own start."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import RunningDaemon, isolated_env

HEAVY = ("flask", "httpx", "keyring", "pydantic", "textual", "waitress", "jsonschema")
_PROBE = """
import json, sys
sys.argv = ["uniflow", *json.loads(sys.argv[1])]
from uniflow.cli import main
try:
    code = main()
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\nMODULES " + json.dumps([code or 0, sorted(sys.modules)]))
"""


def _modules_after(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "MODULES " in done.stderr, done.stderr
    code, modules = json.loads(done.stderr.rpartition("MODULES ")[2])
    assert code == 0, done.stderr
    return set(modules)


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in modules]


def test_version_loads_no_framework():
    modules = _modules_after(["--version"])

    assert "uniflow" in modules
    assert _loaded(modules, ("typer", "rich", *HEAVY)) == []


@pytest.mark.parametrize(
    "args", [["--help"], ["runs", "--help"], ["token", "list", "--help"]]
)
def test_help_loads_nothing_of_the_server_or_the_ui(args):
    modules = _modules_after(args)

    assert "typer" in modules
    assert _loaded(modules, HEAVY) == []


def test_config_list_loads_nothing_of_the_server_or_the_ui(tmp_path):
    modules = _modules_after(["config", "list"], isolated_env(tmp_path))

    assert _loaded(modules, HEAVY) == []


def test_runs_list_loads_only_the_http_client(daemon: RunningDaemon):
    env = isolated_env(
        daemon.home, UNIFLOW_URL=daemon.url, UNIFLOW_TOKEN=daemon.token("viewer")
    )
    modules = _modules_after(["runs", "list"], env)

    assert "httpx" in modules
    assert _loaded(modules, ("flask", "keyring", "pydantic", "textual")) == []
