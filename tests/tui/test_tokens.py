"""Settings > API Tokens, driven by a pilot against a real daemon."""

from __future__ import annotations

import asyncio
import uuid

from textual.widgets import Button, DataTable, Static

from uniflow.cli.tui.app import UniFlowApp
from uniflow.cli.tui.live import LiveScreen
from uniflow.cli.tui.token_forms import NewTokenScreen, SecretScreen
from uniflow.cli.tui.tokens import TokensScreen
from uniflow.client import Client


def _rows(app: UniFlowApp) -> dict[str, list[str]]:
    """The tokens table's rows by token id, as text."""
    table = app.screen.query_one("#tokens", DataTable)
    return {
        str(key.value): [str(cell) for cell in table.get_row(key)] for key in table.rows
    }


def test_generate_copy_close_revoke(tui_daemon, use_daemon, until):
    use_daemon(tui_daemon)
    name = f"tui-{uuid.uuid4().hex[:8]}"

    async def flow() -> None:
        app = UniFlowApp()
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("3")
            await until(pilot, lambda: isinstance(app.screen, TokensScreen), "tokens")
            await until(pilot, lambda: _rows(app), "the tokens")

            await pilot.press("g")
            form = await until(
                pilot,
                lambda: isinstance(app.screen, NewTokenScreen) and app.screen,
                "the form",
            )
            submit = form.query_one("#submit", Button)
            assert submit.disabled  # no name yet
            await pilot.press(*name)
            await pilot.click("#expiry")
            await pilot.press("3", "x")
            assert submit.disabled
            assert "not a duration" in str(form.query_one("#expiry-hint").content)
            await pilot.press("backspace", "d")
            assert not submit.disabled
            await pilot.press("ctrl+s")

            dialog = await until(
                pilot,
                lambda: isinstance(app.screen, SecretScreen) and app.screen,
                "the secret",
            )
            secret = str(dialog.query_one("#secret", Static).content)
            assert secret.startswith("uf_")
            with Client(tui_daemon.url, secret) as client:
                own = client.own_token()
            assert own["name"] == name and own["role"] == "viewer"

            await pilot.press("c")
            assert app.clipboard == secret
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, TokensScreen), "tokens")
            await until(pilot, lambda: own["token_id"] in _rows(app), "the new row")
            assert secret not in app.export_screenshot()
            assert _rows(app)[own["token_id"]][-1] == "active"

            table = app.screen.query_one("#tokens", DataTable)
            table.move_cursor(row=table.get_row_index(own["token_id"]))
            await pilot.press("v")
            await pilot.pause()
            await pilot.press("y")
            await until(
                pilot,
                lambda: _rows(app)[own["token_id"]][-1] == "revoked",
                "the token to show revoked",
            )

        with tui_daemon.client() as client:
            states = {t["token_id"]: t["state"] for t in client.list_tokens()}
        assert states[own["token_id"]] == "revoked"

    asyncio.run(flow())


async def _rotate_from_the_list(app, pilot, until, token_id: str) -> str:
    """Open the tokens, rotate ``token_id``, read the new secret off its dialog,
    close it, and return the secret once the list shows the old token revoked."""
    await pilot.press("3")
    await until(pilot, lambda: token_id in _rows(app), "the token")
    table = app.screen.query_one("#tokens", DataTable)
    table.move_cursor(row=table.get_row_index(token_id))
    await pilot.press("r")
    await pilot.pause()
    await pilot.press("y")
    dialog = await until(
        pilot,
        lambda: isinstance(app.screen, SecretScreen) and app.screen,
        "the new secret",
    )
    secret = str(dialog.query_one("#secret", Static).content)
    await pilot.press("escape")
    await until(
        pilot,
        lambda: _rows(app).get(token_id, [""])[-1] == "revoked",
        "the old token to show revoked",
    )
    return secret


def test_rotate_shows_new_secret_once(tui_daemon, use_daemon, until):
    use_daemon(tui_daemon)
    with tui_daemon.client() as client:
        old = client.create_token(f"rot-{uuid.uuid4().hex[:8]}", "operator")

    async def flow() -> str:
        app = UniFlowApp()
        async with app.run_test(size=(100, 32)) as pilot:
            return await _rotate_from_the_list(app, pilot, until, old["token_id"])

    secret = asyncio.run(flow())
    with Client(tui_daemon.url, secret) as client:
        assert client.own_token()["name"] == old["name"]


def test_viewer_is_told_what_to_do(tui_daemon, monkeypatch, until):
    monkeypatch.setenv("UNIFLOW_URL", tui_daemon.url)
    monkeypatch.setenv("UNIFLOW_TOKEN", tui_daemon.token("viewer"))

    async def flow() -> None:
        app = UniFlowApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3")
            notes = await until(
                pilot,
                lambda: [n for n in app._notifications if n.title == "Not allowed"],
                "a notification",
            )
            assert "role" in notes[0].message
            assert "uniflow login" in notes[0].message
            assert isinstance(app.screen, TokensScreen)
            table = app.screen.query_one("#tokens", DataTable)
            await until(pilot, lambda: not table.loading, "the spinner to stop")

            await pilot.press("g")
            await until(
                pilot,
                lambda: any("needs an admin token" in n.message for n in notes_of(app)),
                "the reason Generate does nothing",
            )
            assert isinstance(app.screen, TokensScreen)

    asyncio.run(flow())


def notes_of(app: UniFlowApp) -> list:
    return list(app._notifications)


def test_revoked_token_is_not_tried_again_until_reconnect(
    tui_daemon, monkeypatch, until
):
    """Once the server refuses the TUI's token, its screens stop asking with it:
    each try would be another failed authentication in the audit log."""
    monkeypatch.setattr(LiveScreen, "RETRY", 0.05)
    with tui_daemon.client() as admin:
        mine = admin.create_token(f"soon-revoked-{uuid.uuid4().hex[:8]}", "viewer")
    monkeypatch.setenv("UNIFLOW_URL", tui_daemon.url)
    monkeypatch.setenv("UNIFLOW_TOKEN", mine["secret"])

    def failures() -> int:
        with tui_daemon.client() as admin:
            return len(admin.audit(action="auth.fail", limit=None))

    async def flow() -> int:
        app = UniFlowApp()
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.screen.query_one(DataTable)
            await until(pilot, lambda: not table.loading, "the runs")
            with tui_daemon.client() as admin:
                admin.revoke_token(mine["token_id"])
            before = failures()
            await until(
                pilot,
                lambda: [n for n in notes_of(app) if n.title == "Not authenticated"],
                "the refusal to be told",
            )
            # Twenty retry periods: a screen that kept trying would fail each.
            await pilot.pause(1.0)
            # Once the notification fades, the header still says it.
            assert "not updating" in app.sub_title
            return failures() - before

    assert asyncio.run(flow()) == 1


def test_request_refused_mid_rotation_takes_the_new_secret(tui_daemon, use_daemon):
    """A TUI worker whose request is refused because another worker has just
    rotated their shared token takes the new secret; it neither provisions a
    token of its own nor revokes the rotated one, whose name it would share."""
    import getpass
    import io
    import socket

    from rich.console import Console

    from uniflow import credentials, tokens
    from uniflow.cli.session import Session, call, rotate

    use_daemon(tui_daemon)
    # The CLI's own token, made in the store as the CLI makes it: the API keeps
    # the name for the CLI.
    name = tokens.cli_token_name(getpass.getuser(), socket.gethostname())
    token, secret = tokens.issue(tui_daemon.store(), name, "admin")
    mine = {"token_id": token.token_id, "secret": secret}
    credentials.store(tui_daemon.url, mine["secret"])
    session = Session(tui_daemon.url, True, credentials.get(tui_daemon.url))
    quiet = Console(file=io.StringIO())
    rotations = []

    def rotated_meanwhile(client: Client) -> dict:
        # The client still holds the old secret, as a worker's request in flight.
        if not rotations:
            rotations.append(rotate(session, quiet, mine["token_id"], None))
        return client.own_token()

    seen = call(session, quiet, rotated_meanwhile)
    new = rotations[0].token
    assert rotations[0].kept_in is not None
    assert seen["token_id"] == new["token_id"]
    assert credentials.get(tui_daemon.url).secret == new["secret"]
    with tui_daemon.client() as client:
        same_name = [t for t in client.list_tokens() if t["name"] == name]
    states = {t["token_id"]: t["state"] for t in same_name}
    assert states == {mine["token_id"]: "revoked", new["token_id"]: "active"}


def test_own_rotation_a_keyring_refuses_shows_the_secret(
    tui_daemon, until, monkeypatch, tmp_path
):
    import json
    from pathlib import Path

    with tui_daemon.client() as client:
        own = client.create_token(f"own-{uuid.uuid4().hex[:8]}", "admin")
    kept = tmp_path / "keyring.json"
    kept.write_text(json.dumps({tui_daemon.url: own["secret"]}))
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "fixtures/keyrings"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "readonly_keyring.SameOnly")
    monkeypatch.setenv("READONLY_KEYRING_FILE", str(kept))
    monkeypatch.setenv("UNIFLOW_URL", tui_daemon.url)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)

    async def flow() -> str:
        app = UniFlowApp()
        async with app.run_test(size=(100, 32)) as pilot:
            # The keyring does not keep it, but the secret is shown all the same,
            # and the TUI goes on with it: the list loads again, unrefused.
            secret = await _rotate_from_the_list(app, pilot, until, own["token_id"])
            [told] = [n for n in app._notifications if n.severity == "error"]
            assert "refused to keep" in told.message
            assert "UNIFLOW_TOKEN" in told.message
            return secret

    secret = asyncio.run(flow())
    with Client(tui_daemon.url, secret) as client:
        assert client.own_token()["token_id"] != own["token_id"]
