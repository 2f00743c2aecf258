"""Durations written as text, such as ``30d`` or ``1h30m``.

A duration is one or more whole numbers, each followed by its unit, largest unit
first, each unit at most once: ``w`` (weeks), ``d`` (days), ``h`` (hours), ``m``
(minutes), ``s`` (seconds). It must be longer than zero and at most 100 years.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import NoReturn

from uniflow.errors import DurationError, shorten

EXAMPLES = "'45s', '90m', '12h', '30d', '2w' or '1h30m'"
"""Valid durations, as error messages show them."""
LONGEST = timedelta(days=36525)
"""The longest duration accepted: 100 years."""

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PATTERN = re.compile("".join(f"(?:([0-9]+){unit})?" for unit in _UNITS))
# More digits than this is over LONGEST whatever the unit, and int() of a huge
# string is slow, so such a number is refused before it is converted.
_MOST_DIGITS = 12


def parse(text: str) -> timedelta:
    """Return the duration ``text`` stands for, such as ``30d`` or ``1h30m``.

    Surrounding white space is ignored.

    Raises:
        DurationError: ``text`` is not a duration, is zero, or is over 100 years.
    """
    value = text.strip()
    match = _PATTERN.fullmatch(value)
    if not value or match is None:
        raise DurationError(
            f"{_quoted(text)} is not a duration; write whole numbers, each followed "
            f"by a unit (w, d, h, m or s), such as {EXAMPLES}.",
            text=text,
        )

    numbers = [digits or "0" for digits in match.groups()]
    if any(len(digits.lstrip("0")) > _MOST_DIGITS for digits in numbers):
        _too_long(text)
    seconds = sum(
        int(n) * size for n, size in zip(numbers, _UNITS.values(), strict=True)
    )
    if seconds == 0:
        raise DurationError(
            f"{_quoted(text)} is zero; give a duration longer than that, such as "
            f"{EXAMPLES}.",
            text=text,
        )
    if seconds > LONGEST.total_seconds():
        _too_long(text)
    return timedelta(seconds=seconds)


def _too_long(text: str) -> NoReturn:
    raise DurationError(
        f"{_quoted(text)} is more than 100 years; give a shorter duration, such as "
        f"{EXAMPLES}.",
        text=text,
    )


def _quoted(text: str) -> str:
    # The value may come from anyone over HTTP: never quote it whole.
    return repr(shorten(text, 40))
