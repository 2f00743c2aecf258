"""``uniflow runs prune --older-than DURATION`` against the CLI-started daemon."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from uniflow.runs import timestamp
from uniflow.store import SQLiteStore

OLD = timestamp(datetime.now(UTC) - timedelta(days=40))


def finished_run(cli_daemon, pipeline="hello"):
    done = cli_daemon.cli(
        "run", pipeline, "--wait", "-o", "json", cwd=cli_daemon.project
    )
    assert done.code in (0, 1), done
    return json.loads(done.out)["run_id"]


def age(cli_daemon, *run_ids):
    store = SQLiteStore(cli_daemon.home / "uniflow.db")
    with store._transaction() as db:
        for run_id in run_ids:
            db.execute(
                "UPDATE runs SET finished_at = ? WHERE run_id = ?", (OLD, run_id)
            )
    store.close()


@pytest.mark.parametrize(
    ("pipelines", "said"),
    [(["hello", "fails"], "Deleted 2 runs"), (["hello"], "Deleted 1 run ")],
)
def test_prune_deletes_old_runs_and_says_how_many(cli_daemon, pipelines, said):
    old = [finished_run(cli_daemon, p) for p in pipelines]
    recent = finished_run(cli_daemon)
    age(cli_daemon, *old)

    done = cli_daemon.cli("runs", "prune", "--older-than", "30d")

    assert done.code == 0, done
    assert said in done.out
    assert re.search(r"ended before \d{4}-\d\d-\d\dT[\d:.]+Z\.", done.out), done
    for run_id in old:
        assert cli_daemon.cli("runs", "show", run_id).code == 1
        assert not (cli_daemon.home / "runs" / run_id).exists()
    assert cli_daemon.cli("runs", "show", recent).code == 0
    assert (cli_daemon.home / "runs" / recent).is_dir()


def test_prune_with_nothing_old_deletes_nothing(cli_daemon):
    done = cli_daemon.cli("runs", "prune", "--older-than", "2w")

    assert done.code == 0, done
    assert "Deleted 0 runs" in done.out


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "'' is not a duration"),
        ("30", "'30' is not a duration"),
        ("30x", "'30x' is not a duration"),
        ("-30d", "'-30d' is not a duration"),
        ("0d", "'0d' is zero"),
        ("200000d", "'200000d' is more than 100 years"),
    ],
)
def test_bad_duration_is_a_usage_error(cli_daemon, value, says):
    done = cli_daemon.cli("runs", "prune", "--older-than", value)

    assert done.code == 2, done
    assert "--older-than" in done.said
    assert says in done.said
    assert "'1h30m'" in done.said
    assert done.out == ""
    assert "Traceback" not in done.err


def test_older_than_is_required(cli_daemon):
    done = cli_daemon.cli("runs", "prune")

    assert done.code == 2, done
    assert "--older-than" in done.said


def test_prune_needs_an_admin_token(cli_daemon):
    operator = cli_daemon.cli(
        "token", "create", "--name", f"op-{uuid.uuid4().hex[:8]}", "--role", "operator"
    )
    assert operator.code == 0, operator
    run_id = finished_run(cli_daemon)
    age(cli_daemon, run_id)

    done = cli_daemon.cli(
        "runs", "prune", "--older-than", "30d", UNIFLOW_TOKEN=operator.out.strip()
    )

    assert done.code == 1, done
    assert "operator" in done.err and "admin" in done.err
    assert "Traceback" not in done.err
    assert cli_daemon.cli("runs", "show", run_id).code == 0
    assert cli_daemon.cli("runs", "prune", "--older-than", "30d").code == 0
