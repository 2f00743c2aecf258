"""Screens whose data comes from the server and is refreshed while they are shown."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable

from uniflow.errors import AuthenticationError, PermissionDenied, UniFlowError

if TYPE_CHECKING:
    from uniflow.cli.tui.app import UniFlowApp


class LiveScreen(Screen[None]):
    """A screen that fetches its data in a worker thread while it is shown.

    Subclasses implement :meth:`fetch` (in the thread) and :meth:`show` (in the
    app's loop). Data arrives by message, never by ``call_from_thread``, which
    would block a thread that outlives the app's loop.
    """

    INTERVAL: ClassVar[float | None] = 1.0
    """Seconds between fetches; None to fetch only when asked (:meth:`reload`)."""
    RETRY: ClassVar[float] = 5.0
    """Seconds before fetching again after a failure the server may get over.
    After a refused token (401, 403) the screen waits for :meth:`reload`, which
    a reconnect (Ctrl+R) or a change of token brings: asking again with the same
    token would only fill the audit log and use up the client's failure allowance.
    """

    class Fetched(Message):
        """New data arrived from the server."""

        def __init__(self, data: Any) -> None:
            super().__init__()
            self.data = data

    class Refused(Message):
        """The server refused the token; the screen waits to be reloaded."""

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._wake = threading.Event()

    @property
    def uniflow(self) -> UniFlowApp:
        """The app, with its connection to the server."""
        from uniflow.cli.tui.app import UniFlowApp

        assert isinstance(self.app, UniFlowApp)
        return self.app

    def fetch(self) -> Any:
        """Return the screen's data from the server; runs in a worker thread.

        Raises:
            UniFlowError: The request failed (it has been reported).
        """
        raise NotImplementedError

    def show(self, data: Any) -> None:
        """Show data that :meth:`fetch` returned."""
        raise NotImplementedError

    def reload(self) -> None:
        """Fetch again now rather than at the next interval."""
        self._wake.set()

    def on_screen_resume(self) -> None:
        """Start fetching when the screen is shown."""
        self.stop_fetching()  # a loop that was never suspended
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.uniflow.live_screens.add(self)
        self._fetch_while_shown(self._stop, self._wake)

    def stop_fetching(self) -> None:
        """Stop fetching until the screen is shown again."""
        self._stop.set()
        self._wake.set()

    def on_screen_suspend(self) -> None:
        """Stop fetching when another screen is shown over this one."""
        self.stop_fetching()

    def on_unmount(self) -> None:
        """Stop fetching for good."""
        self.stop_fetching()

    @work(thread=True, group="live", exit_on_error=False)
    def _fetch_while_shown(self, stop: threading.Event, wake: threading.Event) -> None:
        while not stop.is_set():
            try:
                data = self.fetch()
            except UniFlowError as exc:
                delay: float | None = self.RETRY
                if refused(exc):
                    self.post_message(self.Refused())
                    delay = None
            else:
                if stop.is_set():
                    return
                self.post_message(self.Fetched(data))
                delay = self.INTERVAL
            wake.wait(delay)
            wake.clear()

    def on_live_screen_fetched(self, message: Fetched) -> None:
        """Show what arrived, and give the focus to the table once it is filled."""
        self.show(message.data)
        if self.focused is None and self.AUTO_FOCUS:
            # A table that was loading could not take the focus when the screen
            # was shown.
            for widget in self.query(self.AUTO_FOCUS):
                if widget.focusable:
                    widget.focus()
                    break

    def on_live_screen_refused(self) -> None:
        """Stop the tables' loading spinners: nothing is coming until a reload."""
        for table in self.query(DataTable):
            table.loading = False

    def current_key(self) -> str | None:
        """Return the key of the row under the cursor of the screen's table."""
        table: DataTable[Any] = self.query_one(DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value


def refused(exc: UniFlowError) -> bool:
    """Whether the token is missing or was refused (401), or its role (403), so that
    asking again with the same token cannot help."""
    return isinstance(exc, AuthenticationError | PermissionDenied)
