from __future__ import annotations

import datetime

import pytest

from uniflow.errors import ParameterError, PipelineError
from uniflow.parameters import parse_text, resolve
from uniflow.pipelines import pipeline


@pipeline
def train(
    epochs: int, learning_rate: float = 0.01, verbose: bool = False, tag: str = "x"
) -> None:
    """Train something."""


SCHEMA = train.parameters_schema()


def fields(exc: pytest.ExceptionInfo[ParameterError]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


def test_defaults_fill_missing_values():
    assert resolve(SCHEMA, {"epochs": 3}) == {
        "epochs": 3,
        "learning_rate": 0.01,
        "verbose": False,
        "tag": "x",
    }


def test_int_is_accepted_for_a_float():
    assert resolve(SCHEMA, {"epochs": 1, "learning_rate": 1})["learning_rate"] == 1


@pytest.mark.parametrize("value", ["ten", 2.5, 2.0, True, None, [1]])
def test_bad_integer_names_the_field(value):
    with pytest.raises(ParameterError) as exc:
        resolve(SCHEMA, {"epochs": value})
    assert "integer" in fields(exc)["epochs"]


def test_boolean_is_not_a_number():
    with pytest.raises(ParameterError) as exc:
        resolve(SCHEMA, {"epochs": 1, "learning_rate": True})
    assert "number" in fields(exc)["learning_rate"]


def test_each_problem_is_reported_at_once():
    with pytest.raises(ParameterError) as exc:
        resolve(SCHEMA, {"learning_rate": "fast", "colour": 1, "size": 2})
    found = fields(exc)
    assert set(found) == {"epochs", "learning_rate", "colour", "size"}
    assert "required" in found["epochs"]
    assert "unknown parameter" in found["colour"]
    assert "epochs" in found["colour"]  # lists the parameters that exist


def test_non_ascii_text_passes_through():
    text = "Zoë 東京 🚀"
    assert resolve(SCHEMA, {"epochs": 1, "tag": text})["tag"] == text


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("epochs", "50", 50),
        ("learning_rate", "0.5", 0.5),
        ("learning_rate", "3", 3),
        ("verbose", "true", True),
        ("tag", "50", "50"),
        ("tag", "Zoë", "Zoë"),
    ],
)
def test_text_converts_to_declared_type(name, text, value):
    converted = parse_text(SCHEMA, name, text)
    assert converted == value
    assert type(converted) is type(value)


@pytest.mark.parametrize(
    ("name", "text"),
    [("epochs", "ten"), ("epochs", "2.5"), ("verbose", "yes"), ("nope", "1")],
)
def test_bad_text_is_refused(name, text):
    with pytest.raises(ParameterError) as exc:
        parse_text(SCHEMA, name, text)
    assert name in fields(exc)


def test_schema_comes_from_the_signature():
    assert SCHEMA["required"] == ["epochs"]
    assert SCHEMA["additionalProperties"] is False
    props = SCHEMA["properties"]
    assert props["epochs"]["type"] == "integer"
    assert props["learning_rate"] == {
        "default": 0.01,
        "title": "Learning Rate",
        "type": "number",
    }
    assert train.description == "Train something."


def test_formats_are_checked():
    @pipeline
    def dated(when: datetime.date) -> None:
        """Take a date."""

    schema = dated.parameters_schema()
    assert resolve(schema, {"when": "2024-02-29"}) == {"when": "2024-02-29"}
    for bad in ("2024-02-30", "garbage"):
        with pytest.raises(ParameterError):
            resolve(schema, {"when": bad})


@pytest.mark.parametrize("text", ["inf", "nan", "1e999", "-Infinity"])
def test_non_finite_numbers_are_refused(text):
    with pytest.raises(ParameterError):
        parse_text(SCHEMA, "learning_rate", text)


@pytest.mark.parametrize(
    "text",
    ["[1e999]", "[Infinity]", '{"a": NaN}', '["\\ud800"]', "[" * 5000 + "]" * 5000],
)
def test_json_text_must_be_strict(text):
    def take(items: list[float]) -> None:
        """Take a list."""

    schema = pipeline(take).parameters_schema()
    with pytest.raises(ParameterError):
        parse_text(schema, "items", text)


def test_huge_integer_is_not_a_float():
    huge = 10**400
    with pytest.raises(ParameterError):
        resolve(SCHEMA, {"epochs": 1, "learning_rate": huge})
    with pytest.raises(ParameterError):
        parse_text(SCHEMA, "learning_rate", str(huge))


def test_date_times_are_checked_leniently():
    def at(when: datetime.datetime, hour: datetime.time) -> None:
        """Take a moment."""

    schema = pipeline(at).parameters_schema()
    for good in (
        {"when": "2024-01-01T00:00:00", "hour": "12:00"},
        {"when": "2024-01-01 00:00:00Z", "hour": "12:00:00+01:00"},
    ):
        assert resolve(schema, good) == good
    with pytest.raises(ParameterError) as exc:
        resolve(schema, {"when": "garbage", "hour": "25:99"})
    assert set(fields(exc)) == {"when", "hour"}


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_whole_number_beyond_64_bits_is_refused(value):
    with pytest.raises(ParameterError) as refused:
        resolve(SCHEMA, {"epochs": value})

    assert "64 bits" in fields(refused)["epochs"]


def test_64_bit_edges_are_accepted():
    for value in (2**63 - 1, -(2**63)):
        assert resolve(SCHEMA, {"epochs": value})["epochs"] == value


def test_deep_nesting_is_refused_with_its_path():
    untyped = {"type": "object"}
    value: object = 1
    for _ in range(40):
        value = [value]

    with pytest.raises(ParameterError) as refused:
        resolve(untyped, {"data": value})

    [(path, message)] = fields(refused).items()
    assert path.startswith("data.0.0") and "32 levels" in message


def test_nested_big_number_is_named_by_path():
    with pytest.raises(ParameterError) as refused:
        resolve({"type": "object"}, {"data": {"a": [1, 2**70]}})

    assert list(fields(refused)) == ["data.a.1"]


def test_parameters_over_64_kib_are_refused():
    with pytest.raises(ParameterError) as refused:
        resolve(SCHEMA, {"epochs": 1, "tag": "x" * 70_000})

    assert "65536" in str(refused.value) and "file path" in str(refused.value)


def test_long_value_is_not_quoted_whole():
    schema = {"type": "object", "properties": {"tag": {"enum": ["a", "b"]}}}

    with pytest.raises(ParameterError) as refused:
        resolve(schema, {"tag": "y" * 50_000})

    assert len(str(refused.value)) < 1000


@pytest.mark.parametrize("default", [float("nan"), float("inf"), 10**400])
def test_default_json_cannot_carry_is_refused(default):
    @pipeline
    def odd(h: float = default) -> None:
        """Has a default no run could record."""

    with pytest.raises(PipelineError) as refused:
        odd.parameters_schema()

    assert "'odd'" in str(refused.value) and "h " in str(refused.value)


def test_nan_default_in_a_schema_is_refused_at_resolve():
    schema = {"type": "object", "properties": {"h": {"default": float("nan")}}}

    with pytest.raises(ParameterError) as refused:
        resolve(schema, {})

    assert "JSON has no form for" in fields(refused)["h"]


def test_size_counts_compact_json():
    keys = {f"k{i}": [0, 0] for i in range(4200)}

    assert resolve({"type": "object"}, {"data": keys})["data"] == keys
