"""Token secrets, expiry rules, project scope and rotation, on a real store."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from uniflow import durations, tokens
from uniflow.errors import AuthenticationError, TokenError
from uniflow.runs import timestamp
from uniflow.store import SQLiteStore
from uniflow.tokens import Policy


@pytest.fixture
def store(tmp_path):
    store = SQLiteStore(tmp_path / "uniflow.db")
    store.put_project("web", str(tmp_path), "2026-01-01T00:00:00.000Z")
    return store


def test_secret_has_prefix_body_and_checksum():
    secret = tokens.new_secret()

    assert re.fullmatch(r"uf_[0-9A-Za-z]{36}", secret)
    assert len(secret) == tokens.SECRET_LENGTH == 39
    tokens.check_format(secret)


def test_secrets_differ():
    assert len({tokens.new_secret() for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda s: s[:-1], "malformed"),
        (lambda s: s[:20], "malformed"),
        (lambda s: "gh_" + s[3:], "malformed"),
        (lambda s: s + "x", "malformed"),
        (lambda s: s[:10] + "!" + s[11:], "malformed"),
        (lambda s: s[:10] + ("A" if s[10] != "A" else "B") + s[11:], "checksum"),
        (lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"), "checksum"),
    ],
)
def test_spoiled_secret_is_refused_unread(spoil, reason):
    with pytest.raises(AuthenticationError) as refused:
        tokens.check_format(spoil(tokens.new_secret()))

    assert refused.value.reason == reason
    assert "copy it again whole" in str(refused.value)


def test_bad_checksum_never_reaches_the_store(tmp_path):
    class Unreadable:
        def token_by_hash(self, secret_hash):
            raise AssertionError("the store was read")

    secret = tokens.new_secret()
    spoiled = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    with pytest.raises(AuthenticationError, match="checksum"):
        tokens.authenticate(Unreadable(), spoiled)  # type: ignore[arg-type]


def test_legacy_secret_still_authenticates(store):
    # A token issued before checksums: uf_ and 43 URL-safe characters.
    token, _ = tokens.issue(store, "old", "viewer")
    legacy = "uf_" + "a-b_" * 10 + "xyz"
    with store._transaction() as db:
        db.execute(
            "UPDATE tokens SET secret_hash = ? WHERE token_id = ?",
            (tokens.hash_secret(legacy), token.token_id),
        )

    assert tokens.authenticate(store, legacy).token_id == token.token_id


def test_default_lifetime_is_90_days():
    now = datetime(2026, 1, 1, tzinfo=UTC)

    expires, lifetime = tokens.expiry(Policy(), now=now)

    assert expires == now + timedelta(days=90)
    assert lifetime == 90 * 86400


def test_expires_at_a_date_means_its_start():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    moment = tokens.parse_expiry("2026-01-31")

    expires, lifetime = tokens.expiry(Policy(), expires_at=moment, now=now)

    assert expires == datetime(2026, 1, 31, tzinfo=UTC)
    assert lifetime == 30 * 86400


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, "in the past"),
        ({"expires_at": datetime(9999, 12, 31, tzinfo=UTC)}, "100 years away"),
        ({"expires_in": timedelta(days=400)}, "longer than the 365 days"),
        ({"no_expiry": True}, "without expiry are not allowed"),
        (
            {"expires_in": timedelta(days=1), "no_expiry": True},
            "one of expires_in, expires_at and no_expiry",
        ),
    ],
)
def test_expiry_rules_name_the_fix(kwargs, says):
    policy = Policy(max_lifetime=timedelta(days=365))

    with pytest.raises(TokenError, match=says):
        tokens.expiry(policy, now=datetime(2026, 1, 1, tzinfo=UTC), **kwargs)


@pytest.mark.parametrize(
    "text",
    [
        "tomorrow",
        "2026-13-01",
        "31/01/2027",
        "",
        # Valid where they are written, but beyond the years Python holds in UTC.
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+01:00",
        # Python reads these, people rarely mean them.
        "20270131",
        "2027-W05",
        "2027-W05-1",
        "2027-031",
    ],
)
def test_unreadable_expiry_is_refused(text):
    with pytest.raises(TokenError, match="2027-01-31T12:00:00Z"):
        tokens.parse_expiry(text)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2027-01-31", datetime(2027, 1, 31, tzinfo=UTC)),
        ("2027-01-31T12:00:00Z", datetime(2027, 1, 31, 12, tzinfo=UTC)),
        ("2027-01-31 12:00", datetime(2027, 1, 31, 12, tzinfo=UTC)),
        ("2027-01-31T12:00:00.5+02:00", datetime(2027, 1, 31, 10, 0, 0, 500000, UTC)),
    ],
)
def test_expiry_forms_people_write_are_read(text, moment):
    assert tokens.parse_expiry(text) == moment


def test_no_expiry_without_a_maximum():
    assert tokens.expiry(Policy(), no_expiry=True) == (None, None)


def test_expired_token_says_when(store):
    past = datetime.now(UTC) - timedelta(seconds=1)
    token, secret = tokens.issue(store, "ci", "viewer", expires_at=past)

    with pytest.raises(AuthenticationError) as refused:
        tokens.authenticate(store, secret)

    assert refused.value.reason == "expired"
    assert token.expires_at in str(refused.value)
    assert store.token(token.token_id).state() == "expired"


def _wait_until(moment: datetime) -> None:
    while datetime.now(UTC) <= moment:
        time.sleep(0.005)


@pytest.mark.parametrize("end", ["expires_at", "revoked_at"])
def test_one_token_object_sees_its_end_come(end):
    # The daemon keeps found tokens; their state must still follow the clock.
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    token = tokens.Token(
        token_id="tok_1",
        name="soon",
        role=tokens.Role.VIEWER,
        created_at=timestamp(),
        **{end: timestamp(soon)},
    )

    assert token.state() == "active"
    _wait_until(soon)
    assert token.state() == ("expired" if end == "expires_at" else "revoked")


def test_used_since_compares_with_the_last_recorded_use():
    used = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    token = tokens.Token(
        token_id="tok_1",
        name="used",
        role=tokens.Role.VIEWER,
        created_at=timestamp(used - timedelta(days=1)),
        last_used_at=timestamp(used),
    )
    never = tokens.Token(
        token_id="tok_2", name="new", role=tokens.Role.VIEWER, created_at="x"
    )

    assert token.used_since(used.timestamp() - 1)
    assert token.used_since(used.timestamp())
    assert not token.used_since(used.timestamp() + 1)
    assert not never.used_since(0)


def test_project_must_be_registered(store):
    assert tokens.issue(store, "web-ci", "operator", project="web")[0].project == "web"
    with pytest.raises(TokenError, match="No project 'nope'") as refused:
        tokens.issue(store, "other", "operator", project="nope")
    assert refused.value.field == "project"


def test_rotation_keeps_name_role_project_lifetime(store):
    expires, lifetime = tokens.expiry(Policy(), expires_in=timedelta(days=30))
    old, old_secret = tokens.issue(
        store, "ci", "operator", project="web", expires_at=expires, lifetime=lifetime
    )

    new, secret = tokens.rotate(store, old.token_id)

    assert (new.name, new.role, new.project, new.lifetime) == (
        "ci",
        old.role,
        "web",
        30 * 86400,
    )
    assert new.token_id != old.token_id and secret != old_secret
    assert tokens.authenticate(store, secret).token_id == new.token_id
    with pytest.raises(AuthenticationError, match="revoked"):
        tokens.authenticate(store, old_secret)
    assert store.token(old.token_id).replaced_by == new.token_id


@pytest.mark.parametrize("lifetime", [None, 400 * 86400])
def test_rotation_keeps_within_the_longest_lifetime(store, lifetime):
    expires = None if lifetime is None else datetime.now(UTC) + timedelta(days=400)
    old, _ = tokens.issue(store, "long", "admin", expires_at=expires, lifetime=lifetime)
    policy = Policy(max_lifetime=timedelta(days=30))

    new, _ = tokens.rotate(store, old.token_id, policy=policy)

    assert new.lifetime == 30 * 86400
    created = datetime.fromisoformat(new.created_at.replace("Z", "+00:00"))
    expires_at = datetime.fromisoformat(new.expires_at.replace("Z", "+00:00"))
    assert expires_at - created == timedelta(days=30)


def test_rotation_of_a_far_expiry_keeps_within_100_years(store):
    # Stored before expiry dates had a bound: its lifetime reaches year 9999.
    far = datetime(9999, 12, 31, tzinfo=UTC)
    lifetime = round((far - datetime.now(UTC)).total_seconds())
    old, _ = tokens.issue(store, "far", "viewer", expires_at=far, lifetime=lifetime)

    new, secret = tokens.rotate(store, old.token_id)

    assert new.lifetime == durations.LONGEST.total_seconds()
    assert tokens.authenticate(store, secret).expires_at == new.expires_at


def test_rotated_token_says_what_replaced_it(store):
    old, old_secret = tokens.issue(store, "ci", "operator")
    new, _ = tokens.rotate(store, old.token_id)

    with pytest.raises(AuthenticationError, match=f"rotated into {new.token_id}"):
        tokens.authenticate(store, old_secret)
    newer, _ = tokens.rotate(store, new.token_id)
    with pytest.raises(AuthenticationError, match="use the new token's secret"):
        tokens.authenticate(store, old_secret)

    tokens.revoke(store, newer.token_id)

    with pytest.raises(AuthenticationError) as refused:
        tokens.authenticate(store, old_secret)
    assert "use the new token's secret" not in str(refused.value)
    assert "no longer work either; ask an admin" in str(refused.value)


def test_grace_keeps_the_old_secret_working(store):
    old, old_secret = tokens.issue(store, "ci", "operator")

    new, secret = tokens.rotate(store, old.token_id, grace=timedelta(hours=1))

    assert tokens.authenticate(store, old_secret).token_id == old.token_id
    assert tokens.authenticate(store, secret).token_id == new.token_id
    assert store.token(old.token_id).revoked_at > new.created_at
    tokens.revoke(store, old.token_id)
    with pytest.raises(AuthenticationError, match="revoked"):
        tokens.authenticate(store, old_secret)


def test_revoking_a_successor_ends_its_predecessors_grace(store):
    first, first_secret = tokens.issue(store, "ci", "operator")
    second, second_secret = tokens.rotate(
        store, first.token_id, grace=timedelta(hours=1)
    )
    third, _ = tokens.rotate(store, second.token_id, grace=timedelta(hours=1))
    other, other_secret = tokens.issue(store, "other", "operator")

    tokens.revoke(store, third.token_id)

    for secret in (first_secret, second_secret):
        with pytest.raises(AuthenticationError, match="revoked"):
            tokens.authenticate(store, secret)
    assert tokens.authenticate(store, other_secret).token_id == other.token_id
    # Nothing works under the name any more, so it is free.
    assert tokens.issue(store, "ci", "viewer")[0].name == "ci"


def test_rotating_at_once_ends_the_grace_before_it(store):
    first, first_secret = tokens.issue(store, "ci", "operator")
    second, _ = tokens.rotate(store, first.token_id, grace=timedelta(hours=1))

    tokens.rotate(store, second.token_id)

    with pytest.raises(AuthenticationError, match="revoked"):
        tokens.authenticate(store, first_secret)


def test_grace_never_outlives_the_successor(store):
    old, _ = tokens.issue(store, "ci", "viewer")
    policy = Policy(max_lifetime=timedelta(minutes=1))

    new, _ = tokens.rotate(store, old.token_id, grace=timedelta(hours=1), policy=policy)

    assert store.token(old.token_id).revoked_at == new.expires_at


def test_grace_never_outlives_the_expiry(store):
    soon = datetime.now(UTC) + timedelta(minutes=5)
    old, _ = tokens.issue(store, "ci", "viewer", expires_at=soon, lifetime=300)

    tokens.rotate(store, old.token_id, grace=timedelta(days=2))

    assert store.token(old.token_id).revoked_at == old.expires_at


def test_rotating_twice_in_a_row_keeps_a_working_secret(store):
    first, _ = tokens.issue(store, "ci", "admin")

    second, _ = tokens.rotate(store, first.token_id)
    third, secret = tokens.rotate(store, second.token_id)

    assert tokens.authenticate(store, secret).token_id == third.token_id
    assert [t.state() for t in store.tokens()] == ["revoked", "revoked", "active"]


def test_rotated_or_revoked_token_cannot_rotate(store):
    first, _ = tokens.issue(store, "ci", "admin")
    second, _ = tokens.rotate(store, first.token_id)

    with pytest.raises(TokenError, match=f"rotated into {second.token_id}") as again:
        tokens.rotate(store, first.token_id)
    assert again.value.status == 409

    tokens.revoke(store, second.token_id)
    with pytest.raises(TokenError, match="is revoked") as revoked:
        tokens.rotate(store, second.token_id)
    assert revoked.value.status == 409


@pytest.mark.parametrize(
    ("token_id", "grace", "status"),
    [("tok_000000000000", None, 404), (None, timedelta(days=8), 422)],
)
def test_bad_rotation_is_refused(store, token_id, grace, status):
    token, _ = tokens.issue(store, "ci", "admin")

    with pytest.raises(TokenError) as refused:
        tokens.rotate(store, token_id or token.token_id, grace=grace)

    assert refused.value.status == status
    assert store.token(token.token_id).state() == "active"


def test_revocation_reaches_a_cached_token_at_once(store, tmp_path):
    token, secret = tokens.issue(store, "cached", tokens.Role.VIEWER)
    other_process = SQLiteStore(tmp_path / "uniflow.db")
    # Found once, so the next look-ups answer from the thread's cache.
    assert tokens.authenticate(store, secret).token_id == token.token_id
    assert tokens.authenticate(store, secret).token_id == token.token_id

    # Revoked through another connection, as another thread or process would.
    tokens.revoke(other_process, token.token_id)
    with pytest.raises(AuthenticationError) as refused:
        tokens.authenticate(store, secret)

    assert refused.value.reason == "revoked"


def test_own_changes_reach_a_cached_token_at_once(store):
    token, secret = tokens.issue(store, "own", tokens.Role.VIEWER)
    tokens.authenticate(store, secret)

    store.touch_token(token.token_id, "2026-12-01T00:00:00.000Z", "10.0.0.9")
    assert tokens.authenticate(store, secret).last_used_from == "10.0.0.9"

    tokens.revoke(store, token.token_id)
    with pytest.raises(AuthenticationError):
        tokens.authenticate(store, secret)


def test_secrets_are_masked_wherever_quoted(store):
    secret = tokens.new_secret()
    text = f"No token {secret!r}; /api/v1/runs/{secret[:20]} and tok_5d41402abc4b"

    masked = tokens.mask_secrets(text)

    assert secret[3:12] not in masked
    assert "tok_5d41402abc4b" in masked
    assert masked.count("a secret, not shown") == 2


def test_holds_secret_finds_whole_secrets_only():
    import secrets as random

    secret = tokens.new_secret()
    legacy = "uf_" + random.token_urlsafe(32)  # as tokens were made before checksums
    assert len(legacy) == 46

    for text in (
        secret,
        f"ci-{secret}",
        f"x{secret}y",
        f"m-{secret[3:]}",  # without its uf_: the checksum still gives it away
        f"name {legacy} here",
    ):
        assert tokens.holds_secret(text), text
    for text in (
        "uf_models",
        "uf_training_pipeline_v2",
        secret[:-1],  # cut short
        secret[:-1] + ("0" if secret[-1] != "0" else "1"),  # a wrong checksum
        "uf_" + "a" * 40,
    ):
        assert not tokens.holds_secret(text), text


def test_a_whole_secret_without_its_prefix_is_masked_too():
    secret = tokens.new_secret()

    masked = tokens.mask_secrets(f"No project {secret[3:]!r}; try another")

    assert secret[3:] not in masked and "a secret, not shown" in masked
    assert tokens.mask_secrets("run_0123456789abcdef") == "run_0123456789abcdef"
