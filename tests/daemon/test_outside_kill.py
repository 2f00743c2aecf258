"""A runner killed from outside the daemon: its run fails and names the signal."""

from __future__ import annotations

import os
import signal

import pytest
from helpers import alive, trigger


@pytest.mark.parametrize(
    "signum", [signal.SIGKILL, signal.SIGTERM], ids=lambda s: s.name
)
def test_runner_killed_from_outside_fails(
    daemon, operator, wait_run, wait_until, signum
):
    run_id = trigger(operator, "holds_child")
    child_file = daemon.home / "runs" / run_id / "child.pid"
    wait_until(child_file.exists, what="the pipeline to start its child")
    child = int(child_file.read_text())
    runner = daemon.store().run(run_id).pid

    os.kill(runner, signum)

    run = wait_run(run_id)
    assert run["status"] == "failed"
    assert signum.name in run["error"], run["error"]
    assert run["exit_code"] == -signum
    wait_until(lambda: not alive(child), what="the run's child to be killed too")
