"""Every error answer is one RFC 9457 problem that says what to change."""

from __future__ import annotations

import sqlite3
import uuid

import httpx
import pytest

from uniflow.config import Settings
from uniflow.runs import Run

MAX_BODY = Settings().max_request_bytes


def test_unknown_pipeline_names_others(operator, problem):
    answer = operator.post(
        "/api/v1/runs", json={"pipeline_name": "helo", "project": "testproj"}
    )

    body = problem(answer, 404)
    assert {"fails", "hello", "sleepy", "typed"} <= set(body["pipelines"])
    assert body["pipelines"] == sorted(body["pipelines"])
    for name in ("helo", "hello", "typed", "fails", "sleepy"):
        assert repr(name) in body["detail"], body["detail"]


def test_unknown_project_gets_404(operator, problem):
    answer = operator.post(
        "/api/v1/runs", json={"pipeline_name": "hello", "project": "nowhere"}
    )

    body = problem(answer, 404)
    assert "nowhere" in body["detail"]


def test_unknown_run_id_gets_404(operator, problem):
    answer = operator.get("/api/v1/runs/run_0000000000000000")

    body = problem(answer, 404)
    assert "run_0000000000000000" in body["detail"]


def test_malformed_json_gets_400(operator, problem):
    answer = operator.post(
        "/api/v1/runs",
        content=b'{"pipeline_name": "hello",',
        headers={"Content-Type": "application/json"},
    )

    body = problem(answer, 400)
    assert "JSON" in body["detail"]


def test_wrong_content_type_gets_415(operator, problem):
    answer = operator.post(
        "/api/v1/runs",
        content=b'{"pipeline_name": "hello", "project": "testproj"}',
        headers={"Content-Type": "text/plain"},
    )

    body = problem(answer, 415)
    assert "application/json" in body["detail"]


def test_form_encoded_body_gets_415(operator, problem):
    answer = operator.post(
        "/api/v1/runs", data={"pipeline_name": "hello", "project": "testproj"}
    )

    problem(answer, 415)


def test_missing_body_gets_422(operator, problem):
    body = problem(operator.post("/api/v1/runs"), 422)

    assert body["errors"][0]["location"] == "body", body


def test_missing_pipeline_name_gets_422(operator, problem):
    body = problem(operator.post("/api/v1/runs", json={"project": "testproj"}), 422)

    assert [e["field"] for e in body["errors"]] == ["pipeline_name"], body


def test_unknown_body_member_gets_422(operator, problem):
    answer = operator.post(
        "/api/v1/runs",
        json={"pipeline_name": "hello", "project": "testproj", "params": {}},
    )

    body = problem(answer, 422)
    assert [e["field"] for e in body["errors"]] == ["params"], body


def test_unknown_api_route_is_json_404(operator, problem):
    answer = operator.get("/api/v1/nothing-here")

    problem(answer, 404)
    assert "<html" not in answer.text.lower()


def test_unknown_page_is_json_404(api, problem):
    answer = api().get("/nothing-here")

    problem(answer, 404)
    assert "<html" not in answer.text.lower()


def test_wrong_method_gets_405_problem(operator, problem):
    answer = operator.delete("/api/v1/runs")

    problem(answer, 405)
    assert "GET" in answer.headers["Allow"]


def test_body_over_one_mib_gets_413(operator, problem):
    padding = "x" * (MAX_BODY + 1)
    body = f'{{"pipeline_name": "hello", "project": "testproj", "pad": "{padding}"}}'

    answer = operator.post(
        "/api/v1/runs",
        content=body.encode(),
        headers={"Content-Type": "application/json"},
    )

    problem(answer, 413)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/v1/runs/run_missing", {}, 404),
        ("GET", "/api/v1/runs", {"params": {"limit": 0}}, 422),
        ("GET", "/api/v1/runs", {"params": {"limit": "many"}}, 422),
        ("GET", "/api/v1/nothing", {}, 404),
        ("POST", "/api/v1/runs", {"json": {"pipeline_name": ""}}, 422),
        ("POST", "/api/v1/tokens", {"json": {"name": "x", "role": "god"}}, 403),
        ("POST", "/api/v1/tokens/tok_missing/revoke", {}, 403),
    ],
)
def test_every_error_is_a_problem(operator, problem, method, path, kwargs, status):
    problem(operator.request(method, path, **kwargs), status)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"pipeline_name": "hello", "parameters": {"r": NaN}}', "NaN"),
        ('{"pipeline_name": "hello", "parameters": {"r": Infinity}}', "Infinity"),
        ('{"pipeline_name": "hello", "parameters": {"r": 1e999}}', "too large"),
        ('{"pipeline_name": "hello", "parameters": {"r": "\\ud800"}}', "Unicode"),
        ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
)
def test_json_python_accepts_is_refused(operator, problem, body, says):
    answer = operator.post(
        "/api/v1/runs", content=body, headers={"Content-Type": "application/json"}
    )
    assert says in problem(answer, 400)["detail"]


@pytest.mark.parametrize("body", ["null", '"x"', "[1]", "3"])
def test_body_must_be_an_object(operator, problem, body):
    answer = operator.post(
        "/api/v1/runs", content=body, headers={"Content-Type": "application/json"}
    )
    assert problem(answer, 422)["errors"][0]["location"] == "body"


def test_runs_list_stays_valid_json(operator, admin):
    operator.post(
        "/api/v1/runs",
        content='{"pipeline_name": "typed", "project": "testproj", '
        '"parameters": {"epochs": 1, "rate": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    listing = admin.get("/api/v1/runs", params={"limit": 1000})
    import json

    json.loads(listing.text, parse_constant=lambda name: pytest.fail(name))


def own_client(running, secret):
    return httpx.Client(
        base_url=running.url,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )


def test_500_shows_a_request_id_not_a_traceback(spawn_daemon, problem):
    running = spawn_daemon()
    store = running.store()
    store.add_run(Run("run_0123456789abcdef", "hello", "testproj", {}))
    # A store damaged behind the daemon's back: reading the run's steps fails.
    with sqlite3.connect(running.home / "uniflow.db") as db:
        db.execute("DROP TABLE steps")

    with own_client(running, running.token("viewer")) as client:
        answer = client.get("/api/v1/runs/run_0123456789abcdef")

    body = problem(answer, 500)
    request_id = answer.headers["X-Request-Id"]
    assert body["request_id"] == request_id and request_id in body["detail"]
    assert "Traceback" not in answer.text and "steps" not in answer.text
    log = (running.home / "daemon.log").read_text()
    assert f"Request {request_id} failed" in log
    assert "Traceback" in log and "no such table: steps" in log


def test_trigger_limit_gets_429_with_retry_after(testproj_daemon, problem):
    running = testproj_daemon("trigger_limit = 2")
    body = {"pipeline_name": "hello", "project": "testproj"}
    refused_body = {**body, "parameters": {"times": "x"}}

    with own_client(running, running.token("operator")) as busy:
        # Requests refused before a run exists do not count.
        refusals = [busy.post("/api/v1/runs", json=refused_body) for _ in range(3)]
        answers = [busy.post("/api/v1/runs", json=body) for _ in range(3)]
        own_id = busy.get("/api/v1/token").json()["token_id"]
        rotated = busy.post(f"/api/v1/tokens/{own_id}/rotate").json()
    # Rotating itself gives a token no fresh allowance.
    with own_client(running, rotated["secret"]) as busy:
        problem(busy.post("/api/v1/runs", json=body), 429)
    with own_client(running, running.token("operator")) as other:
        fresh = other.post("/api/v1/runs", json=body)

    assert [a.status_code for a in refusals] == [422, 422, 422]
    assert [a.status_code for a in answers[:2]] == [201, 201]
    refused = problem(answers[2], 429)
    assert "trigger_limit" in refused["detail"]
    assert 0 < int(answers[2].headers["Retry-After"]) <= 60
    assert fresh.status_code == 201, fresh.text
    with running.client() as admin:
        assert len(admin.list_runs(limit=None)) == 3


def test_401_and_409_are_problems(api, admin, problem):
    problem(api("uf_not-a-real-token").get("/api/v1/runs"), 401)
    name = f"twice-{uuid.uuid4().hex[:6]}"
    admin.post("/api/v1/tokens", json={"name": name, "role": "viewer"})

    again = admin.post("/api/v1/tokens", json={"name": name, "role": "viewer"})

    assert name in problem(again, 409)["detail"]


def test_422_lists_at_most_20_fields(operator, problem):
    body = {"pipeline_name": "hello", "project": "testproj"}
    body.update({f"x{i}": 0 for i in range(90)})

    answer = operator.post("/api/v1/runs", json=body)

    refused = problem(answer, 422)
    assert len(refused["errors"]) == 20 and refused["more_errors"] == 70
    assert len(refused["detail"]) <= 2000
    assert len(answer.content) < 10_000


def test_duplicate_key_gets_400(operator, problem):
    answer = operator.post(
        "/api/v1/runs",
        content=b'{"pipeline_name": "nope", "pipeline_name": "hello"}',
        headers={"Content-Type": "application/json"},
    )

    assert "'pipeline_name' twice" in problem(answer, 400)["detail"]


def test_huge_number_literal_is_not_echoed(operator, problem):
    digits = "1" + "0" * 5000
    answer = operator.post(
        "/api/v1/runs",
        content=f'{{"pipeline_name": "hello", "n": {digits}}}',
        headers={"Content-Type": "application/json"},
    )

    body = problem(answer, 400)
    assert "too many digits" in body["detail"] and len(body["detail"]) < 200
    assert "sys." not in body["detail"]


def test_chunked_body_is_checked_as_strictly(daemon, operator_secret, problem):
    def chunks():
        yield b'{"pipeline_name": "hello", '
        yield b'"parameters": {"times": NaN}}'

    with httpx.Client(base_url=daemon.url) as client:
        answer = client.post(
            "/api/v1/runs",
            content=chunks(),
            headers={
                "Authorization": f"Bearer {operator_secret}",
                "Content-Type": "application/json",
            },
        )

    assert "NaN" in problem(answer, 400)["detail"]


def test_empty_json_body_says_object(operator, problem):
    answer = operator.post(
        "/api/v1/runs", content=b"", headers={"Content-Type": "application/json"}
    )

    body = problem(answer, 422)
    assert body["errors"][0]["message"] == "must be a JSON object", body


def test_empty_bearer_says_no_token(api, problem):
    answer = api().get("/api/v1/runs", headers={"Authorization": "Bearer"})

    assert "names no token" in problem(answer, 401)["detail"]


def test_options_lists_methods_without_a_token(api):
    answer = api().options("/api/v1/runs")

    assert answer.status_code == 200
    assert {"GET", "POST"} <= set(answer.headers["Allow"].replace(" ", "").split(","))


def test_double_slash_is_404_not_redirect(operator, problem):
    answer = operator.get("/api/v1//runs", headers={"Host": "localhost"})

    problem(answer, 404)
    assert "location" not in answer.headers


def test_http_error_problems_have_kinds(operator, problem):
    assert problem(operator.get("/api/v1/nothing"), 404)["type"].endswith("not-found")
    wrong = operator.delete("/api/v1/runs")
    assert problem(wrong, 405)["type"].endswith("method-not-allowed")


def test_huge_field_name_is_not_echoed(operator, problem):
    key = "k" * 400_000

    answer = operator.post("/api/v1/runs", json={"pipeline_name": "hello", key: 1})

    problem(answer, 422)
    assert len(answer.content) < 5_000


def test_body_far_over_the_limit_is_refused_unread(daemon, operator_secret):
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(daemon.url)
    head = (
        "POST /api/v1/runs HTTP/1.1\r\n"
        f"Host: {address.netloc}\r\n"
        f"Authorization: Bearer {operator_secret}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {50 * MAX_BODY}\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as s:
        s.sendall(head.encode())  # and no body: the answer must not wait for it
        answer = s.recv(4096).decode()

    assert answer.startswith("HTTP/1.1 413"), answer
