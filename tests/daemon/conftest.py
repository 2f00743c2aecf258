"""Helpers for the daemon's HTTP tests: raw clients, role tokens, run polling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

FINISHED = {"success", "failed", "cancelled"}
RUN_TIMEOUT = 60.0
PROBLEM = "application/problem+json"


@pytest.fixture
def api(daemon: Any) -> Iterator[Callable[..., httpx.Client]]:
    """Return a factory of raw HTTP clients for the session daemon.

    ``api(secret)`` sends ``Authorization: Bearer <secret>``; ``api()`` sends no
    Authorization header at all.
    """
    clients: list[httpx.Client] = []

    def make(secret: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        client = httpx.Client(base_url=daemon.url, headers=headers, timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def operator_secret(daemon: Any) -> str:
    return str(daemon.token("operator"))


@pytest.fixture(scope="session")
def viewer_secret(daemon: Any) -> str:
    return str(daemon.token("viewer"))


@pytest.fixture
def admin(api: Callable[..., httpx.Client], daemon: Any) -> httpx.Client:
    """A raw client with the session's admin token."""
    return api(daemon.admin)


@pytest.fixture
def operator(api: Callable[..., httpx.Client], operator_secret: str) -> httpx.Client:
    """A raw client with an operator token."""
    return api(operator_secret)


@pytest.fixture
def wait_run(daemon: Any) -> Iterator[Callable[..., dict[str, Any]]]:
    """Return a function that polls a run until it finishes, with a deadline."""
    client = httpx.Client(
        base_url=daemon.url,
        headers={"Authorization": f"Bearer {daemon.admin}"},
        timeout=30,
    )

    def wait(run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            answer = client.get(f"/api/v1/runs/{run_id}")
            assert answer.status_code == 200, answer.text
            run: dict[str, Any] = answer.json()
            if run["status"] in FINISHED:
                return run
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Run {run_id} still {run['status']!r} after {timeout} s: {run}"
                )
            time.sleep(0.05)

    yield wait
    client.close()


def _assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers
    body: dict[str, Any] = answer.json()
    for member in ("type", "title", "status", "detail"):
        assert member in body, body
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.fixture
def problem() -> Callable[[httpx.Response, int], dict[str, Any]]:
    """Return a check that an answer is an RFC 9457 problem with a status.

    The check returns the problem's body.
    """
    return _assert_problem
