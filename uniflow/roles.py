"""Roles: what a token may do.

A module of its own, with nothing to import, so that the command line can offer the
roles without loading the rest of the token machinery.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a token may do; each role includes the rights of the ones before it."""

    VIEWER = "viewer"
    """Reads runs, pipelines and projects."""
    OPERATOR = "operator"
    """Also triggers and cancels runs."""
    ADMIN = "admin"
    """Also manages tokens and projects."""

    def allows(self, needed: Role) -> bool:
        """Whether this role includes the rights of ``needed``."""
        return _RANKS[self] >= _RANKS[needed]


_RANKS = {role: rank for rank, role in enumerate(Role)}
