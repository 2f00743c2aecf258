"""A run's parameters are checked against the pipeline's signature before it exists."""

from __future__ import annotations

import pytest

TEXT = "Zoë 東京 🚀"


def post_typed(client, parameters):
    return client.post(
        "/api/v1/runs",
        json={
            "pipeline_name": "typed",
            "project": "testproj",
            "parameters": parameters,
        },
    )


def typed_run_ids(client):
    runs = client.get(
        "/api/v1/runs", params={"pipeline_name": "typed", "limit": 1000}
    ).json()["items"]
    return [r["run_id"] for r in runs]


@pytest.mark.parametrize(
    "epochs", ["ten", 2.5, True, None], ids=["text", "float", "bool", "null"]
)
def test_ill_typed_int_gets_422(operator, problem, epochs):
    before = typed_run_ids(operator)

    body = problem(post_typed(operator, {"epochs": epochs}), 422)

    assert [e["field"] for e in body["errors"]] == ["epochs"], body
    assert "integer" in body["errors"][0]["message"]
    assert "epochs" in body["detail"]
    assert typed_run_ids(operator) == before


def test_unknown_parameter_gets_422(operator, problem):
    body = problem(post_typed(operator, {"epochs": 1, "epoch": 2}), 422)

    assert [e["field"] for e in body["errors"]] == ["epoch"], body
    assert "epochs" in body["errors"][0]["message"]  # lists the real ones


def test_missing_required_gets_422(operator, problem):
    body = problem(post_typed(operator, {"rate": 0.5}), 422)

    assert [e["field"] for e in body["errors"]] == ["epochs"], body
    assert "required" in body["errors"][0]["message"]


def test_each_bad_parameter_is_named(operator, problem):
    body = problem(post_typed(operator, {"epochs": "x", "flag": "yes"}), 422)

    assert sorted(e["field"] for e in body["errors"]) == ["epochs", "flag"], body


def test_int_is_accepted_for_float(operator, wait_run):
    answer = post_typed(operator, {"epochs": 3, "rate": 1})

    assert answer.status_code == 201, answer.text
    run = wait_run(answer.json()["run_id"])
    assert run["status"] == "success", run
    assert run["result"]["rate"] == 1.0
    assert isinstance(run["result"]["rate"], float)
    assert run["result"]["types"] == ["int", "float", "bool", "str"]


def test_defaults_fill_rest_and_stay(operator, wait_run):
    expected = {"epochs": 4, "rate": 0.1, "flag": False, "label": "x"}

    answer = post_typed(operator, {"epochs": 4})

    assert answer.status_code == 201, answer.text
    assert answer.json()["parameters"] == expected
    run = wait_run(answer.json()["run_id"])
    assert run["parameters"] == expected
    assert {k: run["result"][k] for k in expected} == expected


def test_non_ascii_text_arrives_intact(operator, wait_run, daemon):
    answer = operator.post(
        "/api/v1/runs",
        json={
            "pipeline_name": "hello",
            "project": "testproj",
            "parameters": {"name": TEXT},
        },
    )

    assert answer.status_code == 201, answer.text
    run = wait_run(answer.json()["run_id"])
    assert run["status"] == "success", run
    assert run["parameters"]["name"] == TEXT
    assert run["result"] == {"greeting": f"hello {TEXT}"}
    folder = daemon.home / "runs" / run["run_id"]
    assert (folder / "greeting.txt").read_text(encoding="utf-8") == f"hello {TEXT}"
    assert f"hello {TEXT}" in (folder / "output.log").read_text(encoding="utf-8")


def test_non_ascii_error_is_not_escaped(operator, problem):
    answer = post_typed(operator, {"epochs": TEXT})

    body = problem(answer, 422)
    assert TEXT in answer.text
    assert TEXT in body["errors"][0]["message"]


def test_parameters_must_be_an_object(operator, problem):
    answer = operator.post(
        "/api/v1/runs",
        json={"pipeline_name": "typed", "project": "testproj", "parameters": [1]},
    )

    body = problem(answer, 422)
    assert any("parameters" in e["field"] for e in body["errors"]), body


def test_number_beyond_64_bits_gets_422(operator, problem):
    before = typed_run_ids(operator)

    body = problem(post_typed(operator, {"epochs": 2**64}), 422)

    assert body["errors"] == [
        {
            "field": "epochs",
            "location": "body.parameters",
            "message": "is a whole number beyond signed 64 bits; send it as text",
        }
    ]
    assert typed_run_ids(operator) == before


def test_five_megabyte_string_gets_413(operator, problem):
    body = problem(post_typed(operator, {"epochs": 1, "label": "x" * 5_000_000}), 413)

    assert "max_request_bytes" in body["detail"]


def test_parameters_over_64_kib_get_422(operator, problem):
    body = problem(post_typed(operator, {"epochs": 1, "label": "x" * 100_000}), 422)

    assert "65536" in body["detail"]


def test_deeply_nested_parameter_gets_422(operator, problem):
    value = 1
    for _ in range(40):
        value = [value]

    body = problem(post_typed(operator, {"epochs": 1, "label": value}), 422)

    assert "32 levels" in body["errors"][0]["message"]
