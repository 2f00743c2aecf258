"""Checking a run's parameters against a pipeline's parameter schema.

The schema is the JSON Schema that the pipeline's signature gives (see
:meth:`uniflow.pipelines.Pipeline.parameters_schema`). Checking happens where the
pipeline's code is not loaded, in the daemon and the CLI, so it works from the
schema alone.
"""

from __future__ import annotations

import functools
import json
import math
from datetime import datetime, time
from typing import Any

from uniflow import jsondata
from uniflow.errors import FieldError, ParameterError, shorten

MAX_BYTES = 64 * 1024
"""The largest parameters a run takes, as UTF-8 JSON."""
MAX_DEPTH = 32
"""How deep lists and objects may nest in a parameter."""
_INT64 = range(-(2**63), 2**63)

_EXPECTS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


def resolve(
    schema: dict[str, Any], values: dict[str, Any], *, pipeline: str = ""
) -> dict[str, Any]:
    """Return ``values`` checked against ``schema``, with defaults filled in.

    A JSON boolean is never taken for a number, and an integer parameter
    refuses any float (2.5 and 2.0 alike); an integer is fine where a float is
    declared.

    Values must also fit everywhere they travel: at most :data:`MAX_BYTES` as
    JSON, nested at most :data:`MAX_DEPTH` deep, whole numbers within 64 bits
    (what JavaScript, SQLite and most JSON readers hold exactly).

    Raises:
        ParameterError: Naming each unknown, missing, ill-typed or oversized
            parameter.
    """
    resolved = {
        name: prop["default"]
        for name, prop in schema.get("properties", {}).items()
        if "default" in prop
    }
    resolved.update(values)
    # Checked before the schema, whose messages quote values; the defaults come
    # from the pipeline's code and must fit too.
    oversized = check_limits(resolved)
    if oversized:
        raise ParameterError(oversized, pipeline=pipeline)

    validator = _validator(schema)
    errors = [
        problem
        for error in sorted(validator.iter_errors(values), key=lambda e: e.path)
        for problem in _field_errors(error, schema)
    ]
    if errors:
        raise ParameterError(errors, pipeline=pipeline)
    return resolved


def check_limits(values: dict[str, Any]) -> list[FieldError]:
    """Return what in ``values`` JSON cannot carry or UniFlow does not take.

    That is: numbers that are not finite, whole numbers beyond signed 64 bits,
    nesting deeper than :data:`MAX_DEPTH`, and more than :data:`MAX_BYTES` in all.
    """
    errors: list[FieldError] = []
    for name, value in values.items():
        _walk(value, name, 1, errors)
    if errors:
        return errors

    compact = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    size = len(compact.encode("utf-8", errors="replace"))
    if size > MAX_BYTES:
        return [
            FieldError(
                "",
                f"the parameters take {size} bytes as JSON, more than the "
                f"{MAX_BYTES} a run takes; pass large data as a file path instead",
            )
        ]
    return []


def _walk(value: Any, path: str, depth: int, errors: list[FieldError]) -> None:
    """Add to ``errors`` what in ``value`` JSON cannot carry or nests too deep."""
    if depth > MAX_DEPTH:
        errors.append(FieldError(path, f"nests deeper than {MAX_DEPTH} levels"))
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{path}.{key}", depth + 1, errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}.{index}", depth + 1, errors)
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int) and value not in _INT64:
        message = "is a whole number beyond signed 64 bits; send it as text"
        errors.append(FieldError(path, message))
    elif isinstance(value, float) and not math.isfinite(value):
        errors.append(FieldError(path, f"is {value}, which JSON has no form for"))


def parse_text(schema: dict[str, Any], name: str, text: str) -> Any:
    """Convert a ``name=value`` text from the command line to the declared type.

    Raises:
        ParameterError: The pipeline has no such parameter, or the text is not
            of its type.
    """
    properties = schema.get("properties", {})
    if name not in properties:
        known = ", ".join(properties) or "none"
        message = f"unknown parameter; the pipeline's parameters: {known}"
        raise ParameterError([FieldError(name, message)])

    types = _types(properties[name])
    for kind in ("integer", "number", "boolean", "null"):
        if kind in types:
            try:
                value = jsondata.loads(text)
            except ValueError:
                continue
            if _is_instance(kind, value):
                return value
    if "string" in types:
        return text
    expects = " or ".join(_EXPECTS.get(t, t) for t in types) or "a JSON value"
    refused = ParameterError([FieldError(name, f"expects {expects}, got {text!r}")])
    if types and not {"array", "object"} & set(types):
        raise refused
    # Lists and objects are written as JSON; an untyped parameter takes JSON
    # when the text is JSON, else the text itself.
    try:
        return jsondata.loads(text)
    except ValueError as exc:
        if types:
            raise ParameterError(
                [FieldError(name, f"expects {expects} written as JSON: {exc}")]
            ) from None
        return text


def _types(prop: dict[str, Any]) -> list[str]:
    if "type" in prop:
        kind = prop["type"]
        return list(kind) if isinstance(kind, list) else [kind]
    found: list[str] = []
    for option in prop.get("anyOf", []):
        found.extend(_types(option))
    return found


def _is_instance(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        try:
            return math.isfinite(float(value))
        except OverflowError:  # an integer beyond any float
            return False
    if kind == "boolean":
        return isinstance(value, bool)
    return value is None


def _validator(schema: dict[str, Any]) -> Any:
    cls, formats = _validator_class()
    return cls(schema, format_checker=formats)


@functools.cache
def _validator_class() -> tuple[Any, Any]:
    # Made once per process: building the class costs far more than a check.
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine_many(
        {
            kind: lambda _checker, value, kind=kind: _is_instance(kind, value)
            for kind in ("integer", "number")
        }
    )
    cls = validators.extend(Draft202012Validator, type_checker=checker)
    # Formats (a date, a time) are checked too, not only noted as the standard
    # allows, so that "2024-02-30" is refused before a run exists.
    return cls, _format_checker()


def _format_checker() -> Any:
    from jsonschema import Draft202012Validator, FormatChecker

    checker = FormatChecker()
    checker.checkers.update(Draft202012Validator.FORMAT_CHECKER.checkers)
    # Date-times and times as the pipeline will read them (ISO 8601, with or
    # without an offset), not only in the stricter RFC 3339 form.
    for name, parse in (
        ("date-time", datetime.fromisoformat),
        ("time", time.fromisoformat),
    ):
        checker.checks(name, raises=ValueError)(_string_check(parse))
    return checker


def _string_check(parse: Any) -> Any:
    def check(value: object) -> bool:
        if isinstance(value, str):
            parse(value)
        return True

    return check


def _field_errors(error: Any, schema: dict[str, Any]) -> list[FieldError]:
    path = ".".join(str(p) for p in error.absolute_path)
    declared = schema.get("properties", {})
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return [FieldError(missing, "is required and has no default")]
    if error.validator == "additionalProperties":
        known = ", ".join(declared) or "none"
        return [
            FieldError(name, f"unknown parameter; the pipeline's parameters: {known}")
            for name in sorted(set(error.instance) - set(declared))
        ]
    if error.validator == "type":
        value = error.validator_value
        kinds: list[str] = value if isinstance(value, list) else [value]
        expects = " or ".join(_EXPECTS.get(k, k) for k in kinds)
        got = json.dumps(error.instance, ensure_ascii=False)
        if len(got) > 60:
            got = got[:57] + "..."
        return [FieldError(path, f"expects {expects}, got {got}")]
    # jsonschema quotes the value, which may be long.
    return [FieldError(path, shorten(error.message, 300))]
