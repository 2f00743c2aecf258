"""The runs screen: a live table of runs, filtered by pipeline and state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Select, Static

from uniflow.cli.tui import formatting
from uniflow.cli.tui.live import LiveScreen
from uniflow.cli.tui.run_detail import RunScreen

# TODO: the table shows the newest 200 runs and no older ones; reaching them needs
# paging through the list's next_cursor, which the table does not do yet.
LIMIT = 200
"""The most runs the table shows, newest first."""
STATES = ("queued", "running", "success", "failed", "cancelled")
COLUMNS = (
    ("RUN ID", "run_id", 20),
    ("PIPELINE", "pipeline", None),
    ("PROJECT", "project", None),
    ("STATE", "state", 9),
    ("CREATED", "created", 10),
    ("TOOK", "took", 8),
)
"""The table's columns, their keys and fixed widths: a time or state that changes
length never moves the columns after it."""


@dataclass(frozen=True)
class Filters:
    """Which runs the table shows; None shows all."""

    pipeline: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class _Page:
    filters: Filters
    runs: list[dict[str, Any]]
    pipelines: list[str] | None


class RunsScreen(LiveScreen):
    """Runs, newest first, updated in place as they change."""

    TITLE = "Runs"
    AUTO_FOCUS = "#runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "open", "Open"),
        Binding("slash", "filter", "Filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters = Filters()
        """The filters the table shows runs by."""
        self._cells: dict[str, tuple[Text | str, ...]] = {}
        self._pipelines: list[str] | None = None

    def compose(self) -> ComposeResult:
        """A row of filters over the table."""
        yield Header()
        with Horizontal(id="filters"):
            yield Select[str]([], prompt="All pipelines", id="pipeline", compact=True)
            yield Select[str](
                [(state, state) for state in STATES],
                prompt="All states",
                id="state",
                compact=True,
            )
        table: DataTable[Text | str] = DataTable(cursor_type="row", id="runs")
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        table.loading = True
        yield table
        yield Static("", id="runs-empty", classes="empty")
        yield Footer(compact=True)

    def fetch(self) -> _Page:
        """Return the runs that match the filters, and the pipelines' names once."""
        filters = self.filters
        runs = self.uniflow.request(
            lambda c: c.list_runs(
                pipeline_name=filters.pipeline, status=filters.state, limit=LIMIT
            ),
            background=True,
        )
        pipelines = None
        # TODO: the pipeline filter goes by name, so runs of same-named pipelines
        # of two projects show together; the runs API has no project filter.
        if self._pipelines is None:
            found = self.uniflow.request(lambda c: c.list_pipelines(), background=True)
            pipelines = sorted({p["name"] for p in found})
        return _Page(filters, runs, pipelines)

    def show(self, data: _Page) -> None:
        """Update the table in place: the cursor stays on the run it was on."""
        if data.pipelines is not None:
            self._pipelines = data.pipelines
            self.query_one("#pipeline", Select).set_options(
                (name, name) for name in data.pipelines
            )
        if data.filters != self.filters:
            return  # asked for before the filters changed

        table: DataTable[Text | str] = self.query_one(DataTable)
        table.loading = False
        current = self.current_key()
        order = {run["run_id"]: index for index, run in enumerate(data.runs)}
        changed = self._drop_rows(table, order)
        for run in data.runs:
            changed |= self._put_row(table, run)
        if changed:
            table.sort("run_id", key=lambda cell: order[str(cell)])
        if current is not None and current in order:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        self._show_empty(not data.runs)

    def _put_row(self, table: DataTable[Text | str], run: dict[str, Any]) -> bool:
        """Add or update one run's row; return whether a row was added."""
        run_id = run["run_id"]
        cells: tuple[Text | str, ...] = (
            formatting.plain(run_id),
            formatting.plain(run["pipeline_name"]),
            formatting.plain(run["project"]),
            formatting.state(run["status"]),
            formatting.relative(run["created_at"]),
            formatting.run_took(run),
        )
        before = self._cells.get(run_id)
        self._cells[run_id] = cells
        if before is None:
            table.add_row(*cells, key=run_id)
            return True
        for (_, key, _), old, new in zip(COLUMNS, before, cells, strict=True):
            if old != new:
                table.update_cell(run_id, key, new, update_width=True)
        return False

    def _drop_rows(self, table: DataTable[Text | str], keep: dict[str, int]) -> bool:
        gone = [run_id for run_id in self._cells if run_id not in keep]
        for run_id in gone:
            table.remove_row(run_id)
            del self._cells[run_id]
        return bool(gone)

    def _show_empty(self, empty: bool) -> None:
        note = self.query_one("#runs-empty", Static)
        note.display = empty
        if self.filters != Filters():
            note.update("No runs match these filters.")
        else:
            note.update("No runs yet. Trigger one from Pipelines (press 2).")

    @on(Select.Changed)
    def _filter_changed(self, event: Select.Changed) -> None:
        pipeline = self.query_one("#pipeline", Select).value
        state = self.query_one("#state", Select).value
        filters = Filters(
            pipeline if isinstance(pipeline, str) else None,
            state if isinstance(state, str) else None,
        )
        if filters == self.filters:
            return
        self.filters = filters
        table: DataTable[Text | str] = self.query_one(DataTable)
        table.clear()
        self._cells.clear()
        table.loading = True
        self.reload()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(RunScreen(event.row_key.value))

    def action_open(self) -> None:
        """Show the highlighted run's details and output."""
        run_id = self.current_key()
        if run_id is not None:
            self.app.push_screen(RunScreen(run_id))

    def action_filter(self) -> None:
        """Move to the pipeline filter."""
        self.query_one("#pipeline", Select).focus()
