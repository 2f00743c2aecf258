"""The dialogs of Settings > API Tokens: the new token form, the secret, rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Footer, Input, Label, Select, Static

from uniflow import durations
from uniflow.cli.tui import clipboard, formatting
from uniflow.errors import APIError, DurationError, TokenError, UniFlowError
from uniflow.tokens import Role

EXPIRY_HINT = (
    "A lifetime (30d, 12h, 2w), a date (2027-01-31), or never; "
    "empty for the server's default."
)
NAME_HINT = "A name that says who or what uses the token."
ROLE_HINT = "viewer reads; operator also runs and cancels; admin also manages tokens."
GRACES = (
    ("at once", ""),
    ("after 1 hour", "1h"),
    ("after 1 day", "1d"),
    ("after 7 days", "7d"),
)
"""How long a rotated token keeps working, as the rotate dialog offers it."""


class NameValidator(Validator):
    """A token's name: 1 to 100 printable characters, as the server requires."""

    def validate(self, value: str) -> ValidationResult:
        """Return success, or what is wrong with the name."""
        name = value.strip()
        if not name:
            return self.failure("Give the token a name that says who uses it.")
        if len(name) > 100 or not name.isprintable():
            return self.failure("Use at most 100 printable characters.")
        return self.success()


class ExpiryValidator(Validator):
    """A lifetime such as ``30d``, a future date, ``never``, or nothing."""

    def validate(self, value: str) -> ValidationResult:
        """Return success, or why the text is not an expiry."""
        try:
            expiry_options(value)
        except (DurationError, TokenError) as exc:
            return self.failure(str(exc))
        return self.success()


def expiry_options(text: str) -> dict[str, Any]:
    """Return the expiry field as ``create_token``'s keyword arguments.

    Raises:
        DurationError: The text looks like a lifetime but is not one.
        TokenError: The text is a date that cannot be read or has passed.
    """
    from uniflow.tokens import parse_expiry

    value = text.strip()
    if not value:
        return {}
    if value.lower() == "never":
        return {"no_expiry": True}
    if value[:1].isdigit() and "-" in value:
        moment = parse_expiry(value)
        if moment <= datetime.now(UTC):
            raise TokenError("That moment has passed; give a later one.")
        return {"expires_at": value}
    durations.parse(value)
    return {"expires_in": value}


class NewTokenScreen(ModalScreen[dict[str, Any] | None]):
    """The "Generate New Token" form; dismissed with the created token."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Generate", priority=True),
        Binding("escape", "dismiss(None)", "Cancel"),
    ]

    class Created(Message):
        """The server created the token."""

        def __init__(self, token: dict[str, Any]) -> None:
            super().__init__()
            self.token = token

    class Refused(Message):
        """The server refused to create the token."""

        def __init__(self, error: UniFlowError) -> None:
            super().__init__()
            self.error = error

    def __init__(self, projects: list[str]) -> None:
        super().__init__()
        self._projects = projects

    def compose(self) -> ComposeResult:
        """Name, role, project and expiry, each with a line for its problem."""
        with Vertical(classes="dialog", id="new-token"):
            yield Label("Generate New Token", classes="dialog-title")
            with Horizontal(classes="field"):
                yield Label("Name", classes="field-name")
                yield Input(
                    placeholder="who uses it, such as ci",
                    validators=[NameValidator()],
                    compact=True,
                    id="name",
                )
            yield Static(NAME_HINT, id="name-hint", classes="hint")
            with Horizontal(classes="field"):
                yield Label("Role", classes="field-name")
                yield Select(
                    [(role.value, role.value) for role in Role],
                    value=Role.VIEWER.value,
                    allow_blank=False,
                    compact=True,
                    id="role",
                )
            yield Static(ROLE_HINT, classes="hint")
            with Horizontal(classes="field"):
                yield Label("Project", classes="field-name")
                yield Select(
                    [(name, name) for name in self._projects],
                    prompt="All projects",
                    compact=True,
                    id="project",
                )
            yield Static("Limit the token to one project's runs.", classes="hint")
            with Horizontal(classes="field"):
                yield Label("Expiry", classes="field-name")
                yield Input(
                    placeholder="90d",
                    validators=[ExpiryValidator()],
                    compact=True,
                    id="expiry",
                )
            yield Static(EXPIRY_HINT, id="expiry-hint", classes="hint")
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(
                    "Generate",
                    variant="primary",
                    id="submit",
                    disabled=True,
                    compact=True,
                )
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer(compact=True)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        hint = self.query_one(f"#{event.input.id}-hint", Static)
        result = event.validation_result
        if result is not None and not result.is_valid:
            hint.update(formatting.plain(result.failure_descriptions[0]))
            hint.add_class("error")
        else:
            hint.update(EXPIRY_HINT if event.input.id == "expiry" else NAME_HINT)
            hint.remove_class("error")
        self._update_submit()

    def _update_submit(self) -> None:
        name = self.query_one("#name", Input)
        expiry = self.query_one("#expiry", Input)
        valid = NameValidator().validate(name.value).is_valid and expiry.is_valid
        self.query_one("#submit", Button).disabled = not valid

    def _point_at_problem(self) -> None:
        """Say why the form cannot be sent yet, and put the cursor where to fix it:
        at 80x24 the field's hint may be out of sight."""
        for field_id, validator in (("name", NameValidator()), ("expiry", None)):
            field = self.query_one(f"#{field_id}", Input)
            result = (validator or field).validate(field.value)
            if result is None or result.is_valid:
                continue
            problem = result.failure_descriptions[0]
            hint = self.query_one(f"#{field_id}-hint", Static)
            hint.update(formatting.plain(problem))
            hint.add_class("error")
            field.focus()
            self.notify(
                f"{field_id.capitalize()}: {problem}",
                title="Cannot generate yet",
                severity="warning",
                markup=False,
            )
            return
        if self.workers:
            self.notify("The token is being created.", markup=False)

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def _submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancelled(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        """Create the token, if the form is valid."""
        if self.query_one("#submit", Button).disabled:
            self._point_at_problem()
            return
        name = self.query_one("#name", Input).value.strip()
        role = self.query_one("#role", Select).value
        project = self.query_one("#project", Select).value
        try:
            options = expiry_options(self.query_one("#expiry", Input).value)
        except (DurationError, TokenError) as exc:
            self.query_one("#form-error", Static).update(formatting.plain(exc))
            return
        if isinstance(project, str):
            options["project"] = project
        self.query_one("#submit", Button).disabled = True
        self._create(name, str(role), options)

    @work(thread=True, exclusive=True, group="create", exit_on_error=False)
    def _create(self, name: str, role: str, options: dict[str, Any]) -> None:
        from uniflow.cli.tui.app import UniFlowApp

        app = self.app
        assert isinstance(app, UniFlowApp)
        try:
            token = app.connection.request(
                lambda c: c.create_token(name, role, **options)
            )
        except UniFlowError as exc:
            if not isinstance(exc, APIError) or exc.status not in (409, 422):
                app.report(exc)
            self.post_message(self.Refused(exc))
            return
        self.post_message(self.Created(token))

    @on(Created)
    def _created(self, message: Created) -> None:
        self.dismiss(message.token)

    @on(Refused)
    def _refused(self, message: Refused) -> None:
        error = message.error
        fields = {"name": "#name-hint", "expires_in": "#expiry-hint"}
        fields.update(expires_at="#expiry-hint", no_expiry="#expiry-hint")
        problems: list[dict[str, Any]] = []
        if isinstance(error, APIError) and isinstance(error.body.get("errors"), list):
            problems = list(error.body["errors"])  # type: ignore[call-overload]
        if isinstance(error, APIError) and error.status == 409:
            problems = [{"field": "name", "message": error.detail}]
        for problem in problems or [{"field": "", "message": str(error)}]:
            target = fields.get(str(problem.get("field")), "#form-error")
            shown = self.query_one(target, Static)
            shown.update(formatting.plain(problem.get("message")))
            shown.add_class("error")
        self._update_submit()


class SecretScreen(ModalScreen[None]):
    """Show a new token's secret once, with a way to copy it.

    The secret lives only in this screen: closing it forgets the secret.
    """

    AUTO_FOCUS = "#copy"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, token: dict[str, Any], *, done: str = "Created") -> None:
        super().__init__()
        self._secret: str = token["secret"]
        self._about = (
            f"{done} token {token['name']!r} ({token['token_id']}, role "
            f"{token['role']}, project {token.get('project') or 'all'}, expires "
            f"{formatting.exact(token.get('expires_at')) or 'never'})."
        )

    def compose(self) -> ComposeResult:
        """What was created, the secret, and the warning."""
        with Vertical(classes="dialog", id="secret-dialog"):
            yield Label("Copy the new token", classes="dialog-title")
            yield Static(formatting.plain(self._about))
            yield Static(formatting.plain(self._secret, "bold"), id="secret")
            yield Static(
                "This secret will not be shown again. Copy it now and keep it "
                "somewhere safe.",
                classes="warning",
            )
            with Horizontal(classes="buttons"):
                yield Button("Copy", variant="primary", id="copy", compact=True)
                yield Button("Close", id="close", compact=True)
        yield Footer(compact=True)

    @on(Button.Pressed, "#copy")
    def _copy_pressed(self) -> None:
        self.action_copy()

    @on(Button.Pressed, "#close")
    def _close_pressed(self) -> None:
        self.action_close()

    def action_copy(self) -> None:
        """Copy the secret through the terminal (OSC 52) and the system clipboard."""
        # TODO: Textual also keeps the copied text in App.clipboard, for pasting
        # inside the app, where the secret outlives this dialog until something
        # else is copied; Textual has no public way to forget it.
        self.app.copy_to_clipboard(self._secret)
        self._copy_to_system(self._secret)

    @work(thread=True, exclusive=True, group="copy", exit_on_error=False)
    def _copy_to_system(self, secret: str) -> None:
        tool = clipboard.copy(secret)
        if tool:
            said = f"Copied the secret with {tool}, and sent it to the terminal "
            said += "(OSC 52)."
        else:
            # Whether the terminal (or tmux, or SSH's far end) took it, nothing
            # tells: some ignore OSC 52.
            said = "Sent the secret to the terminal's clipboard (OSC 52); paste it "
            said += "somewhere to check, as some terminals ignore this."
        self.notify(said, title="Copy", markup=False)

    def action_close(self) -> None:
        """Close the dialog; the secret is gone from the screen and from memory."""
        self.query_one("#secret", Static).update("")
        self._secret = ""
        self.dismiss(None)


class RotateScreen(ModalScreen[str | None]):
    """Ask before rotating a token, and for how long the old secret stays valid.

    Dismissed with the grace (``""`` for none), or None when not confirmed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "rotate", "Rotate"),
        Binding("n,escape", "dismiss(None)", "Cancel"),
    ]

    def __init__(self, token: dict[str, Any], *, own: bool) -> None:
        super().__init__()
        self._question = (
            f"Rotate token {token['name']!r} ({token['token_id']})? It gets a new "
            "secret with the same name, role, project and lifetime."
        )
        if own:
            self._question += (
                " It is the token this TUI uses; the new secret takes its place."
            )

    def compose(self) -> ComposeResult:
        """The question, the grace, and the buttons."""
        with Vertical(classes="dialog"):
            yield Label("Rotate token", classes="dialog-title")
            yield Static(formatting.plain(self._question))
            yield Label("The old secret stops working")
            yield Select(GRACES, value="", allow_blank=False, compact=True, id="grace")
            with Horizontal(classes="buttons"):
                yield Button("Rotate", variant="warning", id="rotate", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer(compact=True)

    @on(Button.Pressed, "#rotate")
    def _rotate_pressed(self) -> None:
        self.action_rotate()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_rotate(self) -> None:
        """Confirm, with the chosen grace."""
        self.dismiss(str(self.query_one("#grace", Select).value))
