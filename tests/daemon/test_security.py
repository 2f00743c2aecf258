"""Web pages cannot use the daemon, guessing is slowed down, and every sensitive
action lands in the audit log without a secret."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from helpers import trigger

from uniflow import tokens


def test_forged_host_is_refused(daemon, operator, problem):
    body = problem(operator.get("/api/v1/runs", headers={"Host": "evil.example"}), 400)

    assert "allowed_hosts" in body["detail"]
    assert problem(operator.get("/healthz", headers={"Host": "evil.example"}), 400)


def test_rebinding_name_cannot_read_runs(daemon, operator, problem):
    # A page of attacker.example whose name now resolves to 127.0.0.1 sends its
    # own name as Host; its request must not be answered, token or not.
    port = urlsplit(daemon.url).port
    answer = operator.get("/api/v1/runs", headers={"Host": f"attacker.example:{port}"})

    problem(answer, 400)
    assert "items" not in answer.text


def test_request_line_naming_another_host_is_refused(daemon):
    port = urlsplit(daemon.url).port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(
            b"GET http://evil.example/healthz HTTP/1.1\r\nHost: localhost\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"full URL" in answer


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_loopback_names_are_served(daemon, operator, host):
    port = urlsplit(daemon.url).port

    answer = operator.get("/api/v1/status", headers={"Host": f"{host}:{port}"})

    assert answer.status_code == 200, answer.text


def test_cross_origin_preflight_gets_no_cors(api, problem):
    answer = api().options(
        "/api/v1/runs",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    problem(answer, 403)
    assert not [h for h in answer.headers if h.lower().startswith("access-control")]


@pytest.mark.parametrize("path", ["/docs/swagger", "/openapi.json", "/api/v1/runs"])
def test_no_other_site_may_frame_a_page(api, path):
    answer = api().get(path)

    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_cross_origin_post_is_refused(daemon, operator, problem):
    answer = operator.post(
        "/api/v1/runs",
        json={"pipeline_name": "hello", "project": "testproj"},
        headers={"Origin": "null"},
    )

    problem(answer, 403)
    assert "origin" in answer.json()["detail"]


def test_same_origin_docs_page_may_post(daemon, operator):
    answer = operator.post(
        "/api/v1/runs",
        json={"pipeline_name": "hello", "project": "testproj"},
        headers={"Origin": daemon.url},
    )

    assert answer.status_code == 201, answer.text
    assert "access-control-allow-origin" not in answer.headers


def test_failed_guesses_are_slowed_down(testproj_daemon, problem):
    running = testproj_daemon("auth_failure_limit = 3")
    with httpx.Client(base_url=running.url, timeout=30) as client:
        for _ in range(5):  # no credential at all is no guess: never counted
            assert client.get("/api/v1/runs").status_code == 401
        bad = {"Authorization": f"Bearer {tokens.new_secret()}"}
        statuses = [
            client.get("/api/v1/runs", headers=bad).status_code for _ in range(3)
        ]
        slowed = client.get("/api/v1/runs", headers=bad)
        another_guess = client.get(
            "/api/v1/runs", headers={"Authorization": f"Bearer {tokens.new_secret()}"}
        )
        # Another program of the same address with a valid token goes on.
        valid = client.get(
            "/api/v1/runs", headers={"Authorization": f"Bearer {running.admin}"}
        )
        # A request without a token is still no guess: told what to send.
        bare = client.get("/api/v1/runs")

    assert statuses == [401, 401, 401]
    body = problem(slowed, 429)
    assert 1 <= int(slowed.headers["Retry-After"]) <= 60
    assert "failed authentications" in body["detail"]
    problem(another_guess, 429)
    assert valid.status_code == 200, valid.text
    assert "needs a token" in problem(bare, 401)["detail"]


def test_expired_token_gets_401_saying_when(daemon, api, problem):
    past = datetime.now(UTC) - timedelta(minutes=1)
    token, secret = tokens.issue(
        daemon.store(), "expired-ci", "viewer", expires_at=past
    )

    body = problem(api(secret).get("/api/v1/runs"), 401)

    assert f"expired at {token.expires_at}" in body["detail"]


def test_create_with_expiry_and_project(admin):
    answer = admin.post(
        "/api/v1/tokens",
        json={
            "name": "scoped-ci",
            "role": "operator",
            "project": "testproj",
            "expires_in": "12h",
        },
    )

    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["project"] == "testproj"
    expires = datetime.fromisoformat(made["expires_at"].replace("Z", "+00:00"))
    created = datetime.fromisoformat(made["created_at"].replace("Z", "+00:00"))
    assert expires - created == timedelta(hours=12)
    assert answer.headers["Cache-Control"] == "no-store"


def test_default_expiry_is_90_days(admin):
    made = admin.post("/api/v1/tokens", json={"name": "plain", "role": "viewer"}).json()

    expires = datetime.fromisoformat(made["expires_at"].replace("Z", "+00:00"))
    created = datetime.fromisoformat(made["created_at"].replace("Z", "+00:00"))
    assert expires - created == timedelta(days=90)


@pytest.mark.parametrize(
    "piece",
    [
        lambda s: s,
        lambda s: f"m-{s[3:]}",  # without its uf_
        lambda s: f"ci-{s[:30]}",  # cut short
        lambda s: s[:20],
    ],
    ids=["whole", "without-prefix", "cut-to-30", "cut-to-20"],
)
def test_token_name_holding_a_secret_gets_422_unquoted(admin, problem, piece):
    secret = piece(tokens.new_secret())

    answer = admin.post("/api/v1/tokens", json={"name": secret, "role": "viewer"})

    body = problem(answer, 422)
    assert body["errors"][0]["field"] == "name"
    assert "holds a token's secret" in body["detail"]
    assert secret not in answer.text
    listed = admin.get("/api/v1/tokens").text + admin.get("/api/v1/audit").text
    assert secret not in listed


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"expires_in": "soon"}, "expires_in"),
        ({"expires_in": "0d"}, "expires_in"),
        ({"expires_at": "2001-01-01"}, "expires_at"),
        ({"expires_at": "next week"}, "expires_at"),
        ({"expires_in": "1d", "no_expiry": True}, "expires_in"),
        ({"expires_at": "2030-01-01", "no_expiry": True}, "expires_at"),
        ({"project": "nope"}, "project"),
        ({"no_expiry": "yes"}, "no_expiry"),
        ({"no_expiry": 1}, "no_expiry"),
    ],
)
def test_bad_token_options_get_422(admin, problem, extra, field):
    answer = admin.post(
        "/api/v1/tokens", json={"name": "bad-options", "role": "viewer", **extra}
    )

    body = problem(answer, 422)
    assert body["errors"][0]["field"] == field
    names = [t["name"] for t in admin.get("/api/v1/tokens").json()["items"]]
    assert "bad-options" not in names


def test_max_lifetime_refuses_no_expiry(tmp_path_factory, problem):
    from conftest import start_daemon

    home = tmp_path_factory.mktemp("maxlife-home")
    (home / "config.toml").write_text('[tokens]\nmax_lifetime = "7d"\n')
    running = start_daemon(home)
    try:
        admin = running.token("admin", "max-admin")
        with httpx.Client(
            base_url=running.url, headers={"Authorization": f"Bearer {admin}"}
        ) as client:
            never = client.post(
                "/api/v1/tokens",
                json={"name": "n", "role": "viewer", "no_expiry": True},
            )
            long = client.post(
                "/api/v1/tokens",
                json={"name": "n", "role": "viewer", "expires_in": "8d"},
            )
            default = client.post(
                "/api/v1/tokens", json={"name": "n", "role": "viewer"}
            )
    finally:
        running.stop()

    assert "max_lifetime" in problem(never, 422)["detail"]
    assert "longer than the 7 days" in problem(long, 422)["detail"]
    # A cap under the 90 days of the default becomes the default, so that a
    # token made without a lifetime (the CLI's own, say) is not refused.
    assert default.status_code == 201, default.text
    made = default.json()
    lifetime = datetime.fromisoformat(made["expires_at"][:-1]) - datetime.fromisoformat(
        made["created_at"][:-1]
    )
    assert lifetime == timedelta(days=7)


def test_token_rotates_itself_twice(daemon, api, admin):
    made = admin.post("/api/v1/tokens", json={"name": "self-rot", "role": "operator"})
    first = made.json()

    second = api(first["secret"]).post(f"/api/v1/tokens/{first['token_id']}/rotate")
    assert second.status_code == 201, second.text
    third = api(second.json()["secret"]).post(
        f"/api/v1/tokens/{second.json()['token_id']}/rotate", json={"grace": "1h"}
    )
    assert third.status_code == 201, third.text

    latest = api(third.json()["secret"]).get("/api/v1/token")
    assert latest.json()["token_id"] == third.json()["token_id"]
    assert api(second.json()["secret"]).get("/api/v1/token").status_code == 200
    assert api(first["secret"]).get("/api/v1/token").status_code == 401
    assert latest.json()["name"] == "self-rot"


def test_grace_cut_at_expiry_is_told_as_it_is(admin):
    made = admin.post(
        "/api/v1/tokens",
        json={"name": "short-lived", "role": "viewer", "expires_in": "10m"},
    ).json()

    rotated = admin.post(
        f"/api/v1/tokens/{made['token_id']}/rotate", json={"grace": "1h"}
    ).json()
    quick = admin.post(f"/api/v1/tokens/{rotated['token_id']}/rotate").json()

    # The old token stops at its expiry, ten minutes away, not in an hour.
    assert rotated["old_revoked_at"] == made["expires_at"]
    assert quick["old_revoked_at"] <= quick["created_at"]
    events = admin.get("/api/v1/audit", params={"action": "token.rotate"}).json()
    detail = next(
        e["detail"] for e in events["items"] if e["target"] == made["token_id"]
    )
    assert detail == (
        f"replaced by {rotated['token_id']}; the old one works until "
        f"{made['expires_at']}"
    )


def test_revoking_a_successor_audits_the_grace_it_ends(admin, api):
    made = admin.post("/api/v1/tokens", json={"name": "chain", "role": "viewer"})
    first = made.json()
    second = admin.post(
        f"/api/v1/tokens/{first['token_id']}/rotate", json={"grace": "1h"}
    ).json()

    admin.post(f"/api/v1/tokens/{second['token_id']}/revoke")

    assert api(first["secret"]).get("/api/v1/token").status_code == 401
    events = admin.get("/api/v1/audit", params={"action": "token.revoke"}).json()
    details = {e["target"]: e["detail"] for e in events["items"][:2]}
    assert details == {
        second["token_id"]: None,
        first["token_id"]: f"in its grace, with its successor {second['token_id']}",
    }


def test_operator_cannot_rotate_another(daemon, operator, admin, problem):
    other = admin.post("/api/v1/tokens", json={"name": "victim", "role": "admin"})

    answer = operator.post(f"/api/v1/tokens/{other.json()['token_id']}/rotate")

    assert "only itself" in problem(answer, 403)["detail"]


def test_audit_records_actions_without_secrets(daemon, api, admin):
    made = admin.post("/api/v1/tokens", json={"name": "audited", "role": "operator"})
    token = made.json()
    run_id = trigger(api(token["secret"]), "sleepy", seconds=30)
    api(token["secret"]).post(f"/api/v1/runs/{run_id}/cancel")
    rotated = admin.post(f"/api/v1/tokens/{token['token_id']}/rotate").json()
    api(token["secret"]).get("/api/v1/runs")  # now revoked: a failure
    admin.post(f"/api/v1/tokens/{rotated['token_id']}/revoke")

    answer = admin.get("/api/v1/audit", params={"limit": 200})
    events = answer.json()["items"]
    mine = [
        e["action"]
        for e in events
        if token["token_id"] in (e["token_id"], e["target"])
        or rotated["token_id"] in (e["token_id"], e["target"])
    ]

    assert mine[::-1] == [
        "token.create",
        "run.trigger",
        "run.cancel",
        "token.rotate",
        "auth.fail",
        "token.revoke",
    ]
    failure = next(
        e
        for e in events
        if e["action"] == "auth.fail" and e["token_id"] == token["token_id"]
    )
    assert failure["detail"] == "revoked" and failure["client"] == "127.0.0.1"
    for secret in (token["secret"], rotated["secret"], daemon.admin):
        assert secret not in answer.text
        assert secret not in (daemon.home / "daemon.log").read_text(errors="replace")


def test_audit_filters_by_action(admin, problem):
    answer = admin.get("/api/v1/audit", params={"action": "token.create"})

    assert {e["action"] for e in answer.json()["items"]} == {"token.create"}
    problem(admin.get("/api/v1/audit", params={"action": "nothing"}), 422)


def test_last_use_records_the_client(daemon, api, admin):
    made = admin.post("/api/v1/tokens", json={"name": "used", "role": "viewer"}).json()
    api(made["secret"]).get("/api/v1/runs")

    found = next(
        t
        for t in admin.get("/api/v1/tokens", params={"limit": 1000}).json()["items"]
        if t["token_id"] == made["token_id"]
    )

    assert found["last_used_at"] and found["last_used_from"] == "127.0.0.1"


def test_last_use_is_written_at_most_once_a_minute(api, admin):
    made = admin.post("/api/v1/tokens", json={"name": "busy", "role": "viewer"}).json()
    client = api(made["secret"])
    first = client.get("/api/v1/token").json()["last_used_at"]

    # The token just recorded its use, so the next ones within the minute are
    # only reads: the same moment comes back.
    again = [client.get("/api/v1/token").json()["last_used_at"] for _ in range(3)]

    assert first and again == [first] * 3


def test_secret_given_as_an_id_is_never_quoted_back(daemon, api, admin, problem):
    secret = daemon.token("viewer")
    guessed = tokens.new_secret()

    run_body = problem(admin.get(f"/api/v1/runs/{secret}"), 404)
    token_body = problem(admin.post(f"/api/v1/tokens/{secret}/revoke"), 404)
    # A failed authentication records the path it came for, masked.
    forged = f"/api/v1/runs/{secret}%0aFAKE%1b[31m"
    problem(api(guessed).get(forged), 401)
    events = admin.get("/api/v1/audit", params={"action": "auth.fail"}).json()

    for body in (run_body, token_body):
        assert secret not in body["detail"] and secret[3:15] not in body["detail"]
    targets = [event["target"] or "" for event in events["items"]]
    assert any("a secret, not shown" in target for target in targets), targets
    assert not [t for t in targets if secret[3:15] in t or "\n" in t or "\x1b" in t]


def test_secret_without_its_prefix_is_never_quoted_back(daemon, admin, problem):
    body = daemon.token("viewer")[3:]  # as if cut when pasted

    answers = [
        admin.get(f"/api/v1/runs/run_{body}"),
        admin.get("/api/v1/pipelines", params={"project": body}),
        admin.post("/api/v1/runs", json={"pipeline_name": body}),
    ]

    for answer in answers:
        assert answer.status_code in (404, 422), answer.text
        assert body not in answer.text
