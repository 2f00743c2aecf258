"""What the daemon's SQLite store keeps of a token: its hash, never its secret."""

from __future__ import annotations

import uuid

from uniflow.tokens import hash_secret


def database_bytes(home) -> bytes:
    files = [home / "uniflow.db", home / "uniflow.db-wal", home / "uniflow.db-shm"]
    return b"".join(f.read_bytes() for f in files if f.exists())


def test_store_keeps_hashes_not_secrets(daemon, admin, operator_secret):
    made = admin.post(
        "/api/v1/tokens",
        json={"name": f"stored-{uuid.uuid4().hex[:8]}", "role": "admin"},
    ).json()
    secrets = [made["secret"], daemon.admin, operator_secret]
    assert admin.get("/api/v1/tokens").status_code == 200

    stored = database_bytes(daemon.home)

    for secret in secrets:
        assert secret.encode() not in stored
        assert secret.removeprefix("uf_").encode() not in stored
        assert hash_secret(secret).encode() in stored


def test_revoked_secret_stays_unstored(daemon, admin):
    made = admin.post(
        "/api/v1/tokens",
        json={"name": f"gone-{uuid.uuid4().hex[:8]}", "role": "viewer"},
    ).json()
    admin.post(f"/api/v1/tokens/{made['token_id']}/revoke")

    stored = database_bytes(daemon.home)

    assert made["secret"].encode() not in stored
    assert hash_secret(made["secret"]).encode() in stored


def test_run_in_store_matches_the_api(daemon, operator, wait_run):
    queued = operator.post(
        "/api/v1/runs",
        json={"pipeline_name": "hello", "project": "testproj"},
    ).json()
    shown = wait_run(queued["run_id"])

    store = daemon.store()
    try:
        stored = store.run(queued["run_id"])
    finally:
        store.close()

    assert stored is not None
    assert stored.to_dict() == shown


def test_daemon_log_holds_no_secret(daemon, admin, api, problem):
    made = admin.post(
        "/api/v1/tokens",
        json={"name": f"logged-{uuid.uuid4().hex[:8]}", "role": "viewer"},
    ).json()
    admin.post(f"/api/v1/tokens/{made['token_id']}/revoke")
    problem(api(made["secret"]).get("/api/v1/runs"), 401)  # a failure is logged

    log = (daemon.home / "daemon.log").read_text(encoding="utf-8", errors="replace")

    assert made["token_id"] in log
    for secret in (made["secret"], daemon.admin):
        assert secret not in log
        assert hash_secret(secret) not in log
