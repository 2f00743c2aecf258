"""The one error shape of the daemon: RFC 9457 ``application/problem+json``.

Every error answer, from a handler, from request validation or from Flask
itself, is built by :func:`problem`, so clients parse one shape::

    {"type": "urn:uniflow:problem:validation", "title": "Unprocessable Content",
     "status": 422, "detail": "...", "errors": [{"field": ..., "location": ...,
     "message": ...}]}
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, NoReturn

from flask import Response, abort

from uniflow import errors
from uniflow.errors import shorten
from uniflow.tokens import mask_secrets

MEDIA_TYPE = "application/problem+json"
MAX_ERRORS = 20
"""The most invalid fields one answer lists; ``more_errors`` counts the rest."""
MAX_DETAIL = 2000
"""The longest ``detail``, in characters, so that bad input is never echoed whole."""


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Return an error answer in the daemon's one error shape.

    Args:
        status: The HTTP status.
        detail: What went wrong and what to change, for a person.
        kind: A short slug naming the problem; ``about:blank`` when not given.
        headers: Extra headers, such as ``WWW-Authenticate``.
        **extra: More members of the body, such as ``errors``.
    """
    if status == 422 and "errors" not in extra:
        # A 422 always lists what is invalid; when the cause names no single
        # field, it is the request's body as a whole.
        extra["errors"] = [{"field": "", "location": "body", "message": detail}]
    fields = extra.get("errors", [])
    if len(fields) > MAX_ERRORS:
        extra["more_errors"] = len(fields) - MAX_ERRORS
    if fields:
        extra["errors"] = [
            {
                "field": mask_secrets(shorten(f["field"], 200)),
                "location": f["location"],
                "message": mask_secrets(shorten(f["message"], 500)),
            }
            for f in fields[:MAX_ERRORS]
        ]
    # A secret pasted where an id goes would otherwise be quoted back.
    detail = mask_secrets(shorten(detail, MAX_DETAIL))
    body = {
        "type": f"urn:uniflow:problem:{kind}" if kind else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype=MEDIA_TYPE
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def refuse_query(field: str, message: str) -> NoReturn:
    """Answer 422 at once: the query parameter ``field`` is invalid."""
    refuse(field, "query", message)


def refuse(
    field: str, location: str, message: str, kind: str = "validation"
) -> NoReturn:
    """Answer 422 at once: ``field`` in the request's ``location`` is invalid."""
    abort(
        problem(
            422,
            f"The request is invalid: {field}: {message.rstrip('.')}.",
            kind=kind,
            errors=[{"field": field, "location": location, "message": message}],
        )
    )


def unauthorized(exc: errors.AuthenticationError) -> Response:
    """Return a 401 answer that asks for a bearer token."""
    challenge = 'Bearer realm="uniflow"'
    if exc.reason != "missing":
        # RFC 6750: a token was sent, and it is the token that is refused.
        challenge += ', error="invalid_token"'
    return problem(
        401, str(exc), kind="unauthenticated", headers={"WWW-Authenticate": challenge}
    )


# Errors whose answer is only a status and a kind, most specific class first.
_SIMPLE: tuple[tuple[type[errors.UniFlowError], int, str], ...] = (
    (errors.RunNotFound, 404, "run-not-found"),
    (errors.DaemonStopping, 503, "daemon-stopping"),
    (errors.PermissionDenied, 403, "forbidden"),
    (errors.ConfigError, 422, "project-broken"),
    (errors.PipelineError, 422, "project-broken"),
)


def from_error(exc: errors.UniFlowError) -> Response:
    """Return the answer for an error the core raised on purpose."""
    match exc:
        case errors.ParameterError():
            fields = [
                {"field": e.field, "location": "body.parameters", "message": e.message}
                for e in exc.errors
            ]
            return problem(422, str(exc), kind="invalid-parameters", errors=fields)
        case errors.PipelineNotFound():
            return problem(
                404, str(exc), kind="pipeline-not-found", pipelines=exc.available
            )
        case errors.RunFinished():
            return problem(409, str(exc), kind="run-finished", run_status=exc.status)
        case errors.TokenError(status=422):
            return problem(422, str(exc), kind="token", errors=_field(exc.field, exc))
        case errors.TokenError():
            return problem(exc.status, str(exc), kind="token")
        case errors.ProjectError(found=False):
            return problem(404, str(exc), kind="project-not-found")
        case errors.ProjectError(conflict=True):
            return problem(409, str(exc), kind="project-conflict")
        case errors.ProjectError():
            return problem(422, str(exc), kind="invalid-project")
        case errors.AuthenticationError():
            return unauthorized(exc)
    for cls, status, kind in _SIMPLE:
        if isinstance(exc, cls):
            # Unavailable only while the daemon stops; a restart takes seconds.
            headers = {"Retry-After": "10"} if status == 503 else None
            return problem(status, str(exc), kind=kind, headers=headers)
    return problem(400, str(exc), kind="bad-request")


def _field(name: str, exc: Exception) -> list[dict[str, str]]:
    return [{"field": name, "location": "body", "message": str(exc)}]
