"""Every list shares one envelope: items, limit and an opaque cursor."""

from __future__ import annotations

import base64
import re
import uuid

import httpx
import pytest
from conftest import start_daemon

from uniflow.runs import Run, new_run_id


def add_runs(store, count, pipeline):
    ids = []
    for _ in range(count):
        run = Run(new_run_id(), pipeline, "testproj", {})
        store.add_run(run)
        ids.append(run.run_id)
    return ids


@pytest.fixture(scope="module")
def paged_daemon(tmp_path_factory):
    """A daemon of this module's own; each test lists its own pipeline's runs."""
    running = start_daemon(tmp_path_factory.mktemp("paged-home"))
    try:
        running.admin = running.token("admin")
        yield running
    finally:
        running.stop()


@pytest.fixture
def pipeline():
    """A pipeline name no other test uses."""
    return f"p_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def own_admin(paged_daemon):
    """A raw client of the test's own daemon, with its admin token."""
    with httpx.Client(
        base_url=paged_daemon.url,
        headers={"Authorization": f"Bearer {paged_daemon.admin}"},
        timeout=30,
    ) as client:
        yield client


def walk(client, path, params, on_page=None):
    """Follow a list's cursors; return every item and the number of pages."""
    items, pages, cursor = [], 0, None
    while True:
        page_params = {**params, "cursor": cursor} if cursor else params
        answer = client.get(path, params=page_params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) >= {"items", "limit", "next_cursor"}, body
        items.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        if on_page:
            on_page(pages)


def test_walking_250_runs_sees_each_once(paged_daemon, own_admin, pipeline):
    store = paged_daemon.store()
    old = add_runs(store, 250, pipeline)
    arrived = []

    def more_runs_arrive(page):
        arrived.extend(add_runs(store, 7, pipeline))

    seen, pages = walk(
        own_admin,
        "/api/v1/runs",
        {"limit": 30, "pipeline_name": pipeline},
        more_runs_arrive,
    )

    ids = [r["run_id"] for r in seen]
    assert ids == old[::-1]
    assert pages == 9
    assert len(arrived) == 8 * 7
    assert not set(arrived) & set(ids)


def test_run_list_items_leave_out_steps(paged_daemon, own_admin, pipeline):
    add_runs(paged_daemon.store(), 1, pipeline)

    answer = own_admin.get("/api/v1/runs", params={"pipeline_name": pipeline})
    [item] = answer.json()["items"]

    assert "steps" not in item and "result" not in item
    assert item["status"] == "queued"


def test_default_page_is_50(paged_daemon, own_admin, pipeline):
    add_runs(paged_daemon.store(), 51, pipeline)

    body = own_admin.get("/api/v1/runs", params={"pipeline_name": pipeline}).json()

    assert body["limit"] == 50 and len(body["items"]) == 50
    assert body["next_cursor"]


def test_last_page_has_no_cursor(paged_daemon, own_admin, pipeline):
    add_runs(paged_daemon.store(), 3, pipeline)

    params = {"limit": 3, "pipeline_name": pipeline}
    body = own_admin.get("/api/v1/runs", params=params).json()

    assert len(body["items"]) == 3 and body["next_cursor"] is None


@pytest.mark.parametrize("limit", [0, -1, 1001, 10**20, "ten", ""])
def test_limit_outside_1_to_1000_gets_422(operator, problem, limit):
    body = problem(operator.get("/api/v1/runs", params={"limit": limit}), 422)

    assert [e["field"] for e in body["errors"]] == ["limit"], body
    assert body["errors"][0]["location"] == "query"


def test_limit_1000_is_accepted(operator):
    assert operator.get("/api/v1/runs", params={"limit": 1000}).status_code == 200


def b64(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "!!!",
        b64("[1, 2"),
        b64('"x"'),
        b64('["runs", "abc"]'),
        b64('["runs", 12]'),
        b64('["tokens", "12"]'),
        b64('["runs", "-5"]'),
    ],
)
def test_foreign_cursor_gets_422(operator, problem, cursor):
    answer = operator.get("/api/v1/runs", params={"cursor": cursor})

    body = problem(answer, 422)
    assert body["errors"] == [
        {
            "field": "cursor",
            "location": "query",
            "message": body["errors"][0]["message"],
        }
    ]


def test_cursor_of_another_list_gets_422(paged_daemon, own_admin, problem):
    for _ in range(2):
        paged_daemon.token("viewer")
    cursor = own_admin.get("/api/v1/tokens", params={"limit": 1}).json()["next_cursor"]

    problem(own_admin.get("/api/v1/runs", params={"cursor": cursor}), 422)
    problem(own_admin.get("/api/v1/projects", params={"cursor": cursor}), 422)


def test_tokens_page_like_one_long_list(paged_daemon, own_admin):
    for _ in range(5):
        paged_daemon.token("viewer")

    seen, pages = walk(own_admin, "/api/v1/tokens", {"limit": 2})
    whole = own_admin.get("/api/v1/tokens", params={"limit": 1000}).json()["items"]

    assert [t["token_id"] for t in seen] == [t["token_id"] for t in whole]
    assert len(seen) >= 6 and pages == (len(seen) + 1) // 2
    assert [t["created_at"] for t in seen] == sorted(t["created_at"] for t in seen)


def test_projects_and_pipelines_page(paged_daemon, own_admin, fixture_project):
    own_admin.post(
        "/api/v1/projects", json={"name": "testproj", "path": str(fixture_project)}
    ).raise_for_status()

    pipelines, pages = walk(own_admin, "/api/v1/pipelines", {"limit": 2})
    projects, _ = walk(own_admin, "/api/v1/projects", {"limit": 1})

    names = [p["name"] for p in pipelines]
    assert names == sorted(names) and len(names) == len(set(names)) >= 5
    assert pages == (len(names) + 1) // 2
    assert [p["name"] for p in projects] == ["testproj"]


def test_cursor_is_opaque_text(paged_daemon, own_admin, pipeline):
    add_runs(paged_daemon.store(), 2, pipeline)

    cursor = own_admin.get("/api/v1/runs", params={"limit": 1}).json()["next_cursor"]

    assert isinstance(cursor, str)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor), cursor
