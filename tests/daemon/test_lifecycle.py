"""Stopping or killing the daemon loses no queued run and leaves none running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from uniflow.runs import RunStatus


def status_of(daemon, run_id):
    return daemon.store().run(run_id).status


def short_stop(home: Path, seconds: int = 2) -> Path:
    """Give running runs ``seconds`` to finish when the daemon stops."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f"[daemon]\nstop_grace = {seconds}\n")
    return home


def test_stop_lets_runs_finish_cancels_the_rest_keeps_queued(
    spawn_daemon, fixture_project, tmp_path, wait_until
):
    first = spawn_daemon(short_stop(tmp_path / "home"))
    first.admin = first.token("admin")
    gate = tmp_path / "gate"
    with first.client() as client:
        client.register_project("testproj", str(fixture_project))
        quick = client.trigger_run("gated", {"gate": str(gate)}, project="testproj")
        slow = [
            client.trigger_run("sleepy", {"seconds": 120}, project="testproj")["run_id"]
            for _ in range((os.cpu_count() or 2) - 1)
        ]
        wait_until(
            lambda: all(
                status_of(first, r) is RunStatus.RUNNING
                for r in [quick["run_id"], *slow]
            ),
            what="the runs to start",
        )
        queued = client.trigger_run("hello", project="testproj")["run_id"]
        assert status_of(first, queued) is RunStatus.QUEUED

        first.process.send_signal(signal.SIGTERM)
        # While it waits for its runs it still answers, but takes no new run.
        refused = wait_until(
            lambda: (
                _trigger_answer(first, client) if first.process.poll() is None else None
            ),
            what="a trigger refused while the daemon stops",
        )
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "stopping" in refused.json()["detail"]
        assert refused.headers["Retry-After"].isdigit()
        assert client.status()["accepting_runs"] is False
        gate.touch()  # the quick run may end within the grace period

    first.process.wait(timeout=30)
    assert first.process.returncode == 0
    assert status_of(first, quick["run_id"]) is RunStatus.SUCCESS
    for run_id in slow:
        run = first.store().run(run_id)
        assert run.status is RunStatus.CANCELLED
        assert (
            run.error
            == "the daemon stopped before the run finished (it waited 2 s for it)"
        )
    assert status_of(first, queued) is RunStatus.QUEUED

    second = spawn_daemon(first.home)
    second.admin = first.admin
    with second.client() as client:
        finished = client.wait_for_run(queued, timeout=60, interval=0.05)
    assert finished["status"] == "success"


def _trigger_answer(daemon, client):
    import httpx

    try:
        answer = httpx.post(
            f"{daemon.url}/api/v1/runs",
            json={"pipeline_name": "hello", "project": "testproj"},
            headers={"Authorization": f"Bearer {daemon.admin}"},
            timeout=10,
        )
    except httpx.TransportError:
        return None
    return answer if answer.status_code == 503 else None


def test_killed_daemon_runs_are_watched_again(
    spawn_daemon, fixture_project, tmp_path, wait_until
):
    first = spawn_daemon()
    first.admin = first.token("admin")
    gate = tmp_path / "gate"
    with first.client() as client:
        client.register_project("testproj", str(fixture_project))
        run_id = client.trigger_run("gated", {"gate": str(gate)}, project="testproj")[
            "run_id"
        ]
    wait_until(
        lambda: [s.state for s in first.store().run(run_id).steps] == ["running"],
        what="the run's step to start",
    )
    pid = first.store().run(run_id).pid

    first.process.kill()
    first.process.wait()
    assert group_alive(pid)  # the run's process outlives a killed daemon

    second = spawn_daemon(first.home)
    second.admin = first.admin
    assert status_of(second, run_id) is RunStatus.RUNNING
    with second.client() as client:
        assert client.status()["runs"]["running"] == 1
        gate.touch()
        finished = client.wait_for_run(run_id, timeout=60, interval=0.05)
    assert finished["status"] == "success", finished
    assert finished["result"] == {"pid": pid}
    assert finished["exit_code"] == 0
    assert [(s["name"], s["state"]) for s in finished["steps"]] == [
        ("wait_for", "success")
    ]
    log = (second.home / "runs" / run_id / "output.log").read_text()
    assert log.splitlines() == ["waiting", "through"]


def test_killed_daemon_queue_runs_once_each_after_restart(
    testproj_daemon, spawn_daemon, tmp_path, wait_until
):
    first = testproj_daemon("max_concurrent_runs = 1")
    gate = tmp_path / "gate"
    with first.client() as client:
        held = client.trigger_run("gated", {"gate": str(gate)}, project="testproj")
        queued = [
            client.trigger_run("hello", {"name": f"q{i}"}, project="testproj")
            for i in range(3)
        ]
    wait_until(lambda: status_of(first, held["run_id"]) is RunStatus.RUNNING)
    first.process.kill()
    first.process.wait()
    assert all(status_of(first, r["run_id"]) is RunStatus.QUEUED for r in queued)

    second = spawn_daemon(first.home)
    second.admin = first.admin
    gate.touch()
    with second.client() as client:
        ended = [
            client.wait_for_run(r["run_id"], timeout=60, interval=0.05)
            for r in [held, *queued]
        ]
    assert [r["status"] for r in ended] == ["success"] * 4, ended
    # Each queued run ran once, one after another, in the order it came.
    starts = [r["started_at"] for r in ended[1:]]
    assert starts == sorted(starts)
    for i, run in enumerate(queued):
        log = (second.home / "runs" / run["run_id"] / "output.log").read_text()
        assert log.count(f"q{i}") == 1, log


def test_adopted_run_can_be_cancelled(spawn_daemon, fixture_project, wait_until):
    first = spawn_daemon()
    first.admin = first.token("admin")
    with first.client() as client:
        client.register_project("testproj", str(fixture_project))
        run_id = client.trigger_run("holds_child", project="testproj")["run_id"]
    child_pid = first.home / "runs" / run_id / "child.pid"
    wait_until(child_pid.exists, what="the run's child to start")
    child = int(child_pid.read_text())
    first.process.kill()
    first.process.wait()

    second = spawn_daemon(first.home)
    second.admin = first.admin
    with second.client() as client:
        assert client.cancel_run(run_id)["status"] == "running"
        finished = client.wait_for_run(run_id, timeout=60, interval=0.05)
    assert finished["status"] == "cancelled"
    assert "cancelled by token" in finished["error"]
    wait_until(lambda: not alive(child), what="the run's child to be killed")


def test_run_that_ended_without_a_daemon_fails(
    spawn_daemon, fixture_project, tmp_path, wait_until
):
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
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), what="the run's process to end")

    second = spawn_daemon(first.home)
    run = second.store().run(run_id)
    assert run.status is RunStatus.FAILED
    assert run.error == "the daemon stopped while the run was running"
    assert run.finished_at is not None


def test_timeout_stops_the_run_and_fails_it(daemon):
    with daemon.client() as client:
        started = time.monotonic()
        run = client.trigger_run("overruns", project="testproj")
        run = client.wait_for_run(run["run_id"], timeout=60, interval=0.05)
    assert run["status"] == "failed"
    assert run["error"] == "timed out after 1 s"
    assert run["exit_code"] == -signal.SIGTERM
    assert time.monotonic() - started < 30


def test_status_counts_running_and_queued(testproj_daemon, tmp_path, wait_until):
    running = testproj_daemon("max_concurrent_runs = 1")
    gate = tmp_path / "gate"
    with running.client() as client:
        first = client.trigger_run("gated", {"gate": str(gate)}, project="testproj")
        later = [client.trigger_run("hello", project="testproj") for _ in range(2)]
    wait_until(lambda: status_of(running, first["run_id"]) is RunStatus.RUNNING)

    with running.client(running.token("viewer")) as viewer:
        assert viewer.status() == {
            "version": viewer.health()["version"],
            "accepting_runs": True,
            "max_concurrent_runs": 1,
            "runs": {"running": 1, "queued": 2},
        }
        gate.touch()
        for run in later:
            viewer.wait_for_run(run["run_id"], timeout=60, interval=0.05)
        assert viewer.status()["runs"] == {"running": 0, "queued": 0}


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


def test_run_that_succeeded_without_a_daemon_keeps_its_outcome(
    spawn_daemon, fixture_project, tmp_path, wait_until
):
    gate = tmp_path / "gate"
    first = spawn_daemon()
    first.admin = first.token("admin")
    with first.client() as client:
        client.register_project("testproj", str(fixture_project))
        run_id = client.trigger_run("gated", {"gate": str(gate)}, project="testproj")[
            "run_id"
        ]
    wait_until(lambda: status_of(first, run_id) is RunStatus.RUNNING)
    pid = first.store().run(run_id).pid
    first.process.kill()
    first.process.wait()
    # The run ends, well, while no daemon watches it.
    gate.touch()
    wait_until(lambda: not alive(pid), what="the run's process to end")

    second = spawn_daemon(first.home)
    run = second.store().run(run_id)

    assert run.status is RunStatus.SUCCESS, run.error
    assert run.result == {"pid": pid}
    assert [(s.name, s.state) for s in run.steps] == [("wait_for", "success")]


def test_steps_end_with_a_stopped_run(daemon, tmp_path, wait_until):
    with daemon.client() as client:
        run_id = client.trigger_run(
            "gated", {"gate": str(tmp_path / "never")}, project="testproj"
        )["run_id"]
        wait_until(lambda: client.get_run(run_id)["steps"], what="the step to start")
        client.cancel_run(run_id)
        run = client.wait_for_run(run_id, timeout=60, interval=0.05)

    assert run["status"] == "cancelled"
    assert [(s["name"], s["state"]) for s in run["steps"]] == [
        ("wait_for", "cancelled")
    ]
    assert run["steps"][0]["finished_at"] is not None
