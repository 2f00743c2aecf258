"""API tokens and roles.

A token is a named credential with a role, optionally limited to one project, and
with an expiry. Its secret is shown once, to whoever created it; the store keeps
only the secret's SHA-256 hash, so a copy of the database grants nothing.

A secret reads ``uf_`` + 30 random base62 characters (178 bits) + a 6-character
base62 CRC32 of those 30. The checksum lets a mistyped or truncated secret be
refused before the store is read, and lets secret scanners recognise a leaked one.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import string
import time as _time
import unicodedata
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from uniflow import durations
from uniflow.errors import AuthenticationError, TokenError, shorten
from uniflow.roles import Role as Role  # Re-exported: callers know it as a token's.
from uniflow.runs import timestamp

if TYPE_CHECKING:
    from uniflow.store import Store

SECRET_PREFIX = "uf_"
_ALPHABET = string.digits + string.ascii_letters
_RANDOM_LENGTH = 30
_CHECKSUM_LENGTH = 6
SECRET_LENGTH = len(SECRET_PREFIX) + _RANDOM_LENGTH + _CHECKSUM_LENGTH
"""How many characters a secret has: 39."""
_SECRET = re.compile(f"uf_[0-9A-Za-z]{{{_RANDOM_LENGTH + _CHECKSUM_LENGTH}}}")
# Secrets issued before checksums: uf_ and 43 URL-safe characters. They keep
# working, by their hash alone, so that no stored credential is lost; rotating one
# gives it a checksummed successor.
_LEGACY_SECRET = re.compile("uf_[0-9A-Za-z_-]{43}")
_LEGACY_LENGTH = len(SECRET_PREFIX) + 43

DEFAULT_LIFETIME = timedelta(days=90)
"""How long a token lives when its creator says nothing."""
LONGEST_GRACE = timedelta(days=7)
"""The longest a rotated token may keep working beside its successor."""


@dataclass(frozen=True)
class Policy:
    """The lifetime rules tokens are created under."""

    default_lifetime: timedelta = DEFAULT_LIFETIME
    """The lifetime of a token created without one."""
    max_lifetime: timedelta | None = None
    """The longest lifetime allowed; None allows any, and tokens without expiry."""


@dataclass(frozen=True)
class Token:
    """A token's record as the store keeps it: never its secret."""

    token_id: str
    name: str
    role: Role
    created_at: str
    project: str | None = None
    """The one project the token may reach, or None for all."""
    expires_at: str | None = None
    """When the token stops working, or None for never."""
    lifetime: int | None = None
    """Seconds from creation to expiry, which its rotations keep; None: never."""
    last_used_at: str | None = None
    last_used_from: str | None = None
    """The client address of the last recorded use."""
    revoked_at: str | None = None
    """When the token was or will be revoked (a rotation's grace ends then)."""
    replaced_by: str | None = None
    """The id of the token a rotation replaced this one with."""

    def state(self, now: str | None = None) -> str:
        """``active``, ``revoked`` or ``expired`` at ``now`` (default: now)."""
        if now is None:
            # The daemon asks this of every request's token: a clock reading
            # against an end parsed once is cheaper than formatting the time.
            if _time.time() < self._ends:
                return "active"
            now = timestamp()
        if self.revoked_at and self.revoked_at <= now:
            return "revoked"
        if self.expires_at and self.expires_at <= now:
            return "expired"
        return "active"

    @cached_property
    def _ends(self) -> float:
        """When the token stops working, in seconds since the epoch (inf: never)."""
        ends = [
            datetime.fromisoformat(moment).timestamp()
            for moment in (self.revoked_at, self.expires_at)
            if moment
        ]
        return min(ends, default=math.inf)

    @cached_property
    def _last_used(self) -> float:
        if not self.last_used_at:
            return -math.inf
        return datetime.fromisoformat(self.last_used_at).timestamp()

    def used_since(self, moment: float) -> bool:
        """Whether the token's last recorded use is at or after ``moment``, in
        seconds since the epoch."""
        return self._last_used >= moment

    def to_dict(self) -> dict[str, Any]:
        """Return the token as the API shows it."""
        return {
            "token_id": self.token_id,
            "name": self.name,
            "role": self.role.value,
            "project": self.project,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
            "last_used_from": self.last_used_from,
            "revoked_at": self.revoked_at,
            "replaced_by": self.replaced_by,
            "state": self.state(),
        }


def new_secret() -> str:
    """Return a fresh secret: ``uf_``, 30 random base62 characters, a checksum."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return SECRET_PREFIX + body + _checksum(body)


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    text = ""
    for _ in range(_CHECKSUM_LENGTH):
        value, digit = divmod(value, len(_ALPHABET))
        text = _ALPHABET[digit] + text
    return text


def check_format(secret: str) -> None:
    """Refuse a secret that no token can have, without reading the store.

    Raises:
        AuthenticationError: The secret is malformed or its checksum is wrong;
            ``reason`` is ``malformed`` or ``checksum``.
    """
    # Current secrets first: every request checks one. The two lengths differ.
    if not _SECRET.fullmatch(secret):
        if _LEGACY_SECRET.fullmatch(secret):
            return
        raise AuthenticationError(
            f"The token is malformed: UniFlow tokens are '{SECRET_PREFIX}' and "
            f"{SECRET_LENGTH - len(SECRET_PREFIX)} letters and digits; copy it "
            "again whole.",
            reason="malformed",
        )
    body = secret[len(SECRET_PREFIX) : -_CHECKSUM_LENGTH]
    if not hmac.compare_digest(_checksum(body), secret[-_CHECKSUM_LENGTH:]):
        raise AuthenticationError(
            "The token's checksum does not match: it was mistyped or cut short; "
            "copy it again whole.",
            reason="checksum",
        )


# Anything a secret may be, whole or cut: a value quoted back (a secret pasted
# where an id goes) is masked with this before it is shown or recorded.
_SECRET_LIKE = re.compile(r"uf_[0-9A-Za-z_-]{8,}")


# The CLI's own token for the local daemon is named `cli USER@HOST`; when the CLI
# makes a new one it revokes the older ones of that name, so people may not take it.
_CLI_NAME = re.compile(r"cli\s+\S+@\S+", re.IGNORECASE)


def cli_token_name(user: str, host: str) -> str:
    """Return the name of the CLI's own token for ``user`` on ``host``."""
    return f"cli {user}@{host}"


def check_not_a_secret(value: str, what: str) -> None:
    """Refuse a name that holds a token's secret: names are shown in lists, logs and
    the audit log, where a secret must never be.

    Raises:
        TokenError: ``value`` holds something that looks like a secret.
    """
    if looks_like_secret(value):
        raise TokenError(
            f"The {what} given holds a token's secret, or a piece of one (uf_ and "
            f"8 or more letters or digits); a {what} is shown to everyone who lists "
            "it, so choose another one, and rotate that token if the secret is real."
        )


def check_name_is_not_the_clis(name: str) -> None:
    """Refuse a name of the form the CLI gives its own tokens.

    Raises:
        TokenError: The name reads ``cli USER@HOST``.
    """
    # Compatibility forms too: fullwidth ｃｌｉ reads as cli in a list.
    if _CLI_NAME.fullmatch(unicodedata.normalize("NFKC", name).strip()):
        raise TokenError(
            f"Names like {name.strip()!r} ('cli USER@HOST') are kept for the CLI's "
            "own tokens, which it replaces by name; choose another name."
        )


_ALNUM_RUN = re.compile(f"[0-9A-Za-z]{{{_RANDOM_LENGTH + _CHECKSUM_LENGTH},}}")


def holds_secret(text: str) -> bool:
    """Whether ``text`` holds a whole secret of a token: one with a right checksum,
    with or without its ``uf_``, or one of the 43-character form before checksums.

    Stricter than :func:`mask_secrets`, so that a name such as ``uf_models`` is
    not taken for one. Any 36 letters and digits whose last 6 are the checksum of
    the 30 before count, ``uf_`` or not: by chance, one text in 57 billion.
    """
    if any(_has_checksum(run.group()) for run in _ALNUM_RUN.finditer(text)):
        return True
    start = text.find(SECRET_PREFIX)
    while start >= 0:
        if _LEGACY_SECRET.fullmatch(text[start : start + _LEGACY_LENGTH]):
            return True
        start = text.find(SECRET_PREFIX, start + 1)
    return False


def _has_checksum(letters_and_digits: str) -> bool:
    """Whether 36 of these in a row end in the checksum of the 30 before."""
    body = _RANDOM_LENGTH + _CHECKSUM_LENGTH
    for start in range(len(letters_and_digits) - body + 1):
        window = letters_and_digits[start : start + body]
        if _checksum(window[:_RANDOM_LENGTH]) == window[_RANDOM_LENGTH:]:
            return True
    return False


def looks_like_secret(text: str) -> bool:
    """Whether ``text`` holds a secret or a piece of one long enough to matter:
    what :func:`mask_secrets` masks."""
    return mask_secrets(text) != text


_MASK = "uf_…(a secret, not shown)"


def mask_secrets(text: str) -> str:
    """Return ``text`` with whatever looks like a token's secret masked: ``uf_``
    and 8 or more characters, or a whole secret's 36 without its ``uf_``."""
    text = _SECRET_LIKE.sub(_MASK, text)
    return _ALNUM_RUN.sub(
        lambda run: _MASK if _has_checksum(run.group()) else run.group(), text
    )


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
        raise TokenError(
            f"Unknown role {value!r}; use one of: {valid}.", field="role"
        ) from None


_EXPIRY_FORM = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}:?\d{2})?)?",
    re.ASCII,
)


def parse_expiry(text: str) -> datetime:
    """Return the moment a date (``2027-01-31``, its start in UTC) or a date and
    time (``2027-01-31T12:00:00Z``; without an offset, UTC) stands for.

    Raises:
        TokenError: ``text`` is neither.
    """
    value = text.strip()
    try:
        # Only the forms above: Python would also take 20270131 or 2027-W05,
        # which people write by mistake more often than on purpose.
        if not _EXPIRY_FORM.fullmatch(value):
            raise ValueError(value)
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), UTC)
        moment = datetime.fromisoformat(value)
        # In UTC, where timestamps are kept; near year 1 or 9999 it has none.
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise TokenError(
            f"{value[:40]!r} is not a date or date and time; write it as 2027-01-31 "
            "or 2027-01-31T12:00:00Z.",
            field="expires_at",
        ) from None


def expiry(
    policy: Policy,
    *,
    expires_in: timedelta | None = None,
    expires_at: datetime | None = None,
    no_expiry: bool = False,
    now: datetime | None = None,
) -> tuple[datetime | None, int | None]:
    """Return when a new token expires and its lifetime in seconds (None: never).

    Raises:
        TokenError: More than one way is given, the moment is past, or the
            lifetime breaks the policy's maximum.
    """
    now = now or datetime.now(UTC)
    given = [
        name
        for name, value in (
            ("expires_in", expires_in is not None),
            ("expires_at", expires_at is not None),
            ("no_expiry", no_expiry),
        )
        if value
    ]
    if len(given) > 1:
        raise TokenError(
            f"Give one of expires_in, expires_at and no_expiry, not several "
            f"({' and '.join(given)} were given).",
            field=given[0],
        )
    if no_expiry:
        if policy.max_lifetime is not None:
            raise TokenError(
                "Tokens without expiry are not allowed here: the longest lifetime "
                f"is {_days(policy.max_lifetime)} (max_lifetime in the [tokens] "
                "section of config.toml).",
                field="no_expiry",
            )
        return None, None

    if expires_at is not None:
        lifetime = expires_at - now
        if lifetime <= timedelta(0):
            raise TokenError(
                f"The expiry {timestamp(expires_at)} is in the past; give a later one.",
                field="expires_at",
            )
        if lifetime > durations.LONGEST:
            # Rotations add the lifetime to their own moment, which must stay a
            # date Python can hold.
            raise TokenError(
                f"The expiry {timestamp(expires_at)} is more than 100 years away; "
                "give an earlier one, or no_expiry for a token that never expires.",
                field="expires_at",
            )
    else:
        lifetime = expires_in if expires_in is not None else policy.default_lifetime
    if policy.max_lifetime is not None and lifetime > policy.max_lifetime:
        raise TokenError(
            f"A lifetime of {_days(lifetime)} is longer than the "
            f"{_days(policy.max_lifetime)} allowed here (max_lifetime in the "
            "[tokens] section of config.toml); "
            "give a shorter one.",
            field="expires_at" if expires_at is not None else "expires_in",
        )
    return now + lifetime, max(1, round(lifetime.total_seconds()))


def _days(span: timedelta) -> str:
    days = span.total_seconds() / 86400
    return f"{days:g} days" if days >= 1 else f"{span.total_seconds():g} s"


def issue(
    store: Store,
    name: str,
    role: Role | str,
    *,
    project: str | None = None,
    expires_at: datetime | None = None,
    lifetime: int | None = None,
    now: datetime | None = None,
) -> tuple[Token, str]:
    """Create a token and return it with its secret, which is never stored.

    Args:
        store: Where the token is recorded.
        name: A name for people, unique among active tokens.
        role: What the token may do.
        project: The one project the token may reach; None for all.
        expires_at: When it stops working (see :func:`expiry`); None for never.
        lifetime: Its lifetime in seconds, which rotations keep.
        now: Its creation time, the one its expiry was counted from.

    Raises:
        TokenError: The name is empty or too long, the role is unknown, the
            project is not registered, or an active token already has the name.
    """
    check_not_a_secret(name, "token name")
    given, name = name, name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise TokenError(
            f"Invalid token name {shorten(repr(given), 120)}; give 1 to 100 "
            "printable characters, not all spaces, for example 'ci'."
        )
    if project is not None and store.project_path(project) is None:
        raise TokenError(
            f"No project {project!r} is registered; `uniflow projects list` shows "
            "the registered ones.",
            field="project",
        )

    token = Token(
        token_id=new_token_id(),
        name=name,
        role=role if isinstance(role, Role) else parse_role(role),
        created_at=timestamp(now),
        project=project,
        expires_at=None if expires_at is None else timestamp(expires_at),
        lifetime=lifetime,
    )
    secret = new_secret()
    store.add_token(token, hash_secret(secret))
    return token, secret


def authenticate(store: Store, secret: str) -> Token:
    """Return the token whose secret this is, if it is active.

    Raises:
        AuthenticationError: The secret is malformed, no token has it, or its
            token was revoked or has expired; ``reason`` says which, and
            ``token`` is the token when one was found.
    """
    check_format(secret)
    wanted = hash_secret(secret)
    found = store.token_by_hash(wanted)
    # The lookup found the row by its hash; compare again in constant time so
    # that nothing but equality decides.
    if found is None or not hmac.compare_digest(found[1], wanted):
        raise AuthenticationError(
            "The token is not valid; check that it was copied whole.",
            reason="unknown",
        )
    token = found[0]
    state = token.state()
    if state == "revoked":
        how, fix = "was revoked", "ask an admin for a new one"
        if token.replaced_by:
            how = f"was rotated into {token.replaced_by} and revoked"
            if working_successor(store, token):
                fix = "use the new token's secret, which whoever rotated it was shown"
            else:
                fix = "the tokens that replaced it no longer work either; " + fix
        raise AuthenticationError(
            f"The token {token.name!r} {how} at {token.revoked_at}; {fix}.",
            reason="revoked",
            token=token,
        )
    if state == "expired":
        raise AuthenticationError(
            f"The token {token.name!r} expired at {token.expires_at}; ask an admin "
            "for a new one, or to rotate it (`uniflow token rotate`).",
            reason="expired",
            token=token,
        )
    return token


def working_successor(store: Store, token: Token) -> str | None:
    """Return the id of the working token that replaced ``token`` (through one
    rotation or several), or None when none works."""
    token_id = token.replaced_by
    for _ in range(100):  # a chain of rotations; more would be a loop
        found = store.token(token_id) if token_id else None
        if found is None:
            return None
        if found.state() == "active":
            return found.token_id
        token_id = found.replaced_by
    return None


def revoke(store: Store, token_id: str) -> tuple[Token, list[str]]:
    """Revoke a token at once; revoking a revoked token changes nothing.

    A token a rotation left working for a grace period is revoked at once, and
    so are the tokens it replaced that still work in their grace.

    Returns:
        The token, and the ids of the tokens before it that this revoked too.

    Raises:
        TokenError: No token has this id (status 404).
    """
    found = store.revoke_token(token_id, timestamp())
    if found is None:
        raise _unknown(token_id)
    return found


def rotate(
    store: Store,
    token_id: str,
    *,
    grace: timedelta | None = None,
    policy: Policy | None = None,
) -> tuple[Token, str]:
    """Replace a token with a new one of the same name, role, project and lifetime.

    The old token is revoked at once, or when ``grace`` has passed (but never
    later than it would have expired), so that jobs holding it can switch. Under
    a ``policy`` with a maximum lifetime, the new token's lifetime is cut to it:
    a rotation never makes a token that creating it could not.

    Returns:
        The new token and its secret.

    Raises:
        TokenError: No token has this id (404), it is revoked or was already
            rotated (409), or the grace is longer than seven days (422).
    """
    if grace is not None and grace > LONGEST_GRACE:
        raise TokenError(
            "A grace period may be at most 7 days; give a shorter one.", field="grace"
        )
    old = store.token(token_id)
    if old is None:
        raise _unknown(token_id)
    if old.replaced_by:
        raise TokenError(
            f"The token {old.name!r} ({token_id}) was already rotated into "
            f"{old.replaced_by}; rotate that one instead.",
            status=409,
        )
    if old.state() == "revoked":
        raise TokenError(
            f"The token {old.name!r} ({token_id}) is revoked; create a new one with "
            "`uniflow token create`.",
            status=409,
        )

    now = datetime.now(UTC)
    lifetime = old.lifetime
    if lifetime is not None:
        # Tokens stored before expiry dates had a bound may have any lifetime.
        lifetime = min(lifetime, int(durations.LONGEST.total_seconds()))
    longest = policy.max_lifetime if policy else None
    if longest is not None and (lifetime is None or lifetime > longest.total_seconds()):
        lifetime = int(longest.total_seconds())
    new = Token(
        token_id=new_token_id(),
        name=old.name,
        role=old.role,
        created_at=timestamp(now),
        project=old.project,
        expires_at=None
        if lifetime is None
        else timestamp(now + timedelta(seconds=lifetime)),
        lifetime=lifetime,
    )
    # The grace never outlasts the old token's expiry, nor the new token's (a
    # max_lifetime may make that one shorter): two working tokens never share
    # a name but in a grace, and the successor is the one that works longest.
    ends = min(
        [timestamp(now + grace if grace else now)]
        + [moment for moment in (old.expires_at, new.expires_at) if moment]
    )
    secret = new_secret()
    store.replace_token(old.token_id, new, hash_secret(secret), revoke_at=ends)
    return new, secret


def _unknown(token_id: str) -> TokenError:
    return TokenError(
        f"No token {token_id!r}; `uniflow token list` shows the token ids.",
        status=404,
    )
