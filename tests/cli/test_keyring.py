"""The CLI keeps its own token in a real OS keyring (GNOME Keyring's Secret Service)."""

from __future__ import annotations

import json
import subprocess
import sys


def read_keyring(env, url):
    code = f"import keyring, sys; print(keyring.get_password('uniflow', {url!r}) or '')"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_cli_token_lives_in_the_keyring(cli, secret_service):
    env = dict(secret_service)
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")
    try:
        first = cli("token", "list", "--output", "json", **env)
        assert first.code == 0, first
        assert "No OS keyring" not in first.err
        assert not (cli.home / "credentials.json").exists()

        url = json.loads((cli.home / "daemon.json").read_text())["url"]
        secret = read_keyring(cli.env(**env), url)
        assert secret.startswith("uf_")
        names = [t["name"] for t in json.loads(first.out)]
        assert len([n for n in names if n.startswith("cli ")]) == 1

        # The next command reuses the kept token instead of making another.
        again = cli("token", "list", "--output", "json", **env)
        assert again.code == 0, again
        names = [t["name"] for t in json.loads(again.out) if t["state"] == "active"]
        assert len([n for n in names if n.startswith("cli ")]) == 1
        assert read_keyring(cli.env(**env), url) == secret
    finally:
        cli("daemon", "stop")
