"""One run: its parameters, its steps with their states and times, and its output.

The output is followed by asking for the bytes after the last ones seen
(``X-Next-Offset``) twice a second, rather than through ``follow=true``: a
worker thread blocked on a stream could not be stopped when the screen closes,
and the daemon lets only a few clients stream at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Log, Static

from uniflow.cli.follow import LogLines
from uniflow.cli.tui import formatting
from uniflow.cli.tui.dialogs import ConfirmScreen
from uniflow.cli.tui.live import LiveScreen
from uniflow.client import FINISHED
from uniflow.errors import UniFlowError

LOG_LINES = 10_000
"""Lines of output the log view keeps; older ones scroll away."""
_CHUNK = 1024 * 1024
_MOST_PER_FETCH = 8 * _CHUNK


@dataclass(frozen=True)
class _Update:
    run: dict[str, Any]
    lines: list[str]


class RunScreen(LiveScreen):
    """A run's details, steps and output, followed while it executes."""

    TITLE = "Run"
    AUTO_FOCUS = "#log"
    INTERVAL = 0.5
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("c", "cancel_run", "Cancel"),
        Binding("e", "end", "Follow"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        """The run shown."""
        self.run: dict[str, Any] | None = None
        """The run as last fetched."""
        self._offset = 0
        self._lines = LogLines()
        self._steps: list[tuple[Text | str, ...]] = []
        self._left_at = 0
        """Where the output's view was scrolled to its end last."""

    def compose(self) -> ComposeResult:
        """Facts on top, then the steps, then the output."""
        yield Header()
        yield Static(formatting.plain(self.run_id, "bold"), id="run-title")
        yield Static("", id="run-facts")
        steps: DataTable[Text | str] = DataTable(
            cursor_type="none", id="steps", show_cursor=False
        )
        for label in ("STEP", "STATE", "TOOK", "ERROR"):
            steps.add_column(label, key=label.lower())
        yield steps
        yield Log(max_lines=LOG_LINES, id="log")
        yield Footer(compact=True)

    def fetch(self) -> _Update:
        """Return the run and the lines of output written since the last fetch."""
        run = self.uniflow.request(lambda c: c.get_run(self.run_id), background=True)
        lines: list[str] = []
        for _ in range(_MOST_PER_FETCH // _CHUNK):
            data, self._offset, _ = self.uniflow.request(
                lambda c: c.run_logs(self.run_id, offset=self._offset),
                background=True,
            )
            lines.extend(self._lines.feed(data))
            if len(data) < _CHUNK:
                break
        if run["status"] in FINISHED and not lines:
            lines.extend(self._lines.finish())
        return _Update(run, lines)

    def show(self, data: _Update) -> None:
        """Update the facts and steps, add the new output."""
        self.run = data.run
        self.query_one("#run-title", Static).update(self._title_text(data.run))
        self.query_one("#run-facts", Static).update(_facts(data.run))
        log = self.query_one(Log)
        follow = self._following(log)
        self._show_steps(data.run.get("steps") or [])
        if data.lines:
            log.write_lines(data.lines)
            if log.line_count >= LOG_LINES:
                # Textual's Log repaints only the rows it takes for new; once it
                # drops the oldest lines to keep LOG_LINES, every row has changed.
                log.refresh()
        if follow:
            # Once the new lines and steps are laid out: the log follows only
            # while its view is at the very end, and a steps table that grew, or
            # facts that took another line, have just moved the end away.
            self.call_after_refresh(self._to_end)
        if data.run["status"] in FINISHED and not data.lines:
            self.stop_fetching()  # nothing more will come

    @staticmethod
    def _title_text(run: dict[str, Any]) -> Text:
        return Text.assemble(
            formatting.plain(run["run_id"], "bold"),
            "  ",
            formatting.plain(f"{run['pipeline_name']} ({run['project']})"),
            "  ",
            formatting.state(run["status"]),
        )

    def _show_steps(self, steps: list[dict[str, Any]]) -> None:
        table: DataTable[Text | str] = self.query_one("#steps", DataTable)
        for index, step in enumerate(steps):
            cells: tuple[Text | str, ...] = (
                formatting.plain(step["name"]),
                formatting.state(step["state"]),
                formatting.seconds(step.get("duration")),
                formatting.plain(step.get("error") or ""),
            )
            if index >= len(self._steps):
                table.add_row(*cells, key=str(index))
                self._steps.append(cells)
                continue
            columns = ("step", "state", "took", "error")
            for key, old, new in zip(columns, self._steps[index], cells, strict=True):
                if old != new:
                    table.update_cell(str(index), key, new, update_width=True)
            self._steps[index] = cells
        table.display = bool(steps)

    def action_end(self) -> None:
        """Scroll the output to its end and follow it from there."""
        self._to_end()

    def _to_end(self) -> None:
        log = self.query_one(Log)
        log.scroll_end(animate=False, immediate=True, x_axis=False)
        self._left_at = log.max_scroll_y

    def _following(self, log: Log) -> bool:
        """Whether the view was left at the end of the output: the user has not
        scrolled up since (a layout change alone does not move the view)."""
        return log.is_vertical_scroll_end or log.scroll_y >= self._left_at

    def action_cancel_run(self) -> None:
        """Ask, then cancel the run; its processes are stopped."""
        if self.run is not None and self.run["status"] in FINISHED:
            self.notify(f"Run {self.run_id} has already ended ({self.run['status']}).")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel()

        self.app.push_screen(
            ConfirmScreen(
                "Cancel run",
                f"Cancel run {self.run_id}? Its processes get SIGTERM, then SIGKILL "
                "after the daemon's grace period.",
                yes="Cancel run",
            ),
            answered,
        )

    @work(thread=True, group="cancel", exit_on_error=False)
    def _cancel(self) -> None:
        try:
            run = self.uniflow.request(lambda c: c.cancel_run(self.run_id))
        except UniFlowError:
            return
        if run["status"] in FINISHED:
            self.notify(f"Run {self.run_id} is {run['status']}.", markup=False)
        else:
            self.notify(f"Stopping run {self.run_id}…", markup=False)
        self.reload()


def _facts(run: dict[str, Any]) -> Text:
    """Return the run's times and outcome, its parameters, and its error."""
    exit_code = run.get("exit_code")
    lines = [
        [
            ("created", formatting.exact(run["created_at"])),
            ("finished", formatting.exact(run.get("finished_at"))),
        ],
        [
            ("started", formatting.exact(run.get("started_at"))),
            ("took", formatting.run_took(run)),
            ("exit code", "" if exit_code is None else str(exit_code)),
        ],
        [("parameters", json.dumps(run["parameters"], ensure_ascii=False))],
        [("error", run.get("error") or "")],
    ]
    shown = Text()
    for facts in lines:
        line = Text()
        for name, value in facts:
            if value:
                line.append("   " if line else "")
                line.append(f"{name} ", "bold")
                line.append_text(formatting.plain(value))
        if line:
            shown.append("\n" if shown else "")
            shown.append_text(line)
    return shown
