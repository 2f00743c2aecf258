"""How the TUI writes times, durations and states in its tables.

Times in lists are relative ("5m ago", "in 3d") when they are within
:data:`RELATIVE_SPAN` of now, and dates beyond: a table column stays short, and a
moment's text changes only while it is recent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rich.text import Text

from uniflow.cli import render

RELATIVE_SPAN = timedelta(days=30)
"""How far from now a time is written relative to it; further, as a date."""
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def parse_time(text: str) -> datetime:
    """Return a server's UTC timestamp (``2026-01-31T12:00:00.123Z``) as a datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def relative(text: str | None, *, now: datetime | None = None, empty: str = "") -> str:
    """Return a timestamp as ``just now``, ``5m ago``, ``in 3d`` or a date.

    Args:
        text: The server's timestamp, or None.
        now: The moment to count from; the current time by default.
        empty: What to return when ``text`` is None or empty.
    """
    if not text:
        return empty
    moment = parse_time(text)
    span = moment - (now or datetime.now(UTC))
    if abs(span) >= RELATIVE_SPAN:
        return moment.strftime("%Y-%m-%d")

    seconds = round(abs(span.total_seconds()))
    if seconds < 60:
        return "just now" if span <= timedelta(0) else "in <1m"
    amount = next(
        f"{seconds // size}{unit}" for unit, size in _UNITS if seconds >= size
    )
    return f"{amount} ago" if span < timedelta(0) else f"in {amount}"


def exact(text: str | None) -> str:
    """Return a timestamp to the second, as ``2026-01-31 12:00:00Z``."""
    return f"{render.short_time(text)}Z" if text else ""


def seconds(value: float | None) -> str:
    """Return a duration in seconds as ``0.31 s``, ``12.4 s`` or ``3m 05s``."""
    if value is None:
        return ""
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes}m {rest:02d}s"


def run_took(run: dict[str, Any], *, now: datetime | None = None) -> str:
    """Return how long a run took, or has been running so far."""
    if not run.get("started_at"):
        return ""
    start = parse_time(run["started_at"])
    end = parse_time(run["finished_at"]) if run.get("finished_at") else None
    return seconds(((end or now or datetime.now(UTC)) - start).total_seconds())


def state(value: str) -> Text:
    """Return a run's, step's or token's state in its colour, as the CLI shows it."""
    return render.status(value)


def plain(value: Any, style: str = "") -> Text:
    """Return a server's value as text that cannot drive the terminal."""
    return render.plain(value, style)
