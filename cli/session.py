"""Which server the CLI talks to, and with which token.

The server is ``$UNIFLOW_URL`` when set, else the local daemon, started when
none answers. The token is ``$UNIFLOW_TOKEN``, else the one kept for that
server's URL in the OS keyring. Against the local daemon, a CLI without a token
provisions an admin token for itself through the local store, which only the
user can open; never over HTTP, since any web page can reach 127.0.0.1.
"""

from __future__ import annotations

import getpass
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from uniflow import audit, config, credentials, daemon_state, paths, servers, tokens
from uniflow.audit import Action
from uniflow.cli import daemon_control
from uniflow.cli.locks import exclusive
from uniflow.client import Client
from uniflow.errors import (
    APIError,
    AuthenticationError,
    CredentialError,
    DaemonNotRunning,
    UniFlowError,
)
from uniflow.tokens import Role

if TYPE_CHECKING:
    from uniflow.store import SQLiteStore

T = TypeVar("T")


@dataclass
class Session:
    """A server, a token for it, and whether the CLI may provision its own."""

    url: str
    local: bool
    credential: credentials.Credential | None
    rotating: threading.Lock = field(
        default_factory=threading.Lock, repr=False, compare=False
    )
    """Held while this process rotates the session's own token: a request the
    server refuses meanwhile waits for the new secret."""

    def client(self) -> Client:
        """Return a client for the server with the session's token."""
        return Client(self.url, self.credential.secret if self.credential else None)


def open_session(
    errors: Console, *, start: bool = True, provision: bool = True
) -> Session:
    """Find the server, starting the local daemon when allowed, and the token.

    Args:
        errors: Where to say that the daemon was started.
        start: Start the local daemon when none answers.
        provision: Against the local daemon, create the CLI's own token when it
            has none; otherwise the session may have no credential.

    Raises:
        DaemonNotRunning: No daemon answers and ``start`` is off.
        AuthenticationError: A remote server and no token for it.
    """
    url = servers.configured_url()
    if url is not None:
        if provision:
            credential: credentials.Credential | None = servers.token(url, local=False)
        else:
            credential = credentials.get(url)
        return Session(url, local=False, credential=credential)

    url = daemon_control.running_url()
    if url is None:
        if not start:
            raise DaemonNotRunning(servers.default_local_url())
        settings = config.load()
        state, started = daemon_control.start(settings.host, settings.port)
        if started:
            errors.print(f"Started the UniFlow daemon at {state.url}.")
        url = state.url

    session = Session(url, local=True, credential=credentials.get(url))
    if session.credential is None and provision:
        provision_token(session, errors)
    return session


def provision_token(
    session: Session, errors: Console, *, refused: str | None = None
) -> None:
    """Create an admin token for this CLI in the local store and keep it.

    Args:
        session: The local daemon's session; its credential is replaced.
        errors: Where to warn that the token went to the fallback file.
        refused: The secret the daemon refused, if any; a different secret kept
            for the daemon meanwhile is taken instead of provisioning.
    """
    from uniflow.store import SQLiteStore

    with exclusive("provision"):
        # Another CLI process, or another thread of the TUI, may have provisioned
        # or rotated while this one waited.
        known = credentials.get(session.url)
        if known is not None and known.secret != refused:
            session.credential = known
            return

        store = SQLiteStore(paths.database())
        _refuse_over_a_rotation(store, session, refused)
        name = tokens.cli_token_name(getpass.getuser(), socket.gethostname())
        for token in store.tokens():
            # An earlier CLI token whose secret is gone is of no use to anyone.
            if token.name == name and token.state() == "active":
                tokens.revoke(store, token.token_id)
                audit.record(
                    store,
                    Action.TOKEN_REVOKE,
                    None,
                    client="local",
                    target=token.token_id,
                )
        now = datetime.now(UTC)
        expires_at, lifetime = tokens.expiry(_daemons_policy(), now=now)
        token, secret = tokens.issue(
            store, name, Role.ADMIN, expires_at=expires_at, lifetime=lifetime, now=now
        )
        audit.record(
            store,
            Action.TOKEN_CREATE,
            None,
            client="local",
            target=token.token_id,
            detail="the CLI's own token, created in the local store",
        )
        stored = credentials.store(session.url, secret)
    if stored.fallback:
        errors.print(
            f"No OS keyring works here; the CLI's token is kept in "
            f"{stored.location}, readable by you only.",
            style="yellow",
        )
    session.credential = credentials.Credential(secret, stored.location)


def _daemons_policy() -> tokens.Policy:
    """The running local daemon's token rules, which its start's environment may
    have set; the config's when no daemon recorded them."""
    settings = config.load()
    state = daemon_state.read_state()
    if state is not None and state.default_lifetime is not None:
        settings = replace(
            settings,
            default_lifetime=state.default_lifetime,
            max_lifetime=state.max_lifetime or "",
        )
    return settings.token_policy()


def _refuse_over_a_rotation(
    store: SQLiteStore, session: Session, refused: str | None
) -> None:
    """Refuse to replace a token that was rotated into one that works.

    Its successor's secret was shown to whoever rotated it, maybe to keep; making
    the CLI a new token would revoke it (the two share a name).

    Raises:
        AuthenticationError: The refused token has a working successor.
    """
    found = store.token_by_hash(tokens.hash_secret(refused)) if refused else None
    successor = tokens.working_successor(store, found[0]) if found else None
    if successor is not None:
        raise AuthenticationError(
            f"The CLI's own token was rotated into {successor}, whose secret was "
            "shown to whoever rotated it. Keep that secret with `uniflow login "
            f"--url {session.url}`, or run `uniflow logout` to have the next "
            f"command make the CLI a new token (which revokes {successor})."
        )


def _refuses_token(exc: APIError) -> bool:
    # The daemon slows down failed authentications from an address, but never a
    # valid token: a 429 for too many failures means this token was refused too.
    return exc.status == 401 or (
        exc.status == 429
        and exc.body.get("type") == "urn:uniflow:problem:too-many-failures"
    )


def _secret(session: Session) -> str | None:
    return session.credential.secret if session.credential else None


def call(session: Session, errors: Console, action: Callable[[Client], T]) -> T:
    """Run ``action`` with a client; against the local daemon, recover once from a
    token the store no longer knows (for example after the data folder was reset),
    or that was revoked or has expired.
    """
    used = _secret(session)
    with session.client() as client:
        try:
            return action(client)
        except APIError as exc:
            if not _refuses_token(exc):
                raise
            from_env = session.credential and session.credential.source.startswith(
                "environment"
            )
            # A secret that changed meanwhile was rotated by another worker of this
            # process (a TUI's): any server takes it.
            with session.rotating:
                pass
            if _secret(session) == used and (not session.local or from_env):
                raise

    if _secret(session) == used:
        provision_token(session, errors, refused=used)
    with session.client() as client:
        return action(client)


@dataclass(frozen=True)
class Rotation:
    """A rotated token, with its new secret."""

    token: dict[str, Any]
    own: bool
    """The token was the session's own."""
    kept_in: str | None
    """Where the new secret replaced the old one: set for the session's own token
    unless that came from ``UNIFLOW_TOKEN``, which only the user can change."""
    not_kept: CredentialError | None = None
    """Why the session's own new secret could not be kept: it must be shown."""
    also_kept_in: str | None = None
    """Where a kept copy of the old secret was replaced, when the session's own
    token came from ``UNIFLOW_TOKEN``."""


def rotate(
    session: Session, errors: Console, token_id: str, grace: str | None
) -> Rotation:
    """Rotate a token; when it is the session's own, keep the new secret in place.

    The rotation and the keeping of the new secret hold the provisioning lock: a
    request of this user that sees the old secret refused in between (another CLI,
    a TUI worker) waits and then takes the new secret, instead of provisioning a
    token and revoking this one, whose name it shares; and of two commands
    rotating the kept token at once, the second does nothing.
    """
    own = call(session, errors, lambda c: c.own_token())["token_id"] == token_id
    credential = session.credential
    if not own or credential is None or credential.source.startswith("environment"):
        token = call(session, errors, lambda c: c.rotate_token(token_id, grace=grace))
        if not own or credential is None:
            return Rotation(token, own, None)
        # From UNIFLOW_TOKEN, which only the user can change; but a copy of the old
        # secret kept for this server would be used, and refused, once it is
        # unset (and against the local daemon, replaced by a token that revokes
        # this new one).
        try:
            also = credentials.replace_kept(
                session.url, credential.secret, token["secret"]
            )
        except CredentialError as exc:
            return Rotation(token, own, None, not_kept=exc)
        return Rotation(token, own, None, also_kept_in=also)

    # The lock, also for another server: two of this user's commands rotating the
    # same kept token must not interleave their reads and writes of it.
    with exclusive("provision"), session.rotating:
        kept = credentials.get(session.url)
        if credential.source != "memory" and (
            kept is None or kept.secret != credential.secret
        ):
            raise UniFlowError(
                "The token kept for this server changed while this command waited "
                "(another command rotated or replaced it); nothing was rotated. Run "
                "the command again if it is still needed."
            )
        try:
            # First make sure the new secret can be kept: once rotated, the old one
            # no longer works, and the new one would live on the screen only.
            credentials.store(session.url, credential.secret)
        except CredentialError as exc:
            raise CredentialError(f"{exc} The token was not rotated.") from None
        with session.client() as client:
            token = client.rotate_token(token_id, grace=grace)
        # At once, before the keyring is asked: a request refused meanwhile takes it.
        session.credential = credentials.Credential(token["secret"], "memory")
        try:
            stored = credentials.store(session.url, token["secret"])
        except CredentialError as exc:
            # The rotation has happened: the new secret is the only way back in.
            # This session goes on with it; the next one must be given it.
            return Rotation(token, own, None, not_kept=exc)
        session.credential = credentials.Credential(token["secret"], stored.location)
    return Rotation(token, own, stored.location)
