"""Idempotency keys of ``POST /api/v1/runs``: a retried trigger starts nothing new.

A client sends ``Idempotency-Key: <key>`` with a trigger. The daemon keeps the key
for a day with the token that sent it, the run it started and a hash of the
request's body. The same key again from the same token, with the same body,
answers 200 with that run as it stands now and ``Idempotent-Replayed: true``;
with another body it is refused (422). Keys belong to a token, so one token never
reaches another's run through a key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from flask import Response, jsonify
from pydantic import BaseModel

from uniflow.daemon.problems import refuse
from uniflow.errors import RunNotFound
from uniflow.runs import Run, timestamp
from uniflow.store import IdempotencyKey, Store

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
LIFETIME = timedelta(hours=24)
"""How long a key is kept; an older one counts as new."""
# Striped, so that requests with different keys seldom wait for each other and
# no lock is ever created or forgotten per key.
_LOCKS = tuple(threading.Lock() for _ in range(64))


@contextmanager
def one_at_a_time(token_id: str, key: str | None) -> Iterator[None]:
    """Hold back a request while one with the same token and key is answered.

    Then a retry sent too early finds the first request's key and is answered as
    a replay: it never reaches the race in :func:`add_run`, which the store
    settles alone, and so never spends a trigger. Requests without a key never
    wait.
    """
    if key is None:
        yield
        return
    with _LOCKS[hash((token_id, key)) % len(_LOCKS)]:
        yield


def earlier_answer(
    store: Store, token_id: str, key: str | None, body: BaseModel
) -> Response | None:
    """Return the answer to a retry of an earlier request, or None for a new one.

    Raises:
        HTTPException: The token used ``key`` for a request with another body
            (a 422 answer).
    """
    if key is None:
        return None
    earlier = store.idempotency_key(token_id, key, since=_since())
    return None if earlier is None else _replay(store, earlier, body_hash(body))


def add_run(
    store: Store, run: Run, token_id: str, key: str | None, body: BaseModel
) -> Response | None:
    """Store a new run, with the key of the request that asked for it if any.

    Returns:
        None when ``run`` was stored; else the answer to a retry, because a
        request with the same key stored its run between :func:`earlier_answer`
        and now.
    """
    if key is None:
        store.add_run(run)
        return None
    digest = body_hash(body)
    recorded = store.add_keyed_run(
        run, IdempotencyKey(token_id, key, digest, run.run_id), since=_since()
    )
    return None if recorded.run_id == run.run_id else _replay(store, recorded, digest)


def body_hash(body: BaseModel) -> str:
    """Return a hash of a validated body as canonical JSON.

    White space and the order of keys do not change it, and a left-out member
    counts as its default.
    """
    canonical = json.dumps(
        body.model_dump(mode="json"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _replay(store: Store, earlier: IdempotencyKey, digest: str) -> Response:
    if earlier.body_hash != digest:
        message = (
            f"this token already used this {HEADER} for a different request in the "
            "last 24 hours; send a new request with a new key"
        )
        refuse(HEADER, "header", message, kind="idempotency-key-reused")
    run = store.run(earlier.run_id)
    if run is None:  # deleted since; prune deletes its keys with it
        raise RunNotFound(earlier.run_id)

    logger.info("Run %s replayed for token %s", run.run_id, earlier.token_id)
    answer = jsonify(run.to_dict())
    answer.headers["Location"] = f"/api/v1/runs/{run.run_id}"
    answer.headers[REPLAYED] = "true"
    return answer


def _since() -> str:
    return timestamp(datetime.now(UTC) - LIFETIME)
