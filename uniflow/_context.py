"""The link between a running pipeline and the runner process that reports it."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import IO, Any

from uniflow.runs import timestamp

EVENTS_FILE = "events.jsonl"


class Reporter:
    """Writes a run's events as JSON lines to the pipe the daemon reads, and to
    ``events.jsonl`` in the run's folder, from which a daemon started after the
    one that launched the run (killed, say) takes up following it."""

    def __init__(self, stream: IO[str] | None, run_folder: Path) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._steps = 0
        self.run_folder = run_folder
        fd = os.open(
            run_folder / EVENTS_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        self._file = os.fdopen(fd, "a", encoding="utf-8", errors="replace")

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
            # The file first: it outlives the daemon, the pipe does not.
            self._file.write(line + "\n")
            self._file.flush()
            if self._stream is None:
                return
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except BrokenPipeError:
                # The daemon that launched the run is gone; its successor reads
                # the file.
                self._stream = None


_reporter: Reporter | None = None


def reporter() -> Reporter | None:
    """Return the current run's reporter, or None outside a run."""
    return _reporter


def install(stream: IO[str] | None, run_folder: Path) -> Reporter:
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
