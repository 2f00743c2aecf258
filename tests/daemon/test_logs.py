"""A run's output over the API: from an offset, or followed until the run ends."""

from __future__ import annotations

import httpx
import pytest
from helpers import trigger


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
