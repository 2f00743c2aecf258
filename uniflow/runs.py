"""Runs: one execution of a pipeline, its states and its recorded steps."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


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
    """Return a fresh, unguessable run id such as ``run_3f9c2a7b10de``."""
    return "run_" + secrets.token_hex(8)


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
