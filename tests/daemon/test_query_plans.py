"""Listing and fetching runs use indexes: every query the run endpoints send to
SQLite is recorded as the app answers real requests, and SQLite's plan for each
must search the runs and steps tables, never scan them whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from uniflow import tokens
from uniflow.catalog import Catalog
from uniflow.daemon.app import create_app
from uniflow.daemon.supervisor import LocalExecutor, Supervisor
from uniflow.runs import Run, RunStatus, new_run_id
from uniflow.store import SQLiteStore

FULL_SCAN = re.compile(r"\bSCAN (runs|steps)\b")
RUN_TABLES = re.compile(r"\b(FROM|UPDATE|INTO) (runs|steps)\b", re.IGNORECASE)


@pytest.fixture
def app_and_store(tmp_path: Path):
    store = SQLiteStore(tmp_path / "uniflow.db")
    for name in ("proj0", "proj1"):
        store.put_project(name, str(tmp_path / name), "2026-01-01T00:00:00.000Z")
    for index in range(300):
        run = Run(new_run_id(), f"p{index % 3}", f"proj{index % 2}", {"n": index})
        store.add_run(run)
        if index % 4 == 0:
            store.update_run(
                run.run_id,
                status=RunStatus.SUCCESS,
                finished_at="2020-01-01T00:00:00.000Z",
            )
    # Statistics, as a store that has lived a while has them, so the planner
    # chooses as it would in use.
    store._db.execute("ANALYZE")
    _, secret = tokens.issue(store, "plans", tokens.Role.ADMIN)
    _, scoped = tokens.issue(store, "scoped", tokens.Role.OPERATOR, project="proj1")
    app = create_app(store, Supervisor(store, LocalExecutor()), Catalog())
    return app, store, secret, scoped


def _plan(store: SQLiteStore, statement: str) -> list[str]:
    rows = store._db.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
    return [row["detail"] for row in rows]


def test_run_queries_never_scan_the_runs_table(app_and_store):
    app, store, secret, scoped = app_and_store
    sent: list[str] = []
    # Requests run in this thread, on this connection; the trace callback gets
    # each statement with its values filled in.
    store._db.set_trace_callback(sent.append)
    client = app.test_client()

    some_run = store.runs(limit=1)[0][0].run_id
    for token in (secret, scoped):
        headers = {"Authorization": f"Bearer {token}"}
        for query in (
            "",
            "?pipeline_name=p1",
            "?status=queued",
            "?status=success&pipeline_name=p2",
            "?project=proj1",
            "?project=proj1&status=queued&pipeline_name=p1",
            "?limit=5",
        ):
            first = client.get(f"/api/v1/runs{query}", headers=headers)
            assert first.status_code == 200, first.json
            cursor = first.json["next_cursor"]
            if cursor:
                joiner = "&" if query else "?"
                later = client.get(
                    f"/api/v1/runs{query}{joiner}cursor={cursor}", headers=headers
                )
                assert later.status_code == 200, later.json
        for path in (f"/api/v1/runs/{some_run}", f"/api/v1/runs/{some_run}/logs"):
            assert client.get(path, headers=headers).status_code in (200, 404)
        assert client.get("/api/v1/status", headers=headers).status_code == 200
    admin = {"Authorization": f"Bearer {secret}"}
    ended = store.runs(status=RunStatus.SUCCESS, limit=1)[0][0].run_id
    assert client.post(f"/api/v1/runs/{ended}/cancel", headers=admin).status_code == 409
    pruned = client.post(
        "/api/v1/runs/prune", headers=admin, json={"older_than": "30d"}
    )
    assert pruned.status_code == 200, pruned.json
    store._db.set_trace_callback(None)

    queries = sorted({s for s in sent if RUN_TABLES.search(s) and "EXPLAIN" not in s})
    assert len(queries) >= 10, queries
    plans = {query: _plan(store, query) for query in queries}
    scans = {q: plan for q, plan in plans.items() if FULL_SCAN.search(" | ".join(plan))}
    assert not scans, "\n".join(f"{plan}: {q}" for q, plan in scans.items())


def test_status_counts_only_a_scoped_tokens_project(app_and_store):
    # Not a query plan, but the same store of queued runs in two projects serves.
    app, store, secret, scoped = app_and_store
    client = app.test_client()

    def queued(token: str) -> int:
        answer = client.get(
            "/api/v1/status", headers={"Authorization": f"Bearer {token}"}
        )
        return int(answer.json["runs"]["queued"])

    everyone = store.run_ids_in(RunStatus.QUEUED)
    theirs = [r for r in everyone if store.run(r).project == "proj1"]
    assert 0 < len(theirs) < len(everyone)
    assert queued(secret) == len(everyone)
    assert queued(scoped) == len(theirs)
