"""Paging every list: one envelope, and opaque cursors that say where to go on.

A cursor is the list it belongs to and the position after a page's last item, as
base64url JSON: clients pass it back and never read it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from flask import Response

from uniflow.daemon.models import PageQuery
from uniflow.daemon.problems import refuse_query

T = TypeVar("T")


def page(
    items: str, query: PageQuery, kind: str, position: Any, **extra: Any
) -> Response:
    """Return a list's answer: ``items``, already JSON, in the paging envelope.

    Args:
        items: The page's items as a JSON array.
        query: The request's paging.
        kind: Which list this is; its cursors are refused by the others.
        position: Where the next page starts, or None after the last page.
        **extra: More members of the answer, such as ``problems``.
    """
    cursor = None
    if position is not None:
        text = json.dumps([kind, position], separators=(",", ":"))
        cursor = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    rest = to_json({"limit": query.limit, "next_cursor": cursor, **extra})
    return Response(f'{{"items":{items},{rest[1:]}', mimetype="application/json")


def to_json(value: Any) -> str:
    """Return ``value`` as compact JSON, non-ASCII text as it is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def read_cursor(kind: str, cursor: str | None, expected: type[T]) -> T | None:
    """Return the position in a cursor of list ``kind``; answer 422 for any other."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found, position = json.loads(text)
    except (ValueError, TypeError):
        bad_cursor()
    if found != kind or not isinstance(position, expected):
        bad_cursor()
    return position


def in_order(
    items: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], list[str]],
    query: PageQuery,
    kind: str,
) -> tuple[list[dict[str, Any]], list[str] | None]:
    """Return the page of a short list that the query asks for, and its position."""
    after = read_cursor(kind, query.cursor, list)
    if after is not None and not all(isinstance(part, str) for part in after):
        bad_cursor()
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [item for item in ordered if key(item) > after]
    page = ordered[: query.limit]
    return page, key(page[-1]) if len(ordered) > query.limit else None


def bad_cursor() -> NoReturn:
    """Answer 422: the cursor is not one this list gave."""
    refuse_query(
        "cursor", "is not a cursor this list gave; leave it out to start from the top"
    )
