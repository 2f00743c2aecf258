"""The token and audit endpoints: create, list, rotate and revoke tokens, show the
request's own token, and read the audit log.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Response, g, jsonify
from flask_openapi3 import APIBlueprint, Tag

from uniflow import durations, tokens
from uniflow.audit import Action
from uniflow.daemon import auth
from uniflow.daemon.models import (
    AuditList,
    AuditQuery,
    CreateToken,
    NewToken,
    PageQuery,
    RotatedToken,
    RotateToken,
    TokenList,
    TokenOut,
    TokenPath,
    error_answers,
)
from uniflow.daemon.paging import bad_cursor, in_order, page, read_cursor, to_json
from uniflow.errors import PermissionDenied
from uniflow.store import Store
from uniflow.tokens import Policy, Role, Token

logger = logging.getLogger(__name__)


def add_token_routes(api: APIBlueprint, store: Store, policy: Policy) -> None:
    """Add the ``/tokens``, ``/token`` and ``/audit`` endpoints to ``api``."""
    tag = Tag(name="tokens", description="Who may use the API, and what they did.")

    @api.get(
        "/tokens",
        tags=[tag],
        summary="List tokens",
        description="Return a page of tokens, oldest first, active, expired and "
        "revoked, never a secret. Needs the admin role, for all projects.",
        responses={200: TokenList},
    )
    @auth.requires(Role.ADMIN, all_projects=True)
    def list_tokens(query: PageQuery) -> Any:
        found = [t.to_dict() for t in store.tokens()]
        items, position = in_order(
            found, lambda t: [t["created_at"], t["token_id"]], query, "tokens"
        )
        return page(to_json(items), query, "tokens", position)

    @api.post(
        "/tokens",
        tags=[tag],
        summary="Create a token",
        description="Create a token with a name, a role, optionally one project it "
        "is limited to, and an expiry (90 days unless told otherwise). Its secret "
        "is in this answer and never again: the daemon keeps only a hash. An "
        "active token with the same name is refused (409). Needs the admin role, "
        "for all projects.",
        responses={201: NewToken, **error_answers(409, 413, 415)},
    )
    @auth.requires(Role.ADMIN, all_projects=True)
    def create_token(body: CreateToken) -> Any:
        tokens.check_name_is_not_the_clis(body.name)
        now = datetime.now(UTC)
        expires_at, lifetime = tokens.expiry(
            policy,
            expires_in=durations.parse(body.expires_in) if body.expires_in else None,
            expires_at=tokens.parse_expiry(body.expires_at)
            if body.expires_at is not None
            else None,
            no_expiry=body.no_expiry,
            now=now,
        )
        token, secret = tokens.issue(
            store,
            body.name,
            body.role,
            project=body.project,
            expires_at=expires_at,
            lifetime=lifetime,
            now=now,
        )
        logger.info("Token %s created by token %s", token.token_id, g.token.token_id)
        auth.record(store, Action.TOKEN_CREATE, target=token.token_id)
        return _with_secret(token, secret)

    @api.post(
        "/tokens/<token_id>/rotate",
        tags=[tag],
        summary="Rotate a token",
        description="Replace a token with a new one of the same name, role, "
        "project and lifetime, and revoke the old one at once or after `grace`. "
        "The new secret is in this answer and never again. A token may rotate "
        "itself; rotating another needs the admin role, for all projects. A token "
        "rotated already or revoked answers 409.",
        responses={201: RotatedToken, **error_answers(404, 409, 413, 415)},
    )
    @auth.requires(Role.VIEWER)
    def rotate_token(path: TokenPath, body: RotateToken) -> Any:
        caller = g.token
        if path.token_id != caller.token_id and (
            caller.role is not Role.ADMIN or caller.project
        ):
            raise PermissionDenied(
                f"The token {caller.name!r} may rotate only itself; rotating another "
                "token needs an admin token for all projects."
            )
        grace = durations.parse(body.grace) if body.grace else None
        token, secret = tokens.rotate(store, path.token_id, grace=grace, policy=policy)
        logger.info(
            "Token %s rotated into %s by token %s",
            path.token_id,
            token.token_id,
            caller.token_id,
        )
        # The grace is cut short where the old token would have expired sooner.
        replaced = store.token(path.token_id)
        ends = (replaced and replaced.revoked_at) or token.created_at
        auth.record(
            store,
            Action.TOKEN_ROTATE,
            target=path.token_id,
            detail=f"replaced by {token.token_id}"
            + (f"; the old one works until {ends}" if ends > token.created_at else ""),
        )
        return _with_secret(token, secret, old_revoked_at=ends)

    @api.post(
        "/tokens/<token_id>/revoke",
        tags=[tag],
        summary="Revoke a token",
        description="Revoke a token at once: its next request gets 401. So do the "
        "tokens it replaced that still work in a rotation's grace. Revoking a "
        "revoked token changes nothing. Needs the admin role, for all projects.",
        responses={200: TokenOut, **error_answers(404, 413, 415)},
    )
    @auth.requires(Role.ADMIN, all_projects=True)
    def revoke_token(path: TokenPath) -> Any:
        token, ended = tokens.revoke(store, path.token_id)
        logger.info("Token %s revoked by token %s", token.token_id, g.token.token_id)
        auth.record(store, Action.TOKEN_REVOKE, target=token.token_id)
        for earlier in ended:
            auth.record(
                store,
                Action.TOKEN_REVOKE,
                target=earlier,
                detail=f"in its grace, with its successor {token.token_id}",
            )
        return jsonify(token.to_dict())

    @api.get(
        "/token",
        tags=[tag],
        summary="Show the request's own token",
        description="Return the token this request authenticated with: its name, "
        "role, project and expiry, never its secret. Any role.",
        responses={200: TokenOut},
    )
    @auth.requires(Role.VIEWER)
    def own_token() -> Any:
        return jsonify(g.token.to_dict())

    @api.get(
        "/audit",
        tags=[tag],
        summary="Read the audit log",
        description="Return a page of the audit log, newest first: token "
        "creations, rotations and revocations, failed authentications (their "
        "reason, never a secret), registered and removed projects, triggered and "
        "cancelled runs, prunes; each with its time, acting token and client "
        "address. Needs the admin role, for all projects.",
        responses={200: AuditList},
    )
    @auth.requires(Role.ADMIN, all_projects=True)
    def read_audit(query: AuditQuery) -> Any:
        try:
            found, position = store.events(
                action=query.action,
                limit=query.limit,
                after=read_cursor("audit", query.cursor, str),
            )
        except ValueError:
            bad_cursor()
        return page(to_json([e.to_dict() for e in found]), query, "audit", position)


def _with_secret(token: Token, secret: str, **extra: str) -> Response:
    answer = jsonify({**token.to_dict(), "secret": secret, **extra})
    answer.status_code = 201
    answer.headers["Cache-Control"] = "no-store"
    return answer
