"""Every error answer is one RFC 9457 problem that says what to change."""

from __future__ import annotations

import pytest

from uniflow.config import Settings

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
