"""Command pipelines, declared in uniflow.toml, run end to end through the daemon."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import copy_project
from helpers import wait_until

COMMANDS = Path(__file__).resolve().parent.parent / "fixtures" / "commands"
PROJECT = "cmdproj"


@pytest.fixture(scope="module")
def project(daemon, tmp_path_factory):
    """A copy of the command pipelines' project, registered with the daemon."""
    root = copy_project(COMMANDS, tmp_path_factory.mktemp("commands") / PROJECT)
    # A checkout may lose the executable bit; the tests need it where it is meant.
    for name in ("shout.sh", "graceful.sh"):
        (root / "scripts" / name).chmod(0o755)
    with daemon.client() as client:
        client.register_project(PROJECT, str(root))
    return root


def trigger(client, pipeline, **parameters):
    body = {"pipeline_name": pipeline, "project": PROJECT, "parameters": parameters}
    answer = client.post("/api/v1/runs", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["run_id"])


def folder(daemon, run_id):
    return daemon.home / "runs" / run_id


def seen(daemon, run_id):
    path = folder(daemon, run_id) / "seen.json"
    return json.loads(path.read_text(encoding="utf-8"))


def run_ids(client, pipeline):
    answer = client.get(
        "/api/v1/runs", params={"pipeline_name": pipeline, "limit": 1000}
    )
    assert answer.status_code == 200, answer.text
    return [r["run_id"] for r in answer.json()["items"]]


def test_pipelines_list_commands_beside_python(project, admin):
    answer = admin.get("/api/v1/pipelines", params={"project": PROJECT})

    assert answer.status_code == 200, answer.text
    found = {p["name"]: p for p in answer.json()["items"]}
    assert {"record", "shout", "native", "missing", "plain"} <= set(found)
    assert found["record"].keys() == found["native"].keys()
    record = found["record"]
    assert record["timeout"] == 120.0
    assert record["parameters"]["additionalProperties"] is False
    assert record["parameters"]["required"] == ["text"]
    assert record["parameters"]["properties"]["day"]["default"] == "2024-01-31"


def test_parameters_arrive_as_file_and_env(project, daemon, operator, wait_run):
    run_id = trigger(operator, "record", text="hello", count=3, flag=True)

    run = wait_run(run_id)

    assert run["status"] == "success", run
    assert run["exit_code"] == 0
    got = seen(daemon, run_id)
    expected = {
        "text": "hello",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "tags": ["a", "b"],
        "options": {"level": 1},
        "day": "2024-01-31",
        "color": "red",
    }
    assert got["parameters"] == expected == run["parameters"]
    assert got["parameters_mode"] == 0o600
    env = got["env"]
    assert env["UNIFLOW_PARAM_TEXT"] == "hello"
    assert env["UNIFLOW_PARAM_COUNT"] == "3"
    assert env["UNIFLOW_PARAM_FLAG"] == "true"
    assert json.loads(env["UNIFLOW_PARAM_TAGS"]) == ["a", "b"]
    assert json.loads(env["UNIFLOW_PARAM_OPTIONS"]) == {"level": 1}
    assert env["UNIFLOW_RUN_ID"] == run_id
    assert env["UNIFLOW_RUN_FOLDER"] == str(folder(daemon, run_id))
    assert env["UNIFLOW_PARAMETERS_FILE"] == str(
        folder(daemon, run_id) / "parameters.json"
    )
    assert "UNIFLOW_EVENTS_FD" not in env
    # Neither the runner's event pipe nor its stdin pipe reaches the command.
    assert not [t for t in got["fds"].values() if t.startswith("pipe:")], got["fds"]
    assert got["fds"]["0"] == "/dev/null"
    assert got["argv"] == ["--fixed", "argument"]
    assert got["cwd"] == str(project)
    log = (folder(daemon, run_id) / "output.log").read_text(encoding="utf-8")
    assert "recorded 8 parameters" in log


INJECTIONS = [
    "; rm -rf / #",
    "$(id)",
    "`id`",
    "${HOME}",
    "' \" \\",
    "first line\nsecond line\n",
    "Zoë 東京 🚀",
    "--help",
    "* ?",
    "",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_values_arrive_literally(project, daemon, operator, wait_run, text):
    recorded = trigger(operator, "record", text=text, tags=[text])
    shouted = trigger(operator, "shout", name=text)

    assert wait_run(recorded)["status"] == "success"
    got = seen(daemon, recorded)
    assert got["env"]["UNIFLOW_PARAM_TEXT"] == text
    assert got["parameters"]["text"] == text
    assert json.loads(got["env"]["UNIFLOW_PARAM_TAGS"]) == [text]
    assert got["argv"] == ["--fixed", "argument"]

    assert wait_run(shouted)["status"] == "success"
    saved = folder(daemon, shouted) / "name.txt"
    assert saved.read_bytes() == text.encode("utf-8")


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"text": "x", "count": "ten"}, "count"),
        ({"text": "x", "count": 11}, "count"),
        ({"text": "x", "day": "2023-02-29"}, "day"),
        ({"text": "x", "color": "blue"}, "color"),
        ({"text": "x", "txet": "y"}, "txet"),
        ({}, "text"),
    ],
    ids=["type", "maximum", "date", "enum", "unknown", "missing"],
)
def test_bad_parameter_gets_422(project, operator, problem, parameters, field):
    before = run_ids(operator, "record")
    body = {"pipeline_name": "record", "project": PROJECT, "parameters": parameters}

    refused = problem(operator.post("/api/v1/runs", json=body), 422)

    assert [e["field"] for e in refused["errors"]] == [field], refused
    assert run_ids(operator, "record") == before


def test_failing_command_gives_its_code(project, daemon, operator, wait_run):
    run_id = trigger(operator, "shout", name="doomed", code=3)

    run = wait_run(run_id)

    assert run["status"] == "failed", run
    assert run["error"] == "the command exited with code 3"
    assert run["exit_code"] == 3
    log = (folder(daemon, run_id) / "output.log").read_text(encoding="utf-8")
    assert "hello doomed" in log


def test_missing_program_is_named(project, daemon, operator, wait_run):
    run = wait_run(trigger(operator, "missing"))

    assert run["status"] == "failed", run
    assert "'uniflow-no-such-program' was not found on PATH" in run["error"]
    assert "[pipelines.missing]" in run["error"]
    log = (folder(daemon, run["run_id"]) / "output.log").read_text(encoding="utf-8")
    assert "uniflow-no-such-program" in log


def test_script_not_executable_is_explained(project, operator, wait_run):
    run = wait_run(trigger(operator, "plain"))

    assert run["status"] == "failed", run
    assert "chmod +x scripts/plain.sh" in run["error"]


def test_cancel_gives_the_command_its_grace(project, daemon, operator, wait_run):
    run_id = trigger(operator, "graceful")
    ready = folder(daemon, run_id) / "ready"
    wait_until(ready.exists, what="the command to start")

    started = time.monotonic()
    answer = operator.post(f"/api/v1/runs/{run_id}/cancel")
    assert answer.status_code in (200, 202), answer.text
    run = wait_run(run_id)

    assert run["status"] == "cancelled", run
    # Its SIGTERM trap ran before the group was killed, and ended it at once,
    # not at the end of the grace period.
    assert (folder(daemon, run_id) / "cleaned").read_text().strip() == "cleaned"
    assert time.monotonic() - started < 8


def test_timeout_stops_the_command(project, daemon, operator, wait_run):
    run_id = trigger(operator, "slow")

    run = wait_run(run_id)

    assert run["status"] == "failed", run
    assert run["error"] == "timed out after 1 s"
    assert (folder(daemon, run_id) / "cleaned").exists()


def test_bad_declaration_is_refused_at_registration(admin, problem, tmp_path):
    root = tmp_path / "badcmd"
    root.mkdir()
    (root / "uniflow.toml").write_text(
        '[project]\nname = "badcmd"\n\n[pipelines.job]\ncommand = "make all"\n',
        encoding="utf-8",
    )

    body = {"name": "badcmd", "path": str(root)}
    refused = problem(admin.post("/api/v1/projects", json=body), 422)

    assert "pipelines.job.command" in refused["detail"]
    assert str(root / "uniflow.toml") in refused["detail"]
    assert "badcmd" not in {
        p["name"] for p in admin.get("/api/v1/projects").json()["items"]
    }
