"""``Idempotency-Key`` on ``POST /api/v1/runs``: a retried trigger starts no new run."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import FIXTURE_PROJECT, copy_project, daemon_with_testproj

from uniflow.runs import timestamp

BODY = {"pipeline_name": "hello", "project": "testproj", "parameters": {"times": 2}}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """A daemon of this module's own, with testproj and a copy named "default"."""
    with daemon_with_testproj(tmp_path_factory, "keyed") as running:
        project = tmp_path_factory.mktemp("keyed-default") / "default"
        copy_project(FIXTURE_PROJECT, project)
        toml = project / "uniflow.toml"
        toml.write_text(toml.read_text().replace('"testproj"', '"default"'))
        with running.client() as admin:
            admin.register_project("default", str(project))
        yield running


@pytest.fixture
def client(keyed):
    """A raw client with an operator token of this test's own."""
    with http(keyed, keyed.token("operator")) as raw:
        yield raw


def http(running, secret):
    return httpx.Client(
        base_url=running.url,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )


def new_key():
    return str(uuid.uuid4())


def post(client, key, body=BODY, *, content=None):
    """Trigger with ``key`` (no header when None), sending ``body`` or ``content``."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    if content is None:
        return client.post("/api/v1/runs", headers=headers, json=body)
    return client.post("/api/v1/runs", headers=headers, content=content)


def count_runs(running, pipeline="hello"):
    with running.client() as admin:
        return len(admin.list_runs(pipeline_name=pipeline, limit=None))


def test_retry_answers_200_with_first_run(client):
    key = new_key()
    first = post(client, key)

    again = post(client, key)

    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    run_id = first.json()["run_id"]
    assert again.json()["run_id"] == run_id
    assert again.headers["Location"] == f"/api/v1/runs/{run_id}"


@pytest.mark.parametrize(
    ("first", "retry"),
    [
        pytest.param(
            '{"pipeline_name": "hello", "project": "testproj"}',
            '{  "project":"testproj",\n "pipeline_name" : "hello" }',
            id="white-space-and-key-order",
        ),
        pytest.param(
            '{"pipeline_name": "hello", "project": "testproj", "parameters": {}}',
            '{"pipeline_name": "hello", "project": "testproj"}',
            id="left-out-parameters",
        ),
        pytest.param(
            '{"pipeline_name": "hello"}',
            '{"pipeline_name": "hello", "project": "default", "parameters": {}}',
            id="left-out-project",
        ),
        pytest.param(
            '{"pipeline_name": "hello", "project": "testproj", '
            '"parameters": {"name": "a", "times": 2}}',
            '{"parameters": {"times": 2, "name": "a"}, "project": "testproj", '
            '"pipeline_name": "hello"}',
            id="parameter-order",
        ),
    ],
)
def test_same_body_written_otherwise_is_a_retry(client, keyed, first, retry):
    key = new_key()
    created = post(client, key, content=first)
    before = count_runs(keyed)

    again = post(client, key, content=retry)

    assert created.status_code == 201, created.text
    assert again.status_code == 200, again.text
    assert again.json()["run_id"] == created.json()["run_id"]
    assert count_runs(keyed) == before


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({**BODY, "parameters": {"times": 3}}, id="other-parameters"),
        pytest.param({**BODY, "parameters": {}}, id="parameters-left-out"),
        pytest.param({**BODY, "pipeline_name": "typed"}, id="other-pipeline"),
        pytest.param({**BODY, "project": "default"}, id="other-project"),
        pytest.param({**BODY, "pipeline_name": "no_such_one"}, id="unknown-pipeline"),
    ],
)
def test_same_key_other_body_is_422(client, keyed, problem, other):
    key = new_key()
    assert post(client, key).status_code == 201
    before = count_runs(keyed) + count_runs(keyed, other["pipeline_name"])

    body = problem(post(client, key, other), 422)

    assert body["type"].endswith("idempotency-key-reused")
    assert "Idempotency-Key" in body["detail"]
    assert "different request" in body["detail"] and "new key" in body["detail"]
    assert key not in body["detail"]
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert body["errors"][0]["location"] == "header"
    after = count_runs(keyed) + count_runs(keyed, other["pipeline_name"])
    assert after == before


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"two words", id="space"),
        pytest.param(b"tab\there", id="tab"),
        pytest.param("café".encode(), id="non-ascii"),
        pytest.param(b"k" * 256, id="256-characters"),
        pytest.param(b"k" * 20_000, id="huge"),
    ],
)
def test_bad_key_is_422_naming_the_header(client, keyed, problem, key):
    before = count_runs(keyed)

    answer = client.post("/api/v1/runs", json=BODY, headers={"Idempotency-Key": key})

    body = problem(answer, 422)
    assert "Idempotency-Key" in body["detail"]
    assert "1 to 255 visible ASCII characters" in body["detail"]
    assert body["errors"] == [
        {
            "field": "Idempotency-Key",
            "location": "header",
            "message": body["errors"][0]["message"],
        }
    ]
    assert "kkkkkkkkkk" not in answer.text
    assert count_runs(keyed) == before


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k", id="one-character"),
        pytest.param("k" * 255, id="255-characters"),
        pytest.param("!#$%&'*+-.^_`|~{}[]()<>@,;:\\\"/?=", id="punctuation"),
        pytest.param(str(uuid.uuid4()), id="uuid"),
    ],
)
def test_valid_keys_are_taken(client, key):
    # Each test has its own token, and keys are per token.
    first = post(client, key)
    again = post(client, key)

    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert first.json()["run_id"] == again.json()["run_id"]


def test_without_key_every_post_is_a_new_run(client):
    first, second = post(client, None), post(client, None)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["run_id"] != second.json()["run_id"]


@pytest.mark.parametrize("body", [BODY, {**BODY, "parameters": {"times": 5}}])
def test_keys_belong_to_one_token(keyed, body):
    key = new_key()
    with (
        http(keyed, keyed.token("operator")) as one,
        http(keyed, keyed.token("operator")) as other,
    ):
        mine = post(one, key)
        theirs = post(other, key, body)

    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert mine.json()["run_id"] != theirs.json()["run_id"]


def test_refused_request_does_not_take_the_key(client, problem):
    key = new_key()
    problem(post(client, key, {**BODY, "parameters": {"times": "x"}}), 422)
    problem(post(client, key, {**BODY, "pipeline_name": "helo"}), 404)

    assert post(client, key).status_code == 201


def test_retry_shows_the_run_as_it_stands_now(client, keyed):
    key = new_key()
    run_id = post(client, key).json()["run_id"]
    with keyed.client() as admin:
        finished = admin.wait_for_run(run_id, timeout=60, interval=0.05)

    again = post(client, key)

    assert again.status_code == 200
    assert again.json() == finished
    assert again.json()["status"] == "success"


def age_key(store, key, age):
    """Make ``key`` look as if it was first used ``age`` ago; return that time."""
    aged = timestamp(datetime.now(UTC) - age)
    with store._transaction() as db:
        db.execute(
            "UPDATE idempotency_keys SET created_at = ? WHERE key = ?", (aged, key)
        )
    return aged


def test_key_expires_after_a_day(client, keyed):
    key = new_key()
    first = post(client, key).json()["run_id"]
    store = keyed.store()
    aged = age_key(store, key, timedelta(hours=24, seconds=1))

    again = post(client, key, {**BODY, "parameters": {"times": 7}})

    assert again.status_code == 201, again.text
    assert again.json()["run_id"] != first
    rows = store._db.execute(
        "SELECT run_id, created_at FROM idempotency_keys WHERE key = ?", (key,)
    ).fetchall()
    assert [row["run_id"] for row in rows] == [again.json()["run_id"]]
    assert rows[0]["created_at"] > aged


def test_key_younger_than_a_day_still_holds(client, keyed):
    key = new_key()
    first = post(client, key).json()["run_id"]
    store = keyed.store()
    age_key(store, key, timedelta(hours=23, minutes=59))

    again = post(client, key)

    assert again.status_code == 200
    assert again.json()["run_id"] == first


def test_expired_keys_are_deleted_on_insert(client, keyed):
    old_key = new_key()
    post(client, old_key)
    store = keyed.store()
    with store._transaction() as db:
        db.execute(
            "UPDATE idempotency_keys SET created_at = ? WHERE key = ?",
            ("2000-01-01T00:00:00.000Z", old_key),
        )

    post(client, new_key())

    left = store._db.execute(
        "SELECT COUNT(*) FROM idempotency_keys WHERE created_at < '2001'"
    ).fetchone()[0]
    assert left == 0


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_same_key_gives_one_run(keyed, threads):
    key = new_key()
    before = count_runs(keyed)
    start = threading.Barrier(threads)
    with http(keyed, keyed.token("operator")) as raw:

        def send(_):
            start.wait(timeout=30)
            return post(raw, key)

        with ThreadPoolExecutor(threads) as pool:
            answers = list(pool.map(send, range(threads)))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * (threads - 1) + [201], [a.text for a in answers]
    assert len({a.json()["run_id"] for a in answers}) == 1
    assert count_runs(keyed) == before + 1


def test_replays_spend_no_trigger(testproj_daemon, problem):
    running = testproj_daemon("trigger_limit = 2")
    key = new_key()

    with http(running, running.token("operator")) as raw:
        first = post(raw, key)
        replays = [post(raw, key) for _ in range(5)]
        second = post(raw, new_key())
        third = post(raw, new_key())
        late_replay = post(raw, key)

    assert first.status_code == 201
    assert [r.status_code for r in replays] == [200] * 5
    assert second.status_code == 201, second.text
    problem(third, 429)
    assert late_replay.status_code == 200
    assert late_replay.json()["run_id"] == first.json()["run_id"]


def test_viewer_cannot_replay(keyed, client, problem):
    key = new_key()
    post(client, key)

    with http(keyed, keyed.token("viewer")) as viewer:
        problem(post(viewer, key), 403)


def test_spec_documents_the_header_and_replay(keyed):
    spec = httpx.get(f"{keyed.url}/openapi.json").json()
    trigger = spec["paths"]["/api/v1/runs"]["post"]

    (header,) = [p for p in trigger["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and not header["required"]
    assert header["schema"]["maxLength"] == 255
    replayed = trigger["responses"]["200"]
    assert set(replayed["headers"]) == {"Location", "Idempotent-Replayed"}
    assert "201" in trigger["responses"] and "422" in trigger["responses"]


# The SDK: uniflow.Client.trigger_run.


def test_client_makes_a_fresh_key_per_call(keyed):
    with keyed.client(keyed.token("operator")) as client:
        first = client.trigger_run("hello", project="testproj")
        second = client.trigger_run("hello", project="testproj")

    assert first["run_id"] != second["run_id"]


def test_client_sends_the_key_it_is_given(keyed):
    key = new_key()
    with keyed.client(keyed.token("operator")) as client:
        first = client.trigger_run(
            "hello", {"times": 2}, project="testproj", idempotency_key=key
        )
        again = client.trigger_run(
            "hello", {"times": 2}, project="testproj", idempotency_key=key
        )

    assert again["run_id"] == first["run_id"]


class _LosesFirstAnswer:
    """A TCP proxy to the daemon that drops the answer to its first request.

    The request reaches the daemon, which starts the run, but the client sees
    no answer: the connection closes after ``hold`` seconds, as when a network
    drops (or, held past the client's timeout, stalls).
    """

    def __init__(self, target: str, hold: float) -> None:
        self.hold = hold
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self.threads = [threading.Thread(target=self._accept)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                inbound, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            serve = threading.Thread(
                target=self._serve, args=(inbound, self.connections == 1)
            )
            self.threads.append(serve)
            serve.start()

    def _serve(self, inbound: socket.socket, drop: bool) -> None:
        with inbound, socket.create_connection(self.target) as outbound:
            if drop:
                outbound.sendall(_read_request(inbound))
                outbound.recv(65536)  # the daemon has answered: the run exists
                time.sleep(self.hold)
                return
            back = threading.Thread(target=self._pump, args=(outbound, inbound))
            back.start()
            self._pump(inbound, outbound)
            back.join()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        # Either side closing ends both directions.
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=10)


def _read_request(inbound: socket.socket) -> bytes:
    """Return one whole HTTP request with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += inbound.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += inbound.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("hold", "timeout"),
    [(0, 30), (4, 2)],
    ids=["connection-drops", "answer-times-out"],
)
def test_client_retries_a_lost_answer_once(keyed, hold, timeout):
    from uniflow.client import Client

    proxy = _LosesFirstAnswer(keyed.url, hold)
    before = count_runs(keyed)
    try:
        with Client(proxy.url, keyed.token("operator"), timeout=timeout) as client:
            run = client.trigger_run("hello", project="testproj")
    finally:
        proxy.close()

    assert proxy.connections == 2
    assert count_runs(keyed) == before + 1
    log = (keyed.home / "daemon.log").read_text()
    assert f"Run {run['run_id']} replayed" in log
    with keyed.client() as admin:
        assert admin.get_run(run["run_id"])["pipeline_name"] == "hello"


def test_key_holding_a_secret_is_422_and_not_kept(client, keyed, problem):
    from uniflow import tokens

    secret = tokens.new_secret()
    before = count_runs(keyed)

    answer = client.post("/api/v1/runs", json=BODY, headers={"Idempotency-Key": secret})

    body = problem(answer, 422)
    assert "holds a token's secret" in body["detail"]
    assert secret not in answer.text
    assert count_runs(keyed) == before
