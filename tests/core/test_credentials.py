"""Tests for uniflow.credentials, on real keyring backends chosen by configuration.

The autouse ``clean_environ`` fixture selects keyring's "fail" backend, so a test
that does not ask for ``use_secret_service`` finds no keyring and gets the fallback
file.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uniflow import credentials, paths
from uniflow.errors import CredentialError

SERVER = "http://127.0.0.1:8080"
SECRET = "uf_3kQ9vT2mX8pLr5nW1yZc7bH4dF6gJ0sA"
SECRET_SERVICE = "OS keyring (SecretService Keyring)"


@pytest.fixture
def server(request: pytest.FixtureRequest) -> str:
    """Return a server URL of this test's own, so no entry leaks between tests."""
    return f"http://{re.sub(r'[^a-z0-9]+', '-', request.node.name)}.test:8080"


def test_secret_service_round_trip(use_secret_service: object, server: str) -> None:
    stored = credentials.store(server, SECRET)
    found = credentials.get(server)

    assert stored == credentials.Stored(SECRET_SERVICE, fallback=False)
    assert found == credentials.Credential(SECRET, SECRET_SERVICE)
    assert credentials.delete(server) is True
    assert credentials.get(server) is None
    assert credentials.delete(server) is False
    assert not paths.credentials_file().exists()


def test_unlocked_secret_service_answers_quietly(
    use_secret_service: object, server: str
) -> None:
    credentials.store(server, SECRET)
    try:
        found = credentials.get(server, interactive=False)
    finally:
        credentials.delete(server)

    assert found == credentials.Credential(SECRET, SECRET_SERVICE)


def test_secret_lands_in_secret_service(
    use_secret_service: dict[str, str], server: str
) -> None:
    credentials.store(server + "/", SECRET)

    # A fresh interpreter asks the Secret Service itself, not our module.
    read_back = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, keyring; print(keyring.get_password(*sys.argv[1:]))",
            credentials.SERVICE,
            server,
        ],
        env={**os.environ, **use_secret_service},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert read_back.stdout.strip() == SECRET


def test_environment_variable_wins(
    use_secret_service: object, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials.store(server, SECRET)
    monkeypatch.setenv("UNIFLOW_TOKEN", "uf_from_the_environment_0123456789")

    found = credentials.get(server)

    assert found == credentials.Credential(
        "uf_from_the_environment_0123456789", "environment variable UNIFLOW_TOKEN"
    )


@pytest.mark.parametrize("change", ["store", "delete"])
def test_env_token_blocks_changes(
    change: str, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIFLOW_TOKEN", SECRET)

    with pytest.raises(CredentialError, match="unset UNIFLOW_TOKEN first") as caught:
        if change == "store":
            credentials.store(server, "uf_another_token_0123456789")
        else:
            credentials.delete(server)

    assert SECRET not in str(caught.value)
    assert not paths.credentials_file().exists()


def test_fallback_file_without_keyring(server: str) -> None:
    stored = credentials.store(server, SECRET)
    found = credentials.get(server + "/")

    path = paths.credentials_file()
    assert stored == credentials.Stored(f"file {path}", fallback=True)
    assert found == credentials.Credential(SECRET, f"file {path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_credential_file_made_beforehand_becomes_private(server: str) -> None:
    paths.home().mkdir(parents=True, exist_ok=True)
    path = paths.credentials_file()
    path.write_text(json.dumps({server: SECRET}), encoding="utf-8")
    path.chmod(0o644)

    found = credentials.get(server)

    assert found is not None
    assert found.secret == SECRET
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_file_holds_several_servers() -> None:
    credentials.store("https://a.example", "uf_secret_of_server_a_0123456789")
    credentials.store("https://b.example/", "uf_secret_of_server_b_0123456789")
    assert credentials.delete("https://a.example/") is True

    found = credentials.get("https://b.example")

    assert found is not None
    assert found.secret == "uf_secret_of_server_b_0123456789"
    assert credentials.get("https://a.example") is None
    assert list(paths.home().iterdir()) == [paths.credentials_file()]


def test_last_delete_removes_the_file(server: str) -> None:
    credentials.store(server, SECRET)

    assert credentials.delete(server) is True
    assert credentials.delete(server) is False
    assert not paths.credentials_file().exists()


def test_null_backend_counts_as_none(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # keyring's null backend accepts a token and silently drops it.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")

    stored = credentials.store(server, SECRET)

    assert stored.fallback is True
    assert credentials.get(server) == credentials.Credential(SECRET, stored.location)


def test_dead_dbus_falls_back_to_file(
    server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Secret Service is configured, but nothing listens at the bus address.
    monkeypatch.setenv(
        "PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring"
    )
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'bus'}")

    stored = credentials.store(server, SECRET)

    assert stored.fallback is True
    assert credentials.get(server) == credentials.Credential(SECRET, stored.location)


def test_keyring_store_drops_file_copy(
    server: str, monkeypatch: pytest.MonkeyPatch, secret_service: dict[str, str]
) -> None:
    credentials.store(server, "uf_old_secret_in_the_file_0123456789")
    for name, value in secret_service.items():
        monkeypatch.setenv(name, value)

    stored = credentials.store(server, SECRET)

    assert stored.fallback is False
    assert not paths.credentials_file().exists()
    assert credentials.delete(server) is True


def test_broken_file_is_reported(server: str) -> None:
    paths.credentials_file().write_text('{"x": ' + repr(SECRET), encoding="utf-8")

    with pytest.raises(CredentialError, match="not a JSON object") as caught:
        credentials.get(server)

    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda path: path.symlink_to("/dev/zero"), "is a symbolic link"),
        (lambda path: os.mkfifo(path), "not a regular file"),
        (lambda path: path.mkdir(), "not a regular file"),
    ],
    ids=["link-to-dev-zero", "fifo", "folder"],
)
def test_credential_file_that_is_no_file_is_reported(server: str, make, says) -> None:
    paths.home().mkdir(parents=True, exist_ok=True)
    make(paths.credentials_file())

    # At once: neither an endless device nor a FIFO without a writer may hang it.
    with pytest.raises(CredentialError, match=says):
        credentials.get(server)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_credential_file_of_another_user_is_refused(server: str) -> None:
    paths.home().mkdir(parents=True, exist_ok=True)
    path = paths.credentials_file()
    path.write_text(json.dumps({server: SECRET}), encoding="utf-8")
    os.chown(path, 65534, 65534)  # nobody, who could have written any token there

    with pytest.raises(CredentialError, match="belongs to another user") as caught:
        credentials.get(server)

    assert SECRET not in str(caught.value)


def test_huge_credential_file_is_reported(server: str) -> None:
    paths.home().mkdir(parents=True, exist_ok=True)
    paths.credentials_file().write_bytes(b" " * (2 << 20))

    with pytest.raises(CredentialError, match="over 1 MiB"):
        credentials.get(server)


@pytest.mark.parametrize(
    "secret", ["x", "uf_short", "uf_0123456789abcdef", SECRET, "é" * 50]
)
def test_masked_hides_the_secret(secret: str) -> None:
    shown = credentials.Credential(secret, "test").masked()

    assert secret not in shown
    assert len(shown) >= 8


def test_masked_keeps_both_ends() -> None:
    assert credentials.Credential(SECRET, "test").masked() == "uf_3kQ…J0sA"
    # Cut short, ten characters would be half of it.
    assert credentials.Credential(SECRET[:20], "test").masked() == "********"


def test_repr_hides_the_secret() -> None:
    credential = credentials.Credential(SECRET, "test")

    assert SECRET not in repr(credential)
    assert SECRET not in str(credential)


def test_hung_keyring_times_out(
    use_secret_service: dict[str, str], server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIFLOW_KEYRING_TIMEOUT", "1")
    daemon = int(use_secret_service["GNOME_KEYRING_PID"])

    os.kill(daemon, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(CredentialError, match="did not answer within 1 s"):
            credentials.get(server)
        elapsed = time.monotonic() - started
    finally:
        os.kill(daemon, signal.SIGCONT)

    assert 1 <= elapsed < 3
    # Resumed, the daemon serves the next caller.
    assert credentials.get(server) is None


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf", "nan"])
def test_bad_timeout_is_rejected(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIFLOW_KEYRING_TIMEOUT", value)

    with pytest.raises(CredentialError, match="UNIFLOW_KEYRING_TIMEOUT"):
        credentials.get(SERVER)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(CredentialError, match="empty token"):
        credentials.store(SERVER, "")


def test_import_does_not_load_keyring() -> None:
    # The CLI imports this module on every start; keyring costs time to import.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, uniflow.credentials; print('keyring' in sys.modules)",
        ],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert loaded.stdout.strip() == "False"


def test_locked_keyring_says_how_to_go_on(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A keyring of its own: locking the session's one would upset other tests.
    import contextlib

    import secretstorage
    from conftest import running_secret_service
    from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

    monkeypatch.setenv("UNIFLOW_KEYRING_TIMEOUT", "2")
    with running_secret_service(tmp_path_factory.mktemp("locked")) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        credentials.store(SERVER, SECRET)
        address = env["DBUS_SESSION_BUS_ADDRESS"]
        with contextlib.closing(open_dbus_connection(bus=address)) as connection:
            secretstorage.Collection(connection).lock()
            assert secretstorage.Collection(connection).is_locked()

        with pytest.raises(CredentialError) as reading:
            credentials.get(SERVER)
        with pytest.raises(CredentialError) as writing:
            credentials.store(SERVER, SECRET)

    messages = [str(reading.value), str(writing.value)]
    for message in messages:
        assert "unlock it" in message
        assert "UNIFLOW_TOKEN" in message
        assert SECRET not in message
    # Locked is no reason to write the secret in plain text.
    assert not paths.credentials_file().exists()
    # keyring's SecretService backend leaves its D-Bus connection open when it
    # finds the collection locked; collect those sockets here, quietly.
    import gc
    import warnings

    del reading, writing  # their tracebacks hold the connections
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
