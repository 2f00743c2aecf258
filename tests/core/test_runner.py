"""The runner process on its own."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from uniflow import pipeline, runner
from uniflow.errors import PipelineError


def test_runner_without_a_spec_exits_quietly(tmp_path):
    # What a runner sees when its daemon died before letting the run go: the run
    # is still queued, and the next daemon starts it.
    done = subprocess.run(
        [sys.executable, "-m", "uniflow.runner"],
        input=b"",
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


@pipeline
def typed(epochs: int, rate: float = 0.5, name: str = "a", fast: bool = False):
    return epochs, rate, name, fast


@pipeline
def listed(sizes: list[int], when: datetime | None = None):
    return sizes, when


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"epochs": 3}, {"epochs": 3}),
        # An int where a float is declared arrives as a float.
        ({"epochs": 3, "rate": 2}, {"epochs": 3, "rate": 2.0}),
        (
            {"epochs": 3, "rate": 0.1, "name": "b", "fast": True},
            {"epochs": 3, "rate": 0.1, "name": "b", "fast": True},
        ),
        # pydantic converts what the plain path leaves alone: 3.0 is an integer.
        ({"epochs": 3.0}, {"epochs": 3, "rate": 0.5, "name": "a", "fast": False}),
    ],
)
def test_arguments_have_the_declared_types(values, expected):
    arguments = runner._arguments(typed, values)
    assert arguments == expected
    assert [type(v) for v in arguments.values()] == [type(v) for v in expected.values()]


def test_arguments_of_other_types_are_converted_by_pydantic():
    arguments = runner._arguments(
        listed, {"sizes": [1, 2], "when": "2026-01-02T03:04:05Z"}
    )
    assert arguments["sizes"] == [1, 2]
    assert arguments["when"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, "epochs: Field required"),
        ({"epochs": "many"}, "epochs: Input should be a valid integer"),
        ({"epochs": 1, "other": 2}, "other: Extra inputs are not permitted"),
    ],
)
def test_bad_arguments_are_refused_with_the_field_named(values, problem):
    with pytest.raises(PipelineError, match=problem):
        runner._arguments(typed, values)
