"""The app as a whole: finding the daemon, failures, the command palette."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pytest
from textual.widgets import DataTable, Static

from uniflow.cli import daemon_control
from uniflow.cli.tui.app import UniFlowApp
from uniflow.cli.tui.pipelines import PipelinesScreen
from uniflow.cli.tui.runs import RunsScreen
from uniflow.cli.tui.tokens import TokensScreen
from uniflow.cli.tui.trigger import TriggerScreen


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_no_daemon_says_what_to_do(monkeypatch, until):
    monkeypatch.setenv("UNIFLOW_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("UNIFLOW_TOKEN", "uf_" + "a" * 36)

    async def flow() -> None:
        app = UniFlowApp()
        async with app.run_test(size=(80, 24)) as pilot:
            notes = await until(
                pilot,
                lambda: [n for n in app._notifications if n.severity == "error"],
                "a notification",
            )
            assert notes[0].title == "Daemon not running"
            assert "uniflow daemon start" in notes[0].message
            await pilot.press("3")
            await pilot.pause(0.2)
            assert isinstance(app.screen, TokensScreen)
            # The same problem is not repeated by every screen that fetches.
            assert len([n for n in app._notifications if n.severity == "error"]) == 1

    asyncio.run(flow())


# The daemon is meant to outlive the Popen object that started it (the CLI exits
# right after); in a test process, Python warns when that object is collected.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_starts_local_daemon_like_the_cli(clean_environ, until):
    (clean_environ / "config.toml").write_text("[daemon]\nport = 0\n")

    async def flow() -> None:
        app = UniFlowApp()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            empty = screen.query_one("#runs-empty", Static)
            await until(pilot, lambda: empty.display, "the empty table", timeout=45)
            assert "No runs yet" in str(empty.content)
            assert any(
                "Started the UniFlow daemon" in n.message for n in app._notifications
            )
            assert "local daemon" in app.sub_title

    try:
        asyncio.run(flow())
        assert daemon_control.current() is not None
    finally:
        daemon_control.stop()


def test_palette_reaches_each_screen(tui_daemon, use_daemon, until):
    use_daemon(tui_daemon)

    async def flow() -> None:
        app = UniFlowApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await _palette(pilot, "API Tokens")
            await until(pilot, lambda: isinstance(app.screen, TokensScreen), "tokens")

            # The screen's own actions are there too, once each.
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert {"Rotate", "Revoke", "Reload"} <= set(titles)
            assert titles.count("Generate New Token") == 1

            await pilot.press("2")
            await until(
                pilot,
                lambda: (
                    isinstance(app.screen, PipelinesScreen)
                    and app.screen.query_one(DataTable).row_count
                ),
                "the pipelines",
            )
            await _palette(pilot, "Trigger")
            await until(pilot, lambda: isinstance(app.screen, TriggerScreen), "form")

    asyncio.run(flow())


async def _palette(pilot, command: str) -> None:
    """Choose ``command`` in the command palette, typed as a person would."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*command)
    await pilot.pause(0.3)
    await pilot.press("enter")


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_other_commands_skip_textual(option):
    code = (
        "import sys\n"
        f"sys.argv = ['uniflow', {option!r}]\n"
        "from uniflow.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('textual' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr


def test_tui_without_a_terminal_says_so(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "uniflow.cli.main", "tui"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "UNIFLOW_HOME": str(tmp_path)},
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "needs a terminal" in done.stderr
    assert not (tmp_path / "daemon.json").exists()  # nothing was started
