"""Stopping or killing the daemon loses no queued run and leaves none running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    assert group_alive(pid)  # the run's process outlives a killed daemon

    second = spawn_daemon(first.home)
    run = second.store().run(run_id)
    assert run.status is RunStatus.FAILED
    assert run.error == "the daemon stopped while the run was running"
    assert run.finished_at is not None
    wait_until(lambda: not group_alive(pid), what="the orphaned run to be stopped")


def test_leftover_processes_are_killed(daemon, wait_until):
    with daemon.client() as client:
        run = client.trigger_run("spawner", project="testproj")
        run = client.wait_for_run(run["run_id"], timeout=60, interval=0.05)
    assert run["status"] == "success"
    child = run["result"]["child"]
    wait_until(lambda: not alive(child), what="the run's child to be killed")


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"


def test_second_daemon_on_a_home_refused(daemon):
    state = (daemon.home / "daemon.json").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFLOW_")}
    second = subprocess.run(
        [sys.executable, "-m", "uniflow.daemon", "--port", "0"],
        env={**env, "UNIFLOW_HOME": str(daemon.home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert "already runs for" in second.stderr
    assert str(daemon.process.pid) in second.stderr
    assert (daemon.home / "daemon.json").read_text() == state
    with daemon.client() as client:
        assert client.health()["status"] == "ok"


def test_stale_state_never_kills_its_pid(tmp_path, monkeypatch):
    from uniflow.cli import daemon_control

    bystander = subprocess.Popen(["sleep", "60"])
    try:
        monkeypatch.setenv("UNIFLOW_HOME", str(tmp_path))
        (tmp_path / "daemon.json").write_text(
            json.dumps(
                {
                    "pid": bystander.pid,
                    "url": "http://127.0.0.1:9",
                    "started_at": "2026-01-01T00:00:00Z",
                }
            )
        )
        assert daemon_control.stop() is None
        assert bystander.poll() is None
        assert not (tmp_path / "daemon.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_recovery_spares_a_reused_pid():
    from uniflow.daemon.supervisor import _is_runner_of

    bystander = subprocess.Popen(["sleep", "60"])
    try:
        assert not _is_runner_of(bystander.pid, "run_0123456789abcdef")
    finally:
        bystander.kill()
        bystander.wait()
