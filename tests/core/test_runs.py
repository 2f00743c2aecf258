"""``uniflow.runs.prune``: ended runs go from the store, then their folders."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from uniflow import paths, runs
from uniflow.runs import Run, RunStatus, StepRecord, new_run_id, timestamp
from uniflow.store import IdempotencyKey, SQLiteStore

NOW = datetime.now(UTC)
OLD = timestamp(NOW - timedelta(days=40))
RECENT = timestamp(NOW - timedelta(days=1))


@pytest.fixture
def store(tmp_path):
    return SQLiteStore(tmp_path / "uniflow.db")


def add(store, status, finished_at):
    """Store a run in ``status`` that ended at ``finished_at``, with a folder and
    an idempotency key named after it."""
    run = Run(new_run_id(), "p", "default", {})
    store.add_keyed_run(
        run, IdempotencyKey("tok", run.run_id, "h", run.run_id), since=OLD
    )
    store.update_run(run.run_id, status=status, finished_at=finished_at)
    store.save_step(run.run_id, StepRecord(0, "s", "success"))
    folder = paths.runs_folder() / run.run_id
    folder.mkdir(parents=True)
    (folder / "output.log").write_text("hello\n")
    (folder / "events.jsonl").write_text("{}\n")
    return run.run_id


@pytest.mark.parametrize(
    ("status", "finished_at", "deleted"),
    [
        (RunStatus.SUCCESS, OLD, True),
        (RunStatus.FAILED, OLD, True),
        (RunStatus.CANCELLED, OLD, True),
        (RunStatus.SUCCESS, RECENT, False),
        (RunStatus.QUEUED, OLD, False),
        (RunStatus.RUNNING, OLD, False),
        (RunStatus.QUEUED, None, False),
        (RunStatus.RUNNING, None, False),
    ],
)
def test_prune_deletes_only_old_ended_runs(store, status, finished_at, deleted):
    run_id = add(store, status, finished_at)

    gone = runs.prune(store, NOW - timedelta(days=30))

    assert gone == ([run_id] if deleted else [])
    assert (store.run(run_id) is None) is deleted
    assert (paths.runs_folder() / run_id).exists() is not deleted
    assert (store.idempotency_key("tok", run_id, since=OLD) is None) is deleted


def test_prune_removes_steps_with_the_run(store):
    run_id = add(store, RunStatus.FAILED, OLD)

    runs.prune(store, NOW)

    db = store._db
    assert db.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    assert not (paths.runs_folder() / run_id).exists()


def test_run_without_folder_is_pruned(store):
    run_id = add(store, RunStatus.CANCELLED, OLD)
    (paths.runs_folder() / run_id / "output.log").unlink()
    (paths.runs_folder() / run_id / "events.jsonl").unlink()
    (paths.runs_folder() / run_id).rmdir()

    assert runs.prune(store, NOW) == [run_id]


@pytest.mark.parametrize("run_id", ["../escape", "run_../..", "run_0123", "/tmp/x"])
def test_odd_run_id_never_becomes_a_path(store, caplog, run_id):
    canary = paths.runs_folder() / "escape"
    canary.mkdir(parents=True)
    store.add_run(Run(run_id, "p", "default", {}))
    store.update_run(run_id, status=RunStatus.SUCCESS, finished_at=OLD)

    with caplog.at_level(logging.WARNING, logger="uniflow.runs"):
        assert runs.prune(store, NOW) == [run_id]

    assert canary.is_dir()
    assert "is not of the form run_<16 hex digits>" in caplog.text
    assert store.run(run_id) is None


def test_folder_that_cannot_go_is_logged(store, caplog, tmp_path):
    run_id = add(store, RunStatus.SUCCESS, OLD)
    folder = paths.runs_folder() / run_id
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere, target_is_directory=True)

    with caplog.at_level(logging.WARNING, logger="uniflow.runs"):
        assert runs.prune(store, NOW) == [run_id]

    assert (elsewhere / "output.log").exists()
    assert f"The folder of run {run_id} could not be removed" in caplog.text
    assert store.run(run_id) is None
