"""Settings > API Tokens: the tokens of the server, and what an admin does with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from uniflow.cli import render
from uniflow.cli.tui import formatting
from uniflow.cli.tui.dialogs import ConfirmScreen
from uniflow.cli.tui.live import LiveScreen
from uniflow.cli.tui.token_forms import NewTokenScreen, RotateScreen, SecretScreen
from uniflow.errors import UniFlowError

COLUMNS = (
    ("NAME", None),
    ("ROLE", 8),
    ("PROJECT", None),
    ("CREATED", 10),
    ("EXPIRES", 10),
    ("USED", 10),
    ("STATE", 7),
)
"""The table's columns and fixed widths; USED is when the token was last used.

Times and states have a fixed width, so that a text that changes length ("just
now", then "12m ago") never moves the columns after it.
"""


@dataclass(frozen=True)
class _Tokens:
    tokens: list[dict[str, Any]]
    projects: list[str]


class TokensScreen(LiveScreen):
    """Every token of the server, oldest first; secrets are never part of it."""

    TITLE = "Settings › API Tokens"
    AUTO_FOCUS = "#tokens"

    class Rotated(Message):
        """A token was rotated; its new secret is to be shown once."""

        def __init__(
            self, token: dict[str, Any], own: bool, not_kept: str | None = None
        ) -> None:
            super().__init__()
            self.token = token
            self.own = own
            self.not_kept = not_kept

    INTERVAL = None
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "generate", "Generate New Token"),
        Binding("r", "rotate", "Rotate"),
        Binding("v", "revoke", "Revoke"),
        Binding("f5", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._tokens: dict[str, dict[str, Any]] = {}
        self._projects: list[str] = []

    def compose(self) -> ComposeResult:
        """The table of tokens, and the highlighted one's id and last client."""
        yield Header()
        table: DataTable[Text | str] = DataTable(cursor_type="row", id="tokens")
        for label, width in COLUMNS:
            table.add_column(label, key=label.lower(), width=width)
        table.loading = True
        yield table
        yield Static("", id="token-detail")
        yield Footer(compact=True)

    def fetch(self) -> _Tokens:
        """Return every token, and the projects a new one may be limited to."""
        tokens = self.uniflow.request(lambda c: c.list_tokens(), background=True)
        projects = self.uniflow.request(lambda c: c.list_projects(), background=True)
        return _Tokens(tokens, sorted(p["name"] for p in projects))

    def show(self, data: _Tokens) -> None:
        """Fill the table, keeping the cursor on the token it was on."""
        table: DataTable[Text | str] = self.query_one(DataTable)
        table.loading = False
        current = self.current_key()
        table.clear()
        self._projects = data.projects
        self._tokens = {t["token_id"]: t for t in data.tokens}
        for token in data.tokens:
            table.add_row(
                formatting.plain(token["name"]),
                formatting.plain(token["role"]),
                formatting.plain(token.get("project") or "all"),
                formatting.relative(token["created_at"]),
                formatting.relative(render.token_ends(token), empty="never"),
                formatting.relative(token.get("last_used_at"), empty="never"),
                formatting.state(token["state"]),
                key=token["token_id"],
            )
        if current in self._tokens:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        self._show_detail()

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        token = self._tokens.get(self.current_key() or "")
        detail = self.query_one("#token-detail", Static)
        if token is None:
            detail.update("No tokens.")
            return
        text = f"{token['token_id']}"
        if self._is_own(token):
            text += " · the token this TUI uses"
        if token.get("last_used_from"):
            text += f" · last used from {token['last_used_from']}"
        if token.get("replaced_by"):
            text += f" · rotated into {token['replaced_by']}"
        detail.update(formatting.plain(text))

    def action_reload(self) -> None:
        """Ask the server for the tokens again."""
        self.reload()

    def action_generate(self) -> None:
        """Open the form for a new token; its secret is shown once after."""
        if not self._may_manage():
            return

        def created(token: dict[str, Any] | None) -> None:
            if token is not None:
                self.app.push_screen(SecretScreen(token))

        self.app.push_screen(NewTokenScreen(self._projects), created)

    def action_revoke(self) -> None:
        """Ask, then revoke the highlighted token."""
        token = self._active_highlighted("revoked")
        if token is None:
            return
        question = (
            f"Revoke token {token['name']!r} ({token['token_id']})? Its next request "
            "is refused."
        )
        if self._is_own(token):
            question += " It is the token this TUI uses; a local TUI makes itself "
            question += "another, a remote one needs `uniflow login`."

        def answered(yes: bool | None) -> None:
            if yes:
                self._revoke(token["token_id"])

        self.app.push_screen(
            ConfirmScreen("Revoke token", question, yes="Revoke"), answered
        )

    def action_rotate(self) -> None:
        """Ask, then give the highlighted token a new secret."""
        token = self._active_highlighted("rotated")
        if token is None:
            return

        def answered(grace: str | None) -> None:
            if grace is not None:
                self._rotate(token["token_id"], grace or None)

        self.app.push_screen(RotateScreen(token, own=self._is_own(token)), answered)

    def _active_highlighted(self, done: str) -> dict[str, Any] | None:
        """Return the highlighted token if this TUI may change it and it is
        active; otherwise say why it cannot be ``done`` and return None."""
        if not self._may_manage():
            return None
        token = self._tokens.get(self.current_key() or "")
        if token is not None and token["state"] != "active":
            self.notify(
                f"Token {token['name']!r} is {token['state']}; it cannot be {done}.",
                markup=False,
            )
            return None
        return token

    def _may_manage(self) -> bool:
        """Whether the TUI's token is an admin's; if not, say what to do."""
        own = self.uniflow.connection.own_token
        if not own or own.get("role") == "admin":
            return True  # not connected yet: the server has the last word
        self.notify(
            f"Managing tokens needs an admin token; this TUI uses {own.get('name')!r} "
            f"({own.get('role')}). Log in with an admin token (`uniflow login`) or "
            "set UNIFLOW_TOKEN to one.",
            title="Not allowed",
            severity="warning",
            markup=False,
        )
        return False

    def _is_own(self, token: dict[str, Any]) -> bool:
        own = self.uniflow.connection.own_token.get("token_id")
        return bool(token["token_id"] == own)

    @work(thread=True, group="token-action", exit_on_error=False)
    def _revoke(self, token_id: str) -> None:
        try:
            token = self.uniflow.request(lambda c: c.revoke_token(token_id))
        except UniFlowError:
            return
        self.notify(f"Revoked token {token['name']!r}.", markup=False)
        self.reload()

    @work(thread=True, group="token-action", exit_on_error=False)
    def _rotate(self, token_id: str, grace: str | None) -> None:
        try:
            rotation = self.uniflow.act(lambda c: c.rotate(token_id, grace))
        except UniFlowError:
            return
        if rotation.kept_in is not None:
            self.notify(
                f"Rotated the TUI's own token; the new secret replaces the old one "
                f"in the {rotation.kept_in}.",
                markup=False,
            )
        else:
            not_kept = str(rotation.not_kept) if rotation.not_kept else None
            self.post_message(self.Rotated(rotation.token, rotation.own, not_kept))
        self.reload()

    @on(Rotated)
    def _rotated(self, message: Rotated) -> None:
        self.app.push_screen(SecretScreen(message.token, done="Rotated into"))
        if message.not_kept:
            self.notify(
                f"{message.not_kept} Copy the new secret now: this TUI uses it "
                "until it quits, but nothing has kept it. Keep it with `uniflow "
                "login`, or set UNIFLOW_TOKEN to it.",
                severity="error",
                timeout=30,
                markup=False,
            )
        elif message.own:
            self.notify(
                "This was the token in UNIFLOW_TOKEN; set it to the new secret.",
                severity="warning",
            )
