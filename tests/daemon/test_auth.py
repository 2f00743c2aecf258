"""The one bearer-token check in front of every /api/v1 request, and roles."""

from __future__ import annotations

import uuid

import httpx


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_missing_header_gets_401_bearer(api, problem):
    answer = api().get("/api/v1/runs")

    body = problem(answer, 401)
    # RFC 6750: a request without credentials gets the challenge, no error code.
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="uniflow"'
    assert "Bearer" in body["detail"]


def test_wrong_token_gets_401(api, problem):
    answer = api("uf_" + "x" * 43).get("/api/v1/runs")

    problem(answer, 401)
    assert answer.headers["WWW-Authenticate"] == (
        'Bearer realm="uniflow", error="invalid_token"'
    )


def test_tab_after_bearer_is_accepted(daemon, viewer_secret):
    answer = httpx.get(
        f"{daemon.url}/api/v1/runs",
        headers={"Authorization": f"Bearer\t{viewer_secret}"},
    )

    assert answer.status_code == 200, answer.text


def test_other_scheme_gets_401(daemon, problem):
    answer = httpx.get(
        f"{daemon.url}/api/v1/runs",
        headers={"Authorization": f"Basic {daemon.admin}"},
    )

    problem(answer, 401)


def test_lowercase_bearer_is_accepted(daemon, viewer_secret):
    answer = httpx.get(
        f"{daemon.url}/api/v1/runs",
        headers={"Authorization": f"bearer {viewer_secret}"},
    )

    assert answer.status_code == 200, answer.text


def test_revoked_token_fails_at_once(admin, api, problem):
    created = admin.post(
        "/api/v1/tokens", json={"name": unique("doomed"), "role": "viewer"}
    ).json()
    doomed = api(created["secret"])
    assert doomed.get("/api/v1/runs").status_code == 200

    revoked = admin.post(f"/api/v1/tokens/{created['token_id']}/revoke")
    answer = doomed.get("/api/v1/runs")

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"
    assert revoked.json()["revoked_at"].endswith("Z")
    problem(answer, 401)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_viewer_cannot_trigger_a_run(api, viewer_secret, admin, problem):
    def newest() -> list[str]:
        runs = admin.get("/api/v1/runs", params={"limit": 1}).json()["items"]
        return [r["run_id"] for r in runs]

    before = newest()

    answer = api(viewer_secret).post(
        "/api/v1/runs", json={"pipeline_name": "hello", "project": "testproj"}
    )

    body = problem(answer, 403)
    assert "viewer" in body["detail"] and "operator" in body["detail"]
    assert newest() == before


def test_viewer_can_read_runs(api, viewer_secret, operator):
    run = operator.post(
        "/api/v1/runs", json={"pipeline_name": "hello", "project": "testproj"}
    ).json()
    viewer = api(viewer_secret)

    listed = viewer.get("/api/v1/runs")
    shown = viewer.get(f"/api/v1/runs/{run['run_id']}")

    assert listed.status_code == 200
    assert run["run_id"] in [r["run_id"] for r in listed.json()["items"]]
    assert shown.status_code == 200
    assert shown.json()["run_id"] == run["run_id"]


def test_viewer_cannot_list_tokens(api, viewer_secret, problem):
    problem(api(viewer_secret).get("/api/v1/tokens"), 403)


def test_operator_cannot_create_tokens(operator, admin, problem):
    name = unique("sneaky")

    answer = operator.post("/api/v1/tokens", json={"name": name, "role": "admin"})

    problem(answer, 403)
    names = [t["name"] for t in admin.get("/api/v1/tokens").json()["items"]]
    assert name not in names


def test_operator_cannot_revoke_tokens(operator, admin, problem):
    created = admin.post(
        "/api/v1/tokens", json={"name": unique("kept"), "role": "viewer"}
    ).json()

    answer = operator.post(f"/api/v1/tokens/{created['token_id']}/revoke")

    problem(answer, 403)
    [token] = [
        t
        for t in admin.get("/api/v1/tokens").json()["items"]
        if t["token_id"] == created["token_id"]
    ]
    assert token["state"] == "active"


def test_admin_can_create_tokens(admin, api):
    answer = admin.post(
        "/api/v1/tokens", json={"name": unique("made"), "role": "operator"}
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["role"] == "operator"
    assert api(answer.json()["secret"]).get("/api/v1/runs").status_code == 200


def test_health_needs_no_token(api):
    answer = api().get("/healthz")

    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_token_in_query_is_not_accepted(api, daemon, problem):
    answer = api().get("/api/v1/runs", params={"token": daemon.admin})

    problem(answer, 401)
