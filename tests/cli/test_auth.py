"""Token options, rotation of the CLI's own token, and logging in to a server."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from uniflow import tokens
from uniflow.store import SQLiteStore


def _login(cli, url, secret, **env):
    # The token comes on standard input, never as an argument.
    done = subprocess.run(
        [*cli_command(), "login", "--url", url],
        input=secret + "\n",
        env=cli.env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done


def cli_command():
    import sys
    from pathlib import Path

    return [str(Path(sys.executable).with_name("uniflow"))]


def _time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_create_with_lifetime_and_project(cli_daemon):
    done = cli_daemon.cli(
        "token",
        "create",
        "--name",
        "web-ci",
        "--role",
        "operator",
        "--project",
        "testproj",
        "--expires-in",
        "12h",
        "--output",
        "json",
    )

    assert done.code == 0, done
    made = json.loads(done.out)
    assert made["project"] == "testproj"
    assert _time(made["expires_at"]) - _time(made["created_at"]) == timedelta(hours=12)
    listed = cli_daemon.cli("token", "list")
    row = next(line for line in listed.out.splitlines() if "web-ci" in line)
    assert "testproj" in row and made["expires_at"][:10] in row


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--expires-in", "soon"], "'soon' is not a duration"),
        (["--expires-at", "2001-01-01"], "is in the past"),
        (["--expires-at", "9999-12-31"], "more than 100 years away"),
        (["--expires-in", "1d", "--no-expiry"], "not several"),
        (["--project", "nope"], "No project 'nope'"),
    ],
)
def test_bad_token_options_exit_2(cli_daemon, args, says):
    done = cli_daemon.cli("token", "create", "--name", "bad", "--role", "viewer", *args)

    assert done.code == 2, done
    assert says in done.said
    assert "Traceback" not in done.err


def test_cli_rotates_its_own_token_twice(cli):
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")
    listed = cli("token", "list", "--output", "json")
    assert listed.code == 0, listed
    own = next(t for t in json.loads(listed.out) if t["name"].startswith("cli "))
    before = (cli.home / "credentials.json").read_text()

    first = cli("token", "rotate", "--token-id", own["token_id"])
    assert first.code == 0, first
    assert "replaces the old one" in first.said
    assert "The old token no longer works." in first.said
    after = (cli.home / "credentials.json").read_text()
    assert after != before
    tokens = json.loads(cli("token", "list", "--output", "json").out)
    new_id = next(
        t["token_id"]
        for t in tokens
        if own["token_id"] != t["token_id"]
        and t["name"] == own["name"]
        and t["state"] == "active"
    )

    second = cli("token", "rotate", "--token-id", new_id)
    assert second.code == 0, second
    status = cli("auth", "status", "--output", "json")
    assert status.code == 0, status
    assert json.loads(status.out)["token"]["name"] == own["name"]
    for secret in json.loads(after).values():
        assert secret not in first.out + first.err + second.out + second.err


def _own_tokens(cli):
    listed = cli("token", "list", "--output", "json")
    assert listed.code == 0, listed
    return [t for t in json.loads(listed.out) if t["name"].startswith("cli ")]


def test_cli_replaces_its_own_expired_token(cli):
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")
    [own] = _own_tokens(cli)
    # It expired, as it would after 90 days of use.
    with closing(sqlite3.connect(cli.home / "uniflow.db")) as db, db:
        db.execute(
            "UPDATE tokens SET expires_at = '2020-01-01T00:00:00.000Z' "
            "WHERE token_id = ?",
            (own["token_id"],),
        )

    mine = _own_tokens(cli)

    # The expired token no longer holds the name, so the next one takes it.
    states = {t["token_id"]: t["state"] for t in mine}
    assert states.pop(own["token_id"]) == "expired"
    assert list(states.values()) == ["active"]


def test_cli_recovers_while_its_address_is_slowed_down(cli):
    (cli.home / "config.toml").write_text(
        "[daemon]\nport = 0\nauth_failure_limit = 2\n"
    )
    [own] = _own_tokens(cli)
    tokens.revoke(SQLiteStore(cli.home / "uniflow.db"), own["token_id"])
    guess = {"Authorization": f"Bearer {tokens.new_secret()}"}
    with httpx.Client(base_url=cli.state()["url"], timeout=30) as http:
        answers = [http.get("/api/v1/runs", headers=guess) for _ in range(3)]
    assert answers[-1].status_code == 429, answers[-1].text

    # Its revoked token is refused with 429 now, not 401; it still gets a new one.
    mine = _own_tokens(cli)

    assert sorted(t["state"] for t in mine) == ["active", "revoked"]


def test_rotating_another_token_prints_its_secret_once(cli_daemon):
    made = json.loads(
        cli_daemon.cli(
            "token", "create", "--name", "to-rotate", "--role", "viewer", "-o", "json"
        ).out
    )

    done = cli_daemon.cli(
        "token", "rotate", "--token-id", made["token_id"], "--grace", "1h"
    )

    assert done.code == 0, done
    secret = done.out.strip()
    assert secret.startswith("uf_") and secret != made["secret"]
    assert "will not be shown again" in done.err
    assert "The old token works until " in done.err
    with cli_daemon.http(made["secret"]) as old, cli_daemon.http(secret) as new:
        assert old.get("/api/v1/token").status_code == 200
        assert new.get("/api/v1/token").json()["name"] == "to-rotate"


def test_bad_grace_is_refused_before_asking(cli_daemon):
    done = cli_daemon.cli("token", "rotate", "--token-id", "tok_x", "--grace", "1 hour")

    assert done.code == 2, done
    assert "is not a duration" in done.said


def test_login_status_logout_with_a_real_keyring(
    cli_daemon, make_cli, tmp_path, secret_service
):
    made = json.loads(
        cli_daemon.cli(
            "token", "create", "--name", "remote-op", "--role", "operator", "-o", "json"
        ).out
    )
    other = make_cli(tmp_path)
    env = {**secret_service}

    logged = _login(other, cli_daemon.url, made["secret"], **env)
    assert logged.returncode == 0, logged.stderr
    assert "Logged in" in logged.stdout and "remote-op" in logged.stdout
    assert "keyring" in logged.stdout.lower() or "Secret" in logged.stdout
    assert not (tmp_path / "credentials.json").exists()

    status = other(
        "auth", "status", "--output", "json", UNIFLOW_URL=cli_daemon.url, **env
    )
    assert status.code == 0, status
    shown = json.loads(status.out)
    assert shown["token"]["name"] == "remote-op"
    assert shown["token"]["role"] == "operator"
    assert made["secret"] not in status.out
    assert shown["secret"].startswith(made["secret"][:6])
    runs = other("--server", cli_daemon.url, "runs", "list", **env)
    assert runs.code == 0, runs

    out = other("logout", "--url", cli_daemon.url, **env)
    assert out.code == 0 and "Forgot" in out.out, out
    after = other("auth", "status", UNIFLOW_URL=cli_daemon.url, **env)
    assert after.code == 4, after
    assert "uniflow login" in after.said


def _remote_cli_with_a_keyring(cli_daemon, make_cli, tmp_path, backend):
    """A CLI of another home whose token for the daemon is kept in a keyring that
    refuses new secrets; return it, its environment and its token."""
    made = json.loads(
        cli_daemon.cli(
            "token",
            "create",
            "--name",
            f"rot-{backend}",
            "--role",
            "viewer",
            "-o",
            "json",
        ).out
    )
    kept = tmp_path / "keyring.json"
    kept.write_text(json.dumps({cli_daemon.url: made["secret"]}))
    (tmp_path / "other").mkdir(mode=0o700)
    env = {
        "PYTHONPATH": str(Path(__file__).parents[1] / "fixtures" / "keyrings"),
        "PYTHON_KEYRING_BACKEND": f"readonly_keyring.{backend}",
        "READONLY_KEYRING_FILE": str(kept),
        "UNIFLOW_URL": cli_daemon.url,
    }
    return make_cli(tmp_path / "other"), env, made


def _works(url, secret):
    with httpx.Client(base_url=url) as client:
        answer = client.get(
            "/api/v1/token", headers={"Authorization": f"Bearer {secret}"}
        )
    return answer.status_code == 200


def test_own_rotation_waits_for_a_keyring_that_keeps(cli_daemon, make_cli, tmp_path):
    other, env, made = _remote_cli_with_a_keyring(
        cli_daemon, make_cli, tmp_path, "ReadOnly"
    )

    done = other("token", "rotate", "--token-id", made["token_id"], **env)

    # Nothing rotated: the old secret, the one kept, still works.
    assert done.code == 1, done
    assert "refused to keep the token" in done.said and "not rotated" in done.said
    assert _works(cli_daemon.url, made["secret"])


def test_own_rotation_shows_the_secret_a_keyring_refuses(
    cli_daemon, make_cli, tmp_path
):
    other, env, made = _remote_cli_with_a_keyring(
        cli_daemon, make_cli, tmp_path, "SameOnly"
    )
    assert other("auth", "status", **env).code == 0

    done = other("token", "rotate", "--token-id", made["token_id"], "-o", "json", **env)

    # The keyring refused only after the rotation: the secret printed is the only
    # way back in, so it is printed, and the command says what to do.
    assert done.code == 1, done
    secret = json.loads(done.out)["secret"]
    assert "refused to keep the token" in done.said
    assert "UNIFLOW_TOKEN" in done.said and "uniflow login" in done.said
    assert _works(cli_daemon.url, secret)
    assert not _works(cli_daemon.url, made["secret"])


def _rotate_with(cli, token_id, secret):
    """Rotate a token with ``secret`` in UNIFLOW_TOKEN; return the new secret."""
    done = cli(
        "token", "rotate", "--token-id", token_id, "-o", "json", UNIFLOW_TOKEN=secret
    )
    assert done.code == 0, done
    return json.loads(done.out)["secret"]


def test_rotating_the_env_token_replaces_its_kept_copy(cli):
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")
    [own] = _own_tokens(cli)
    kept = json.loads((cli.home / "credentials.json").read_text())
    [(url, old)] = kept.items()

    new = _rotate_with(cli, own["token_id"], old)
    # Without UNIFLOW_TOKEN now: the kept copy is the new secret, so nothing is
    # made again and the new token stays.
    after = _own_tokens(cli)

    assert json.loads((cli.home / "credentials.json").read_text()) == {url: new}
    assert [t["state"] for t in after if t["token_id"] != own["token_id"]] == ["active"]
    assert _works(url, new)


@pytest.mark.parametrize("spoil", ["checksum", "revoked", "empty"])
def test_login_refuses_a_bad_token(cli_daemon, make_cli, tmp_path, spoil):
    made = json.loads(
        cli_daemon.cli(
            "token",
            "create",
            "--name",
            f"bad-{spoil}",
            "--role",
            "viewer",
            "-o",
            "json",
        ).out
    )
    secret = made["secret"]
    if spoil == "checksum":
        secret = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    elif spoil == "revoked":
        cli_daemon.cli("token", "revoke", "--token-id", made["token_id"])
    else:
        secret = " "
    other = make_cli(tmp_path)

    done = _login(other, cli_daemon.url, secret)

    assert done.returncode == (2 if spoil == "empty" else 4), done.stderr
    assert {"checksum": "checksum", "revoked": "revoked", "empty": "no token"}[
        spoil
    ] in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "credentials.json").exists()


def test_non_loopback_needs_allow_remote(cli):
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")

    done = cli("daemon", "start", "--host", "0.0.0.0")

    assert done.code != 0, done
    assert "allow_remote = true" in done.said
    assert cli.state() is None


def test_own_token_never_goes_to_a_squatter_on_the_daemons_port(cli):
    """With the daemon down, whatever holds its port gets no request at all."""
    import http.server
    import socket
    import threading

    from uniflow import credentials as kept

    heard: list[str] = []

    class Squatter(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            heard.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status": "ok", "service": "uniflow"}')

        def log_message(self, *args: object) -> None:
            pass

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (cli.home / "config.toml").write_text(f"[daemon]\nport = {port}\n")
    url = f"http://127.0.0.1:{port}"
    # The CLI's own token for its daemon's address, as an earlier session kept it
    # (the test's environment has the CLI's home and keyring).
    kept.store(url, tokens.new_secret())
    server = http.server.HTTPServer(("127.0.0.1", port), Squatter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = cli("--server", url, "runs", "list")
    finally:
        server.shutdown()
        server.server_close()

    assert done.code == 3, done
    assert "No UniFlow daemon answers" in done.err
    assert not [header for header in heard if header], heard


@pytest.mark.parametrize("command", ["revoke", "rotate"])
def test_secret_given_as_token_id_is_refused_unsent(cli, command):
    # Cut short: a whole one is refused sooner, as any argument holding one is.
    secret = tokens.new_secret()[:24]

    done = cli("token", command, "--token-id", secret)

    assert done.code == 2, done
    assert "secret, not its id" in done.err and "Nothing was sent" in done.err
    assert secret not in done.out + done.err
    assert cli.state() is None  # No daemon was started, nothing was asked.


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "show", "{secret}"],
        ["runs", "logs", "{secret}"],
        ["runs", "cancel", "{secret}"],
        ["runs", "list", "--pipeline", "{secret}"],
        ["projects", "remove", "{secret}"],
        ["token", "create", "--name", "x", "--role", "viewer", "--project", "{secret}"],
    ],
    ids=lambda args: "-".join(args[:2]),
)
def test_secret_given_as_a_name_is_refused_unsent(cli, args):
    secret = tokens.new_secret()
    # Nothing listens there: a request would end in exit 3, not 2.
    nowhere = "http://127.0.0.1:9"

    done = cli(
        "--server",
        nowhere,
        *[arg.format(secret=secret) for arg in args],
        UNIFLOW_TOKEN=tokens.new_secret(),
    )

    assert done.code in (1, 2), done
    assert "secret" in done.err
    assert secret not in done.out + done.err


def test_part_of_a_secret_given_as_a_pipeline_is_not_quoted_back(cli_daemon):
    secret = tokens.new_secret()[:24]

    done = cli_daemon.cli("pipelines", "show", secret)

    assert done.code != 0, done
    assert "a secret, not shown" in done.err
    assert secret not in done.out + done.err


@pytest.mark.parametrize(
    "args",
    [
        ["login", "--url", "http://127.0.0.1:9", "{secret}"],  # an extra argument
        ["{secret}"],  # no such command
        ["runs", "list", "--status", "{secret}"],  # no such status
        ["run", "hello", "-p", "token={secret}"],
        ["token", "revoke", "--token-id", "{secret}"],
    ],
    ids=["login", "command", "status", "parameter", "token-id"],
)
def test_argument_holding_a_secret_stops_everything(cli, args):
    secret = tokens.new_secret()

    done = cli(*[arg.format(secret=secret) for arg in args])

    assert done.code == 2, done
    assert "an argument holds a token's secret" in done.said
    assert "rotate this one" in done.said
    assert secret not in done.out + done.err
    assert cli.state() is None  # no daemon was started, nothing was asked


def test_logout_from_the_local_daemon_says_what_follows(cli):
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")
    [before] = _own_tokens(cli)

    out = cli("logout")
    status = cli("auth", "status")

    assert out.code == 0, out
    assert "next command makes the CLI a new token" in out.said
    assert status.code == 4, status
    assert "the next command that needs one makes it" in status.said
    assert "uniflow login" not in status.said
    # As said: a new token, and the forgotten one revoked.
    states = {t["token_id"]: t["state"] for t in _own_tokens(cli)}
    assert states[before["token_id"]] == "revoked"
    assert list(states.values()).count("active") == 1


@pytest.mark.parametrize(
    ("where", "encoded"),
    [("flag", False), ("variable", False), ("variable", True)],
)
def test_secret_in_the_server_address_is_refused_unsent(cli, where, encoded):
    secret = tokens.new_secret()
    # %75 is u: the server would read uf_… all the same.
    url = f"http://127.0.0.1:9/{'%75' + secret[1:] if encoded else secret}"

    if where == "flag":
        done = cli("--server", url, "runs", "list", UNIFLOW_TOKEN=tokens.new_secret())
    else:
        done = cli("runs", "list", UNIFLOW_URL=url, UNIFLOW_TOKEN=tokens.new_secret())

    assert done.code == 2, done
    assert (
        "an argument holds a token's secret"
        if where == "flag"
        else "must not hold a token's secret"
    ) in done.said
    assert secret[3:] not in done.out + done.err


def test_clis_token_rotated_by_another_is_not_replaced_unasked(cli):
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")
    [own] = _own_tokens(cli)
    url = cli.state()["url"]
    other = json.loads(
        cli(
            "token", "create", "--name", "other-admin", "--role", "admin", "-o", "json"
        ).out
    )["secret"]
    new = _rotate_with(cli, own["token_id"], other)

    # The CLI still holds the old secret; making itself a token would revoke the
    # one just handed out, so it says what to do instead.
    refused = cli("runs", "list")

    assert refused.code == 4, refused
    assert "was rotated into" in refused.said and "uniflow logout" in refused.said
    assert _works(url, new)

    # Asked for, it does: logout, and the next command makes a new token.
    assert cli("logout").code == 0
    assert cli("runs", "list").code == 0
    assert not _works(url, new)


def test_clis_own_token_follows_the_daemons_lifetime_cap(cli):
    # The cap is set only where the daemon started, not in config.toml.
    started = cli("daemon", "start", "--port", "0", UNIFLOW_TOKENS_MAX_LIFETIME="30d")
    assert started.code == 0, started
    try:
        [own] = _own_tokens(cli)
    finally:
        cli("daemon", "stop")

    lifetime = _time(own["expires_at"]) - _time(own["created_at"])
    assert lifetime == timedelta(days=30)


def test_parallel_rotations_of_the_clis_token_keep_one_that_works(cli):
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")
    [own] = _own_tokens(cli)

    rotations = [
        subprocess.Popen(
            [*cli_command(), "token", "rotate", "--token-id", own["token_id"]],
            env=cli.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outcomes = [p.communicate(timeout=60) for p in rotations]
    codes = [p.returncode for p in rotations]

    # One rotates; the others find the token changed or rotated, and say so.
    assert codes.count(0) == 1, outcomes
    listed = cli("runs", "list")
    assert listed.code == 0, listed
    active = [t for t in _own_tokens(cli) if t["state"] == "active"]
    assert len(active) == 1 and active[0]["token_id"] != own["token_id"]
