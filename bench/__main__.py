"""Run UniFlow's benchmarks: ``python -m bench [NAME ...] [--json PATH]``.

The exit code is 0 when every figure met its target, 1 when one did not or a
benchmark could not run, 2 on a usage error and 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.text import Text

import uniflow
from bench import (
    BenchError,
    auth,
    cli_start,
    daemon_memory,
    run_start,
    runs_list,
    tui_start,
)
from bench.figures import Figure, Result, all_met, print_table, write_json
from bench.load import require_wrk

logger = logging.getLogger("bench")

BENCHMARKS: dict[str, Callable[[], list[Figure]]] = {
    "runs-list": runs_list.run,
    "run-start": run_start.run,
    "auth": auth.run,
    "cli-start": cli_start.run,
    "daemon-memory": daemon_memory.run,
    "tui-start": tui_start.run,
}
"""Every benchmark by name, in the order they run."""

DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named in ``argv`` (all by default) and report them."""
    args = _parser().parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        _parser().error(
            f"no benchmark {unknown[0]!r}; choose from: {', '.join(BENCHMARKS)}"
        )
    _configure_logging()
    # A SIGTERM (a CI timeout, say) unwinds like Ctrl-C, so the daemon is stopped
    # and the temporary folder removed.
    signal.signal(signal.SIGTERM, _interrupt)

    context = _context()
    results = []
    try:
        for name in args.names or BENCHMARKS:
            logger.info("Running %s", name)
            started = time.perf_counter()
            figures = BENCHMARKS[name]()
            results.append(Result(name, figures, time.perf_counter() - started))
    except BenchError as exc:
        message = Text.assemble(("Error: ", "red"), str(exc))
        Console(stderr=True, soft_wrap=True).print(message, highlight=False)
        return 1
    except KeyboardInterrupt:
        return 130

    console = Console()
    if not console.is_terminal:
        console.width = 120  # rich's default of 80 would wrap the table in a log
    print_table(results, console)
    write_json(results, args.json, context)
    console.print(f"Figures written to {args.json}", highlight=False)
    return 0 if all_met(results) else 1


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run UniFlow's benchmarks; print and save their figures.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help="where to write the figures as JSON (default: bench/results.json)",
    )
    return parser


def _configure_logging() -> None:
    """Show progress on stderr, one line per step."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _context() -> dict[str, Any]:
    """Return what a reader of the figures needs to know about this run."""
    try:
        wrk = subprocess.run(
            [require_wrk(), "-v"], capture_output=True, text=True
        ).stdout.split("\n", 1)[0]
    except BenchError:
        wrk = None
    changes = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "uniflow": uniflow.__version__,
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_changes": None if changes is None else bool(changes),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "wrk": wrk,
    }


def _git(*args: str) -> str | None:
    """Return the output of a git command in the repository, or None."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


if __name__ == "__main__":
    sys.exit(main())
