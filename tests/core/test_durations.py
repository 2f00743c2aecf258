"""Durations written as text: what ``uniflow.durations.parse`` accepts and refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from uniflow import durations
from uniflow.errors import DurationError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("0h1s", timedelta(seconds=1)),
        ("007d", timedelta(days=7)),
        (" 30d\n", timedelta(days=30)),
        ("36525d", timedelta(days=36525)),
    ],
)
def test_valid_durations_parse(text, expected):
    assert durations.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "is not a duration"),
        ("   ", "is not a duration"),
        ("30", "is not a duration"),
        ("d", "is not a duration"),
        ("30x", "is not a duration"),
        ("30D", "is not a duration"),
        ("30 d", "is not a duration"),
        ("-30d", "is not a duration"),
        ("+30d", "is not a duration"),
        ("1.5h", "is not a duration"),
        ("30m1h", "is not a duration"),
        ("1h1h", "is not a duration"),
        ("٣d", "is not a duration"),
        ("0s", "is zero"),
        ("0w0d0h0m0s", "is zero"),
        ("36526d", "is more than 100 years"),
        ("5300w", "is more than 100 years"),
        ("9" * 5000 + "s", "is more than 100 years"),
        ("1000000000000000000000d", "is more than 100 years"),
    ],
)
def test_bad_durations_are_refused(text, says):
    with pytest.raises(DurationError) as caught:
        durations.parse(text)

    message = str(caught.value)
    assert says in message
    assert "'30d'" in message and "'1h30m'" in message
    assert caught.value.text == text


def test_message_names_the_value():
    with pytest.raises(DurationError, match="'30x' is not a duration"):
        durations.parse("30x")


def test_message_never_quotes_a_huge_value():
    with pytest.raises(DurationError) as caught:
        durations.parse("x" * 10_000)

    assert len(str(caught.value)) < 300
