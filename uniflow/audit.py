"""The audit log: who created, rotated and revoked tokens, who failed to
authenticate, who registered projects, and who triggered and cancelled runs.

An event names the acting token by id and name, and the client's address; it
never holds a secret. Failed authentications record only their reason.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from uniflow.runs import timestamp
from uniflow.tokens import mask_secrets

if TYPE_CHECKING:
    from uniflow.store import Store
    from uniflow.tokens import Token

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Action(StrEnum):
    """What an audit event records."""

    TOKEN_CREATE = "token.create"
    TOKEN_ROTATE = "token.rotate"
    TOKEN_REVOKE = "token.revoke"
    AUTH_FAIL = "auth.fail"
    PROJECT_REGISTER = "project.register"
    PROJECT_REMOVE = "project.remove"
    RUN_TRIGGER = "run.trigger"
    RUN_CANCEL = "run.cancel"
    RUNS_PRUNE = "runs.prune"


@dataclass(frozen=True)
class Event:
    """One entry of the audit log."""

    action: str
    token_id: str | None = None
    """The acting token, or the one a failed authentication named."""
    token_name: str | None = None
    client: str | None = None
    """The client's address; ``local`` for the CLI writing the store itself."""
    target: str | None = None
    """What the action was done to: a token id, a project name, a run id."""
    detail: str | None = None
    """More, such as a failed authentication's reason."""
    at: str = field(default_factory=timestamp)

    def to_dict(self) -> dict[str, Any]:
        """Return the event as the API shows it."""
        return asdict(self)


def record(
    store: Store,
    action: Action,
    token: Token | None,
    *,
    client: str | None,
    target: str | None = None,
    detail: str | None = None,
) -> None:
    """Append one event, acted by ``token`` from ``client``, to the audit log.

    ``target`` and ``detail`` may quote a request (its path, say): secrets and
    control characters in them are masked, so the log never holds a secret and
    cannot forge lines of ``uniflow audit``.
    """
    store.add_event(
        Event(
            action=action.value,
            token_id=token.token_id if token else None,
            token_name=token.name if token else None,
            client=client,
            target=_clean(target),
            detail=_clean(detail),
        )
    )


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    return _CONTROL.sub("\ufffd", mask_secrets(text))
