"""Schemathesis against the live daemon's /openapi.json: the API keeps its spec.

Every operation gets generated requests, valid and invalid, sent with an admin
token to a real daemon of this module's own. Each answer must not be a 5xx, must
have a status the spec documents for the operation, the content type documented
for that status, and a body that fits the documented schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from conftest import RunningDaemon, daemon_with_testproj
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Derandomized so that CI runs the same cases each time: a failure here is a bug
# to fix, not a flake to retry.
SETTINGS = hypothesis.settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
OPERATIONS = 18
MIN_CASES = 300
WITHOUT_INPUT = ("/healthz", "/api/v1/token", "/api/v1/status")

_sent: dict[str, int] = {}


@pytest.fixture(scope="module")
def fuzzed_daemon(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningDaemon]:
    """A daemon of this module's own, so fuzzing leaves other tests' data alone."""
    with daemon_with_testproj(tmp_path_factory, "fuzz") as running:
        yield running


@pytest.fixture(scope="module")
def api_schema(fuzzed_daemon: RunningDaemon) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed_daemon.url}/openapi.json")


@pytest.fixture(scope="module", autouse=True)
def report_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many generated requests were sent."""
    yield
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    if reporter is None or not _sent:
        return
    per_operation = ", ".join(f"{k} {v}" for k, v in sorted(_sent.items()))
    # Past pytest's output capture, so that the figure shows on every run.
    with plugins.get_plugin("capturemanager").global_and_fixture_disabled():
        reporter.write_line(
            f"\nschemathesis sent {sum(_sent.values())} generated requests: "
            f"{per_operation}"
        )


# Schemathesis' own pytest integration (@schema.parametrize) reads a private
# attribute that pytest 9.2 removed, so the cases are drawn from its Hypothesis
# strategies, one per operation, instead.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_keeps_its_spec(
    api_schema: Any, fuzzed_daemon: RunningDaemon, mode: GenerationMode
) -> None:
    headers = {"Authorization": f"Bearer {fuzzed_daemon.admin}"}
    sent: dict[str, int] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == OPERATIONS, [op.label for op in operations]

    # One strategy per operation, so that each gets its share of cases whatever
    # order the schema's operations come in.
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.path in WITHOUT_INPUT:
            continue  # Nothing to spoil.

        @SETTINGS
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def send(case: Any) -> None:
            label = f"{case.method} {case.path}"
            sent[label] = sent.get(label, 0) + 1
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

        send()

    for label, count in sent.items():
        _sent[label] = _sent.get(label, 0) + count
    expected = OPERATIONS - (
        len(WITHOUT_INPUT) if mode is GenerationMode.NEGATIVE else 0
    )
    assert len(sent) == expected, sorted(sent)
    assert sum(sent.values()) >= MIN_CASES / 2, sent


def test_spec_is_openapi_31_with_bearer(fuzzed_daemon: RunningDaemon) -> None:
    import httpx

    spec = httpx.get(f"{fuzzed_daemon.url}/openapi.json").json()

    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation["summary"] and operation["description"], where
            if path.startswith("/api/"):
                assert operation["security"] == [{"bearer": []}], where
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert list(answer["content"]) == ["application/problem+json"], (
                        where
                    )


def test_bodies_carry_the_reference_examples(fuzzed_daemon: RunningDaemon) -> None:
    import httpx

    spec = httpx.get(f"{fuzzed_daemon.url}/openapi.json").json()
    trigger = spec["paths"]["/api/v1/runs"]["post"]["requestBody"]["content"]

    assert trigger["application/json"]["example"] == {
        "pipeline_name": "training_pipeline",
        "project": "default",
        "parameters": {"learning_rate": 0.01, "epochs": 20},
    }


def test_answer_headers_are_documented(fuzzed_daemon: RunningDaemon) -> None:
    import httpx

    spec = httpx.get(f"{fuzzed_daemon.url}/openapi.json").json()
    trigger = spec["paths"]["/api/v1/runs"]["post"]["responses"]

    assert "Location" in trigger["201"]["headers"]
    assert "Retry-After" in trigger["429"]["headers"]
    assert "WWW-Authenticate" in trigger["401"]["headers"]
    assert "X-Request-Id" in trigger["500"]["headers"]
    created = spec["paths"]["/api/v1/tokens"]["post"]["responses"]["201"]
    assert "headers" not in created  # nothing to point a Location at
    assert "422" not in spec["paths"]["/healthz"]["get"]["responses"]


def test_docs_path_is_exactly_docs(fuzzed_daemon: RunningDaemon) -> None:
    import httpx

    answer = httpx.get(f"{fuzzed_daemon.url}/docs", follow_redirects=True)

    assert answer.status_code == 200
    assert "swagger-ui" in answer.text
    assert Path(answer.url.path) == Path("/docs/swagger")
