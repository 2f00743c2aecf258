"""The one authentication and authorization check of every ``/api/v1`` request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import Response, current_app, g, request

from uniflow import tokens
from uniflow.daemon.problems import problem, unauthorized
from uniflow.errors import AuthenticationError
from uniflow.runs import timestamp
from uniflow.store import Store
from uniflow.tokens import Role, Token

F = TypeVar("F", bound=Callable[..., Any])
ROLE_ATTRIBUTE = "uniflow_required_role"
# last_used_at is written at most this often per token, so that checking a token
# stays a read.
TOUCH_INTERVAL = timedelta(minutes=1)


def requires(role: Role) -> Callable[[F], F]:
    """Declare the role an endpoint needs; an endpoint without one is refused."""

    def mark(func: F) -> F:
        setattr(func, ROLE_ATTRIBUTE, role)
        return func

    return mark


def check_request(store: Store) -> Response | None:
    """Authenticate the request's bearer token and check its role.

    Returns:
        None when the request may go on, else the error answer.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if not header:
        return unauthorized(
            "This endpoint needs a token: send 'Authorization: Bearer <token>'."
        )
    if scheme.lower() != "bearer":
        return unauthorized(
            "The Authorization header must be 'Bearer <token>'; other schemes are "
            "not accepted."
        )
    if not secret:
        return unauthorized(
            "The Authorization header names no token: send 'Bearer <token>'."
        )
    try:
        token = tokens.authenticate(store, secret)
    except AuthenticationError as exc:
        current_app.logger.info("Authentication failed: %s", exc)
        return unauthorized(str(exc))

    g.token = token
    _record_use(store, token)

    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return None  # Flask answers 404 or 405 next.
    needed = getattr(view, ROLE_ATTRIBUTE, None)
    if needed is None:
        # Fail closed: an endpoint that forgot to declare its role is refused.
        return problem(500, "This endpoint declares no role.", kind="internal")
    if not token.role.allows(needed):
        return problem(
            403,
            f"The token {token.name!r} has the role {token.role.value!r}; this "
            f"needs {needed.value!r}. Ask an admin for a token with that role.",
            kind="forbidden",
        )
    return None


def _record_use(store: Store, token: Token) -> None:
    now = datetime.now(UTC)
    if token.last_used_at:
        last = datetime.fromisoformat(token.last_used_at.replace("Z", "+00:00"))
        if now - last < TOUCH_INTERVAL:
            return
    store.touch_token(token.token_id, timestamp(now))
