"""Strict JSON: what Python's json module accepts beyond the standard, refused.

Python reads ``NaN``, ``Infinity`` and ``1e999`` (as infinity), text with lone
surrogates, and nesting deep enough to exhaust the stack. Any of these stored in
a run would make later answers invalid JSON for every client, or crash the code
that writes them, so UniFlow refuses them wherever JSON comes in.
"""

from __future__ import annotations

import json
import math
from typing import Any


def loads(text: str | bytes) -> Any:
    """Parse strict JSON.

    Raises:
        ValueError: The text is not strict JSON; the message says why.
    """

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number.")

    def finite(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            raise ValueError(f"{literal} is too large a number.")
        return value

    try:
        value = json.loads(text, parse_constant=no_constant, parse_float=finite)
    except RecursionError:
        raise ValueError("it is nested too deeply.") from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    check(value)
    return value


def check(value: Any) -> None:
    """Check that ``value`` can be written as strict JSON in UTF-8.

    Raises:
        ValueError: It holds text that is not valid Unicode, a number JSON has
            no form for, or nesting too deep.
    """
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except RecursionError:
        raise ValueError("it is nested too deeply.") from None
    except UnicodeError:
        raise ValueError("it holds text that is not valid Unicode.") from None
    except OverflowError:
        raise ValueError("it holds a number too large for JSON.") from None
