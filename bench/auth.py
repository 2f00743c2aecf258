"""The cost of authentication: ``GET /api/v1/token`` with 10,000 tokens stored.

``/api/v1/token`` answers with the request's own token, so it does little besides
checking the bearer secret (its format, its hash, one indexed look-up, role and
expiry). Its reference is ``GET /healthz`` on the same daemon in the same run,
which needs no token. Target: at least 0.8 of the health check's rate.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from bench import daemon, load
from bench.figures import Figure, Target
from bench.load import Load
from bench.runs_list import _median
from uniflow import tokens
from uniflow.store import SQLiteStore
from uniflow.tokens import Role

logger = logging.getLogger(__name__)

OWN = "/api/v1/token"
HEALTH = "/healthz"


@dataclass(frozen=True)
class Settings:
    """What the benchmark measures, and how often."""

    tokens: int = 10_000
    """Tokens in the store, the one that authenticates among them."""
    repetitions: int = 3
    """wrk runs per path, alternating between the paths."""
    load: Load = field(default_factory=Load)


def run(settings: Settings | None = None) -> list[Figure]:
    """Fill a store with tokens, start a daemon over it, and measure.

    Raises:
        BenchError: wrk is missing, the daemon did not start, or it answered with an
            error.
    """
    settings = settings or Settings()
    wrk = load.require_wrk()
    with tempfile.TemporaryDirectory(prefix="uniflow-bench-") as folder:
        home = Path(folder) / "home"
        secret = _fill(home, settings.tokens)
        script = load.write_script(Path(folder), secret)
        # The benchmark's own requests must not be slowed down as guesses.
        with daemon.running(home, settings="auth_failure_limit = 0") as url:
            rates: dict[str, list[float]] = {HEALTH: [], OWN: []}
            for _ in range(settings.repetitions):
                for path in rates:
                    rates[path].append(
                        load.rate(wrk, script, url + path, settings.load).per_second
                    )
            logger.info("Rates: %s", rates)

    how = f"{settings.load} over loopback, {settings.tokens:,} tokens stored"
    return [
        Figure(
            measure=_median(
                "authenticated rate", rates[OWN], "req/s", f"GET {OWN}, {how}"
            ),
            reference=_median(
                "healthz rate", rates[HEALTH], "req/s", f"GET {HEALTH}, {how}"
            ),
            target=Target(of="ratio", at_least=True, bound=0.8),
        )
    ]


def _fill(home: Path, count: int) -> str:
    """Create ``count`` tokens in a new store in ``home``; return one's secret."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    started = time.perf_counter()
    store = SQLiteStore(home / "uniflow.db")
    token, secret = tokens.issue(store, "bench", Role.VIEWER)
    store.close()
    # One transaction for all rows; each has a real secret's hash.
    rows = [
        (
            tokens.new_token_id(),
            f"filler-{index}",
            "viewer",
            tokens.hash_secret(tokens.new_secret()),
            token.created_at,
            token.expires_at,
        )
        for index in range(count - 1)
    ]
    with closing(sqlite3.connect(store.path)) as db, db:
        db.executemany(
            "INSERT INTO tokens (token_id, name, role, secret_hash, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    logger.info("Stored %d tokens in %.1f s", count, time.perf_counter() - started)
    return secret
