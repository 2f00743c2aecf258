"""API tokens and roles.

A token is a named credential with a role. Its secret is shown once, to whoever
created it; the store keeps only the secret's SHA-256 hash, so a copy of the
database grants nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from uniflow.errors import AuthenticationError, TokenError
from uniflow.runs import timestamp

if TYPE_CHECKING:
    from uniflow.store import Store

SECRET_PREFIX = "uf_"


class Role(StrEnum):
    """What a token may do; each role includes the rights of the ones before it."""

    VIEWER = "viewer"
    """Reads runs, pipelines and projects."""
    OPERATOR = "operator"
    """Also triggers runs."""
    ADMIN = "admin"
    """Also manages tokens and projects."""

    def allows(self, needed: Role) -> bool:
        """Whether this role includes the rights of ``needed``."""
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Token:
    """A token's record as the store keeps it: never its secret."""

    token_id: str
    name: str
    role: Role
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None

    @property
    def state(self) -> str:
        """``active`` or ``revoked``."""
        return "revoked" if self.revoked_at else "active"

    def to_dict(self) -> dict[str, Any]:
        """Return the token as the API shows it."""
        return {
            "token_id": self.token_id,
            "name": self.name,
            "role": self.role.value,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
            "state": self.state,
        }


def new_secret() -> str:
    """Return a fresh secret: the ``uf_`` prefix and 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_token_id() -> str:
    """Return a fresh token id such as ``tok_5d41402abc4b``."""
    return "tok_" + secrets.token_hex(6)


def hash_secret(secret: str) -> str:
    """Return the hex SHA-256 of a secret, the only form the store keeps."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_role(value: str) -> Role:
    """Return the role named ``value``.

    Raises:
        TokenError: ``value`` names no role; the message lists the valid ones.
    """
    try:
        return Role(value)
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise TokenError(f"Unknown role {value!r}; use one of: {valid}.") from None


def issue(store: Store, name: str, role: Role | str) -> tuple[Token, str]:
    """Create a token and return it with its secret, which is never stored.

    Raises:
        TokenError: The name is empty or too long, the role is unknown, or an
            active token already has the name.
    """
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise TokenError(
            f"Invalid token name {name!r}; give 1 to 100 printable characters, "
            "for example 'ci'."
        )

    token = Token(
        token_id=new_token_id(),
        name=name,
        role=role if isinstance(role, Role) else parse_role(role),
        created_at=timestamp(),
    )
    secret = new_secret()
    store.add_token(token, hash_secret(secret))
    return token, secret


def authenticate(store: Store, secret: str) -> Token:
    """Return the active token whose secret this is.

    Raises:
        AuthenticationError: No token has this secret, or it was revoked.
    """
    token = store.token_by_hash(hash_secret(secret))
    if token is None:
        raise AuthenticationError(
            "The token is not valid; check that it was copied whole."
        )
    if token.revoked_at:
        raise AuthenticationError(
            f"The token {token.name!r} was revoked at {token.revoked_at}; "
            "ask an admin for a new one."
        )
    return token


def revoke(store: Store, token_id: str) -> Token:
    """Revoke a token at once; revoking a revoked token changes nothing.

    Raises:
        TokenError: No token has this id (status 404).
    """
    token = store.revoke_token(token_id, timestamp())
    if token is None:
        raise TokenError(
            f"No token {token_id!r}; `uniflow token list` shows the token ids.",
            status=404,
        )
    return token
