"""``uniflow runs list`` and ``uniflow runs show`` against the CLI-started daemon."""

from __future__ import annotations

import json
from typing import Any

import pytest


@pytest.fixture(scope="module")
def finished(cli_daemon) -> dict[str, dict[str, Any]]:
    """One successful hello run and one failed run, both finished."""
    runs = {}
    for pipeline in ("hello", "fails"):
        done = cli_daemon.cli(
            "run", pipeline, "--wait", "-o", "json", cwd=cli_daemon.project
        )
        assert done.code in (0, 1), done
        runs[pipeline] = json.loads(done.out)
    return runs


def _listed(cli_daemon, *options: str) -> list[dict[str, Any]]:
    done = cli_daemon.cli("runs", "list", "--output", "json", *options)
    assert done.code == 0, done
    found = json.loads(done.out)
    assert isinstance(found, list)
    return found


def test_list_table_shows_recent_runs(cli_daemon, finished):
    done = cli_daemon.cli("runs", "list")

    assert done.code == 0, done
    header = done.out.splitlines()[0].split()
    assert header[:4] == ["RUN", "ID", "PIPELINE", "PROJECT"]
    assert "STATUS" in header
    lines = {line.split()[0]: line.split() for line in done.out.splitlines()[1:]}
    hello, fails = finished["hello"]["run_id"], finished["fails"]["run_id"]
    assert lines[hello][1:4] == ["hello", "testproj", "success"]
    assert lines[fails][1:4] == ["fails", "testproj", "failed"]


def test_list_json_has_run_fields(cli_daemon, finished):
    found = _listed(cli_daemon)

    by_id = {run["run_id"]: run for run in found}
    hello = by_id[finished["hello"]["run_id"]]
    assert hello["status"] == "success"
    assert hello["pipeline_name"] == "hello"
    assert hello["project"] == "testproj"
    assert hello["created_at"].endswith("Z")
    assert by_id[finished["fails"]["run_id"]]["status"] == "failed"


def test_list_is_newest_first(cli_daemon, finished):
    created = [run["created_at"] for run in _listed(cli_daemon)]

    assert created == sorted(created, reverse=True)


def test_list_filters_by_status(cli_daemon, finished):
    found = _listed(cli_daemon, "--status", "success")

    assert found
    assert {run["status"] for run in found} == {"success"}
    ids = {run["run_id"] for run in found}
    assert finished["hello"]["run_id"] in ids
    assert finished["fails"]["run_id"] not in ids


def test_list_filters_by_pipeline(cli_daemon, finished):
    found = _listed(cli_daemon, "--pipeline", "hello")

    assert {run["pipeline_name"] for run in found} == {"hello"}
    ids = {run["run_id"] for run in found}
    assert finished["hello"]["run_id"] in ids
    assert finished["fails"]["run_id"] not in ids


def test_list_limit_keeps_the_newest(cli_daemon, finished):
    everything = _listed(cli_daemon)

    found = _listed(cli_daemon, "--limit", "1")

    assert len(everything) > 1
    assert [run["run_id"] for run in found] == [everything[0]["run_id"]]


def test_list_bad_status_is_usage_error(cli_daemon):
    done = cli_daemon.cli("runs", "list", "--status", "done")

    assert done.code == 2, done
    assert "success" in done.said
    assert "Traceback" not in done.err


def test_show_prints_run_and_steps(cli_daemon, finished):
    run_id = finished["fails"]["run_id"]

    done = cli_daemon.cli("runs", "show", run_id)

    assert done.code == 0, done
    assert done.out.splitlines()[0].split() == [run_id, "fails", "(testproj)"]
    assert "failed" in done.out
    assert "ValueError: boom: the step failed on purpose" in done.out
    assert "explode" in done.out


def test_show_json_matches_the_run(cli_daemon, finished):
    run = finished["hello"]

    done = cli_daemon.cli("runs", "show", run["run_id"], "--output", "json")

    assert done.code == 0, done
    shown = json.loads(done.out)
    assert shown["run_id"] == run["run_id"]
    assert shown["status"] == "success"
    assert shown["result"] == {"greeting": "hello world"}
    assert [s["name"] for s in shown["steps"]] == ["greet", "save"]


def test_show_unknown_run_exits_one(cli_daemon):
    done = cli_daemon.cli("runs", "show", "run_0000000000000000")

    assert done.code == 1, done
    assert "run_0000000000000000" in done.err
    assert "uniflow runs list" in done.said
    assert done.out == ""
    assert "Traceback" not in done.err


def test_cancel_waits_for_the_end(cli_daemon):
    started = cli_daemon.cli(
        "run", "sleepy", "-p", "seconds=60", "-o", "json", cwd=cli_daemon.project
    )
    assert started.code == 0, started
    run_id = json.loads(started.out)["run_id"]

    done = cli_daemon.cli("runs", "cancel", run_id)

    assert done.code == 0, done
    assert f"Run {run_id} is cancelled." in done.out
    assert cli_daemon.wait_run(run_id)["status"] == "cancelled"


def test_cancel_ended_run_is_refused(cli_daemon, finished):
    run_id = finished["hello"]["run_id"]

    done = cli_daemon.cli("runs", "cancel", run_id)

    assert done.code == 1, done
    assert "already ended (success)" in done.said


def test_logs_print_the_output(cli_daemon, finished):
    done = cli_daemon.cli("runs", "logs", finished["hello"]["run_id"])

    assert done.code == 0, done
    assert "hello world" in done.out


def test_logs_follow_until_the_end(cli_daemon):
    started = cli_daemon.cli(
        "run",
        "ticks",
        "-p",
        "count=3",
        "-p",
        "every=0.3",
        "-o",
        "json",
        cwd=cli_daemon.project,
    )
    run_id = json.loads(started.out)["run_id"]

    done = cli_daemon.cli("runs", "logs", run_id, "--follow")

    assert done.code == 0, done
    assert [line for line in done.out.splitlines() if line.startswith("tick")] == [
        "tick 0",
        "tick 1",
        "tick 2",
    ]
    assert cli_daemon.wait_run(run_id)["status"] == "success"
