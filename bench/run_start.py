"""Starting a run: from ``POST /api/v1/runs`` to the pipeline's first line.

The pipeline's first line writes ``time.time()`` to its run's folder; the latency is
that time less the moment the request was sent, for runs triggered one after
another on an idle daemon. Its reference is the time to start and end
``python -c pass`` with the runners' interpreter, measured between those runs: the
least any run can cost. Target: at most that plus 100 ms.

The answer time of ``POST /api/v1/runs`` is measured on the same requests, as the
client waits for it; its reference is ``GET /healthz`` on the same daemon. Target:
under 20 ms.
"""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from bench import BenchError, daemon, load
from bench.figures import Figure, Measure, Target
from uniflow import tokens
from uniflow.store import SQLiteStore
from uniflow.tokens import Role

logger = logging.getLogger(__name__)

PIPELINE = "first_line"
STARTED = "started"
"""The file in the run's folder where the pipeline writes when it started."""
_PROJECT = {
    "uniflow.toml": '[project]\nname = "bench"\npipelines = ["pipelines"]\n',
    "pipelines/start.py": f'''\
import time

from uniflow import pipeline, run_folder


@pipeline
def {PIPELINE}(epochs: int = 1, rate: float = 0.1, tag: str = "") -> None:
    """Write when this first line ran; the parameters are those of a typical run."""
    started = time.time()
    (run_folder() / "{STARTED}").write_text(repr(started), encoding="utf-8")
''',
}
_FINISHED = ("success", "failed", "cancelled")


@dataclass(frozen=True)
class Settings:
    """What the benchmark measures, and how often."""

    runs: int = 50
    """Runs triggered one after another, each timed; with the warm-up ones, under
    the 120 a minute that one token may trigger by default."""
    warmup: int = 3
    """Runs triggered first and not timed: the first describes the project."""
    allowance: float = 100.0
    """Milliseconds a run may take to start beyond ``python -c pass``."""
    answer_bound: float = 20.0
    """Milliseconds under which ``POST /api/v1/runs`` must answer."""
    run_timeout: float = 30.0
    """Seconds one run may take to end before the benchmark gives up."""


@dataclass
class _Samples:
    """Every repetition's times, in milliseconds."""

    start_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)
    python_ms: list[float] = field(default_factory=list)
    # Where the start time goes, by the daemon's own timestamps (ms resolution):
    # sending to the run being recorded, recorded to launched (the runner's
    # process exists), launched to the first line (the runner's own start-up).
    recorded_ms: list[float] = field(default_factory=list)
    launched_ms: list[float] = field(default_factory=list)
    runner_ms: list[float] = field(default_factory=list)


def run(settings: Settings | None = None) -> list[Figure]:
    """Start a daemon over a one-pipeline project and time runs from trigger to start.

    Raises:
        BenchError: The daemon did not start, answered with an error, or a run
            failed or did not end in time.
    """
    settings = settings or Settings()
    with tempfile.TemporaryDirectory(prefix="uniflow-bench-") as folder:
        home = Path(folder) / "home"
        project = _write_project(Path(folder) / "project")
        secret = _admin_token(home)
        with daemon.running(home) as url:
            headers = {"Authorization": f"Bearer {secret}"}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                _register(client, project)
                for _ in range(settings.warmup):
                    _one_run(client, home, settings)
                samples = _measure(client, home, settings)

    _log_breakdown(samples)
    return [_start_figure(samples, settings), _answer_figure(samples, settings)]


def _write_project(root: Path) -> Path:
    for name, text in _PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _admin_token(home: Path) -> str:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = SQLiteStore(home / "uniflow.db")
    _, secret = tokens.issue(store, "bench", Role.ADMIN)
    store.close()
    return secret


def _register(client: httpx.Client, project: Path) -> None:
    answer = client.post(
        "/api/v1/projects", json={"name": "bench", "path": str(project)}
    )
    if answer.status_code not in (200, 201):
        raise BenchError(
            f"Registering the benchmark's project answered {answer.status_code}: "
            f"{answer.text[:500]}"
        )


def _measure(client: httpx.Client, home: Path, settings: Settings) -> _Samples:
    """Trigger the runs one after another; time each, and the references between."""
    samples = _Samples()
    cpus = load.split_cpus()
    for index in range(1, settings.runs + 1):
        sent, answer_ms, run = _one_run(client, home, settings)
        started = float((home / "runs" / str(run["run_id"]) / STARTED).read_text())
        samples.start_ms.append((started - sent) * 1000)
        samples.answer_ms.append(answer_ms)
        samples.recorded_ms.append((_epoch(run["created_at"]) - sent) * 1000)
        samples.launched_ms.append(
            (_epoch(run["started_at"]) - _epoch(run["created_at"])) * 1000
        )
        samples.runner_ms.append((started - _epoch(run["started_at"])) * 1000)

        # On the daemon's CPU, where its runners start too.
        samples.python_ms.append(_python_pass(cpus[0] if cpus else None))
        began = time.perf_counter()
        load.ensure_ok(client.get("/healthz"))
        samples.health_ms.append((time.perf_counter() - began) * 1000)
        if index % 10 == 0:
            logger.info(
                "%d/%d runs: start %.0f ms (median so far), python -c pass %.0f ms",
                index,
                settings.runs,
                statistics.median(samples.start_ms),
                statistics.median(samples.python_ms),
            )
    return samples


def _one_run(
    client: httpx.Client, home: Path, settings: Settings
) -> tuple[float, float, dict[str, object]]:
    """Trigger one run and wait for its end; return when it was sent, how long the
    answer took in ms, and the ended run."""
    body = {
        "pipeline_name": PIPELINE,
        "project": "bench",
        "parameters": {"epochs": 3, "rate": 1, "tag": "bench"},
    }
    sent = time.time()
    began = time.perf_counter()
    answer = client.post("/api/v1/runs", json=body)
    answer_ms = (time.perf_counter() - began) * 1000
    if answer.status_code != 201:
        raise BenchError(
            f"POST /api/v1/runs answered {answer.status_code}, not 201: "
            f"{answer.text[:500]}"
        )

    run_id = answer.json()["run_id"]
    deadline = time.monotonic() + settings.run_timeout
    while True:
        # Polled slowly, so that the daemon's CPU stays free for the next run.
        time.sleep(0.05)
        shown = client.get(f"/api/v1/runs/{run_id}")
        load.ensure_ok(shown)
        run: dict[str, object] = shown.json()
        if run["status"] in _FINISHED:
            break
        if time.monotonic() > deadline:
            raise BenchError(
                f"Run {run_id} was still {run['status']} after "
                f"{settings.run_timeout:g} s; see {home / 'daemon.log'}."
            )
    if run["status"] != "success":
        raise BenchError(f"Run {run_id} ended {run['status']}: {run.get('error')}")
    return sent, answer_ms, run


def _python_pass(cpus: set[int] | None) -> float:
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "pass"], check=True, preexec_fn=load.pinned(cpus)
    )
    return (time.perf_counter() - began) * 1000


def _epoch(stamp: object) -> float:
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


def _log_breakdown(samples: _Samples) -> None:
    logger.info(
        "Trigger to first line, medians: %.0f ms to the run being recorded, %.0f ms "
        "to its process being started, %.0f ms of the runner's own start-up",
        statistics.median(samples.recorded_ms),
        statistics.median(samples.launched_ms),
        statistics.median(samples.runner_ms),
    )


def _start_figure(samples: _Samples, settings: Settings) -> Figure:
    python = _median(
        "python -c pass",
        samples.python_ms,
        f"`{Path(sys.executable).name} -c pass` started and ended, on the daemon's "
        "CPU, between the runs",
    )
    return Figure(
        measure=_median(
            "trigger to first line",
            samples.start_ms,
            f"from sending POST /api/v1/runs to the time.time() on the pipeline's "
            f"first line, {settings.runs} runs one after another on an idle daemon",
        ),
        reference=python,
        # "At most the reference plus the allowance", as a bound on the value.
        target=Target(
            of="value",
            at_least=False,
            bound=python.value + settings.allowance,
            unit="ms",
        ),
    )


def _answer_figure(samples: _Samples, settings: Settings) -> Figure:
    return Figure(
        measure=_median(
            "POST /runs answer time",
            samples.answer_ms,
            "POST /api/v1/runs, client-side elapsed over loopback, the requests "
            "timed for the start",
        ),
        reference=_median(
            "healthz client time",
            samples.health_ms,
            "GET /healthz, client-side elapsed over loopback, between the runs",
        ),
        target=Target(
            of="value", at_least=False, bound=settings.answer_bound, unit="ms"
        ),
    )


def _median(name: str, samples: list[float], method: str) -> Measure:
    return Measure(
        name=name,
        value=statistics.median(samples),
        unit="ms",
        repetitions=len(samples),
        method=method,
        samples=tuple(round(s, 3) for s in samples),
    )
