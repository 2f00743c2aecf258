"""The reference page's flow: a token from the CLI, then curl, then revoke.

The page's request body names no project, so the run goes to project "default":
a copy of the fixture project renamed "default" is registered for it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

FIXTURE_PROJECT = Path(__file__).resolve().parents[1] / "fixtures" / "project"
# The page's example, with our pipeline and parameter.
BODY = '{"pipeline_name": "hello", "parameters": {"times": 2}}'


def _curl(*args: str) -> tuple[int, Any]:
    """Run curl (or httpx with the same request when curl is missing)."""
    if shutil.which("curl") is None:
        return _httpx_like_curl(*args)
    done = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body) if body else None


def _httpx_like_curl(*args: str) -> tuple[int, Any]:
    method, url, headers, data = "GET", "", {}, None
    items = iter(args)
    for arg in items:
        if arg == "-X":
            method = next(items)
        elif arg == "-H":
            name, _, value = next(items).partition(": ")
            headers[name] = value
        elif arg == "-d":
            data = next(items)
            method = "POST" if method == "GET" else method
        else:
            url = arg
    answer = httpx.request(method, url, headers=headers, content=data, timeout=60)
    return answer.status_code, answer.json() if answer.content else None


def _post_run(url: str, secret: str) -> tuple[int, Any]:
    return _curl(
        "-X", "POST", f"{url}/api/v1/runs",
        "-H", f"Authorization: Bearer {secret}",
        "-H", "Content-Type: application/json",
        "-d", BODY,
    )  # fmt: skip


@pytest.fixture(scope="module")
def default_project(cli_daemon, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the fixture project named "default", registered by the CLI."""
    project = tmp_path_factory.mktemp("readme") / "default"
    shutil.copytree(
        FIXTURE_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__")
    )
    toml = project / "uniflow.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(re.sub(r'(?m)^name = ".*"$', 'name = "default"', text), "utf-8")
    done = cli_daemon.cli("daemon", "start", cwd=project)
    assert done.code == 0, done
    assert "Project 'default' registered" in done.said, done
    return project


def test_readme_curl_flow_then_revoke(cli_daemon, default_project, wait_for):
    created = cli_daemon.cli(
        "token", "create", "--name", "ci", "--role", "operator", "--output", "json"
    )
    assert created.code == 0, created
    token = json.loads(created.out)
    secret, url = token["secret"], cli_daemon.url

    status, run = _post_run(url, secret)

    assert status in (200, 201, 202), run
    assert run["pipeline_name"] == "hello"
    assert run["project"] == "default"
    assert run["parameters"] == {"name": "world", "times": 2}

    def finished() -> Any:
        code, body = _curl(
            f"{url}/api/v1/runs/{run['run_id']}",
            "-H", f"Authorization: Bearer {secret}",
        )  # fmt: skip
        assert code == 200, body
        return body if body["status"] in {"success", "failed", "cancelled"} else None

    done = wait_for(finished, 60, f"run {run['run_id']} to finish")
    assert done["status"] == "success", done
    assert done["result"] == {"greeting": "hello world hello world"}
    assert done["created_at"].endswith("Z")

    revoked = cli_daemon.cli("token", "revoke", "--token-id", token["token_id"])
    assert revoked.code == 0, revoked

    status, problem = _post_run(url, secret)

    assert status == 401, problem
    assert secret not in json.dumps(problem)
    with cli_daemon.http() as http:
        runs = http.get("/api/v1/runs", params={"limit": 1000}).json()["items"]
    assert [r["run_id"] for r in runs if r["project"] == "default"] == [run["run_id"]]
