"""Snapshots of each screen at 80x24 and 120x40, over the snapshot daemon's fixed data.

Update them after a deliberate change with ``pytest tests/tui --snapshot-update``,
and look at each changed SVG before committing it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Log

from uniflow.cli.tui.app import UniFlowApp
from uniflow.cli.tui.dialogs import ConfirmScreen
from uniflow.cli.tui.pipelines import PipelinesScreen
from uniflow.cli.tui.run_detail import RunScreen
from uniflow.cli.tui.token_forms import NewTokenScreen, SecretScreen
from uniflow.cli.tui.tokens import TokensScreen
from uniflow.cli.tui.trigger import TriggerScreen

DETAIL_RUN = "run_00000000000000d1"
"""The run with steps and output that tests/tui/conftest.py writes."""
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]

Steps = Callable[[Any, Callable[..., Awaitable[Any]]], Awaitable[None]]


async def _rows(pilot: Any, until: Any, count: int = 1) -> DataTable[Any]:
    table = pilot.app.screen.query_one(DataTable)
    await until(pilot, lambda: table.row_count >= count, "rows")
    return table


async def _screen(pilot: Any, until: Any, kind: type) -> Any:
    return await until(
        pilot,
        lambda: isinstance(pilot.app.screen, kind) and pilot.app.screen,
        kind.__name__,
    )


async def _settle(pilot: Any) -> None:
    """Stop cursors from blinking and let the last change draw."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


async def runs(pilot: Any, until: Any) -> None:
    await _rows(pilot, until, 4)


async def run_detail(pilot: Any, until: Any) -> None:
    table = await _rows(pilot, until, 4)
    table.move_cursor(row=table.get_row_index(DETAIL_RUN))
    await pilot.press("o")
    screen = await _screen(pilot, until, RunScreen)
    log = screen.query_one(Log)
    await until(pilot, lambda: len(log.lines) >= 4, "the output")
    await until(pilot, lambda: screen._stop.is_set(), "the run to be followed")


async def pipelines(pilot: Any, until: Any) -> None:
    await pilot.press("2")
    await _screen(pilot, until, PipelinesScreen)
    await _rows(pilot, until)


async def trigger_form(pilot: Any, until: Any) -> None:
    await pipelines(pilot, until)
    table = pilot.app.screen.query_one(DataTable)
    table.move_cursor(row=table.get_row_index("testproj/typed"))
    await pilot.press("t")
    await _screen(pilot, until, TriggerScreen)
    await pilot.press(*"1x")  # an invalid value shows its problem


async def tokens(pilot: Any, until: Any) -> None:
    await pilot.press("3")
    await _screen(pilot, until, TokensScreen)
    await _rows(pilot, until, 5)


async def new_token_form(pilot: Any, until: Any) -> None:
    await tokens(pilot, until)
    await pilot.press("g")
    await _screen(pilot, until, NewTokenScreen)
    await pilot.press(*"deploy-bot")


async def secret_dialog(pilot: Any, until: Any) -> None:
    await tokens(pilot, until)
    # A made-up token: a real secret would change with every run.
    shown = {
        "token_id": "tok_00000000b5b5",
        "name": "deploy-bot",
        "role": "operator",
        "project": "testproj",
        "expires_at": "2099-01-01T00:00:00.000Z",
        "secret": "uf_" + "0123456789" * 3 + "AbCdEf",
    }
    pilot.app.push_screen(SecretScreen(shown))
    await _screen(pilot, until, SecretScreen)


async def revoke_dialog(pilot: Any, until: Any) -> None:
    await tokens(pilot, until)
    table = pilot.app.screen.query_one(DataTable)
    table.move_cursor(row=table.get_row_index("tok_00000000c1c1"))
    await pilot.press("v")
    await _screen(pilot, until, ConfirmScreen)


SCREENS = [
    pytest.param(runs, id="runs"),
    pytest.param(run_detail, id="run-detail"),
    pytest.param(pipelines, id="pipelines"),
    pytest.param(trigger_form, id="trigger-form"),
    pytest.param(tokens, id="tokens"),
    pytest.param(new_token_form, id="new-token-form"),
    pytest.param(secret_dialog, id="secret-dialog"),
    pytest.param(revoke_dialog, id="revoke-dialog"),
]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("steps", SCREENS)
def test_screen(snap_compare, snapshot_daemon, use_daemon, until, steps, size):
    use_daemon(snapshot_daemon)

    async def before(pilot: Any) -> None:
        # Let the first frame settle before the first key, as snapshots of a
        # screen that is still composing differ from run to run.
        await pilot.pause()
        await steps(pilot, until)
        await _settle(pilot)

    assert snap_compare(UniFlowApp(), run_before=before, terminal_size=size)
