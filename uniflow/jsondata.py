"""Strict JSON: what Python's json module accepts beyond the standard, refused.

Python reads ``NaN``, ``Infinity`` and ``1e999`` (as infinity), text with lone
surrogates, nesting deep enough to exhaust the stack, UTF-16 and a byte order
mark, and an object that names a key twice (the last one wins, where another
reader may take the first). Any of these stored in a run would make later
answers invalid JSON for every client, crash the code that writes them, or mean
one thing to a proxy and another to UniFlow, so UniFlow refuses them wherever
JSON comes in.
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

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"it is not valid UTF-8 text (byte {exc.start + 1} is not)."
            ) from None

    if text.startswith("\ufeff"):
        raise ValueError("it starts with a byte order mark; send UTF-8 without one.")

    try:
        value = json.loads(
            text,
            parse_constant=_no_constant,
            parse_float=_finite,
            parse_int=_whole,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise ValueError("it is nested too deeply.") from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}."
        ) from None
    check(value)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number.")


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{_shorten(literal)} is too large a number.")
    return value


def _whole(literal: str) -> int:
    # Python refuses to read more than 4300 digits, with a message about its own
    # settings; nothing UniFlow takes comes near that.
    if len(literal) > 100:
        raise ValueError(f"{_shorten(literal)} has too many digits.")
    return int(literal)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"an object names the key {_shorten(key)!r} twice.")
        found[key] = value
    return found


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]}"


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
