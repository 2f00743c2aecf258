"""Creating, listing and revoking tokens over the REST API."""

from __future__ import annotations

import uuid

import pytest


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(admin, name, role="viewer"):
    return admin.post("/api/v1/tokens", json={"name": name, "role": role})


def test_create_shows_the_secret_once(admin):
    name = unique("once")

    answer = create(admin, name, "operator")

    assert answer.status_code == 201, answer.text
    token = answer.json()
    assert token["secret"].startswith("uf_") and len(token["secret"]) == 39
    assert token["name"] == name
    assert token["role"] == "operator"
    assert token["state"] == "active"
    assert token["created_at"].endswith("Z")
    assert token["token_id"].startswith("tok_")
    assert answer.headers["Cache-Control"] == "no-store"


def test_token_list_never_has_secrets(admin):
    created = create(admin, unique("listed")).json()

    answer = admin.get("/api/v1/tokens")

    assert answer.status_code == 200
    listed = answer.json()["items"]
    [mine] = [t for t in listed if t["token_id"] == created["token_id"]]
    assert mine["name"] == created["name"]
    assert all("secret" not in t and "secret_hash" not in t for t in listed)
    assert created["secret"] not in answer.text


def test_duplicate_active_name_gets_409(admin, problem):
    name = unique("twice")
    assert create(admin, name).status_code == 201

    body = problem(create(admin, name), 409)

    assert name in body["detail"]
    assert [t["name"] for t in admin.get("/api/v1/tokens").json()["items"]].count(
        name
    ) == 1


def test_revoked_name_can_be_reused(admin):
    first = create(admin, unique("reuse")).json()
    admin.post(f"/api/v1/tokens/{first['token_id']}/revoke")

    again = create(admin, first["name"])

    assert again.status_code == 201, again.text
    assert again.json()["token_id"] != first["token_id"]


def test_empty_token_name_gets_422(admin, problem):
    body = problem(create(admin, ""), 422)

    assert [e["field"] for e in body["errors"]] == ["name"], body


def test_blank_token_name_gets_422(admin, problem):
    body = problem(create(admin, "   "), 422)

    assert "name" in body["detail"]


@pytest.mark.parametrize(
    "name",
    [
        "cli root@build-host",
        "Cli root@build-host",
        "cli  root@build-host",
        "\uff43\uff4c\uff49 root@build-host",  # fullwidth
        "cli\u00a0root@build-host",  # a no-break space
    ],
)
def test_the_clis_own_name_gets_422(admin, problem, name):
    # The CLI revokes older tokens of its own name when it makes a new one; names
    # that only look like it would confuse whoever reads the list.
    body = problem(create(admin, name), 422)

    assert "kept for the CLI's own tokens" in body["detail"]
    assert [e["field"] for e in body["errors"]] == ["name"], body


def test_empty_expiry_date_gets_422(admin, problem):
    answer = admin.post(
        "/api/v1/tokens",
        json={"name": unique("when"), "role": "viewer", "expires_at": ""},
    )

    body = problem(answer, 422)
    assert "is not a date" in body["detail"]
    assert [e["field"] for e in body["errors"]] == ["expires_at"], body


def test_unknown_role_gets_422(admin, problem):
    name = unique("god")

    body = problem(create(admin, name, "superuser"), 422)

    assert [e["field"] for e in body["errors"]] == ["role"], body
    names = [t["name"] for t in admin.get("/api/v1/tokens").json()["items"]]
    assert name not in names


def test_revoking_unknown_token_gets_404(admin, problem):
    body = problem(admin.post("/api/v1/tokens/tok_000000000000/revoke"), 404)

    assert "tok_000000000000" in body["detail"]


def test_revoking_twice_keeps_first_time(admin):
    token = create(admin, unique("again")).json()
    first = admin.post(f"/api/v1/tokens/{token['token_id']}/revoke").json()

    second = admin.post(f"/api/v1/tokens/{token['token_id']}/revoke")

    assert second.status_code == 200
    assert second.json()["revoked_at"] == first["revoked_at"]
