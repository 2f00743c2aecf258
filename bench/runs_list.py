"""The run list under load: ``GET /api/v1/runs?limit=50`` over 100,000 runs.

Its reference is ``GET /healthz`` on the same daemon in the same run: the cost of
a request that reaches Flask and does nothing. Targets: the list serves at least half
the health check's rate, and its median server time stays under 5 ms.

Nothing changes in the store while the load runs, so this measures what polling
screens and scripts see most: the store keeps the page until the file changes.
A page read after a change costs about twice the server time (0.28 against 0.12
ms on a 2-core machine in December 2026).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import daemon, load, store
from bench.figures import Figure, Measure, Target
from bench.load import Load

logger = logging.getLogger(__name__)

LIST = "/api/v1/runs?limit=50"
HEALTH = "/healthz"


@dataclass(frozen=True)
class Settings:
    """What the benchmark measures, and how often."""

    runs: int = 100_000
    """Runs in the store."""
    repetitions: int = 3
    """wrk runs per path, alternating between the paths."""
    load: Load = field(default_factory=Load)
    """How wrk loads the daemon in each of those runs."""
    requests: int = 200
    """Sequential requests per path whose server times are measured."""


def run(settings: Settings | None = None) -> list[Figure]:
    """Fill a store, start a daemon over it, and measure the list against /healthz.

    Raises:
        BenchError: wrk is missing, the daemon did not start, or it answered with an
            error.
    """
    settings = settings or Settings()
    wrk = load.require_wrk()
    with tempfile.TemporaryDirectory(prefix="uniflow-bench-") as folder:
        home = Path(folder) / "home"
        started = time.perf_counter()
        secret = store.fill(home, settings.runs)
        logger.info(
            "Filled a store with %d runs in %.1f s",
            settings.runs,
            time.perf_counter() - started,
        )
        script = load.write_script(Path(folder), secret)

        with daemon.running(home) as url:
            headers = {"Authorization": f"Bearer {secret}"}
            with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
                # The timed requests also warm the daemon up before wrk loads it.
                times = load.server_times(client, [HEALTH, LIST], settings.requests)
            rates = _rates(wrk, script, url, settings)

    return [_rate_figure(rates, settings), _time_figure(times, settings)]


def _rates(
    wrk: str, script: Path, url: str, settings: Settings
) -> dict[str, list[float]]:
    """Load each path ``settings.repetitions`` times, alternating; return the rates."""
    rates: dict[str, list[float]] = {HEALTH: [], LIST: []}
    for repetition in range(1, settings.repetitions + 1):
        for path in rates:
            measured = load.rate(wrk, script, url + path, settings.load)
            rates[path].append(measured.per_second)
            logger.info(
                "%s %d/%d: %.0f requests/s, p50 %.2f ms, p99 %.2f ms%s",
                path,
                repetition,
                settings.repetitions,
                measured.per_second,
                measured.p50_ms,
                measured.p99_ms,
                f", {measured.socket_errors} socket errors"
                if measured.socket_errors
                else "",
            )
    return rates


def _rate_figure(rates: dict[str, list[float]], settings: Settings) -> Figure:
    how = f"{settings.load} over loopback, {settings.runs:,} runs stored"
    return Figure(
        measure=_median("list rate", rates[LIST], "req/s", f"GET {LIST}, {how}"),
        reference=_median(
            "healthz rate", rates[HEALTH], "req/s", f"GET {HEALTH}, {how}"
        ),
        target=Target(of="ratio", at_least=True, bound=0.5),
    )


def _time_figure(times: dict[str, load.ServerTimes], settings: Settings) -> Figure:
    listed, health = times[LIST], times[HEALTH]
    how = f"{settings.requests} sequential requests, {settings.runs:,} runs stored"
    return Figure(
        measure=_median(
            f"list {listed.label}",
            listed.values,
            "ms",
            f"GET {LIST}, {listed.source}, {how}",
        ),
        reference=_median(
            f"healthz {health.label}",
            health.values,
            "ms",
            f"GET {HEALTH}, {health.source}, {how}",
        ),
        target=Target(of="value", at_least=False, bound=5.0, unit="ms"),
    )


def _median(name: str, samples: list[float], unit: str, method: str) -> Measure:
    return Measure(
        name=name,
        value=statistics.median(samples),
        unit=unit,
        repetitions=len(samples),
        method=method,
        samples=tuple(round(s, 3) for s in samples),
    )
