"""How fast the command line answers: ``uniflow --version``, ``uniflow --help`` and
``uniflow runs list`` against a daemon holding 100,000 runs.

Each is timed from starting the process to its end, alternating with ``python -c
pass`` started the same way, the least any Python command can cost. Targets: at most
4, 8 and 12 times that.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import BenchError, daemon, store
from bench.figures import Figure, Target
from bench.runs_list import _median

logger = logging.getLogger(__name__)

PASS = "python -c pass"


@dataclass(frozen=True)
class Settings:
    """What the benchmark measures, and how often."""

    runs: int = 100_000
    """Runs in the store that ``runs list`` reads from."""
    repetitions: int = 20
    """Starts of each command, alternating between the commands."""


@dataclass(frozen=True)
class _Command:
    label: str
    args: list[str]
    bound: float
    """The most the command may take, in times the reference."""


def run(settings: Settings | None = None) -> list[Figure]:
    """Time the commands and the reference, alternating; return their figures.

    Raises:
        BenchError: The daemon did not start or a command failed.
    """
    settings = settings or Settings()
    uniflow = str(Path(sys.executable).with_name("uniflow"))
    commands = [
        _Command("uniflow --version", [uniflow, "--version"], 4),
        _Command("uniflow --help", [uniflow, "--help"], 8),
        _Command("uniflow runs list", [uniflow, "runs", "list"], 12),
    ]
    with tempfile.TemporaryDirectory(prefix="uniflow-bench-") as folder:
        home = Path(folder) / "home"
        secret = store.fill(home, settings.runs)
        with daemon.running(home) as url:
            # The token travels in the environment, as in CI; never in argv.
            env = {
                **os.environ,
                "UNIFLOW_HOME": str(home),
                "UNIFLOW_URL": url,
                "UNIFLOW_TOKEN": secret,
            }
            times = _alternate([sys.executable, "-c", "pass"], commands, env, settings)

    reference = _median(
        PASS,
        times[PASS],
        "ms",
        "started and ended, with the same interpreter",
    )
    return [
        Figure(
            measure=_median(
                command.label,
                times[command.label],
                "ms",
                f"started and ended, output to a pipe, {settings.runs:,} runs stored",
            ),
            reference=reference,
            target=Target(of="ratio", at_least=False, bound=command.bound),
        )
        for command in commands
    ]


def _alternate(
    reference: list[str],
    commands: list[_Command],
    env: dict[str, str],
    settings: Settings,
) -> dict[str, list[float]]:
    """Run the reference and each command in turn; return each one's times in ms."""
    times: dict[str, list[float]] = {PASS: []}
    for command in commands:
        _timed(command.args, env)  # Once untimed, to warm the file cache.
        times[command.label] = []
    for repetition in range(1, settings.repetitions + 1):
        times[PASS].append(_timed(reference, env))
        for command in commands:
            times[command.label].append(_timed(command.args, env))
        if repetition % 5 == 0:
            logger.info(
                "%d/%d: %s",
                repetition,
                settings.repetitions,
                ", ".join(f"{label} {ms[-1]:.0f} ms" for label, ms in times.items()),
            )
    return times


def _timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise BenchError(
            f"{' '.join(args[-2:])} exited with {done.returncode}: "
            f"{done.stderr.decode(errors='replace')[-500:]}"
        )
    return elapsed
