"""Runs: one execution of a pipeline, its states and its recorded steps."""

from __future__ import annotations

import logging
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uniflow import paths

if TYPE_CHECKING:
    from uniflow.store import Store

logger = logging.getLogger(__name__)

RUN_ID = re.compile(r"run_[0-9a-f]{16}")
"""The form of every run id :func:`new_run_id` gives."""


class RunStatus(StrEnum):
    """The states of a run: queued, running, then one final state."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the run has reached a final state."""
        return self in (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED)


def timestamp(moment: datetime | None = None) -> str:
    """Return ``moment`` (default now) as UTC ISO 8601 with a ``Z``."""
    moment = moment or datetime.now(UTC)
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def new_run_id() -> str:
    """Return a fresh, unguessable run id such as ``run_3f9c2a7b10de4a51``."""
    return "run_" + secrets.token_hex(8)


def prune(store: Store, finished_before: datetime) -> list[str]:
    """Delete the runs that ended before ``finished_before``, with their folders.

    Queued and running runs are never touched. The folders go once the runs are
    gone from the store; one that cannot be removed is logged and left.

    Returns:
        The ids of the deleted runs.
    """
    deleted = store.prune_runs(timestamp(finished_before))
    root = paths.runs_folder()
    for run_id in deleted:
        _remove_folder(root, run_id)
    return deleted


def _remove_folder(root: Path, run_id: str) -> None:
    # An id read back from the store becomes a path: one of another form (say
    # "../x") must not name a folder outside the runs folder.
    if not RUN_ID.fullmatch(run_id):
        logger.warning("Run id %r is not of the form run_<16 hex digits>", run_id)
        return
    try:
        shutil.rmtree(root / run_id)
    except FileNotFoundError:
        pass  # a run cancelled while queued never had a folder
    except OSError as exc:
        logger.warning("The folder of run %s could not be removed: %s", run_id, exc)


@dataclass
class StepRecord:
    """One call of a step inside a run."""

    index: int
    name: str
    state: str
    started_at: str | None = None
    finished_at: str | None = None
    duration: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the step as the API shows it."""
        return {
            "name": self.name,
            "state": self.state,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "error": self.error,
        }


@dataclass
class Run:
    """One execution of a pipeline with resolved parameters."""

    run_id: str
    pipeline_name: str
    project: str
    parameters: dict[str, Any]
    status: RunStatus = RunStatus.QUEUED
    created_at: str = field(default_factory=timestamp)
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    error: str | None = None
    result: Any = None
    """What the pipeline returned, when that is JSON data."""
    pid: int | None = None
    timeout: float | None = None
    """Seconds the run may take once started; None for no limit."""
    steps: list[StepRecord] = field(default_factory=list)

    def to_dict(self, *, summary: bool = False) -> dict[str, Any]:
        """Return the run as the API shows it.

        Args:
            summary: Leave out the result and the steps, as lists do.
        """
        shown: dict[str, Any] = {
            "run_id": self.run_id,
            "pipeline_name": self.pipeline_name,
            "project": self.project,
            "status": self.status.value,
            "parameters": self.parameters,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "exit_code": self.exit_code,
            "error": self.error,
        }
        if not summary:
            shown["result"] = self.result
            shown["steps"] = [s.to_dict() for s in self.steps]
        return shown
