"""Helpers shared by the test modules and conftests (``tests/`` is on sys.path)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def wait_until(condition: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition()`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}.")
        time.sleep(0.05)


def trigger(client: Any, pipeline: str, **parameters: Any) -> str:
    """Trigger ``pipeline`` of the test project with a raw HTTP client; return the
    new run's id."""
    body = {"pipeline_name": pipeline, "project": "testproj", "parameters": parameters}
    answer = client.post("/api/v1/runs", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["run_id"])


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
