"""A burst of triggers: every one answered, recorded, run once and only once."""

from __future__ import annotations

import collections
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import httpx
import pytest

RUNS = 1000
CLIENTS = 8
# 1,000 runs through two slots take nearly three minutes on two CPUs, nearly all
# of it the runners' own start-up (Python, uniflow, pydantic); the bound leaves
# room for a slower machine without letting a stuck queue hang the suite.
FINISH_TIMEOUT = 600.0


@pytest.fixture
def two_slots(testproj_daemon):
    """A daemon that runs two runs at a time and lets a token trigger any number."""
    return testproj_daemon("max_concurrent_runs = 2\ntrigger_limit = 0")


def trigger_many(url, secret, ledger, count):
    """Trigger ``count`` runs of ``tally`` one after another; return the answers."""
    body = {
        "pipeline_name": "tally",
        "project": "testproj",
        "parameters": {"ledger": str(ledger)},
    }
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        answers = [client.post("/api/v1/runs", json=body) for _ in range(count)]
    return [
        (a.status_code, a.json()["run_id"] if a.status_code == 201 else a.text)
        for a in answers
    ]


def states(db):
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM runs GROUP BY status"))


def all_finished(db):
    counts = states(db)
    ended = {s: n for s, n in counts.items() if s not in ("queued", "running")}
    assert set(ended) <= {"success"}, counts  # fail at once, not at the timeout
    return sum(ended.values()) == RUNS


def most_at_once(db):
    """Return the most runs that were running at one time, by their timestamps."""
    with closing(sqlite3.connect(db)) as conn:
        spans = conn.execute("SELECT started_at, finished_at FROM runs").fetchall()
    # A run's end is recorded before its slot is given back, so at one timestamp
    # ends come before starts (False sorts before True).
    changes = sorted(
        [(start, True) for start, _ in spans] + [(end, False) for _, end in spans]
    )
    running = most = 0
    for _, starts in changes:
        running += 1 if starts else -1
        most = max(most, running)
    return most


def walk_runs(client):
    """Return every run the API lists, following its cursors."""
    items, cursor = [], None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        answer = client.get("/api/v1/runs", params=params)
        assert answer.status_code == 200, answer.text
        items.extend(answer.json()["items"])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return items


def test_burst_of_1000_triggers_runs_each_once(two_slots, tmp_path, wait_until):
    daemon = two_slots
    secret = daemon.token("operator")
    ledger = tmp_path / "ledger.txt"
    started = time.monotonic()

    with ThreadPoolExecutor(CLIENTS) as pool:
        batches = pool.map(
            lambda _: trigger_many(daemon.url, secret, ledger, RUNS // CLIENTS),
            range(CLIENTS),
        )
        answers = [answer for batch in batches for answer in batch]
    triggered = time.monotonic()
    wait_until(
        lambda: all_finished(daemon.home / "uniflow.db"),
        timeout=FINISH_TIMEOUT,
        what=f"{RUNS} runs to end",
    )
    print(
        f"\n{RUNS} triggers answered in {triggered - started:.1f} s, "
        f"all runs ended after {time.monotonic() - started:.1f} s"
    )

    assert [status for status, _ in answers] == [201] * RUNS, answers
    ids = [run_id for _, run_id in answers]
    assert len(set(ids)) == RUNS

    with httpx.Client(
        base_url=daemon.url,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    ) as client:
        listed = walk_runs(client)
    assert sorted(run["run_id"] for run in listed) == sorted(ids)
    assert {run["status"] for run in listed} == {"success"}
    assert states(daemon.home / "uniflow.db") == {"success": RUNS}
    assert most_at_once(daemon.home / "uniflow.db") <= 2

    # Started once: one line in the shared ledger, one set of events, one step.
    assert collections.Counter(ledger.read_text().split()) == dict.fromkeys(ids, 1)
    for run_id in ids:
        events = (daemon.home / "runs" / run_id / "events.jsonl").read_text()
        kinds = collections.Counter(
            json.loads(line)["event"] for line in events.splitlines()
        )
        assert set(kinds.values()) == {1}, (run_id, kinds)
        assert kinds["step_started"] == kinds["run_succeeded"] == 1, (run_id, kinds)
    with closing(sqlite3.connect(daemon.home / "uniflow.db")) as conn:
        steps = conn.execute("SELECT run_id, idx, name, state FROM steps").fetchall()
    assert sorted(steps) == sorted((i, 0, "note_run", "success") for i in ids)
