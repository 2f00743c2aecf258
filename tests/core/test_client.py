"""The client as a script uses it: only the public API, against a real daemon."""

from __future__ import annotations

from typing import Any

import pytest

import uniflow
from uniflow.errors import RequestError


def test_script_triggers_waits_and_reads(daemon: Any, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UNIFLOW_URL", daemon.url)
    monkeypatch.setenv("UNIFLOW_TOKEN", daemon.token("operator"))

    with uniflow.Client.from_environment() as client:
        run = client.trigger_run("hello", {"name": "script"}, project="testproj")
        done = client.wait_for_run(run["run_id"], timeout=60)
        output = b"".join(client.follow_logs(run["run_id"]))
        listed = client.list_runs(pipeline_name="hello", limit=50)

    assert client.url == daemon.url
    assert done["status"] == "success"
    assert b"script" in output
    assert run["run_id"] in [r["run_id"] for r in listed]


def test_local_daemon_found_from_its_state_file(
    spawn_daemon: Any, clean_environ: Any, monkeypatch: pytest.MonkeyPatch
):
    local = spawn_daemon(clean_environ)
    monkeypatch.setenv("UNIFLOW_TOKEN", local.token("viewer"))

    with uniflow.Client.from_environment() as client:
        assert client.url == local.url
        assert client.list_runs() == []


def test_no_daemon_is_daemon_not_running():
    with pytest.raises(uniflow.DaemonNotRunning, match="uniflow daemon start"):
        uniflow.Client.from_environment()


def test_no_token_is_authentication_error(daemon: Any, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UNIFLOW_URL", daemon.url)

    with pytest.raises(uniflow.AuthenticationError, match="uniflow login") as caught:
        uniflow.Client.from_environment()
    assert caught.value.reason == "missing"


def test_no_token_for_the_local_daemon(spawn_daemon: Any, clean_environ: Any):
    spawn_daemon(clean_environ)

    with pytest.raises(uniflow.AuthenticationError, match="UNIFLOW_TOKEN"):
        uniflow.Client.from_environment()


def test_bad_url_is_config_error():
    with pytest.raises(uniflow.ConfigError, match="not a server address"):
        uniflow.Client.from_environment("ftp://example")


def test_refused_token_is_api_and_authentication_error(
    daemon: Any, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("UNIFLOW_TOKEN", "uf_" + "a" * 36)

    with uniflow.Client.from_environment(daemon.url) as client:
        with pytest.raises(uniflow.AuthenticationError) as caught:
            client.list_runs()
    assert isinstance(caught.value, uniflow.APIError)
    assert caught.value.status == 401


def test_refused_role_is_api_error_and_permission_denied(daemon: Any):
    with uniflow.Client(daemon.url, daemon.token("viewer")) as client:
        with pytest.raises(uniflow.PermissionDenied) as caught:
            client.list_tokens()
    assert isinstance(caught.value, uniflow.APIError)
    assert caught.value.status == 403


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda c: c.get_run("../status"), "'../status' is not a run id"),
        (lambda c: c.run_logs("a/b"), "'a/b' is not a run id"),
        (lambda c: c.get_run("r" * 70_000), "(70002 characters in all) is not a run"),
        (lambda c: c.remove_project(".."), "'..' is not a project name"),
        (lambda c: c.revoke_token(""), "'' is not a token id"),
        (lambda c: c.list_runs(pipeline_name="p" * 70_000), "is too long to send"),
        (lambda c: c.list_runs(limit=0), "limit must be 1 or more"),
    ],
)
def test_values_that_cannot_be_sent_are_refused_before_sending(call, says):
    # Nothing listens on port 9: each refusal comes before any connection.
    with uniflow.Client("http://127.0.0.1:9", "uf_" + "a" * 36) as client:
        with pytest.raises(RequestError) as caught:
            call(client)
    assert says in str(caught.value)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (None, "A server address is text"),
        ("http://me:secret@127.0.0.1:8080", "must not hold a user name or password"),
    ],
)
def test_bad_server_addresses_are_config_errors(url, says):
    with pytest.raises(uniflow.ConfigError, match=says) as caught:
        uniflow.Client(url, None)
    assert "secret" not in str(caught.value)
