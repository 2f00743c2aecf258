"""The form that triggers a run, generated from the pipeline's parameter schema.

Each parameter gets a field of its type, filled with its default: a switch for a
boolean, a choice for an ``enum``, text for the rest, read as the CLI reads
``-p name=value`` (:func:`uniflow.parameters.parse_text`). Each field is checked
against its part of the schema as it is typed, and the whole form once more
before it is sent.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.validation import ValidationResult, Validator
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Header,
    Input,
    Label,
    Select,
    Static,
)

from uniflow import parameters
from uniflow.cli.render import parameter_type
from uniflow.cli.tui.formatting import plain
from uniflow.errors import APIError, FieldError, ParameterError, UniFlowError

LONGEST_TEXT = 4096
"""Characters a text field takes. Textual's Input redraws its whole value on each
key, so a long paste typed key by key (a terminal without bracketed paste) would
freeze the form; longer values go through ``uniflow run -p``."""


class ParameterValidator(Validator):
    """Check one field's text against its parameter's type and constraints."""

    def __init__(self, name: str, prop: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.prop = prop

    def validate(self, value: str) -> ValidationResult:
        """Return success, or the failure the CLI would print for ``-p name=value``."""
        try:
            parse(self.name, self.prop, value)
        except ParameterError as exc:
            return self.failure("; ".join(e.message for e in exc.errors))
        return self.success()


class ParameterInput(Input):
    """A text field that says so when a paste is longer than it takes; Textual's
    Input drops such a paste without a word."""

    class TooLong(Message):
        """A paste was dropped for its length."""

        def __init__(self, field: ParameterInput, length: int) -> None:
            super().__init__()
            self.field = field
            self.length = length

    def _on_paste(self, event: events.Paste) -> None:
        line = event.text.splitlines()[0] if event.text else ""
        start, end = sorted(self.selection)
        length = len(self.value) - (end - start) + len(line)
        if self.max_length and length > self.max_length:
            event.stop()
            self.post_message(self.TooLong(self, length))
            return
        super()._on_paste(event)


def parse(name: str, prop: dict[str, Any], text: str) -> Any:
    """Return a field's text as its parameter's value, checked against its schema.

    Raises:
        ParameterError: The text is empty where a value is needed (an empty
            text is an empty string only for a string parameter with a default),
            is not of the parameter's type, or breaks one of its constraints.
    """
    schema = {"type": "object", "properties": {name: prop}}
    if not text and "default" not in prop:
        raise ParameterError([FieldError(name, "is required")])
    if not text and "string" not in _types(prop):
        raise ParameterError([FieldError(name, "needs a value")])
    value = parameters.parse_text(schema, name, text)
    parameters.resolve(schema, {name: value})
    return value


def _types(prop: dict[str, Any]) -> list[str]:
    kind = prop.get("type")
    if isinstance(kind, list):
        return kind
    if kind is not None:
        return [kind]
    return [option.get("type", "") for option in prop.get("anyOf", [])]


def _longest(prop: dict[str, Any]) -> int:
    """The characters a field takes: its ``maxLength``, within the form's limit
    (Textual reads 0 as no limit, so a ``maxLength`` of 0 keeps the form's)."""
    most = prop.get("maxLength")
    if isinstance(most, int) and 0 < most < LONGEST_TEXT:
        return most
    return LONGEST_TEXT


def _default_text(prop: dict[str, Any]) -> str:
    if "default" not in prop or prop["default"] is None:
        return ""
    default = prop["default"]
    return default if isinstance(default, str) else json.dumps(default)


class TriggerScreen(Screen[dict[str, Any] | None]):
    """Fill in a pipeline's parameters and trigger a run; dismissed with the run."""

    TITLE = "Trigger"
    AUTO_FOCUS = "#form Input, #form Select, #form Checkbox, #submit"

    class Triggered(Message):
        """The server started the run."""

        def __init__(self, run: dict[str, Any]) -> None:
            super().__init__()
            self.run = run

    class Refused(Message):
        """The server did not start the run."""

        def __init__(self, error: UniFlowError) -> None:
            super().__init__()
            self.error = error

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Trigger run", priority=True),
        Binding("escape", "close", "Back"),
    ]

    def __init__(self, pipeline: dict[str, Any]) -> None:
        super().__init__()
        self.pipeline = pipeline
        """The pipeline as the server describes it, with its parameter schema."""
        self.schema: dict[str, Any] = pipeline["parameters"]
        self._properties: dict[str, dict[str, Any]] = self.schema.get("properties", {})

    def compose(self) -> ComposeResult:
        """One field per parameter, each with a line for its hint or error."""
        yield Header()
        title = f"Trigger {self.pipeline['name']} ({self.pipeline['project']})"
        yield Label(plain(title), classes="form-title")
        with VerticalScroll(id="form"):
            if not self._properties:
                yield Static("This pipeline takes no parameters.")
            for name, prop in self._properties.items():
                with Horizontal(classes="field"):
                    yield Label(plain(name), classes="field-name")
                    yield self._field(name, prop)
                yield Static(
                    plain(_describe(prop, self.schema)),
                    id=f"hint-{name}",
                    classes="hint",
                )
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(
                    "Trigger run", variant="primary", id="submit", compact=True
                )
                yield Button("Back", id="close", compact=True)
        yield Footer(compact=True)

    def _field(
        self, name: str, prop: dict[str, Any]
    ) -> ParameterInput | Checkbox | Select[Any]:
        field_id = f"param-{name}"
        if "enum" in prop:
            options = [(json.dumps(v, ensure_ascii=False), v) for v in prop["enum"]]
            has_default = "default" in prop
            return Select(
                options,
                value=prop["default"] if has_default else Select.NULL,
                allow_blank=not has_default,
                compact=True,
                id=field_id,
            )
        if _types(prop) == ["boolean"]:
            default = bool(prop.get("default", False))
            return Checkbox("true", default, compact=True, id=field_id)
        return ParameterInput(
            value=_default_text(prop),
            placeholder="required" if "default" not in prop else "",
            validators=[ParameterValidator(name, prop)],
            valid_empty=False,
            max_length=_longest(prop),
            compact=True,
            id=field_id,
        )

    def on_mount(self) -> None:
        """Check the defaults at once, so required fields show that they are."""
        for field in self.query(Input):
            self._show_validation(field, field.validate(field.value))
        self._update_submit()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        # The Input has checked its new value already; checking again would
        # double the work of every key.
        self._show_validation(event.input, event.validation_result)
        self._update_submit()

    def _show_validation(self, field: Input, result: ValidationResult | None) -> None:
        name = (field.id or "").removeprefix("param-")
        hint = self.query_one(f"#hint-{name}", Static)
        if result is not None and not result.is_valid:
            hint.update(plain(result.failure_descriptions[0]))
            hint.add_class("error")
            return
        full = len(field.value) >= LONGEST_TEXT
        text = (
            self._too_long(name, None)
            if full
            else _describe(self._properties[name], self.schema)
        )
        hint.update(plain(text))
        hint.set_class(full, "error")

    @on(ParameterInput.TooLong)
    def _paste_dropped(self, event: ParameterInput.TooLong) -> None:
        name = (event.field.id or "").removeprefix("param-")
        hint = self.query_one(f"#hint-{name}", Static)
        hint.update(plain(self._too_long(name, event.length)))
        hint.add_class("error")

    def _too_long(self, name: str, pasted: int | None) -> str:
        """Say that a field is full, or that a paste of ``pasted`` characters was
        dropped, and how to pass a longer value."""
        said = f"The pasted text has {pasted} characters. " if pasted else ""
        most = _longest(self._properties[name])
        if most < LONGEST_TEXT:
            return f"{said}{name} takes at most {most} characters."
        return (
            f"{said}The form takes at most {most} characters; pass a longer value "
            f"with `uniflow run -p {name}=VALUE`."
        )

    def _update_submit(self) -> None:
        invalid = any(not field.is_valid for field in self.query(Input))
        self.query_one("#submit", Button).disabled = invalid

    def values(self) -> dict[str, Any]:
        """Return the parameters as typed in the form, checked as a whole.

        Raises:
            ParameterError: A field's value is wrong.
        """
        values: dict[str, Any] = {}
        for name, prop in self._properties.items():
            field = self.query_one(f"#param-{name}")
            if isinstance(field, Checkbox):
                values[name] = field.value
            elif isinstance(field, Select):
                if field.value is not Select.NULL:
                    values[name] = field.value
            elif isinstance(field, Input):
                values[name] = parse(name, prop, field.value)
        parameters.resolve(self.schema, values, pipeline=self.pipeline["name"])
        return values

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.action_submit()

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#close")
    def _close_pressed(self) -> None:
        self.action_close()

    def action_close(self) -> None:
        """Go back without triggering."""
        self.dismiss(None)

    def action_submit(self) -> None:
        """Check the form and trigger the run."""
        error = self.query_one("#form-error", Static)
        try:
            values = self.values()
        except ParameterError as exc:
            error.update(plain(str(exc)))
            self._point_at_problem(exc)
            return
        error.update("Triggering…")
        self.query_one("#submit", Button).disabled = True
        self._trigger(values)

    def _point_at_problem(self, exc: ParameterError) -> None:
        """Put the cursor on the first field at fault and say what is wrong: at
        80x24 the form's error line may be out of sight."""
        for problem in exc.errors:
            name = problem.field.split(".")[0].split("[")[0]  # "rows[2]" is rows'
            if name in self._properties:
                self.query_one(f"#param-{name}").focus()
                break
        self.notify(
            str(exc), title="Cannot trigger yet", severity="warning", markup=False
        )

    @work(thread=True, exclusive=True, group="trigger", exit_on_error=False)
    def _trigger(self, values: dict[str, Any]) -> None:
        from uniflow.cli.tui.app import UniFlowApp

        app = self.app
        assert isinstance(app, UniFlowApp)
        name, project = self.pipeline["name"], self.pipeline["project"]
        try:
            run = app.connection.request(
                lambda c: c.trigger_run(name, values, project=project)
            )
        except APIError as exc:
            if exc.status != 422:
                app.report(exc)
            self.post_message(self.Refused(exc))
            return
        except UniFlowError as exc:
            app.report(exc)
            self.post_message(self.Refused(exc))
            return
        self.post_message(self.Triggered(run))

    @on(Triggered)
    def _triggered(self, message: Triggered) -> None:
        self.dismiss(message.run)

    @on(Refused)
    def _refused(self, message: Refused) -> None:
        error = message.error
        problems = error.body.get("errors") if isinstance(error, APIError) else None
        if isinstance(problems, list) and problems:
            text = "; ".join(f"{p.get('field')}: {p.get('message')}" for p in problems)
        else:
            text = str(error)
        self.query_one("#form-error", Static).update(plain(text))
        self._update_submit()


def _describe(prop: dict[str, Any], schema: dict[str, Any]) -> str:
    text = parameter_type(prop, schema)
    if "default" not in prop:
        text += ", required"
    if prop.get("description"):
        text += f" - {prop['description']}"
    return text
