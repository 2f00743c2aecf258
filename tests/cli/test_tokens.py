"""``uniflow token create|list|revoke`` against the CLI-started daemon."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest


def _name(prefix: str) -> str:
    """A token name no other test of the session uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def operator(cli_daemon) -> dict[str, Any]:
    """A fresh operator token, created with ``--output json``."""
    done = cli_daemon.cli(
        "token", "create", "--name", _name("ci"), "--role", "operator", "-o", "json"
    )
    assert done.code == 0, done
    return json.loads(done.out)


def test_create_prints_secret_once(cli_daemon):
    name = _name("ci")

    done = cli_daemon.cli("token", "create", "--name", name, "--role", "operator")

    assert done.code == 0, done
    secret = done.out.strip()
    assert secret and len(done.out.splitlines()) == 1
    assert (done.out + done.err).count(secret) == 1
    assert "will not be shown again" in done.said
    assert f"'{name}'" in done.err
    # What was printed is the token's real secret.
    with cli_daemon.http(secret) as http:
        assert http.get("/api/v1/runs").status_code == 200


def test_create_json_has_id_role_secret(cli_daemon, operator):
    assert operator["token_id"].startswith("tok_")
    assert operator["name"].startswith("ci-")
    assert operator["role"] == "operator"
    assert operator["created_at"].endswith("Z")
    with cli_daemon.http(operator["secret"]) as http:
        assert http.get("/api/v1/runs").status_code == 200


def test_list_table_never_shows_secrets(cli_daemon, operator):
    done = cli_daemon.cli("token", "list")

    assert done.code == 0, done
    assert operator["secret"] not in done.out + done.err
    assert cli_daemon.cli_secret() not in done.out + done.err
    header = done.out.splitlines()[0].split()
    assert header[:3] == ["ID", "NAME", "ROLE"]
    assert header[-1] == "STATE"
    row = next(line for line in done.out.splitlines() if operator["token_id"] in line)
    assert row.split()[:3] == [operator["token_id"], operator["name"], "operator"]
    assert row.split()[-1] == "active"


def test_list_json_never_shows_secrets(cli_daemon, operator):
    done = cli_daemon.cli("token", "list", "--output", "json")

    assert done.code == 0, done
    assert operator["secret"] not in done.out
    assert cli_daemon.cli_secret() not in done.out
    found = {token["token_id"]: token for token in json.loads(done.out)}
    token = found[operator["token_id"]]
    assert (token["name"], token["role"], token["state"]) == (
        operator["name"],
        "operator",
        "active",
    )
    assert all("secret" not in entry for entry in found.values())


def test_revoke_makes_the_secret_fail(cli_daemon, operator):
    with cli_daemon.http(operator["secret"]) as http:
        assert http.get("/api/v1/runs").status_code == 200

        done = cli_daemon.cli("token", "revoke", "--token-id", operator["token_id"])

        assert done.code == 0, done
        assert operator["token_id"] in done.out
        assert http.get("/api/v1/runs").status_code == 401
    listed = json.loads(cli_daemon.cli("token", "list", "-o", "json").out)
    state = {t["token_id"]: t["state"] for t in listed}
    assert state[operator["token_id"]] == "revoked"


def test_revoke_unknown_token_says_so(cli_daemon):
    done = cli_daemon.cli("token", "revoke", "--token-id", "tok_000000000000")

    assert done.code != 0, done
    assert "tok_000000000000" in done.err
    assert "Traceback" not in done.err


@pytest.mark.parametrize("name", ["", "   "])
def test_create_refuses_an_empty_name(cli_daemon, name):
    done = cli_daemon.cli("token", "create", "--name", name, "--role", "viewer")

    assert done.code == 2, done
    assert "name" in done.err
    assert done.out == ""
    assert "Traceback" not in done.err


def test_create_refuses_a_duplicate_name(cli_daemon, operator):
    done = cli_daemon.cli(
        "token", "create", "--name", operator["name"], "--role", "viewer"
    )

    assert done.code == 2, done
    assert f"'{operator['name']}'" in done.err
    assert done.out == ""
    assert "Traceback" not in done.err


def test_name_is_free_again_after_revoke(cli_daemon, operator):
    cli_daemon.cli("token", "revoke", "--token-id", operator["token_id"])

    done = cli_daemon.cli(
        "token", "create", "--name", operator["name"], "--role", "viewer"
    )

    assert done.code == 0, done


def test_create_refuses_an_unknown_role(cli_daemon):
    done = cli_daemon.cli("token", "create", "--name", _name("x"), "--role", "god")

    assert done.code == 2, done
    assert "god" in done.err
    assert "viewer" in done.err and "operator" in done.err and "admin" in done.err
    assert "Traceback" not in done.err


def test_token_ends_at_its_grace_when_sooner_than_its_expiry():
    from uniflow.cli.render import token_ends

    rotated = {
        "expires_at": "2027-03-04T00:00:00Z",
        "revoked_at": "2026-12-04T18:00:00Z",
    }
    assert token_ends(rotated) == "2026-12-04T18:00:00Z"
    assert token_ends({"expires_at": "2027-03-04T00:00:00Z", "revoked_at": None}) == (
        "2027-03-04T00:00:00Z"
    )
    assert token_ends({"expires_at": None, "revoked_at": None}) is None
