"""A run's output over the API: from an offset, or followed until the run ends."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from helpers import trigger

from uniflow.daemon.logs import FOLLOWERS, IDLE


def test_log_from_offset_sends_nothing_twice(operator, wait_run):
    run_id = trigger(operator, "hello", name="logs", times=2)
    wait_run(run_id)

    whole = operator.get(f"/api/v1/runs/{run_id}/logs")
    end = int(whole.headers["X-Next-Offset"])
    again = operator.get(f"/api/v1/runs/{run_id}/logs", params={"offset": end})
    part = operator.get(f"/api/v1/runs/{run_id}/logs", params={"offset": 6})

    assert whole.status_code == 200 and "hello logs hello logs" in whole.text
    assert whole.headers["content-type"].startswith("text/plain")
    assert whole.headers["X-Run-Status"] == "success"
    assert end == len(whole.content)
    assert again.content == b"" and again.headers["X-Next-Offset"] == str(end)
    assert part.content == whole.content[6:]


def test_follow_streams_until_the_run_ends(daemon, operator, operator_secret):
    run_id = trigger(operator, "ticks", count=4, every=0.3)
    chunks = []

    with httpx.Client(base_url=daemon.url, timeout=30) as client:
        with client.stream(
            "GET",
            f"/api/v1/runs/{run_id}/logs",
            params={"follow": "true"},
            headers={"Authorization": f"Bearer {operator_secret}"},
        ) as answer:
            assert answer.status_code == 200
            chunks.extend(answer.iter_bytes())

    text = b"".join(chunks).decode()
    assert [line for line in text.splitlines() if line.startswith("tick")] == [
        "tick 0",
        "tick 1",
        "tick 2",
        "tick 3",
    ]
    assert len(chunks) > 1  # it came as it was written, not at the end
    run = operator.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] == "success"


def test_follower_that_leaves_frees_its_slot(
    daemon, operator, operator_secret, wait_until
):
    run_id = trigger(operator, "ticks", count=400, every=0.05)
    headers = {"Authorization": f"Bearer {operator_secret}"}

    def follow_and_leave() -> bool:
        with httpx.Client(base_url=daemon.url, timeout=30) as client:
            with client.stream(
                "GET",
                f"/api/v1/runs/{run_id}/logs",
                params={"follow": "true"},
                headers=headers,
            ) as answer:
                if answer.status_code == 429:
                    return False  # the daemon has not yet seen a follower leave
                assert answer.status_code == 200, answer.read()
                next(answer.iter_bytes())
                return True

    # More followers, one after another, than may stream at once.
    for _ in range(8):
        wait_until(follow_and_leave, timeout=10)

    operator.post(f"/api/v1/runs/{run_id}/cancel")
    assert operator.get("/healthz").status_code == 200


@pytest.mark.parametrize("offset", [-1, "x", 2**70])
def test_bad_offset_gets_422(operator, problem, wait_run, offset):
    run_id = trigger(operator, "hello")
    wait_run(run_id)

    answer = operator.get(f"/api/v1/runs/{run_id}/logs", params={"offset": offset})

    assert problem(answer, 422)["errors"][0]["field"] == "offset"


def test_offset_past_the_end_gets_422(operator, problem, wait_run):
    run_id = trigger(operator, "hello")
    wait_run(run_id)

    answer = operator.get(f"/api/v1/runs/{run_id}/logs", params={"offset": 10**6})

    assert "past the end" in problem(answer, 422)["detail"]


def test_logs_of_unknown_run_get_404(operator, problem):
    problem(operator.get("/api/v1/runs/run_0000000000000000/logs"), 404)


def test_follow_of_an_ended_run_sends_all(daemon, operator, operator_secret, wait_run):
    run_id = trigger(operator, "spews", kib=3000)
    wait_run(run_id)
    size = int(
        operator.get(f"/api/v1/runs/{run_id}/logs", params={"offset": 0}).headers[
            "X-Next-Offset"
        ]
    )

    with daemon.client(operator_secret) as client:
        followed = sum(len(data) for data in client.follow_logs(run_id))

    assert size == 1024 * 1024  # one page of a polled answer
    assert followed == 3000 * 1024


@pytest.mark.parametrize("planted", ["fifo", "link"])
def test_output_replaced_by_the_run_is_no_output(daemon, operator, wait_run, planted):
    # A pipeline writes into its run's folder, so it could put a FIFO (which would
    # block a daemon thread on every read) or a link to the credential file (which
    # a viewer would then read) where its output was.
    run_id = trigger(operator, "hello", name="planted", times=1)
    wait_run(run_id)
    output = daemon.home / "runs" / run_id / "output.log"
    output.unlink()
    if planted == "fifo":
        os.mkfifo(output)
    else:
        secret_file = daemon.home / "planted-secret"
        secret_file.write_text("uf_not-for-viewers\n")
        output.symlink_to(secret_file)

    polled = operator.get(f"/api/v1/runs/{run_id}/logs", timeout=10)
    followed = operator.get(
        f"/api/v1/runs/{run_id}/logs", params={"follow": "true"}, timeout=10
    )

    for answer in (polled, followed):
        assert answer.status_code == 200, answer.text
        assert answer.content == b""
    assert polled.headers["X-Next-Offset"] == "0"
    assert operator.get("/healthz", timeout=10).status_code == 200


def held_by(pid):
    """Return the threads and the open files (by what they point to) of ``pid``."""
    fds = Path(f"/proc/{pid}/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(os.readlink(fd))
        except FileNotFoundError:
            pass  # closed while listed
    return len(os.listdir(f"/proc/{pid}/task")), sorted(targets)


def test_follower_that_leaves_holds_nothing(spawn_daemon, fixture_project, wait_until):
    own = spawn_daemon()
    own.admin = own.token("admin")
    with own.client() as admin:
        admin.register_project("testproj", str(fixture_project))
    headers = {"Authorization": f"Bearer {own.token('operator')}"}
    with httpx.Client(base_url=own.url, headers=headers, timeout=30) as client:
        # One line, then nothing: its followers have nothing more to write.
        run_id = trigger(client, "ticks", count=1, every=120)
        try:
            leave_followers_behind(own, client, run_id, wait_until)
        finally:
            client.post(f"/api/v1/runs/{run_id}/cancel")


def leave_followers_behind(own, client, run_id, wait_until):
    logs = f"/api/v1/runs/{run_id}/logs"
    wait_until(lambda: client.get(logs).content, what="the run's first line")

    def follow_and_leave():
        with httpx.Client(base_url=own.url, headers=client.headers) as other:
            with other.stream("GET", logs, params={"follow": "true"}) as answer:
                if answer.status_code == 429:
                    return False  # the daemon has not yet seen a follower leave
                assert answer.status_code == 200, answer.read()
                assert next(answer.iter_bytes()) == b"tick 0\n"
                return True

    # Each of the daemon's request threads opens its store connection on its first
    # request and keeps it: let every one of them serve one before counting.
    for _ in range(4 * 8):
        client.get(f"/api/v1/runs/{run_id}")
    before = held_by(own.process.pid)

    # More followers than may stream at once, each leaving before the next comes;
    # the daemon notices within a poll, well before IDLE.
    for _ in range(FOLLOWERS + 2):
        wait_until(follow_and_leave, timeout=IDLE / 3, what="a follower slot")

    try:
        wait_until(lambda: held_by(own.process.pid) == before, timeout=IDLE / 3)
    except AssertionError:
        assert held_by(own.process.pid) == before  # shows what is left behind
        raise
