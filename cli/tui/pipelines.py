"""The pipelines screen: every project's pipelines and their parameters."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from uniflow.cli import render
from uniflow.cli.tui import formatting
from uniflow.cli.tui.live import LiveScreen
from uniflow.cli.tui.run_detail import RunScreen
from uniflow.cli.tui.trigger import TriggerScreen


class PipelinesScreen(LiveScreen):
    """The pipelines of every registered project; Trigger opens a form for one."""

    TITLE = "Pipelines"
    AUTO_FOCUS = "#pipelines"
    INTERVAL = None
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "trigger", "Trigger"),
        Binding("f5", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._pipelines: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        """The table of pipelines, and the highlighted one's parameters below it."""
        yield Header()
        table: DataTable[Text | str] = DataTable(cursor_type="row", id="pipelines")
        for label in ("PROJECT", "PIPELINE", "PARAMETERS", "DESCRIPTION"):
            table.add_column(label, key=label.lower())
        table.loading = True
        yield table
        yield Static("", id="parameters")
        yield Footer(compact=True)

    def fetch(self) -> list[dict[str, Any]]:
        """Return every project's pipelines."""
        found: list[dict[str, Any]] = self.uniflow.request(
            lambda c: c.list_pipelines(), background=True
        )
        return found

    def show(self, data: list[dict[str, Any]]) -> None:
        """Fill the table, keeping the cursor on the pipeline it was on."""
        table: DataTable[Text | str] = self.query_one(DataTable)
        table.loading = False
        current = self.current_key()
        table.clear()
        self._pipelines = {_key(p): p for p in data}
        for key, pipeline in self._pipelines.items():
            names = ", ".join(pipeline["parameters"].get("properties", {}))
            table.add_row(
                formatting.plain(pipeline["project"]),
                formatting.plain(pipeline["name"], "bold"),
                formatting.plain(names),
                formatting.plain((pipeline.get("description") or "").split("\n")[0]),
                key=key,
            )
        if current is not None and current in self._pipelines:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        if not data:
            self.query_one("#parameters", Static).update(
                "No pipelines yet: `uniflow run` in a project folder registers it."
            )

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        pipeline = self._pipelines.get(event.row_key.value or "")
        if pipeline is not None:
            self.query_one("#parameters", Static).update(parameters_table(pipeline))

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_trigger()

    def action_reload(self) -> None:
        """Ask the server for the pipelines again."""
        self.reload()

    def action_trigger(self) -> None:
        """Open the form that triggers the highlighted pipeline."""
        pipeline = self._pipelines.get(self.current_key() or "")
        if pipeline is None:
            return

        def triggered(run: dict[str, Any] | None) -> None:
            if run is not None:
                self.app.push_screen(RunScreen(run["run_id"]))

        self.app.push_screen(TriggerScreen(pipeline), triggered)


def parameters_table(pipeline: dict[str, Any]) -> Table | str:
    """Return a pipeline's parameters with their types and defaults."""
    found = render.parameters(pipeline)
    if not found:
        return f"{pipeline['name']} takes no parameters."
    table = Table(box=None, header_style="bold", padding=(0, 2, 0, 0))
    for column in ("PARAMETER", "TYPE", "DEFAULT", "DESCRIPTION"):
        table.add_column(column)
    for p in found:
        # Without a default, the parameter must be given.
        default = p["default"] and formatting.plain(p["default"])
        table.add_row(
            formatting.plain(p["name"]),
            formatting.plain(p["type"]),
            default or Text("required", "italic"),
            formatting.plain(p["description"]),
        )
    return table


def _key(pipeline: dict[str, Any]) -> str:
    return f"{pipeline['project']}/{pipeline['name']}"
