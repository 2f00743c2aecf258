"""``POST /api/v1/runs/prune``: old ended runs go, with their folders."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import daemon_with_testproj
from helpers import trigger, wait_until

from uniflow.runs import timestamp

OLD = timestamp(datetime.now(UTC) - timedelta(days=40))
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory):
    """A daemon of this module's own that runs one run at a time."""
    settings = "max_concurrent_runs = 1\ncancel_grace = 1"
    with daemon_with_testproj(tmp_path_factory, "prune", settings) as running:
        yield running


@pytest.fixture
def admin(one_slot):
    with raw(one_slot, one_slot.admin) as client:
        yield client


def raw(running, secret=None):
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return httpx.Client(base_url=running.url, headers=headers, timeout=30)


def finish(running, run_id):
    with running.client() as client:
        return client.wait_for_run(run_id, timeout=60, interval=0.05)


def age(running, run_id, finished_at=OLD):
    """Make a run look as if it ended at ``finished_at``, whatever its state."""
    with running.store()._transaction() as db:
        db.execute(
            "UPDATE runs SET finished_at = ? WHERE run_id = ?", (finished_at, run_id)
        )


def prune(client, older_than="30d"):
    return client.post("/api/v1/runs/prune", json={"older_than": older_than})


def count(running, table, run_id):
    query = f"SELECT COUNT(*) FROM {table} WHERE run_id = ?"
    return running.store()._db.execute(query, (run_id,)).fetchone()[0]


def test_prune_deletes_old_ended_runs_only(one_slot, admin):
    folders = one_slot.home / "runs"
    key = str(uuid.uuid4())
    keyed = admin.post(
        "/api/v1/runs",
        json={"pipeline_name": "hello", "project": "testproj"},
        headers={"Idempotency-Key": key},
    ).json()["run_id"]
    ended = {
        "success": trigger(admin, "hello"),
        "failed": trigger(admin, "fails"),
        "keyed": keyed,
    }
    recent = trigger(admin, "hello")
    for run_id in [*ended.values(), recent]:
        finish(one_slot, run_id)
    busy = trigger(admin, "holds_child")
    wait_until(lambda: (folders / busy / "child.pid").exists(), what="busy to start")
    queued = trigger(admin, "hello")
    ended["cancelled"] = trigger(admin, "hello")
    admin.post(f"/api/v1/runs/{ended['cancelled']}/cancel").raise_for_status()
    for run_id in [*ended.values(), busy, queued]:
        age(one_slot, run_id)
    assert all(count(one_slot, "steps", ended[s]) for s in ("success", "keyed"))

    answer = prune(admin)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["deleted"] == len(ended) == 4
    assert STAMP.fullmatch(body["finished_before"])
    expected = datetime.now(UTC) - timedelta(days=30)
    moment = datetime.fromisoformat(body["finished_before"].replace("Z", "+00:00"))
    assert abs(moment - expected) < timedelta(minutes=1)
    for state, run_id in ended.items():
        assert admin.get(f"/api/v1/runs/{run_id}").status_code == 404, state
        assert not (folders / run_id).exists(), state
        assert count(one_slot, "steps", run_id) == 0, state
        assert count(one_slot, "idempotency_keys", run_id) == 0, state
    assert admin.get(f"/api/v1/runs/{recent}").json()["status"] == "success"
    assert (folders / recent / "output.log").exists()
    assert admin.get(f"/api/v1/runs/{busy}").json()["status"] == "running"
    assert (folders / busy).is_dir()
    assert admin.get(f"/api/v1/runs/{queued}").json()["status"] == "queued"

    for run_id in (queued, busy):
        admin.post(f"/api/v1/runs/{run_id}/cancel")
    assert finish(one_slot, busy)["status"] == "cancelled"


def test_prune_keeps_runs_that_ended_after_the_moment(one_slot, admin):
    run_id = trigger(admin, "hello")
    finish(one_slot, run_id)
    age(one_slot, run_id, timestamp(datetime.now(UTC) - timedelta(days=29)))

    answer = prune(admin)

    assert answer.json()["deleted"] == 0
    assert admin.get(f"/api/v1/runs/{run_id}").status_code == 200


def test_prune_with_nothing_to_delete_says_zero(admin):
    answer = prune(admin, "36500d")

    assert answer.status_code == 200, answer.text
    assert answer.json()["deleted"] == 0


def test_folder_that_cannot_go_is_logged(one_slot, admin, tmp_path):
    run_id = trigger(admin, "hello")
    finish(one_slot, run_id)
    age(one_slot, run_id)
    folder = one_slot.home / "runs" / run_id
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)
    # A symlink in place of the folder: rmtree refuses it, and never follows it.
    folder.symlink_to(elsewhere, target_is_directory=True)

    answer = prune(admin)

    assert answer.status_code == 200, answer.text
    assert answer.json()["deleted"] == 1
    assert admin.get(f"/api/v1/runs/{run_id}").status_code == 404
    assert (elsewhere / "output.log").exists()
    log = (one_slot.home / "daemon.log").read_text()
    assert f"The folder of run {run_id} could not be removed" in log


@pytest.mark.parametrize(
    ("role", "status"), [("viewer", 403), ("operator", 403), (None, 401)]
)
def test_prune_needs_admin(one_slot, admin, problem, role, status):
    run_id = trigger(admin, "hello")
    finish(one_slot, run_id)
    age(one_slot, run_id)

    with raw(one_slot, one_slot.token(role) if role else None) as client:
        problem(prune(client), status)

    assert admin.get(f"/api/v1/runs/{run_id}").status_code == 200
    prune(admin)  # so that the next test starts with nothing old


@pytest.mark.parametrize(
    ("older_than", "says"),
    [
        ("", "'' is not a duration"),
        ("   ", "'   ' is not a duration"),
        ("30", "'30' is not a duration"),
        ("30x", "'30x' is not a duration"),
        ("30 days", "'30 days' is not a duration"),
        ("-30d", "'-30d' is not a duration"),
        ("1.5h", "'1.5h' is not a duration"),
        ("0d", "'0d' is zero"),
        ("0h0m", "'0h0m' is zero"),
        ("36526d", "'36526d' is more than 100 years"),
        ("9" * 60 + "s", "is more than 100 years"),
    ],
)
def test_bad_duration_is_422(admin, problem, older_than, says):
    body = problem(prune(admin, older_than), 422)

    assert says in body["detail"]
    assert "'30d'" in body["detail"] and "'1h30m'" in body["detail"]
    (field,) = body["errors"]
    assert field["field"] == "older_than" and field["location"] == "body"
    assert says in field["message"]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({}, id="no-older-than"),
        pytest.param({"older_than": 30}, id="number"),
        pytest.param({"older_than": None}, id="null"),
        pytest.param({"older_than": "30d", "status": "failed"}, id="unknown-member"),
        pytest.param({"older_than": "x" * 101}, id="too-long"),
        pytest.param([], id="not-an-object"),
    ],
)
def test_bad_body_is_422(admin, problem, payload):
    body = problem(admin.post("/api/v1/runs/prune", json=payload), 422)

    assert body["errors"], body


def test_no_body_is_422(admin, problem):
    problem(admin.post("/api/v1/runs/prune"), 422)
