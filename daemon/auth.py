"""The one authentication and authorization check of every ``/api/v1`` request,
and the checks that keep web pages away from the daemon.

Any page in the user's browser can send requests to 127.0.0.1, and DNS rebinding
lets a page read the answers under a name of its own. So every request must name
the daemon in its ``Host`` header, requests from another origin are refused, no
CORS header is ever sent, and every state change needs a bearer token, which a
browser never adds by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Response, current_app, g, request

from uniflow import audit, tokens
from uniflow.audit import Action
from uniflow.daemon.problems import problem, unauthorized
from uniflow.daemon.throttle import Window
from uniflow.errors import AuthenticationError, PermissionDenied, RunNotFound
from uniflow.runs import Run, timestamp
from uniflow.store import Store
from uniflow.tokens import Role, Token

F = TypeVar("F", bound=Callable[..., Any])
ROLE_ATTRIBUTE = "uniflow_required_role"
ALL_PROJECTS_ATTRIBUTE = "uniflow_all_projects"
# last_used_at is written at most this often per token (seconds), so that checking
# a token stays a read.
TOUCH_INTERVAL = 60.0
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def requires(role: Role, *, all_projects: bool = False) -> Callable[[F], F]:
    """Declare the role an endpoint needs; an endpoint without one is refused.

    Args:
        role: The weakest role that may call the endpoint.
        all_projects: The endpoint acts beyond one project (tokens, projects,
            pruning, the audit log), so a token limited to a project may not
            call it.
    """

    def mark(func: F) -> F:
        setattr(func, ROLE_ATTRIBUTE, role)
        setattr(func, ALL_PROJECTS_ATTRIBUTE, all_projects)
        return func

    return mark


@dataclass
class Guard:
    """What the checks need besides the request."""

    store: Store
    views: dict[str, Callable[..., Any]]
    """The app's view functions by endpoint, which carry their needed role."""
    allowed_hosts: frozenset[str]
    """Host names the daemon answers to, lowercase, without ports."""
    failures: Window | None
    """Failed authentications per client address, or None for no limit."""


def check_origin(guard: Guard) -> Response | None:
    """Refuse a request that does not name the daemon or comes from another site.

    Returns:
        None when the request may go on, else the error answer.
    """
    # A request line may name a host of its own (`GET http://evil.example/...`),
    # which HTTP ranks above the Host header: such requests go to proxies, not
    # to this daemon.
    target = request.environ.get("REQUEST_URI", "/")
    if not target.startswith("/"):
        return problem(
            400,
            "The request line names a full URL; send the path only, with the "
            "daemon's name in the Host header.",
            kind="host-not-allowed",
        )
    host = _name(request.host)
    if host not in guard.allowed_hosts:
        return problem(
            400,
            f"The Host header {request.host[:100]!r} is not a name this daemon "
            "answers to; use http://127.0.0.1 or http://localhost, or add the name "
            "to allowed_hosts in the [daemon] section of config.toml.",
            kind="host-not-allowed",
        )
    origin = request.headers.get("Origin")
    if origin is not None and not _same_origin(origin):
        # Cross-origin requests, preflights included, get no CORS headers, so a
        # browser lets no page of another site read or send them.
        return problem(
            403,
            "Requests from web pages of another origin are refused; call the API "
            "from a program, or from the daemon's own /docs page.",
            kind="cross-origin",
        )
    return None


def _name(host: str) -> str:
    host = host.lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _same_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == (
        request.host.lower()
    )


def check_request(guard: Guard) -> Response | None:
    """Authenticate the request's bearer token and check its role and project.

    Returns:
        None when the request may go on, else the error answer.
    """
    environ = request.environ
    client = environ.get("REMOTE_ADDR") or "unknown"
    try:
        token = tokens.authenticate(
            guard.store, _bearer(environ.get("HTTP_AUTHORIZATION", ""))
        )
    except AuthenticationError as exc:
        # Guesses are slowed down, per client address. A valid token always gets
        # through: every local program shares 127.0.0.1, and one with a stale
        # token must not lock out the others.
        if (
            guard.failures is not None
            and exc.reason != "missing"
            and guard.failures.full(client)
        ):
            wait = guard.failures.wait(client)
            return problem(
                429,
                f"Too many failed authentications from {client}; try again in "
                f"{wait} s with a valid token.",
                kind="too-many-failures",
                headers={"Retry-After": str(wait)},
            )
        _failed(guard, exc, client)
        return unauthorized(exc)

    g.token = _record_use(guard.store, token, client)

    view = guard.views.get(request.endpoint or "")
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
    if token.project and getattr(view, ALL_PROJECTS_ATTRIBUTE, True):
        return problem(
            403,
            f"The token {token.name!r} is limited to the project {token.project!r}; "
            "this needs a token for all projects.",
            kind="forbidden",
        )
    return None


def _bearer(header: str) -> str:
    # RFC 9110 puts spaces between the scheme and the token; tabs are taken too,
    # as the scheme is right and no other reading of them is meant.
    parts = header.split(None, 1)
    if not parts:
        raise AuthenticationError(
            "This endpoint needs a token: send 'Authorization: Bearer <token>'.",
            reason="missing",
        )
    if parts[0].lower() != "bearer":
        raise AuthenticationError(
            "The Authorization header must be 'Bearer <token>'; other schemes are "
            "not accepted.",
            reason="malformed",
        )
    secret = parts[1].strip() if len(parts) > 1 else ""
    if not secret:
        raise AuthenticationError(
            "The Authorization header names no token: send 'Bearer <token>'.",
            reason="missing",
        )
    return secret


def _failed(guard: Guard, exc: AuthenticationError, client: str) -> None:
    # A request without any credential is no guess at one: it is neither
    # counted nor audited, so that a browser or a health probe cannot lock out
    # the user's own programs.
    if exc.reason == "missing":
        return
    if guard.failures is not None:
        guard.failures.hit(client)
    current_app.logger.info("Authentication failed from %s: %s", client, exc.reason)
    audit.record(
        guard.store,
        Action.AUTH_FAIL,
        exc.token,
        client=client,
        target=request.path[:200],
        detail=exc.reason,
    )


def _record_use(store: Store, token: Token, client: str) -> Token:
    """Record this use when the last recorded one is old; return the token as
    stored now."""
    now = time.time()
    if token.used_since(now - TOUCH_INTERVAL):
        return token
    used_at = timestamp(datetime.fromtimestamp(now, UTC))
    store.touch_token(token.token_id, used_at, client)
    return replace(token, last_used_at=used_at, last_used_from=client)


def project_of(requested: str | None) -> str | None:
    """Return the project a request may reach: its token's, when it has one.

    Raises:
        PermissionDenied: The token is limited to another project.
    """
    scope = g.token.project
    if scope is None or requested in (None, scope):
        return scope or requested
    raise PermissionDenied(
        f"The token {g.token.name!r} is limited to the project {scope!r}; it cannot "
        f"reach {requested!r}."
    )


def visible(run: Run | None, run_id: str) -> Run:
    """Return ``run`` if the request's token may see it.

    Raises:
        RunNotFound: There is no such run, or it belongs to a project the token
            may not reach (the same answer, so run ids do not leak).
    """
    if run is None or (g.token.project and run.project != g.token.project):
        raise RunNotFound(run_id)
    return run


def record(
    store: Store,
    action: Action,
    *,
    target: str | None = None,
    detail: str | None = None,
) -> None:
    """Append an event acted by the request's token to the audit log."""
    audit.record(
        store,
        action,
        g.token,
        client=request.remote_addr,
        target=target,
        detail=detail,
    )
