"""Triggering, watching and listing runs over the REST API."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

RUN_FIELDS = {
    "run_id",
    "pipeline_name",
    "project",
    "status",
    "parameters",
    "created_at",
    "started_at",
    "finished_at",
    "exit_code",
    "error",
    "result",
    "steps",
}

# The reference page's curl example's -d text, byte for byte: no "project" member.
CURL_BODY = """{
    "pipeline_name": "training_pipeline",
    "parameters": {"epochs": 50}
  }"""


def trigger(client, pipeline, parameters=None, project="testproj"):
    body = {"pipeline_name": pipeline, "project": project}
    if parameters is not None:
        body["parameters"] = parameters
    answer = client.post("/api/v1/runs", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_trigger_answers_201_queued_run(operator):
    answer = operator.post(
        "/api/v1/runs",
        json={
            "pipeline_name": "hello",
            "project": "testproj",
            "parameters": {"name": "ann"},
        },
    )

    assert answer.status_code == 201, answer.text
    run = answer.json()
    assert RUN_FIELDS <= set(run)
    assert run["status"] == "queued"
    assert run["run_id"].startswith("run_")
    assert run["pipeline_name"] == "hello"
    assert run["project"] == "testproj"
    assert run["parameters"] == {"name": "ann", "times": 1}
    assert run["created_at"].endswith("Z")
    assert run["started_at"] is None
    assert run["finished_at"] is None
    assert run["exit_code"] is None
    assert run["error"] is None
    assert run["steps"] == []
    assert answer.headers["Location"].endswith(f"/api/v1/runs/{run['run_id']}")


def test_location_header_leads_to_run(operator):
    answer = operator.post(
        "/api/v1/runs", json={"pipeline_name": "hello", "project": "testproj"}
    )

    shown = operator.get(answer.headers["Location"])

    assert shown.status_code == 200
    assert shown.json()["run_id"] == answer.json()["run_id"]


def test_run_succeeds_with_each_step(operator, wait_run):
    queued = trigger(operator, "hello", {"name": "bo", "times": 2})

    run = wait_run(queued["run_id"])

    assert run["status"] == "success", run
    assert run["exit_code"] == 0
    assert run["error"] is None
    assert run["started_at"].endswith("Z")
    assert run["finished_at"].endswith("Z")
    assert run["created_at"] <= run["started_at"] <= run["finished_at"]
    assert run["result"] == {"greeting": "hello bo hello bo"}
    assert [s["name"] for s in run["steps"]] == ["greet", "save"]
    for step in run["steps"]:
        assert step["state"] == "success", step
        assert step["started_at"].endswith("Z")
        assert step["finished_at"].endswith("Z")
        assert step["started_at"] <= step["finished_at"]
        assert isinstance(step["duration"], float) and step["duration"] >= 0
        assert step["error"] is None


def test_failing_run_records_its_error(operator, wait_run):
    queued = trigger(operator, "fails")

    run = wait_run(queued["run_id"])

    assert run["status"] == "failed", run
    assert run["exit_code"] not in (None, 0)
    assert run["error"].startswith("ValueError: boom"), run["error"]
    assert run["finished_at"].endswith("Z")
    [step] = run["steps"]
    assert step["name"] == "explode"
    assert step["state"] == "failed"
    assert step["error"] == "ValueError: boom: the step failed on purpose"
    assert step["finished_at"].endswith("Z")


def test_output_log_holds_run_output(operator, wait_run, daemon):
    name = f"log-{uuid.uuid4().hex[:6]}"
    ok = trigger(operator, "hello", {"name": name})
    bad = trigger(operator, "fails")
    wait_run(ok["run_id"])
    wait_run(bad["run_id"])

    ok_log = daemon.home / "runs" / ok["run_id"] / "output.log"
    bad_log = daemon.home / "runs" / bad["run_id"] / "output.log"

    assert f"hello {name}" in ok_log.read_text(encoding="utf-8")
    failed_text = bad_log.read_text(encoding="utf-8")
    assert "about to fail" in failed_text
    assert "ValueError: boom: the step failed on purpose" in failed_text


def test_run_list_is_newest_first(operator, wait_run):
    ids = [trigger(operator, "hello", {"times": n})["run_id"] for n in (1, 2, 3)]

    answer = operator.get("/api/v1/runs", params={"limit": 3})

    assert answer.status_code == 200
    assert [r["run_id"] for r in answer.json()["items"]] == ids[::-1]
    for run_id in ids:
        wait_run(run_id)


def test_run_list_filters_by_pipeline(operator, wait_run):
    mine = trigger(operator, "typed", {"epochs": 1})
    trigger(operator, "hello")

    runs = operator.get("/api/v1/runs", params={"pipeline_name": "typed"}).json()

    assert runs["items"], runs
    assert {r["pipeline_name"] for r in runs["items"]} == {"typed"}
    assert runs["items"][0]["run_id"] == mine["run_id"]
    wait_run(mine["run_id"])


def test_run_list_filters_by_status(operator, wait_run):
    failed = wait_run(trigger(operator, "fails")["run_id"])
    succeeded = wait_run(trigger(operator, "hello")["run_id"])

    only_failed = operator.get("/api/v1/runs", params={"status": "failed"}).json()
    only_ok = operator.get("/api/v1/runs", params={"status": "success"}).json()

    assert {r["status"] for r in only_failed["items"]} == {"failed"}
    assert failed["run_id"] in [r["run_id"] for r in only_failed["items"]]
    assert {r["status"] for r in only_ok["items"]} == {"success"}
    assert succeeded["run_id"] in [r["run_id"] for r in only_ok["items"]]
    assert failed["run_id"] not in [r["run_id"] for r in only_ok["items"]]


def test_run_list_obeys_the_limit(operator, wait_run):
    first = trigger(operator, "hello")
    second = trigger(operator, "hello")

    answer = operator.get("/api/v1/runs", params={"limit": 1})

    assert [r["run_id"] for r in answer.json()["items"]] == [second["run_id"]]
    wait_run(first["run_id"])
    wait_run(second["run_id"])


def test_bad_status_filter_is_refused(operator, problem):
    answer = operator.get("/api/v1/runs", params={"status": "finished"})

    body = problem(answer, 422)
    assert any(e["field"] == "status" for e in body["errors"]), body


def test_twenty_triggers_at_once_succeed(daemon, operator_secret, wait_run):
    count = 20
    barrier = threading.Barrier(count)

    def post(index: int) -> httpx.Response:
        with httpx.Client(
            base_url=daemon.url,
            headers={"Authorization": f"Bearer {operator_secret}"},
            timeout=30,
        ) as client:
            barrier.wait(timeout=30)
            return client.post(
                "/api/v1/runs",
                json={
                    "pipeline_name": "hello",
                    "project": "testproj",
                    "parameters": {"name": f"c{index}"},
                },
            )

    with ThreadPoolExecutor(max_workers=count) as pool:
        answers = list(pool.map(post, range(count)))

    assert [a.status_code for a in answers] == [201] * count, [
        a.text for a in answers if a.status_code != 201
    ]
    ids = [a.json()["run_id"] for a in answers]
    assert len(set(ids)) == count
    finished = [wait_run(run_id, timeout=120) for run_id in ids]
    assert [r["status"] for r in finished] == ["success"] * count
    assert sorted(r["result"]["greeting"] for r in finished) == sorted(
        f"hello c{i}" for i in range(count)
    )


def test_readme_curl_body_trains_model(
    daemon, example_project, operator_secret, wait_run
):
    answer = httpx.post(
        f"{daemon.url}/api/v1/runs",
        content=CURL_BODY.encode(),
        headers={
            "Authorization": f"Bearer {operator_secret}",
            "Content-Type": "application/json",
        },
        timeout=60,
    )

    assert answer.status_code == 201, answer.text
    queued = answer.json()
    assert queued["project"] == "default"
    assert queued["parameters"] == {"learning_rate": 0.01, "epochs": 50, "seed": 0}
    run = wait_run(queued["run_id"], timeout=180)
    assert run["status"] == "success", run
    assert run["exit_code"] == 0
    assert run["result"]["accuracy"] > 0.9
    assert [s["name"] for s in run["steps"]] == ["load", "train", "evaluate"]
    log = (daemon.home / "runs" / run["run_id"] / "output.log").read_text()
    assert "epoch 50/50" in log


@pytest.mark.parametrize(("code", "status"), [(3, "failed"), (0, "success")])
def test_sys_exit_sets_the_exit_code(operator, wait_run, code, status):
    answer = operator.post(
        "/api/v1/runs",
        json={
            "pipeline_name": "exits",
            "project": "testproj",
            "parameters": {"code": code},
        },
    )
    assert answer.status_code == 201, answer.text
    run = wait_run(answer.json()["run_id"])
    assert run["status"] == status
    assert run["exit_code"] == code
    if code:
        assert run["error"] == "the pipeline called sys.exit(3)"
