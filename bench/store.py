"""A throwaway store holding a made-up but plausible history of runs."""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from uniflow import tokens
from uniflow.runs import RunStatus, new_run_id
from uniflow.store import SQLiteStore
from uniflow.tokens import Role

SPAN = 180 * 86400
"""The seconds between the oldest run and now."""
POOL = 500
"""How many parameter sets each pipeline's runs draw from."""

_Parameters = Callable[[random.Random, datetime], dict[str, Any]]


def _training(rng: random.Random, at: datetime) -> dict[str, Any]:
    return {
        "learning_rate": rng.choice([0.1, 0.03, 0.01, 0.003, 0.001]),
        "epochs": rng.randint(1, 50),
        "dataset": rng.choice(["iris", "mnist", "cifar10", "reviews-2024"]),
        "seed": rng.randint(0, 2**31),
    }


def _etl(rng: random.Random, at: datetime) -> dict[str, Any]:
    return {"date": at.date().isoformat(), "full_refresh": rng.random() < 0.05}


def _report(rng: random.Random, at: datetime) -> dict[str, Any]:
    return {
        "month": at.strftime("%Y-%m"),
        "format": rng.choice(["pdf", "html"]),
        "recipients": rng.sample(["ops", "finance", "sales", "ml"], rng.randint(1, 3)),
    }


def _evaluate(rng: random.Random, at: datetime) -> dict[str, Any]:
    return {"model": f"model-{rng.randint(1, 400)}", "threshold": rng.random()}


def _empty(rng: random.Random, at: datetime) -> dict[str, Any]:
    return {}


# Pipeline, project, relative frequency, parameters.
_PIPELINES: tuple[tuple[str, str, int, _Parameters], ...] = (
    ("training_pipeline", "default", 40, _training),
    ("etl_daily", "warehouse", 25, _etl),
    ("monthly_report", "warehouse", 10, _report),
    ("evaluate_model", "default", 20, _evaluate),
    ("cleanup", "ops", 5, _empty),
)

# Only final states: the daemon fails the runs it finds "running" at start and starts
# the "queued" ones, which would add its own work to what is being measured.
_OUTCOMES = (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED)
_OUTCOME_WEIGHTS = (85, 12, 3)

_COLUMNS = (
    "run_id, pipeline_name, project, status, parameters, created_at, started_at, "
    "finished_at, exit_code, error, result, pid"
)


def fill(home: Path, runs: int, *, seed: int = 0) -> str:
    """Create the store in ``home`` with ``runs`` finished runs and a viewer token.

    The runs span the last 180 days, oldest first. Their steps are left out: the run
    list does not read them.

    Returns:
        The token's secret.
    """
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = SQLiteStore(home / "uniflow.db")  # creates the schema, migrations and all
    _, secret = tokens.issue(store, "bench", Role.VIEWER)
    store.close()

    # One transaction for all rows: the store's add_run and update_run would take
    # two transactions per run.
    with closing(sqlite3.connect(store.path)) as db:
        db.execute("PRAGMA synchronous=OFF")
        with db:
            db.executemany(
                f"INSERT INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                _history(runs, random.Random(seed)),
            )
    return secret


def _history(count: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Yield ``count`` finished runs as ``runs`` rows, oldest first, up to now."""
    first = time.time() - SPAN
    pools = _parameter_pools(rng, first)
    interval = SPAN / count
    pipelines = list(itertools.accumulate(p[2] for p in _PIPELINES))
    outcomes = list(itertools.accumulate(_OUTCOME_WEIGHTS))

    for index in range(count):
        created = first + interval * (index + rng.random())
        pipeline, project, _, _ = rng.choices(_PIPELINES, cum_weights=pipelines)[0]
        status = rng.choices(_OUTCOMES, cum_weights=outcomes)[0]
        started = created + rng.uniform(0.05, 3)
        # The newest runs may not have finished by now; as history, that is fine.
        finished = started + rng.lognormvariate(4, 1.2)
        exit_code, error, result = _outcome(status, pipeline, rng)
        yield (
            new_run_id(),
            pipeline,
            project,
            status.value,
            rng.choice(pools[pipeline]),
            _timestamp(created),
            _timestamp(started),
            _timestamp(finished),
            exit_code,
            error,
            result,
            rng.randint(1000, 4_000_000),
        )


def _parameter_pools(rng: random.Random, first: float) -> dict[str, list[str]]:
    """Return encoded parameter sets for each pipeline.

    Making and encoding one set per run would double the time the store takes to
    fill; runs of a pipeline repeat their parameters often anyway.
    """
    pools: dict[str, list[str]] = {}
    for name, _, _, parameters in _PIPELINES:
        moments = (first + rng.random() * SPAN for _ in range(POOL))
        pools[name] = [
            _json(parameters(rng, datetime.fromtimestamp(moment, UTC)))
            for moment in moments
        ]
    return pools


def _outcome(
    status: RunStatus, pipeline: str, rng: random.Random
) -> tuple[int, str | None, str | None]:
    """Return a run's exit code, error and encoded result."""
    if status is RunStatus.FAILED:
        step = rng.choice(["load", "train", "evaluate", "publish"])
        return 1, f"step {step!r} failed: ValueError: no rows for that date", None
    if status is RunStatus.CANCELLED:
        return -15, "cancelled", None
    if pipeline == "training_pipeline":
        return 0, None, _json({"accuracy": round(rng.uniform(0.6, 1), 4)})
    return 0, None, None


def _json(value: Any) -> str:
    """Encode ``value`` as SQLiteStore encodes parameters and results."""
    return json.dumps(value, ensure_ascii=False)


def _timestamp(seconds: float) -> str:
    """Return epoch ``seconds`` as ``uniflow.runs.timestamp`` writes them, faster."""
    whole, millis = divmod(round(seconds * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
