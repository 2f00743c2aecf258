"""The daemon's footprint: resident memory idle, and after 10,000 runs.

A daemon over a one-pipeline project is started and warmed up (one run, one page of
runs), and its resident set size is read from ``/proc``: the idle figure. After a
first batch of runs (each server thread has then opened its store connection), its
memory, threads and open file descriptors are read; then 10,000 more runs pass
through it in batches, each waiting for the queue to drain, and the same are read
once it is idle again. Targets: under 80 MB idle, under 20 MB more after the runs,
and no more threads or descriptors than after the first batch.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import BenchError, daemon, load
from bench.figures import Figure, Measure, Target
from bench.run_start import PIPELINE, _admin_token, _register, _write_project

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """What the benchmark measures, and how often."""

    runs: int = 10_000
    """Runs that pass through the daemon between the two readings."""
    batch: int = 250
    """Runs queued at once; the next batch waits for the queue to drain."""
    settle: float = 2.0
    """Seconds to let the daemon go idle before each reading."""
    drain_timeout: float = 600.0
    """Seconds one batch may take before the benchmark gives up."""


@dataclass(frozen=True)
class _Reading:
    rss_mb: float
    threads: int
    fds: int


def run(settings: Settings | None = None) -> list[Figure]:
    """Read the daemon's footprint idle and after the runs; return the figures.

    Raises:
        BenchError: The daemon did not start, answered with an error, or a batch of
            runs did not drain in time.
    """
    settings = settings or Settings()
    with tempfile.TemporaryDirectory(prefix="uniflow-bench-") as folder:
        home = Path(folder) / "home"
        project = _write_project(Path(folder) / "project")
        secret = _admin_token(home)
        # Unpinned, so the runners use every CPU; no trigger limit for the batches.
        with daemon.running(home, settings="trigger_limit = 0", pin=False) as url:
            pid = int(json.loads((home / "daemon.json").read_text())["pid"])
            headers = {"Authorization": f"Bearer {secret}"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                _register(client, project)
                _pass_runs(client, 1, settings)
                load.ensure_ok(client.get("/api/v1/runs"))
                idle = _read(pid, settings)
                logger.info("Idle: %s", idle)
                # One batch first: each of the server's threads opens its own
                # store connection when it first serves, which is no leak.
                _pass_runs(client, settings.batch, settings)
                warm = _read(pid, settings)
                logger.info("After a first batch: %s", warm)
                started = time.perf_counter()
                _pass_runs(client, settings.runs, settings)
                logger.info(
                    "%d runs passed in %.0f s",
                    settings.runs,
                    time.perf_counter() - started,
                )
                after = _read(pid, settings)
                logger.info("After the runs: %s", after)

    return _figures(idle, warm, after, settings)


def _pass_runs(client: httpx.Client, count: int, settings: Settings) -> None:
    """Trigger ``count`` runs in batches, each drained before the next is sent."""
    body = {"pipeline_name": PIPELINE, "project": "bench", "parameters": {}}
    sent = 0
    while sent < count:
        size = min(settings.batch, count - sent)
        for _ in range(size):
            answer = client.post("/api/v1/runs", json=body)
            if answer.status_code != 201:
                raise BenchError(
                    f"POST /api/v1/runs answered {answer.status_code}: "
                    f"{answer.text[:500]}"
                )
        sent += size
        _drain(client, settings)
        if sent % 1000 == 0:
            logger.info("%d/%d runs passed", sent, count)
    failed = client.get("/api/v1/runs", params={"status": "failed", "limit": 1})
    load.ensure_ok(failed)
    if failed.json()["items"]:
        raise BenchError(f"A run failed: {failed.json()['items'][0].get('error')}")


def _drain(client: httpx.Client, settings: Settings) -> None:
    deadline = time.monotonic() + settings.drain_timeout
    while time.monotonic() < deadline:
        status = client.get("/api/v1/status")
        load.ensure_ok(status)
        counts = status.json()["runs"]
        if counts["running"] == 0 and counts["queued"] == 0:
            return
        time.sleep(0.2)
    raise BenchError(f"The runs did not drain within {settings.drain_timeout:g} s.")


def _read(pid: int, settings: Settings) -> _Reading:
    time.sleep(settings.settle)  # Threads of ended runs finish their last steps.
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(
        int(line.split()[1])
        for line in status.splitlines()
        if line.startswith("VmRSS:")
    )
    return _Reading(
        rss_mb=rss_kb / 1024,
        threads=len(os.listdir(f"/proc/{pid}/task")),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
    )


def _figures(
    idle: _Reading, warm: _Reading, after: _Reading, settings: Settings
) -> list[Figure]:
    def measure(name: str, value: float, unit: str, when: str) -> Measure:
        return Measure(
            name=name, value=value, unit=unit, repetitions=1, method=when, samples=()
        )

    idle_how = "read from /proc once started and warmed up by one run"
    warm_how = f"read from /proc after a first batch of {settings.batch} runs"
    after_how = (
        f"read from /proc once {settings.runs:,} more runs have passed and it is "
        "idle, less the reading after the first batch"
    )
    idle_rss = measure("idle resident memory", idle.rss_mb, "MB", idle_how)
    return [
        Figure(
            measure=idle_rss,
            reference=idle_rss,
            target=Target(of="value", at_least=False, bound=80, unit="MB"),
        ),
        Figure(
            measure=measure(
                "memory growth", after.rss_mb - warm.rss_mb, "MB", after_how
            ),
            reference=measure("memory after a batch", warm.rss_mb, "MB", warm_how),
            target=Target(of="value", at_least=False, bound=20, unit="MB"),
        ),
        Figure(
            measure=measure(
                "thread growth", after.threads - warm.threads, "", after_how
            ),
            reference=measure("threads after a batch", warm.threads, "", warm_how),
            target=Target(of="value", at_least=False, bound=1),
        ),
        Figure(
            measure=measure("descriptor growth", after.fds - warm.fds, "", after_how),
            reference=measure("descriptors after a batch", warm.fds, "", warm_how),
            target=Target(of="value", at_least=False, bound=1),
        ),
    ]
