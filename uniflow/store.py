"""The store: tokens, projects, runs and their steps.

:class:`Store` is the interface the daemon and the CLI use; :class:`SQLiteStore`
keeps everything in one SQLite file in WAL mode, so the daemon's threads and a
CLI process can use it at the same time. The schema carries a version
(``PRAGMA user_version``) and grows only through the migrations below.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from uniflow import paths
from uniflow.errors import ConfigError, TokenError, shorten
from uniflow.runs import Run, RunStatus, StepRecord, timestamp
from uniflow.tokens import Role, Token

if TYPE_CHECKING:
    from uniflow.audit import Event

# Each entry moves the schema one version up; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tokens (
        token_id     TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL,
        secret_hash  TEXT NOT NULL UNIQUE,
        created_at   TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at   TEXT
    );
    CREATE UNIQUE INDEX tokens_active_name ON tokens(name) WHERE revoked_at IS NULL;

    CREATE TABLE projects (
        name          TEXT PRIMARY KEY,
        path          TEXT NOT NULL,
        registered_at TEXT NOT NULL
    );

    CREATE TABLE runs (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id        TEXT NOT NULL UNIQUE,
        pipeline_name TEXT NOT NULL,
        project       TEXT NOT NULL,
        status        TEXT NOT NULL,
        parameters    TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        started_at    TEXT,
        finished_at   TEXT,
        exit_code     INTEGER,
        error         TEXT,
        result        TEXT,
        pid           INTEGER
    );
    CREATE INDEX runs_by_pipeline ON runs(pipeline_name, seq);
    CREATE INDEX runs_by_status ON runs(status, seq);

    CREATE TABLE steps (
        run_id      TEXT NOT NULL REFERENCES runs(run_id),
        idx         INTEGER NOT NULL,
        name        TEXT NOT NULL,
        state       TEXT NOT NULL,
        started_at  TEXT,
        finished_at TEXT,
        duration    REAL,
        error       TEXT,
        PRIMARY KEY (run_id, idx)
    );
    """,
    """
    ALTER TABLE runs ADD COLUMN timeout REAL;

    CREATE TABLE idempotency_keys (
        token_id   TEXT NOT NULL,
        key        TEXT NOT NULL,
        body_hash  TEXT NOT NULL,
        run_id     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (token_id, key)
    );
    CREATE INDEX idempotency_by_age ON idempotency_keys(created_at);
    """,
    """
    ALTER TABLE tokens ADD COLUMN project TEXT;
    ALTER TABLE tokens ADD COLUMN expires_at TEXT;
    ALTER TABLE tokens ADD COLUMN lifetime INTEGER;
    ALTER TABLE tokens ADD COLUMN last_used_from TEXT;
    ALTER TABLE tokens ADD COLUMN replaced_by TEXT;
    CREATE INDEX runs_by_project ON runs(project, seq);

    CREATE TABLE audit (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        at         TEXT NOT NULL,
        action     TEXT NOT NULL,
        token_id   TEXT,
        token_name TEXT,
        client     TEXT,
        target     TEXT,
        detail     TEXT
    );
    CREATE INDEX audit_by_action ON audit(action, seq);
    """,
    """
    CREATE INDEX runs_by_finish ON runs(finished_at);
    CREATE INDEX idempotency_by_run ON idempotency_keys(run_id);
    """,
    # An expired token must free its name, which an index cannot know: the check
    # moved to _insert_token, inside the writing transaction.
    """
    DROP INDEX tokens_active_name;
    CREATE INDEX tokens_by_name ON tokens(name);
    """,
)

# Lists leave out results, which can be large.
_SUMMARY_COLUMNS = (
    "seq, run_id, pipeline_name, project, status, parameters, created_at, "
    "started_at, finished_at, exit_code, error, NULL AS result, pid, timeout"
)
_SUMMARY_JSON = (
    "json_object('run_id', run_id, 'pipeline_name', pipeline_name, 'project', "
    "project, 'status', status, 'parameters', "
    # A row written before parameters were checked may hold NaN, which is not JSON;
    # it lists with null parameters instead of failing the whole page.
    "CASE WHEN json_valid(parameters) THEN json(parameters) END, 'created_at', "
    "created_at, 'started_at', started_at, 'finished_at', finished_at, 'exit_code', "
    "exit_code, 'error', error)"
)
MAX_ERROR = 4000
"""The longest error text kept for a run or a step; its output.log has all of it."""
_RUN_FIELDS = frozenset(
    {"status", "started_at", "finished_at", "exit_code", "error", "result", "pid"}
)
# The runs prune_runs may delete: those that have ended before a moment.
_ENDED_BEFORE = (
    "SELECT run_id FROM runs WHERE status IN ('success', 'failed', 'cancelled') "
    "AND finished_at < ?"
)


@dataclass(frozen=True)
class IdempotencyKey:
    """An ``Idempotency-Key`` a token sent with a trigger, and the run it started."""

    token_id: str
    key: str
    body_hash: str
    """A hash of the request's body, to tell a retry from another request."""
    run_id: str
    created_at: str = field(default_factory=timestamp)


class Store(Protocol):
    """What UniFlow needs from a store; SQLite today, a shared server later."""

    def add_token(self, token: Token, secret_hash: str) -> None: ...
    def token(self, token_id: str) -> Token | None: ...
    def token_by_hash(self, secret_hash: str) -> tuple[Token, str] | None: ...
    def tokens(self) -> list[Token]: ...
    def revoke_token(
        self, token_id: str, at: str
    ) -> tuple[Token, list[str]] | None: ...
    def replace_token(
        self, old_id: str, new: Token, secret_hash: str, *, revoke_at: str
    ) -> None: ...
    def touch_token(self, token_id: str, at: str, client: str | None) -> None: ...

    def add_event(self, event: Event) -> None: ...
    def events(
        self, *, action: str | None = None, limit: int = 50, after: str | None = None
    ) -> tuple[list[Event], str | None]: ...

    def put_project(self, name: str, path: str, at: str) -> None: ...
    def project_path(self, name: str) -> str | None: ...
    def projects(self) -> dict[str, str]: ...
    def remove_project(self, name: str) -> bool: ...

    def add_run(self, run: Run) -> None: ...
    def add_keyed_run(
        self, run: Run, key: IdempotencyKey, *, since: str
    ) -> IdempotencyKey: ...
    def idempotency_key(
        self, token_id: str, key: str, *, since: str
    ) -> IdempotencyKey | None: ...
    def run(self, run_id: str) -> Run | None: ...
    def runs(
        self,
        *,
        pipeline_name: str | None = None,
        status: RunStatus | None = None,
        project: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> tuple[list[Run], str | None]: ...
    def runs_json(
        self,
        *,
        pipeline_name: str | None = None,
        status: RunStatus | None = None,
        project: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> tuple[str, str | None]: ...
    def update_run(self, run_id: str, **fields: Any) -> None: ...
    def run_ids_in(
        self, status: RunStatus, project: str | None = None
    ) -> list[str]: ...
    def save_step(self, run_id: str, step: StepRecord) -> None: ...
    def close_steps(self, run_id: str, state: str, at: str) -> None: ...
    def prune_runs(self, finished_before: str) -> list[str]: ...
    def close(self) -> None: ...


_TOKEN_CACHE_SIZE = 1024
_RUN_PAGES_SIZE = 16
_RUN_PAGE_MOST_CHARS = 256 * 1024
_LAST_SEQ = 2**63 - 1


@dataclass
class _TokenCache:
    """Tokens found by their secret's hash while the store was at ``version``."""

    version: tuple[int, int]
    found: dict[str, tuple[Token, str]] = field(default_factory=dict)


@dataclass
class _RunPages:
    """Pages of the run list as JSON, by their query, while the store was at
    ``version``."""

    version: tuple[int, int]
    found: dict[tuple[Any, ...], tuple[str, str | None]] = field(default_factory=dict)


class SQLiteStore:
    """A :class:`Store` in one SQLite file, one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            # Create the file readable by its owner only, before SQLite opens it.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        for part in ("", "-wal", "-shm"):
            paths.keep_private(path.with_name(path.name + part))
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"The store {path} cannot be read ({exc}); move it aside to start "
                "afresh, or put back a backup.",
                path=path,
            ) from None

    @property
    def _db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def schema_version(self) -> int:
        """Return the schema version of the open file."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close this thread's connection; the next call opens another."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        # The next connection counts its versions afresh, so it could meet these
        # caches' versions again with other data behind them.
        self._local.tokens = self._local.run_pages = None

    # Tokens

    def add_token(self, token: Token, secret_hash: str) -> None:
        """Insert a token; its name must not belong to another active token.

        Raises:
            TokenError: An active token has the name (409).
        """
        with self._transaction() as db:
            _insert_token(db, token, secret_hash)

    def token(self, token_id: str) -> Token | None:
        """Return the token with this id, or None."""
        row = self._db.execute(
            "SELECT * FROM tokens WHERE token_id = ?", (token_id,)
        ).fetchone()
        return _token(row) if row else None

    def token_by_hash(self, secret_hash: str) -> tuple[Token, str] | None:
        """Return the token whose secret has this hash, with the hash, or None.

        Every API request asks this, so tokens found are kept per thread until the
        file changes.
        """
        db = self._db
        version = self._version()
        cached: _TokenCache | None = getattr(self._local, "tokens", None)
        if cached is None or cached.version != version:
            cached = self._local.tokens = _TokenCache(version)
        found = cached.found.get(secret_hash)
        if found is None:
            row = db.execute(
                "SELECT * FROM tokens WHERE secret_hash = ?", (secret_hash,)
            ).fetchone()
            if row is None:
                return None  # Guesses are not kept: they would fill the cache.
            found = (_token(row), row["secret_hash"])
            if len(cached.found) < _TOKEN_CACHE_SIZE:
                cached.found[secret_hash] = found
        return found

    def _version(self) -> tuple[int, int]:
        """Return what changes whenever anything in the file does.

        SQLite's ``data_version`` counts other connections' commits (other threads
        and processes), and ``total_changes`` this thread's own.
        """
        db = self._db
        return db.execute("PRAGMA data_version").fetchone()[0], db.total_changes

    def tokens(self) -> list[Token]:
        """Return every token, oldest first."""
        rows = self._db.execute("SELECT * FROM tokens ORDER BY created_at, rowid")
        return [_token(row) for row in rows]

    def revoke_token(self, token_id: str, at: str) -> tuple[Token, list[str]] | None:
        """Revoke a token by ``at``; return it with the ids of the tokens before it
        this ended, or None when no token has that id.

        A token already revoked stays revoked when it was; one whose revocation
        lies ahead (a rotation's grace) is revoked at ``at`` instead. So are the
        tokens it replaced that still work in their grace: they are the same
        credential, and would otherwise outlive its revocation by up to a week.
        """
        with self._transaction() as db:
            ended = _revoke_lineage(db, token_id, at)
        token = self.token(token_id)
        return None if token is None else (token, ended)

    def replace_token(
        self, old_id: str, new: Token, secret_hash: str, *, revoke_at: str
    ) -> None:
        """Record a rotation: ``new`` replaces ``old_id``, revoked at ``revoke_at``.

        Raises:
            TokenError: The old token was rotated or revoked meanwhile (409).
        """
        with self._transaction() as db:
            # A token not rotated before has a revoked_at only from a revoke,
            # which must stand even when it came after this rotation began.
            changed = db.execute(
                "UPDATE tokens SET revoked_at = ?, replaced_by = ? "
                "WHERE token_id = ? AND replaced_by IS NULL AND revoked_at IS NULL",
                (revoke_at, new.token_id, old_id),
            ).rowcount
            if not changed:
                raise TokenError(
                    f"The token {old_id!r} was rotated or revoked meanwhile; "
                    "`uniflow token list` shows its state.",
                    status=409,
                )
            # Tokens the old one replaced, still in their grace, end with it.
            _revoke_lineage(db, old_id, revoke_at)
            _insert_token(db, new, secret_hash)

    def touch_token(self, token_id: str, at: str, client: str | None) -> None:
        """Record when a token was last used, and from which client address."""
        with self._transaction() as db:
            db.execute(
                "UPDATE tokens SET last_used_at = ?, last_used_from = ? "
                "WHERE token_id = ?",
                (at, client, token_id),
            )

    # Audit

    def add_event(self, event: Event) -> None:
        """Append an event to the audit log."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO audit (at, action, token_id, token_name, client, target,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.at,
                    event.action,
                    event.token_id,
                    event.token_name,
                    event.client,
                    event.target,
                    event.detail,
                ),
            )

    def events(
        self, *, action: str | None = None, limit: int = 50, after: str | None = None
    ) -> tuple[list[Event], str | None]:
        """Return a page of the audit log, newest first, optionally of one action.

        Raises:
            ValueError: ``after`` is not a position this store gave.
        """
        from uniflow.audit import Event

        where, args = _seq_below(after)
        if action is not None:
            where.append("action = ?")
            args.append(action)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            f"SELECT * FROM audit {clause} ORDER BY seq DESC LIMIT ?",
            (*args, limit + 1),
        ).fetchall()
        found = [
            Event(
                action=r["action"],
                at=r["at"],
                token_id=r["token_id"],
                token_name=r["token_name"],
                client=r["client"],
                target=r["target"],
                detail=r["detail"],
            )
            for r in rows[:limit]
        ]
        return found, str(rows[limit - 1]["seq"]) if len(rows) > limit else None

    # Projects

    def put_project(self, name: str, path: str, at: str) -> None:
        """Register a project folder under ``name``, replacing an earlier path."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO projects (name, path, registered_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET path = excluded.path, "
                "registered_at = excluded.registered_at",
                (name, path, at),
            )

    def project_path(self, name: str) -> str | None:
        """Return the folder registered under ``name``, or None."""
        row = self._db.execute(
            "SELECT path FROM projects WHERE name = ?", (name,)
        ).fetchone()
        return str(row["path"]) if row else None

    def projects(self) -> dict[str, str]:
        """Return every registered project's folder by name."""
        rows = self._db.execute("SELECT name, path FROM projects ORDER BY name")
        return {row["name"]: row["path"] for row in rows}

    def remove_project(self, name: str) -> bool:
        """Forget a project; its runs stay. Return False when it was not there."""
        with self._transaction() as db:
            gone = db.execute("DELETE FROM projects WHERE name = ?", (name,))
        return gone.rowcount > 0

    # Runs

    def add_run(self, run: Run) -> None:
        """Insert a new run."""
        with self._transaction() as db:
            _insert_run(db, run)

    def add_keyed_run(
        self, run: Run, key: IdempotencyKey, *, since: str
    ) -> IdempotencyKey:
        """Insert a run and the idempotency key that asked for it, in one transaction.

        Keys created before ``since`` have expired; they are deleted first, which
        frees this key too if it was one of them. When the token holds the key
        already, nothing is inserted.

        Returns:
            The key as recorded: ``key`` when the run was inserted, else the
            earlier one, whose ``run_id`` names the run it started.
        """
        with self._transaction() as db:
            db.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (since,))
            inserted = db.execute(
                "INSERT INTO idempotency_keys (token_id, key, body_hash, run_id, "
                "created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (token_id, key) DO NOTHING",
                (key.token_id, key.key, key.body_hash, key.run_id, key.created_at),
            )
            if inserted.rowcount == 0:
                row = db.execute(
                    "SELECT * FROM idempotency_keys WHERE token_id = ? AND key = ?",
                    (key.token_id, key.key),
                ).fetchone()
                return _idempotency_key(row)
            _insert_run(db, run)
        return key

    def idempotency_key(
        self, token_id: str, key: str, *, since: str
    ) -> IdempotencyKey | None:
        """Return a token's idempotency key unless it was created before ``since``."""
        row = self._db.execute(
            "SELECT * FROM idempotency_keys WHERE token_id = ? AND key = ? "
            "AND created_at >= ?",
            (token_id, key, since),
        ).fetchone()
        return _idempotency_key(row) if row else None

    def run(self, run_id: str) -> Run | None:
        """Return the run with this id and its steps, or None."""
        db = self._db
        row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        steps = db.execute(
            "SELECT * FROM steps WHERE run_id = ? ORDER BY idx", (run_id,)
        ).fetchall()
        return _run(row, steps)

    def runs(
        self,
        *,
        pipeline_name: str | None = None,
        status: RunStatus | None = None,
        project: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> tuple[list[Run], str | None]:
        """Return a page of runs, newest first, optionally filtered.

        Steps and results are left out. Runs that arrive while someone pages never
        shift a page: each page continues below the last run of the previous one.

        Args:
            pipeline_name: Only runs of this pipeline.
            status: Only runs in this state.
            project: Only runs of this project.
            limit: At most this many runs.
            after: The position the previous page returned.

        Returns:
            The runs, and the position after the last of them, or None when no
            run follows.

        Raises:
            ValueError: ``after`` is not a position this store gave.
        """
        rows, position = self._page_of_runs(
            _SUMMARY_COLUMNS, pipeline_name, status, project, limit, after
        )
        return [_run(row, []) for row in rows], position

    def runs_json(
        self,
        *,
        pipeline_name: str | None = None,
        status: RunStatus | None = None,
        project: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> tuple[str, str | None]:
        """Return the page :meth:`runs` would, as a JSON array of run summaries.

        SQLite writes the JSON, which makes listing runs several times cheaper
        than building :class:`Run` objects to encode them again. Each item is
        what ``Run.to_dict(summary=True)`` gives. Pages are kept per thread until
        the file changes: a screen or script that polls the list while nothing
        happens gets the page it got before without SQLite reading it again.
        """
        version = self._version()
        pages: _RunPages | None = getattr(self._local, "run_pages", None)
        if pages is None or pages.version != version:
            pages = self._local.run_pages = _RunPages(version)
        key = (pipeline_name, status, project, limit, after)
        found = pages.found.get(key)
        if found is not None:
            return found
        rows, position = self._page_of_runs(
            f"seq, {_SUMMARY_JSON} AS item",
            pipeline_name,
            status,
            project,
            limit,
            after,
        )
        found = "[" + ",".join(row["item"] for row in rows) + "]", position
        # Large pages are not kept: a few would cost more memory than they save.
        if len(pages.found) < _RUN_PAGES_SIZE and len(found[0]) <= _RUN_PAGE_MOST_CHARS:
            pages.found[key] = found
        return found

    def _page_of_runs(
        self,
        columns: str,
        pipeline_name: str | None,
        status: RunStatus | None,
        project: str | None,
        limit: int,
        after: str | None,
    ) -> tuple[list[sqlite3.Row], str | None]:
        where, args = _seq_below(after)
        if project is not None:
            where.append("project = ?")
            args.append(project)
        if pipeline_name is not None:
            where.append("pipeline_name = ?")
            args.append(pipeline_name)
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            f"SELECT {columns} FROM runs {clause} ORDER BY seq DESC LIMIT ?",
            (*args, limit + 1),
        ).fetchall()
        if len(rows) <= limit:
            return rows, None
        return rows[:limit], str(rows[limit - 1]["seq"])

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Change some of a run's fields (status, times, exit code, error, pid)."""
        unknown = set(fields) - _RUN_FIELDS
        if unknown:
            raise ValueError(f"Not run fields: {sorted(unknown)}")
        values = {k: _column(k, v) for k, v in fields.items()}
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._transaction() as db:
            db.execute(
                f"UPDATE runs SET {assignments} WHERE run_id = ?",
                (*values.values(), run_id),
            )

    def run_ids_in(self, status: RunStatus, project: str | None = None) -> list[str]:
        """Return the ids of the runs in ``status``, oldest first; only those of
        ``project`` when it is given."""
        where, args = "status = ?", [status.value]
        if project is not None:
            where, args = f"{where} AND project = ?", [*args, project]
        rows = self._db.execute(
            f"SELECT run_id FROM runs WHERE {where} ORDER BY seq", args
        )
        return [row["run_id"] for row in rows]

    def close_steps(self, run_id: str, state: str, at: str) -> None:
        """End the steps of a run still recorded running, in ``state`` at ``at``."""
        with self._transaction() as db:
            db.execute(
                "UPDATE steps SET state = ?, finished_at = ? "
                "WHERE run_id = ? AND state = 'running'",
                (state, at, run_id),
            )

    def save_step(self, run_id: str, step: StepRecord) -> None:
        """Insert or update one step call of a run."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO steps (run_id, idx, name, state, started_at, finished_at,"
                " duration, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(run_id, idx) DO UPDATE SET state = excluded.state, "
                "finished_at = excluded.finished_at, duration = excluded.duration, "
                "error = excluded.error",
                (
                    run_id,
                    step.index,
                    step.name,
                    step.state,
                    step.started_at,
                    step.finished_at,
                    step.duration,
                    _short_error(step.error),
                ),
            )

    def prune_runs(self, finished_before: str) -> list[str]:
        """Delete the runs that ended before ``finished_before``, in one transaction.

        Their steps and idempotency keys go with them; queued and running runs
        are never touched. Their folders are the caller's to remove.

        Returns:
            The ids of the deleted runs.
        """
        with self._transaction() as db:
            ended = db.execute(_ENDED_BEFORE, (finished_before,))
            run_ids = [row["run_id"] for row in ended]
            for table in ("steps", "idempotency_keys"):
                db.execute(
                    f"DELETE FROM {table} WHERE run_id IN ({_ENDED_BEFORE})",
                    (finished_before,),
                )
            db.execute(
                f"DELETE FROM runs WHERE run_id IN ({_ENDED_BEFORE})",
                (finished_before,),
            )
        return run_ids


def _insert_run(db: sqlite3.Connection, run: Run) -> None:
    db.execute(
        "INSERT INTO runs (run_id, pipeline_name, project, status, parameters,"
        " created_at, timeout) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            run.run_id,
            run.pipeline_name,
            run.project,
            run.status.value,
            json.dumps(run.parameters, ensure_ascii=False, allow_nan=False),
            run.created_at,
            run.timeout,
        ),
    )


def _idempotency_key(row: sqlite3.Row) -> IdempotencyKey:
    return IdempotencyKey(
        token_id=row["token_id"],
        key=row["key"],
        body_hash=row["body_hash"],
        run_id=row["run_id"],
        created_at=row["created_at"],
    )


def _column(name: str, value: Any) -> Any:
    if isinstance(value, RunStatus):
        return value.value
    if name == "error":
        return _short_error(value)
    if name == "result":
        return None if value is None else json.dumps(value, ensure_ascii=False)
    return value


def _short_error(text: str | None) -> str | None:
    return None if text is None else shorten(text, MAX_ERROR, whole="in output.log")


def _seq_below(after: str | None) -> tuple[list[str], list[str | int]]:
    # The WHERE clause of a page that continues below the position ``after``. The
    # first page is below the largest seq there can be, so that SQLite searches
    # the runs from the newest down there too, never scanning the table.
    if after is None:
        return ["seq < ?"], [_LAST_SEQ]
    if not after.isascii() or not after.isdigit() or len(after) > 18:
        raise ValueError("not a position in this list")
    return ["seq < ?"], [int(after)]


def _revoke_lineage(db: sqlite3.Connection, token_id: str, at: str) -> list[str]:
    """Revoke a token by ``at``, and the tokens it replaced that work longer: a
    rotation's grace keeps a token working, but never past its successor.

    Returns:
        The ids of the tokens before it whose revocation this brought forward.
    """
    lineage = (
        "WITH RECURSIVE lineage(id) AS (SELECT ? UNION "
        "SELECT token_id FROM tokens JOIN lineage ON replaced_by = lineage.id) "
    )
    later = "token_id IN lineage AND (revoked_at IS NULL OR revoked_at > ?)"
    ended = [
        row[0]
        for row in db.execute(
            f"{lineage}SELECT token_id FROM tokens WHERE {later} AND token_id != ?",
            (token_id, at, token_id),
        )
    ]
    db.execute(
        f"{lineage}UPDATE tokens SET revoked_at = ? WHERE {later}",
        (token_id, at, at),
    )
    return ended


def _insert_token(db: sqlite3.Connection, token: Token, secret_hash: str) -> None:
    """Insert a token in a write transaction, so that no other writer comes
    between the check of its name and the insert.

    Raises:
        TokenError: A token that is neither revoked nor expired has the name.
    """
    taken = db.execute(
        "SELECT 1 FROM tokens WHERE name = ? AND revoked_at IS NULL "
        "AND (expires_at IS NULL OR expires_at > ?)",
        (token.name, token.created_at),
    ).fetchone()
    if taken:
        raise _name_taken(token.name)
    db.execute(
        "INSERT INTO tokens (token_id, name, role, secret_hash, created_at, project, "
        "expires_at, lifetime) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            token.token_id,
            token.name,
            token.role.value,
            secret_hash,
            token.created_at,
            token.project,
            token.expires_at,
            token.lifetime,
        ),
    )


def _name_taken(name: str) -> TokenError:
    return TokenError(
        f"An active token is already named {name!r}; choose another name or revoke "
        "that token first.",
        status=409,
    )


def _token(row: sqlite3.Row) -> Token:
    return Token(
        token_id=row["token_id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        project=row["project"],
        expires_at=row["expires_at"],
        lifetime=row["lifetime"],
        last_used_at=row["last_used_at"],
        last_used_from=row["last_used_from"],
        revoked_at=row["revoked_at"],
        replaced_by=row["replaced_by"],
    )


def _run(row: sqlite3.Row, steps: list[sqlite3.Row]) -> Run:
    return Run(
        run_id=row["run_id"],
        pipeline_name=row["pipeline_name"],
        project=row["project"],
        parameters=json.loads(row["parameters"]),
        status=RunStatus(row["status"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        exit_code=row["exit_code"],
        error=row["error"],
        result=None if row["result"] is None else json.loads(row["result"]),
        pid=row["pid"],
        timeout=row["timeout"],
        steps=[
            StepRecord(
                index=s["idx"],
                name=s["name"],
                state=s["state"],
                started_at=s["started_at"],
                finished_at=s["finished_at"],
                duration=s["duration"],
                error=s["error"],
            )
            for s in steps
        ],
    )
