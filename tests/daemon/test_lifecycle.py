"""Stopping or killing the daemon loses no queued run and leaves none running."""

from __future__ import annotations

import os
import signal

from uniflow.runs import RunStatus


def status_of(daemon, run_id):
    return daemon.store().run(run_id).status


def test_stop_cancels_running_keeps_queued(spawn_daemon, fixture_project, wait_until):
    first = spawn_daemon()
    first.admin = first.token("admin")
    home = first.home
    with first.client() as client:
        client.register_project("testproj", str(fixture_project))
        slow = [
            client.trigger_run("sleepy", {"seconds": 120}, project="testproj")["run_id"]
            for _ in range(os.cpu_count() or 2)
        ]
        wait_until(
            lambda: all(status_of(first, r) is RunStatus.RUNNING for r in slow),
            what="the slow runs to start",
        )
        queued = client.trigger_run("hello", project="testproj")["run_id"]
    assert status_of(first, queued) is RunStatus.QUEUED

    first.stop()
    assert first.process.returncode == 0
    for run_id in slow:
        run = first.store().run(run_id)
        assert run.status is RunStatus.CANCELLED
        assert "daemon stopped" in run.error
    assert status_of(first, queued) is RunStatus.QUEUED

    second = spawn_daemon(home)
    second.admin = first.admin
    with second.client() as client:
        finished = client.wait_for_run(queued, timeout=60, interval=0.05)
    assert finished["status"] == "success"


def test_killed_daemon_fails_its_runs(spawn_daemon, fixture_project, wait_until):
    first = spawn_daemon()
    first.admin = first.token("admin")
    with first.client() as client:
        client.register_project("testproj", str(fixture_project))
        run_id = client.trigger_run("sleepy", {"seconds": 120}, project="testproj")[
            "run_id"
        ]
    wait_until(lambda: status_of(first, run_id) is RunStatus.RUNNING)
    pid = first.store().run(run_id).pid

    first.process.kill()
    first.process.wait()
    try:
        second = spawn_daemon(first.home)
        run = second.store().run(run_id)
        assert run.status is RunStatus.FAILED
        assert run.error == "the daemon stopped while the run was running"
        assert run.finished_at is not None
    finally:
        # The run's process group outlives a killed daemon; end it here.
        os.killpg(pid, signal.SIGKILL)
