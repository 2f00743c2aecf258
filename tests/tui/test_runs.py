"""Pipelines, the trigger form, runs and a run's details, driven by a pilot."""

from __future__ import annotations

import asyncio

from textual.app import App
from textual.widgets import Button, DataTable, Input, Log, Static

from uniflow.cli.tui.app import UniFlowApp
from uniflow.cli.tui.pipelines import PipelinesScreen
from uniflow.cli.tui.run_detail import RunScreen
from uniflow.cli.tui.runs import RunsScreen
from uniflow.cli.tui.trigger import TriggerScreen
from uniflow.client import FINISHED


async def _open_form(app: UniFlowApp, pilot, until, pipeline: str) -> TriggerScreen:
    """Go to Pipelines, put the cursor on ``pipeline`` and press Trigger."""
    await pilot.press("2")
    await until(pilot, lambda: isinstance(app.screen, PipelinesScreen), "pipelines")
    table = app.screen.query_one(DataTable)
    key = f"testproj/{pipeline}"
    await until(pilot, lambda: key in table.rows, f"{pipeline} in the table")
    table.move_cursor(row=table.get_row_index(key))
    await pilot.press("t")
    form = await until(
        pilot, lambda: isinstance(app.screen, TriggerScreen) and app.screen, "form"
    )
    await pilot.pause()  # the form checks its defaults once mounted
    return form


def test_trigger_follow_cancel(tui_daemon, use_daemon, until, tmp_path):
    use_daemon(tui_daemon)
    gate = tmp_path / "never-created"

    async def flow() -> str:
        app = UniFlowApp()
        async with app.run_test(size=(100, 32)) as pilot:
            form = await _open_form(app, pilot, until, "gated")
            assert form.query_one("#submit", Button).disabled  # gate is required
            await pilot.press(*str(gate))
            assert not form.query_one("#submit", Button).disabled
            await pilot.press("enter")

            screen = await until(
                pilot,
                lambda: isinstance(app.screen, RunScreen) and app.screen,
                "the new run's details",
            )
            log = screen.query_one(Log)
            await until(pilot, lambda: "waiting" in log.lines, "the run's output")
            assert screen.run is not None and screen.run["status"] == "running"

            await pilot.press("c")
            await pilot.pause()
            await pilot.press("y")
            await until(
                pilot,
                lambda: screen.run and screen.run["status"] == "cancelled",
                "the run to end cancelled",
                timeout=40,
            )
            return screen.run_id

    run_id = asyncio.run(flow())
    with tui_daemon.client() as client:
        assert client.get_run(run_id)["status"] == "cancelled"


def test_form_types_values_and_fills_defaults(tui_daemon, use_daemon, until):
    use_daemon(tui_daemon)

    async def flow() -> str:
        app = UniFlowApp()
        async with app.run_test(size=(100, 32)) as pilot:
            form = await _open_form(app, pilot, until, "typed")
            assert form.query_one("#param-rate", Input).value == "0.1"
            assert form.query_one("#param-label", Input).value == "x"

            await pilot.press("t", "e", "n")
            hint = str(form.query_one("#hint-epochs").content)
            assert "expects an integer" in hint
            assert form.query_one("#submit", Button).disabled

            await pilot.press("backspace", "backspace", "backspace", "5")
            await pilot.click("#param-flag")
            await pilot.press("ctrl+s")
            screen = await until(
                pilot,
                lambda: isinstance(app.screen, RunScreen) and app.screen,
                "the run",
            )
            await until(
                pilot,
                lambda: screen.run and screen.run["status"] in FINISHED,
                "the run to end",
            )
            return screen.run_id

    run_id = asyncio.run(flow())
    with tui_daemon.client() as client:
        run = client.get_run(run_id)
    assert run["status"] == "success"
    assert run["parameters"] == {"epochs": 5, "rate": 0.1, "flag": True, "label": "x"}


def test_table_updates_in_place(tui_daemon, use_daemon, until):
    use_daemon(tui_daemon)
    with tui_daemon.client() as client:
        first = client.trigger_run("hello", project="testproj")["run_id"]
        client.wait_for_run(first, timeout=30)

    async def flow() -> None:
        app = UniFlowApp()
        async with app.run_test(size=(100, 32)) as pilot:
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            table = screen.query_one(DataTable)
            await until(pilot, lambda: first in table.rows, "the first run")
            table.move_cursor(row=table.get_row_index(first))

            with tui_daemon.client() as client:
                second = client.trigger_run("hello", project="testproj")["run_id"]
            await until(pilot, lambda: second in table.rows, "the new run")
            # The new run is on top; the cursor stayed on the run it was on.
            assert table.get_row_index(second) < table.get_row_index(first)
            assert table.cursor_row == table.get_row_index(first)

            state = screen.query_one("#state")
            state.value = "cancelled"  # type: ignore[attr-defined]
            await until(
                pilot,
                lambda: (
                    screen.filters.state == "cancelled"
                    and not table.loading
                    and first not in table.rows
                ),
                "the filter to apply",
            )

    asyncio.run(flow())


def test_output_follows_to_its_end_unless_scrolled_up(tui_daemon, use_daemon, until):
    """The log view stays at the end of the output as lines and steps arrive and
    the steps take room from it; scrolled up, it stays put."""
    use_daemon(tui_daemon)
    with tui_daemon.client() as client:
        followed = client.trigger_run(
            "chatty", {"count": 3, "pause": 0.3}, project="testproj"
        )["run_id"]

    async def ended(pilot, screen: RunScreen) -> Log:
        log = screen.query_one(Log)
        await until(
            pilot,
            lambda: screen.run and screen.run["status"] in FINISHED and log.lines,
            "the run to end",
        )
        await pilot.pause()
        return log

    async def flow() -> tuple[float, int]:
        app = UniFlowApp()
        # Short enough that chatty's few lines fill the log under its steps.
        async with app.run_test(size=(80, 16)) as pilot:
            screen = RunScreen(followed)
            await app.push_screen(screen)
            log = await ended(pilot, screen)
            await until(
                pilot,
                lambda: 0 < log.max_scroll_y == log.scroll_y,
                "the view at the end of the output",
            )

            # The Runs key shows the list, also from a run's details.
            await pilot.press("1")
            await until(pilot, lambda: isinstance(app.screen, RunsScreen), "the list")
            with tui_daemon.client() as client:
                left = client.trigger_run(
                    "ticks", {"count": 80, "every": 0.05}, project="testproj"
                )["run_id"]
            screen = RunScreen(left)
            await app.push_screen(screen)
            log = screen.query_one(Log)
            await until(pilot, lambda: len(log.lines) > 25, "some output")
            await pilot.pause()  # a scroll to the end already asked for happens
            log.scroll_home(animate=False, immediate=True)
            seen = len(log.lines)
            await until(pilot, lambda: len(log.lines) > seen + 5, "more output")
            await pilot.pause()
            return log.scroll_y, log.max_scroll_y

    left_y, left_end = asyncio.run(flow())
    assert left_end > 0
    assert left_y == 0


def test_output_past_the_kept_lines_reaches_the_view(tui_daemon, use_daemon, until):
    """Once the log view keeps only its last LOG_LINES, new lines still reach it.

    That the terminal is repainted then (Textual repaints only the rows it takes
    for new) cannot be seen headless: a screenshot renders every row afresh.
    """
    from uniflow.cli.tui.run_detail import LOG_LINES

    use_daemon(tui_daemon)
    count = LOG_LINES + 300
    with tui_daemon.client() as client:
        run_id = client.trigger_run(
            "ticks", {"count": count, "every": 0}, project="testproj"
        )["run_id"]

    async def flow() -> str:
        app = UniFlowApp()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = RunScreen(run_id)
            await app.push_screen(screen)
            log = screen.query_one(Log)
            last = f"tick {count - 1}"
            await until(pilot, lambda: log.lines and log.lines[-1] == last, "the end")
            await pilot.pause()
            # What the screen shows, not what the widget would render afresh.
            return app.export_screenshot()

    shown = asyncio.run(flow()).replace("&#160;", " ")
    assert f"tick {count - 1}" in shown


def test_form_field_takes_a_bounded_text():
    """A long paste stops at the form's limit, and the hint names the way around
    it; a ``maxLength`` below the limit is the field's own."""
    from textual import events

    from uniflow.cli.tui.trigger import LONGEST_TEXT

    async def flow() -> dict[str, object]:
        app = _form_alone(
            {
                "note": {"type": "string", "default": ""},
                "code": {"type": "string", "maxLength": 3, "default": "ab"},
            }
        )
        seen: dict[str, object] = {}
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            note = app.screen.query_one("#param-note", Input)
            hint = app.screen.query_one("#hint-note", Static)
            note.focus()
            note.post_message(events.Paste("x" * (LONGEST_TEXT + 5000)))
            await pilot.pause()
            seen["dropped"] = (note.value, str(hint.content))

            note.post_message(events.Paste("y" * (LONGEST_TEXT - 1)))
            await pilot.press("y", "y")
            seen["full"] = (len(note.value), str(hint.content))

            code = app.screen.query_one("#param-code", Input)
            code.focus()
            await pilot.press("end", "c", "d")
            seen["code"] = code.value
            code.post_message(events.Paste("long"))
            await pilot.pause()
            seen["code hint"] = str(app.screen.query_one("#hint-code").content)
        return seen

    seen = asyncio.run(flow())
    value, hint = seen["dropped"]
    assert value == ""
    assert f"The pasted text has {LONGEST_TEXT + 5000} characters" in hint
    assert "uniflow run -p note=VALUE" in hint
    assert seen["full"] == (
        LONGEST_TEXT,
        f"The form takes at most {LONGEST_TEXT} characters; pass a longer value "
        "with `uniflow run -p note=VALUE`.",
    )
    assert seen["code"] == "abc"
    assert seen["code hint"] == (
        "The pasted text has 7 characters. code takes at most 3 characters."
    )


def test_sending_a_wrong_form_says_why_and_where():
    """Ctrl+S on a form with a wrong field notifies what is wrong and puts the
    cursor on the field, which may be out of sight at 80x24."""
    from uniflow.cli.tui.token_forms import NewTokenScreen

    async def flow() -> list[tuple[str | None, str | None]]:
        app = _form_alone(
            {"epochs": {"type": "integer"}, "label": {"type": "string", "default": "x"}}
        )
        seen = []
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            app.screen.query_one("#param-label").focus()
            await pilot.press("ctrl+s")
            await pilot.pause()
            seen.append((app.focused and app.focused.id, _last_title(app)))

            await app.push_screen(NewTokenScreen([]))
            await pilot.pause()
            app.screen.query_one("#role").focus()
            await pilot.press("ctrl+s")
            await pilot.pause()
            seen.append((app.focused and app.focused.id, _last_title(app)))
        return seen

    assert asyncio.run(flow()) == [
        ("param-epochs", "Cannot trigger yet"),
        ("name", "Cannot generate yet"),
    ]


def _last_title(app) -> str | None:
    notes = list(app._notifications)
    return notes[-1].title if notes else None


def _form_alone(properties: dict) -> App[None]:
    """Return an app that shows the trigger form of a pipeline with parameters
    ``properties`` and nothing else: the form needs no daemon until it is sent."""
    pipeline = {
        "name": "p",
        "project": "x",
        "parameters": {"type": "object", "properties": properties},
    }

    class FormAlone(App[None]):
        def on_mount(self) -> None:
            self.push_screen(TriggerScreen(pipeline))

    return FormAlone()
