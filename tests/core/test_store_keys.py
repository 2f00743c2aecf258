"""The store's idempotency keys: one run per token and key, expired keys freed."""

from __future__ import annotations

import threading

import pytest

from uniflow.runs import Run, new_run_id
from uniflow.store import IdempotencyKey, SQLiteStore

SINCE = "2024-01-01T00:00:00.000Z"
BEFORE = "2023-12-31T23:59:59.999Z"


@pytest.fixture
def store(tmp_path):
    return SQLiteStore(tmp_path / "uniflow.db")


def keyed(store, token_id="tok_a", key="k", body_hash="h", created_at=None):
    run = Run(new_run_id(), "p", "default", {})
    extra = {"created_at": created_at} if created_at else {}
    key_row = IdempotencyKey(token_id, key, body_hash, run.run_id, **extra)
    return run, store.add_keyed_run(run, key_row, since=SINCE)


def test_first_request_stores_run_and_key(store):
    run, recorded = keyed(store)

    assert recorded.run_id == run.run_id
    assert store.run(run.run_id) is not None
    assert store.idempotency_key("tok_a", "k", since=SINCE) == recorded


def test_second_request_stores_nothing(store):
    first, _ = keyed(store)

    second, recorded = keyed(store, body_hash="other")

    assert recorded.run_id == first.run_id and recorded.body_hash == "h"
    assert store.run(second.run_id) is None


@pytest.mark.parametrize(
    ("token_id", "key"), [("tok_b", "k"), ("tok_a", "K"), ("tok_a", "k2")]
)
def test_other_token_or_key_is_a_new_request(store, token_id, key):
    first, _ = keyed(store)

    second, recorded = keyed(store, token_id=token_id, key=key)

    assert recorded.run_id == second.run_id != first.run_id
    assert store.run(second.run_id) is not None


def test_expired_key_is_deleted_and_reused(store):
    old, _ = keyed(store, created_at=BEFORE)
    other, _ = keyed(store, key="other", created_at=BEFORE)
    assert store.idempotency_key("tok_a", "k", since=SINCE) is None

    new, recorded = keyed(store)

    assert recorded.run_id == new.run_id
    rows = store._db.execute("SELECT key FROM idempotency_keys").fetchall()
    assert [row["key"] for row in rows] == ["k"]
    assert store.run(old.run_id) is not None and store.run(other.run_id) is not None


def test_concurrent_requests_store_one_run(tmp_path):
    path = tmp_path / "uniflow.db"
    SQLiteStore(path)
    start = threading.Barrier(8)
    results = []

    def request():
        store = SQLiteStore(path)
        start.wait(timeout=10)
        results.append(keyed(store))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = {recorded.run_id for _, recorded in results}
    assert len(results) == 8 and len(winners) == 1
    stored = [r for r, _ in results if SQLiteStore(path).run(r.run_id) is not None]
    assert [r.run_id for r in stored] == list(winners)
