"""Every endpoint against every kind of credential, from one table.

The table below lists each operation of the API with the role it needs and how
far a token limited to one project reaches it; a test checks the table against
the daemon's own spec, so a new endpoint cannot be left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from helpers import trigger

from uniflow import tokens

ROLES = ("viewer", "operator", "admin")
REFUSED = ("none", "malformed", "checksum", "unknown", "revoked", "expired")


@dataclass(frozen=True)
class Endpoint:
    """One operation, the weakest role it needs, and what another project's token
    gets: ``any`` (it may), ``all`` (403: it acts beyond one project), ``403``
    (a project it may not reach) or ``404`` (a run it may not see)."""

    method: str
    path: str
    role: str
    scoped: str
    ok: tuple[int, ...] = (200,)


ENDPOINTS = (
    Endpoint("GET", "/api/v1/runs", "viewer", "any"),
    Endpoint("POST", "/api/v1/runs", "operator", "403", (201,)),
    Endpoint("GET", "/api/v1/runs/{run_id}", "viewer", "404"),
    Endpoint("GET", "/api/v1/runs/{run_id}/logs", "viewer", "404"),
    Endpoint("POST", "/api/v1/runs/{run_id}/cancel", "operator", "404", (200, 202)),
    Endpoint("POST", "/api/v1/runs/prune", "admin", "all"),
    Endpoint("GET", "/api/v1/status", "viewer", "any"),
    Endpoint("GET", "/api/v1/pipelines", "viewer", "403"),
    Endpoint("GET", "/api/v1/projects", "viewer", "any"),
    Endpoint("POST", "/api/v1/projects", "admin", "all"),
    Endpoint("DELETE", "/api/v1/projects/{name}", "admin", "all"),
    Endpoint("GET", "/api/v1/tokens", "admin", "all"),
    Endpoint("POST", "/api/v1/tokens", "admin", "all", (201,)),
    Endpoint("POST", "/api/v1/tokens/{token_id}/revoke", "admin", "all"),
    Endpoint("POST", "/api/v1/tokens/{token_id}/rotate", "admin", "all", (201,)),
    Endpoint("GET", "/api/v1/token", "viewer", "any"),
    Endpoint("GET", "/api/v1/audit", "admin", "all"),
)


@pytest.fixture(scope="module")
def matrix_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from conftest import FIXTURE_PROJECT, copy_project, daemon_with_testproj

    # Hundreds of refused credentials come from this one client: no slowing down.
    with daemon_with_testproj(
        tmp_path_factory, "matrix", "auth_failure_limit = 0\nstop_grace = 0"
    ) as running:
        other = copy_project(FIXTURE_PROJECT, tmp_path_factory.mktemp("other") / "o")
        toml = other / "uniflow.toml"
        toml.write_text(toml.read_text().replace('"testproj"', '"otherproj"'))
        with running.client() as client:
            client.register_project("otherproj", str(other))
        yield running


@pytest.fixture(scope="module")
def credentials(matrix_daemon: Any) -> dict[str, str | None]:
    store = matrix_daemon.store()

    def issue(role: str, **options: Any) -> str:
        return tokens.issue(store, f"m-{uuid.uuid4().hex[:8]}", role, **options)[1]

    revoked = tokens.issue(store, "m-revoked", "admin")
    tokens.revoke(store, revoked[0].token_id)
    good = tokens.new_secret()
    spoiled = good[:-1] + ("0" if good[-1] != "0" else "1")
    return {
        "none": None,
        "malformed": "not-a-token",
        "checksum": spoiled,
        "unknown": tokens.new_secret(),
        "revoked": revoked[1],
        "expired": issue("admin", expires_at=datetime.now(UTC) - timedelta(hours=1)),
        "viewer": issue("viewer"),
        "operator": issue("operator"),
        "admin": issue("admin"),
        "other-project": issue("admin", project="otherproj"),
    }


def _request(
    endpoint: Endpoint, client: httpx.Client, admin: httpx.Client, daemon: Any
) -> httpx.Response:
    """Send ``endpoint`` with ``client``, on fresh things it may change."""
    values: dict[str, str] = {}
    body: dict[str, Any] | None = None
    if "{run_id}" in endpoint.path:
        values["run_id"] = trigger(admin, "sleepy", seconds=30)
    if "{token_id}" in endpoint.path:
        made = admin.post(
            "/api/v1/tokens",
            json={"name": f"t-{uuid.uuid4().hex[:8]}", "role": "viewer"},
        )
        values["token_id"] = made.json()["token_id"]
    if "{name}" in endpoint.path:
        values["name"] = name = f"p{uuid.uuid4().hex[:8]}"
        folder = daemon.home / "projects" / name
        (folder / "pipelines").mkdir(parents=True)
        (folder / "uniflow.toml").write_text(f'[project]\nname = "{name}"\n')
        made = admin.post("/api/v1/projects", json={"name": name, "path": str(folder)})
        assert made.status_code == 201, made.text
    match (endpoint.method, endpoint.path):
        case ("POST", "/api/v1/runs"):
            body = {"pipeline_name": "hello", "project": "testproj"}
        case ("POST", "/api/v1/runs/prune"):
            body = {"older_than": "3650d"}
        case ("POST", "/api/v1/projects"):
            body = {"name": "testproj", "path": daemon.store().project_path("testproj")}
        case ("POST", "/api/v1/tokens"):
            body = {"name": f"n-{uuid.uuid4().hex[:8]}", "role": "viewer"}
    params = {"project": "testproj"} if endpoint.path == "/api/v1/pipelines" else None
    url = endpoint.path.format(**values)
    return client.request(endpoint.method, url, json=body, params=params)


def _expected(endpoint: Endpoint, who: str) -> tuple[int, ...]:
    if who in REFUSED:
        return (401,)
    if who == "other-project":
        return (
            endpoint.ok
            if endpoint.scoped == "any"
            else ((403,) if endpoint.scoped in ("all", "403") else (404,))
        )
    return endpoint.ok if ROLES.index(who) >= ROLES.index(endpoint.role) else (403,)


@pytest.mark.parametrize("who", [*REFUSED, *ROLES, "other-project"])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_endpoint_answers_each_credential(
    endpoint: Endpoint,
    who: str,
    matrix_daemon: Any,
    credentials: dict[str, str | None],
    problem: Callable[..., dict[str, Any]],
) -> None:
    secret = credentials[who]
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    with (
        httpx.Client(base_url=matrix_daemon.url, headers=headers, timeout=30) as client,
        httpx.Client(
            base_url=matrix_daemon.url,
            headers={"Authorization": f"Bearer {matrix_daemon.admin}"},
            timeout=30,
        ) as admin,
    ):
        answer = _request(endpoint, client, admin, matrix_daemon)

    expected = _expected(endpoint, who)
    assert answer.status_code in expected, answer.text
    if answer.status_code >= 400:
        body = problem(answer, answer.status_code)
        if who in REFUSED:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            word = {"revoked": "revoked", "expired": "expired", "checksum": "checksum"}
            assert word.get(who, "") in body["detail"]
    if secret:
        assert secret not in answer.text


def test_table_lists_every_operation(matrix_daemon: Any) -> None:
    spec = httpx.get(f"{matrix_daemon.url}/openapi.json", timeout=30).json()
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        if path.startswith("/api/")
        for method in item
    }

    assert operations == {(e.method, e.path) for e in ENDPOINTS}


def test_scoped_token_lists_only_its_project(
    matrix_daemon: Any, credentials: dict[str, str | None]
) -> None:
    with httpx.Client(
        base_url=matrix_daemon.url,
        headers={"Authorization": f"Bearer {matrix_daemon.admin}"},
        timeout=30,
    ) as admin:
        trigger(admin, "hello")
        mine = admin.post(
            "/api/v1/runs", json={"pipeline_name": "hello", "project": "otherproj"}
        )
    scoped = {"Authorization": f"Bearer {credentials['other-project']}"}
    with httpx.Client(base_url=matrix_daemon.url, headers=scoped, timeout=30) as c:
        runs = c.get("/api/v1/runs", params={"limit": 1000}).json()["items"]
        projects = c.get("/api/v1/projects").json()["items"]
        pipelines = c.get("/api/v1/pipelines").json()["items"]
        refused = c.get("/api/v1/runs", params={"project": "testproj"})

    assert mine.json()["run_id"] in {r["run_id"] for r in runs}
    assert {r["project"] for r in runs} == {"otherproj"}
    assert [p["name"] for p in projects] == ["otherproj"]
    assert {p["project"] for p in pipelines} == {"otherproj"}
    assert refused.status_code == 403
