"""The ``uniflow tui`` application: three screens over one connection to the server."""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.logging import TextualHandler
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from uniflow.cli.tui.connection import Connection, describe
from uniflow.cli.tui.live import LiveScreen
from uniflow.cli.tui.pipelines import PipelinesScreen
from uniflow.cli.tui.runs import RunsScreen
from uniflow.cli.tui.tokens import TokensScreen
from uniflow.client import Client
from uniflow.errors import UniFlowError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class UniFlowApp(App[None]):
    """Runs, pipelines and API tokens of a UniFlow server, in the terminal."""

    CSS_PATH = "app.tcss"
    TITLE = "UniFlow"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "runs": RunsScreen,
        "pipelines": PipelinesScreen,
        "tokens": TokensScreen,
    }
    DEFAULT_MODE = "runs"
    # TODO: at 80 columns the footer of the run screen has no room left for
    # "q Quit"; the key works, and Ctrl+P lists every key, but the footer hides it.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show('runs')", "Runs"),
        Binding("2", "show('pipelines')", "Pipelines"),
        Binding("3", "show('tokens')", "Tokens"),
        Binding("ctrl+r", "reconnect", "Reconnect"),
        Binding("q", "quit", "Quit"),
    ]

    class Connected(Message):
        """The session to the server is open."""

    class Stale(Message):
        """The screens' data stopped updating, or updates again (``why`` None)."""

        def __init__(self, why: str | None) -> None:
            super().__init__()
            self.why = why

    def __init__(self) -> None:
        super().__init__()
        self.connection = Connection()
        """The session every screen's requests go through."""
        self._problem: str | None = None
        self._problem_lock = threading.Lock()
        self._stale = False
        """A refresh failed and none has succeeded since; the header says so."""
        self._where = ""
        """The header's server and token."""
        self.live_screens: weakref.WeakSet[LiveScreen] = weakref.WeakSet()
        """The screens that have fetched data in worker threads."""

    def on_mount(self) -> None:
        """Log through Textual, then find the server in the background."""
        root = logging.getLogger("uniflow")
        if not any(isinstance(h, TextualHandler) for h in root.handlers):
            root.addHandler(TextualHandler())
        self._connect()

    def on_unmount(self) -> None:
        """Stop every screen's fetching: the app's end waits for its threads."""
        # Screens of the other modes are closed without being told, and a thread
        # waiting for its next fetch would keep the process alive.
        for screen in list(self.live_screens):
            screen.stop_fetching()

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def _connect(self) -> None:
        """Open the session; the daemon starts here when none answers."""
        try:
            said = self.connection.open()
        except UniFlowError as exc:
            self.report(exc)
            return
        for line in said:
            self.notify(line, title="UniFlow", markup=False)
        self.post_message(self.Connected())

    def on_uni_flow_app_connected(self) -> None:
        """Show the server and the token in the header."""
        token = self.connection.own_token
        where = "local daemon" if self.connection.local else self.connection.url
        self._where = f"{where} · token {token.get('name')} ({token.get('role')})"
        self.sub_title = self._where
        # Screens that waited after a refused token ask again with this one.
        for screen in list(self.live_screens):
            screen.reload()

    def action_reconnect(self) -> None:
        """Find the server again, starting the local daemon if it stopped."""
        with self._problem_lock:
            self._problem = None
        self.notify("Connecting…", timeout=2)
        self._connect()

    def request(self, action: Callable[[Client], T], *, background: bool = False) -> T:
        """Run ``action`` with a client, from a worker thread.

        A failure is reported in a notification, then raised again. A background
        request (a refresh) repeats no notification while the same problem lasts.

        Raises:
            UniFlowError: The request failed.
        """
        return self.act(lambda c: c.request(action), background=background)

    def act(self, action: Callable[[Connection], T], *, background: bool = False) -> T:
        """Run ``action`` with the connection, from a worker thread, reporting a
        failure as :meth:`request` does; for work of more than one request, such
        as rotating a token.

        Raises:
            UniFlowError: The work failed.
        """
        try:
            result = action(self.connection)
        except UniFlowError as exc:
            self.report(exc, again=not background)
            if background:
                # The notification fades; the header keeps saying it.
                self._set_stale(describe(exc, local=self.connection.local).title)
            raise
        with self._problem_lock:
            self._problem = None
        if background:
            self._set_stale(None)
        return result

    def _set_stale(self, why: str | None) -> None:
        with self._problem_lock:
            if self._stale == (why is not None):
                return
            self._stale = why is not None
        self.post_message(self.Stale(why))

    def on_uni_flow_app_stale(self, message: Stale) -> None:
        """Mark the header while the screens' data is not updating."""
        if message.why is None:
            self.sub_title = self._where
        else:
            self.sub_title = f"{message.why}: not updating · Ctrl+R reconnects"

    def action_show(self, mode: str) -> None:
        """Show a mode's own list, not a run or form opened from it."""
        if self.current_mode != mode:
            self.switch_mode(mode)
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def report(self, exc: UniFlowError, *, again: bool = True) -> None:
        """Say in a notification what failed and what to do; safe from any thread.

        Args:
            exc: The error.
            again: Notify even when the same problem was the last one notified.
        """
        problem = describe(exc, local=self.connection.local)
        with self._problem_lock:
            if not again and self._problem == problem.message:
                return
            self._problem = problem.message
        logger.info("%s: %s", problem.title, problem.message)
        self.notify(
            problem.message,
            title=problem.title,
            severity="error",
            timeout=10,
            markup=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Turn an unexpected error in a worker into a notification, not a crash."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        logger.error("Worker %s failed", event.worker.name, exc_info=error)
        self.notify(
            f"{type(error).__name__}: {error}. The details are in Textual's log "
            "(`textual console`).",
            title="Unexpected error",
            severity="error",
            markup=False,
        )

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Add each screen, and what can be done there, to the command palette."""
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Runs", "Live runs, filtered by pipeline and state", self._go("runs")
        )
        yield SystemCommand(
            "Pipelines", "The projects' pipelines; trigger a run", self._go("pipelines")
        )
        yield SystemCommand(
            "Settings: API Tokens",
            "Generate, rotate and revoke tokens",
            self._go("tokens"),
        )
        yield SystemCommand(
            "Generate New Token", "Create an API token", self._generate_token
        )
        yield SystemCommand(
            "Reconnect",
            "Find the server again; starts the local daemon if it stopped",
            self.action_reconnect,
        )
        yield from self._screen_commands(screen, {"Generate New Token"})

    def _screen_commands(
        self, screen: Screen[Any], offered: set[str]
    ) -> Iterable[SystemCommand]:
        """Offer what the footer of ``screen`` offers, so that each action of a
        screen can be found by name as well as by its key; titles ``offered``
        already are left out."""
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if active.node is self or not binding.show or not active.enabled:
                continue  # the app's own keys are offered above
            if not binding.description or binding.description in offered:
                continue
            yield SystemCommand(
                binding.description,
                f"Key {self.get_key_display(binding)} on {screen.title or key}",
                functools.partial(self.run_action, binding.action, active.node),
            )

    def _go(self, mode: str) -> Callable[[], None]:
        def go() -> None:
            self.action_show(mode)

        return go

    def _generate_token(self) -> None:
        def open_form() -> None:
            screen = self.screen
            if isinstance(screen, TokensScreen):
                screen.action_generate()

        self.switch_mode("tokens")
        self.call_after_refresh(open_form)
