"""The link between a running pipeline and the runner process that reports it."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import IO, Any

from uniflow.runs import timestamp


class Reporter:
    """Writes a run's events as JSON lines to the pipe the daemon reads."""

    def __init__(self, stream: IO[str], run_folder: Path) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._steps = 0
        self.run_folder = run_folder

    def next_step_index(self) -> int:
        """Return the index of the next step call in this run."""
        with self._lock:
            self._steps += 1
            return self._steps - 1

    def emit(self, event: str, **data: Any) -> None:
        """Send one event to the daemon."""
        record = {"event": event, "at": timestamp(), **data}
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


_reporter: Reporter | None = None


def reporter() -> Reporter | None:
    """Return the current run's reporter, or None outside a run."""
    return _reporter


def install(stream: IO[str], run_folder: Path) -> Reporter:
    """Make this process report its run's events to ``stream``."""
    global _reporter
    _reporter = Reporter(stream, run_folder)
    return _reporter


def run_folder() -> Path:
    """Return the current run's folder, where a pipeline may write its outputs.

    Outside a run this is the current working folder.

    Returns:
        The folder's path.
    """
    if _reporter is not None:
        return _reporter.run_folder
    return Path(os.getcwd())
