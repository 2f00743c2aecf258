"""Fixtures for the TUI: real daemons, the app pointed at one, waiting in a pilot.

The app finds its daemon as a user's would: ``UNIFLOW_HOME`` names the daemon's
data folder, where ``daemon.json`` gives its address, and the token is the one
kept for that address (in ``credentials.json``, as the keyring is the "fail"
backend in tests).

The snapshot daemon holds fixed data only: tokens and runs written to its store
with fixed ids, and times either long past (shown as dates) or hours and days
from now (shown as "2h ago", "in 20d"), so that no snapshot changes from one
test run to the next.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FIXTURE_PROJECT,
    RunningDaemon,
    copy_project,
    daemon_with_testproj,
    start_daemon,
)

from uniflow import credentials
from uniflow.runs import Run, RunStatus, StepRecord, timestamp
from uniflow.tokens import Role, Token, hash_secret, new_secret

WAIT = 30.0
"""Seconds a test waits for the app or the daemon before it fails."""
SNAPSHOT_ADMIN = "tok_00000000a0a0"
DETAIL_RUN = "run_00000000000000d1"
"""The snapshot daemon's run whose details and output the snapshots show."""


@pytest.fixture(scope="session")
def tui_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    """A daemon for the TUI's flows, with the test project registered."""
    with daemon_with_testproj(tmp_path_factory, "tui") as running:
        yield running


@pytest.fixture(scope="session")
def snapshot_daemon(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningDaemon]:
    """A daemon whose tokens and runs are fixed, for snapshots."""
    running = start_daemon(tmp_path_factory.mktemp("tui-snapshot-home"))
    try:
        running.admin = _fixed_tokens(running)
        project = copy_project(
            FIXTURE_PROJECT, tmp_path_factory.mktemp("tui-snapshot") / "testproj"
        )
        with running.client() as client:
            client.register_project("testproj", str(project))
        _fixed_runs(running)
        yield running
    finally:
        running.stop()


@pytest.fixture
def use_daemon(monkeypatch: pytest.MonkeyPatch) -> Callable[[RunningDaemon], None]:
    """Return ``use(daemon)``, which points the app at ``daemon`` as its local one,
    with the daemon's admin token kept for it."""

    def use(running: RunningDaemon) -> None:
        monkeypatch.setenv("UNIFLOW_HOME", str(running.home))
        credentials.store(running.url, running.admin)

    # No test copies to the developer's own clipboard.
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return use


async def until(
    pilot: Any,
    condition: Callable[[], Any],
    what: str,
    timeout: float = WAIT,
) -> Any:
    """Let the app run until ``condition()`` is truthy, and return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}.")
        await pilot.pause(0.05)


@pytest.fixture(name="until")
def until_fixture() -> Callable[..., Awaitable[Any]]:
    """:func:`until`, for test modules (which cannot import this conftest)."""
    return until


def _fixed_tokens(running: RunningDaemon) -> str:
    """Write the snapshot daemon's tokens; return the secret of its admin token."""
    now = datetime.now(UTC)
    store = running.store()
    secret = new_secret()
    store.add_token(
        Token(SNAPSHOT_ADMIN, "tui-admin", Role.ADMIN, "2025-01-15T09:00:00.000Z"),
        hash_secret(secret),
    )
    others = [
        Token(
            "tok_00000000c1c1",
            "ci",
            Role.OPERATOR,
            "2025-02-01T10:00:00.000Z",
            project="testproj",
            expires_at="2099-01-01T00:00:00.000Z",
            last_used_at=timestamp(now - timedelta(hours=2, minutes=5)),
            last_used_from="10.0.0.7",
        ),
        Token(
            "tok_00000000d2d2",
            "dashboard",
            Role.VIEWER,
            "2025-03-01T08:30:00.000Z",
            expires_at="2025-06-01T00:00:00.000Z",
        ),
        Token(
            "tok_00000000e3e3",
            "old-deploy",
            Role.OPERATOR,
            "2025-04-01T12:00:00.000Z",
            revoked_at="2025-05-01T12:00:00.000Z",
        ),
        Token(
            "tok_00000000f4f4",
            "nightly",
            Role.VIEWER,
            timestamp(now - timedelta(days=3, minutes=5)),
            expires_at=timestamp(now + timedelta(days=20, hours=12)),
        ),
    ]
    for token in others:
        store.add_token(token, hash_secret(new_secret()))
    store.close()
    return secret


def _fixed_runs(running: RunningDaemon) -> None:
    """Write the snapshot daemon's runs, which have all ended, and one's output."""
    now = datetime.now(UTC)
    store = running.store()
    runs = [
        ("run_00000000000000a1", "hello", RunStatus.SUCCESS, {"name": "world"}, 0),
        ("run_00000000000000b2", "fails", RunStatus.FAILED, {}, 1),
        ("run_00000000000000c3", "sleepy", RunStatus.CANCELLED, {"seconds": 60}, -15),
    ]
    for index, (run_id, pipeline, status, parameters, code) in enumerate(runs):
        created = now - timedelta(hours=5 - index, minutes=5)
        store.add_run(
            Run(
                run_id,
                pipeline,
                "testproj",
                parameters,
                status,
                created_at=timestamp(created),
            )
        )
        store.update_run(
            run_id,
            started_at=timestamp(created + timedelta(seconds=1)),
            finished_at=timestamp(created + timedelta(seconds=3.5)),
            exit_code=code,
            error="boom: the step failed on purpose" if code == 1 else None,
        )

    store.add_run(
        Run(
            DETAIL_RUN,
            "chatty",
            "testproj",
            {"count": 3, "pause": 0.2},
            RunStatus.SUCCESS,
            created_at="2025-01-15T09:30:00.000Z",
        )
    )
    store.update_run(
        DETAIL_RUN,
        started_at="2025-01-15T09:30:00.250Z",
        finished_at="2025-01-15T09:30:01.000Z",
        exit_code=0,
    )
    steps = [("load_rows", 0.21), ("scale_rows", 0.2), ("report_rows", 0.01)]
    for index, (name, took) in enumerate(steps):
        store.save_step(
            DETAIL_RUN,
            StepRecord(index, name, "success", duration=took),
        )
    store.close()
    folder = Path(running.home) / "runs" / DETAIL_RUN
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "output.log").write_text(
        "loading 3 rows\nloaded rows of Zoë ✓\nscaling 3 rows\ntotal 60\n",
        encoding="utf-8",
    )
