from __future__ import annotations

import json
import os
import sqlite3
import stat
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from uniflow import tokens
from uniflow.errors import AuthenticationError, TokenError
from uniflow.runs import Run, RunStatus, StepRecord, timestamp
from uniflow.store import MAX_ERROR, MIGRATIONS, SQLiteStore
from uniflow.tokens import Token


@pytest.fixture
def store(tmp_path):
    return SQLiteStore(tmp_path / "uniflow.db")


def test_new_store_is_at_latest_schema(store, tmp_path):
    assert store.schema_version() == len(MIGRATIONS)
    mode = stat.S_IMODE((tmp_path / "uniflow.db").stat().st_mode)
    assert mode == 0o600
    with sqlite3.connect(tmp_path / "uniflow.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_the_data(store, tmp_path):
    token, _ = tokens.issue(store, "ci", "viewer")
    again = SQLiteStore(tmp_path / "uniflow.db")
    assert again.token(token.token_id) == token


def test_store_keeps_only_secret_hash(store, tmp_path):
    _, secret = tokens.issue(store, "ci", "admin")
    store.close()
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes()
    assert tokens.authenticate(store, secret).name == "ci"


def test_revoked_token_is_refused(store):
    token, secret = tokens.issue(store, "ci", "operator")
    tokens.revoke(store, token.token_id)
    with pytest.raises(AuthenticationError, match="revoked"):
        tokens.authenticate(store, secret)


def test_duplicate_active_name_refused(store):
    tokens.issue(store, "ci", "operator")
    with pytest.raises(TokenError) as exc:
        tokens.issue(store, "ci", "viewer")
    assert exc.value.status == 409


def test_name_of_revoked_token_is_free(store):
    token, _ = tokens.issue(store, "ci", "operator")
    tokens.revoke(store, token.token_id)
    assert tokens.issue(store, "ci", "operator")[0].name == "ci"


def test_revoke_that_lands_during_a_rotation_stands(store):
    token, secret = tokens.issue(store, "ci", "viewer")
    began = datetime.now(UTC)
    # The revoke is stamped after the rotation read its clock, and commits first.
    revoked_at = timestamp(began + timedelta(milliseconds=5))
    store.revoke_token(token.token_id, revoked_at)
    successor = Token(
        token_id=tokens.new_token_id(),
        name="ci",
        role=tokens.Role.VIEWER,
        created_at=timestamp(began),
    )

    with pytest.raises(TokenError) as refused:
        store.replace_token(
            token.token_id,
            successor,
            tokens.hash_secret(tokens.new_secret()),
            revoke_at=timestamp(began + timedelta(hours=1)),
        )

    assert refused.value.status == 409
    kept = store.token(token.token_id)
    assert (kept.revoked_at, kept.replaced_by) == (revoked_at, None)
    assert store.token(successor.token_id) is None


def test_name_of_expired_token_is_free(store):
    past = datetime.now(UTC) - timedelta(seconds=1)
    tokens.issue(store, "ci", "operator", expires_at=past)

    assert tokens.issue(store, "ci", "operator")[0].name == "ci"


def test_names_taken_before_the_migration_stay_taken(tmp_path):
    # A store of schema 4 held names unique with an index; the check replaced it.
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as db, db:
        for script in MIGRATIONS[:4]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 4")
        db.execute(
            "INSERT INTO tokens (token_id, name, role, secret_hash, created_at) "
            "VALUES ('tok_old', 'ci', 'operator', 'hash', '2026-01-01T00:00:00.000Z')"
        )
    migrated = SQLiteStore(path)

    assert migrated.schema_version() == len(MIGRATIONS)
    with pytest.raises(TokenError, match="already named 'ci'"):
        tokens.issue(migrated, "ci", "viewer")
    assert [t.token_id for t in migrated.tokens()] == ["tok_old"]


@pytest.mark.parametrize(
    ("name", "role"), [("", "admin"), ("  ", "admin"), ("ci", "root")]
)
def test_bad_name_or_role_refused(store, name, role):
    with pytest.raises(TokenError):
        tokens.issue(store, name, role)
    assert store.tokens() == []


def test_unknown_token_id_is_404(store):
    with pytest.raises(TokenError) as exc:
        tokens.revoke(store, "tok_nope")
    assert exc.value.status == 404


def test_roles_include_weaker_ones():
    admin, operator, viewer = (
        tokens.Role.ADMIN,
        tokens.Role.OPERATOR,
        tokens.Role.VIEWER,
    )
    assert admin.allows(operator) and admin.allows(viewer)
    assert operator.allows(viewer) and not operator.allows(admin)
    assert not viewer.allows(operator)


def test_runs_list_newest_first(store):
    for i in range(3):
        store.add_run(Run(f"run_{i}", "p" if i != 1 else "q", "default", {"i": i}))
    store.update_run("run_2", status=RunStatus.SUCCESS, exit_code=0, result={"ok": 1})

    def ids(**filters):
        return [r.run_id for r in store.runs(**filters)[0]]

    assert ids() == ["run_2", "run_1", "run_0"]
    assert ids(pipeline_name="p") == ["run_2", "run_0"]
    assert ids(status=RunStatus.SUCCESS) == ["run_2"]
    assert ids(limit=1) == ["run_2"]
    assert store.run("run_2").result == {"ok": 1}


def test_runs_pages_ignore_new_arrivals(store):
    for i in range(5):
        store.add_run(Run(f"run_{i}", "p", "default", {}))

    first, position = store.runs(limit=2)
    store.add_run(Run("run_new", "p", "default", {}))
    second, position = store.runs(limit=2, after=position)
    third, end = store.runs(limit=2, after=position)

    assert [r.run_id for r in first + second + third] == [
        "run_4",
        "run_3",
        "run_2",
        "run_1",
        "run_0",
    ]
    assert end is None


def test_runs_list_leaves_out_results(store):
    store.add_run(Run("run_1", "p", "default", {}))
    store.update_run("run_1", status=RunStatus.SUCCESS, result={"big": "x" * 1000})

    [listed], _ = store.runs()

    assert listed.result is None and store.run("run_1").result == {"big": "x" * 1000}


@pytest.mark.parametrize("position", ["abc", "-1", "1" * 30, "٣"])
def test_foreign_runs_position_is_refused(store, position):
    with pytest.raises(ValueError):
        store.runs(after=position)


def test_steps_are_saved_in_order(store):
    store.add_run(Run("run_1", "p", "default", {}))
    store.save_step("run_1", StepRecord(1, "b", "running", started_at="t1"))
    store.save_step("run_1", StepRecord(0, "a", "success", "t0", "t0", 0.5))
    store.save_step("run_1", StepRecord(1, "b", "failed", "t1", "t2", 1.0, "E: x"))
    steps = store.run("run_1").steps
    assert [(s.name, s.state) for s in steps] == [("a", "success"), ("b", "failed")]
    assert steps[1].error == "E: x"


def test_runs_json_matches_run_summaries(store):
    store.add_run(Run("run_1", "p", "default", {"n": 1, "text": "Zoë 東京", "x": 0.1}))
    store.add_run(Run("run_2", "q", "other", {"deep": {"a": [1, None, True]}}))
    store.update_run("run_2", status=RunStatus.FAILED, exit_code=1, error="boom")

    text, position = store.runs_json(limit=1)
    runs, same_position = store.runs(limit=1)
    rest, _ = store.runs_json(after=position)

    assert json.loads(text) == [r.to_dict(summary=True) for r in runs]
    assert position == same_position
    assert json.loads(rest) == [r.to_dict(summary=True) for r in store.runs()[0][1:]]


def test_run_stored_with_nan_lists_without_parameters(store):
    store.add_run(Run("run_1", "p", "default", {"a": 1}))
    # As a daemon before parameters were checked could have written it.
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET parameters = '{\"h\": NaN}'")

    text, _ = store.runs_json()

    assert json.loads(text)[0]["parameters"] is None


def test_nan_parameters_are_never_stored(store):
    with pytest.raises(ValueError):
        store.add_run(Run("run_1", "p", "default", {"h": float("nan")}))
    assert store.run("run_1") is None


def test_long_errors_are_cut(store):
    store.add_run(Run("run_1", "p", "default", {}))
    store.update_run("run_1", status=RunStatus.FAILED, error="z" * 1_000_000)
    store.save_step("run_1", StepRecord(0, "s", "failed", error="y" * 1_000_000))

    run = store.run("run_1")

    assert len(run.error) <= MAX_ERROR and "1000000 characters" in run.error
    assert len(run.steps[0].error) <= MAX_ERROR


def test_data_folder_made_beforehand_becomes_private(tmp_path, monkeypatch):
    from uniflow import paths

    folder = tmp_path / "made-by-mkdir"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    monkeypatch.setenv("UNIFLOW_HOME", str(folder))

    assert paths.home() == folder
    assert folder.stat().st_mode & 0o777 == 0o700


def test_store_made_beforehand_becomes_private(tmp_path):
    # A store copied in, or left by an older version, under the usual umask.
    made = SQLiteStore(tmp_path / "uniflow.db")
    tokens.issue(made, "ci", "viewer")
    made.close()
    for name in ("uniflow.db", "uniflow.db-wal", "uniflow.db-shm"):
        path = tmp_path / name
        path.touch()
        path.chmod(0o644)

    again = SQLiteStore(tmp_path / "uniflow.db")

    assert again.tokens()[0].name == "ci"
    for name in ("uniflow.db", "uniflow.db-wal", "uniflow.db-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_runs_json_follows_every_change(store, tmp_path):
    store.add_run(Run("run_1", "p", "default", {}))
    first, _ = store.runs_json()
    assert store.runs_json() == (first, None)  # nothing changed: the same page

    # A change on this connection.
    store.update_run("run_1", status=RunStatus.RUNNING)
    assert json.loads(store.runs_json()[0])[0]["status"] == "running"

    # A change on another connection, as the supervisor's thread or a second
    # process makes.
    other = SQLiteStore(tmp_path / "uniflow.db")
    other.add_run(Run("run_2", "p", "default", {}))
    assert [r["run_id"] for r in json.loads(store.runs_json()[0])] == [
        "run_2",
        "run_1",
    ]
    other.update_run("run_2", status=RunStatus.FAILED, finished_at="2020-01-01")
    assert json.loads(store.runs_json(limit=1)[0])[0]["status"] == "failed"

    # A connection opened again counts afresh, so it may not meet an old page.
    reader = SQLiteStore(tmp_path / "uniflow.db")
    assert len(json.loads(reader.runs_json()[0])) == 2
    reader.close()
    with sqlite3.connect(store.path) as db:
        db.execute("DELETE FROM runs WHERE run_id = 'run_1'")
    assert [r["run_id"] for r in json.loads(reader.runs_json()[0])] == ["run_2"]


ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0, reason="giving a file away needs root"
)


@ROOT_ONLY
def test_data_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    from uniflow import paths
    from uniflow.errors import ConfigError

    folder = tmp_path / "planted"
    folder.mkdir()
    folder.chmod(0o777)
    os.chown(folder, 65534, 65534)  # nobody, who could plant tokens in it
    monkeypatch.setenv("UNIFLOW_HOME", str(folder))

    with pytest.raises(ConfigError, match="belongs to another user"):
        paths.home()
    assert folder.stat().st_mode & 0o777 == 0o777  # not taken over either


@ROOT_ONLY
def test_store_of_another_user_is_refused(tmp_path):
    from uniflow.errors import ConfigError

    SQLiteStore(tmp_path / "uniflow.db").close()
    os.chown(tmp_path / "uniflow.db", 65534, 65534)

    with pytest.raises(ConfigError, match="belongs to another user"):
        SQLiteStore(tmp_path / "uniflow.db")


def test_store_that_is_a_link_is_refused(tmp_path):
    from uniflow.errors import ConfigError

    elsewhere = tmp_path / "elsewhere.db"
    SQLiteStore(elsewhere).close()
    elsewhere.chmod(0o644)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "uniflow.db").symlink_to(elsewhere)

    with pytest.raises(ConfigError, match="symbolic link"):
        SQLiteStore(tmp_path / "home" / "uniflow.db")
    assert elsewhere.stat().st_mode & 0o777 == 0o644  # not touched through the link
