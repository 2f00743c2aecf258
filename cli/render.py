"""How the CLI shows runs, pipelines, tokens and projects: rich tables for people,
JSON for scripts.

Every value that comes from a server goes through :func:`plain`: a run's error or
a pipeline's name is data, never Rich markup or terminal control sequences, so a
pipeline cannot clear the screen or retitle the window of whoever looks at it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from uniflow.config import Change, Entry

STATUS_STYLE = {
    "queued": "dim",
    "running": "cyan",
    "success": "green",
    "failed": "red",
    "cancelled": "yellow",
    "active": "green",
    "revoked": "dim",
    "expired": "yellow",
}
# C0 and C1 control characters, except tab and newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
LOG_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Control characters taken out of a run's output: all but tab, newline and
carriage return (progress bars redraw a line with it)."""
_LONG = 2000


def plain(value: Any, style: str = "") -> Text:
    """Return a server's value as text to show: no markup, no control characters,
    and cut short past a couple of thousand characters."""
    text = _CONTROL.sub("�", "" if value is None else str(value))
    if len(text) > _LONG:
        text = text[:_LONG] + f"… ({len(text) - _LONG} more characters)"
    return Text(text, style=style)


def status(value: str) -> Text:
    """Return a state (of a run, a step or a token) in its colour."""
    return plain(value, STATUS_STYLE.get(value, ""))


def print_json(console: Console, data: Any) -> None:
    """Print ``data`` as JSON, without markup or highlighting."""
    console.print_json(json.dumps(data, ensure_ascii=False), highlight=False)


def duration(run: dict[str, Any]) -> str:
    """Return how long a run took, or has been running, as text."""
    if not run.get("started_at"):
        return ""
    start = _parse(run["started_at"])
    end = _parse(run["finished_at"]) if run.get("finished_at") else None
    if end is None:
        return "…"
    return f"{(end - start).total_seconds():.1f} s"


def short_time(text: str | None) -> str:
    """Return a UTC timestamp to the second, as ``2026-01-31 12:00:00``."""
    return text[:19].replace("T", " ") if text else ""


def runs_table(runs: list[dict[str, Any]]) -> Table:
    """Return a table of runs."""
    table = Table(box=None, header_style="bold")
    table.add_column("RUN ID", no_wrap=True, min_width=20)
    table.add_column("PIPELINE", overflow="fold")
    table.add_column("PROJECT", overflow="fold")
    for column in ("STATUS", "CREATED", "DURATION"):
        table.add_column(column, no_wrap=True)
    for run in runs:
        table.add_row(
            plain(run["run_id"]),
            plain(run["pipeline_name"]),
            plain(run["project"]),
            status(run["status"]),
            short_time(run["created_at"]),
            duration(run),
        )
    return table


def run_details(console: Console, run: dict[str, Any]) -> None:
    """Print one run with its parameters, result and steps."""
    console.print(
        Text.assemble(
            plain(run["run_id"], "bold"),
            "  ",
            plain(f"{run['pipeline_name']} ({run['project']})"),
        )
    )
    fields: dict[str, Text | str] = {
        "status": status(run["status"]),
        "parameters": plain(json.dumps(run["parameters"], ensure_ascii=False)),
        "created": run["created_at"],
        "started": run.get("started_at") or "",
        "finished": run.get("finished_at") or "",
        "duration": duration(run),
        "exit code": "" if run.get("exit_code") is None else str(run["exit_code"]),
        "error": plain(run.get("error") or ""),
        "result": plain(
            ""
            if run.get("result") is None
            else json.dumps(run["result"], ensure_ascii=False)
        ),
    }
    for name, value in fields.items():
        if value:
            console.print(Text.assemble(f"  {name:<11}", value), highlight=False)

    if run.get("steps"):
        table = Table(box=None, header_style="bold", padding=(0, 1, 0, 2))
        for column in ("STEP", "STATE", "DURATION", "ERROR"):
            table.add_column(column)
        for step in run["steps"]:
            took = "" if step["duration"] is None else f"{step['duration']:.2f} s"
            table.add_row(
                plain(step["name"]),
                status(step["state"]),
                took,
                plain(step.get("error") or ""),
            )
        console.print(table)


def tokens_table(tokens: list[dict[str, Any]]) -> Table:
    """Return a table of tokens; secrets are never part of it."""
    table = Table(box=None, header_style="bold")
    table.add_column("ID", no_wrap=True, min_width=16)
    table.add_column("NAME", overflow="fold")
    table.add_column("ROLE", no_wrap=True)
    table.add_column("PROJECT", overflow="fold")
    for column in ("CREATED", "EXPIRES", "LAST USED", "FROM", "STATE"):
        table.add_column(column, no_wrap=True)
    for token in tokens:
        table.add_row(
            plain(token["token_id"]),
            plain(token["name"]),
            plain(token["role"]),
            plain(token.get("project") or "all"),
            short_time(token["created_at"]),
            short_time(token_ends(token)) or "never",
            short_time(token.get("last_used_at")) or "never",
            plain(token.get("last_used_from") or ""),
            status(token["state"]),
        )
    return table


def token_ends(token: dict[str, Any]) -> str | None:
    """Return when a token stops working: its expiry, or sooner the end of the
    grace period a rotation gave it (a revocation set for later)."""
    ends = [t for t in (token.get("expires_at"), token.get("revoked_at")) if t]
    return min(ends) if ends else None


def audit_table(events: list[dict[str, Any]]) -> Table:
    """Return a table of audit events, newest first."""
    table = Table(box=None, header_style="bold")
    for column in ("AT", "ACTION", "TOKEN", "CLIENT"):
        table.add_column(column, no_wrap=True)
    table.add_column("TARGET", overflow="fold")
    table.add_column("DETAIL", overflow="fold")
    for event in events:
        who = event.get("token_name") or ""
        if event.get("token_id"):
            who = f"{who} ({event['token_id']})"
        table.add_row(
            short_time(event["at"]),
            plain(event["action"]),
            plain(who),
            plain(event.get("client") or ""),
            plain(event.get("target") or ""),
            plain(event.get("detail") or ""),
        )
    return table


def auth_status(shown: dict[str, Any]) -> Table:
    """Return what ``uniflow auth status`` says: server, token and where it is kept."""
    table = Table(box=None, show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("Server", plain(shown["server"]))
    table.add_row("Credential", plain(shown["credential"] or "none"))
    if shown["secret"]:
        table.add_row("Secret", plain(shown["secret"]))
    token = shown.get("token")
    if token:
        table.add_row("Token", plain(f"{token['name']} ({token['token_id']})"))
        table.add_row("Role", plain(token["role"]))
        table.add_row("Project", plain(token.get("project") or "all"))
        table.add_row("Expires", plain(token.get("expires_at") or "never"))
        table.add_row("State", status(token["state"]))
    if shown.get("problem"):
        table.add_row("Problem", plain(shown["problem"], "red"))
    return table


def projects_table(projects: list[dict[str, Any]]) -> Table:
    """Return a table of registered projects."""
    table = Table(box=None, header_style="bold")
    table.add_column("NAME", no_wrap=True)
    table.add_column("FOLDER", overflow="fold")
    for project in projects:
        table.add_row(plain(project["name"]), plain(project["path"]))
    return table


def parameter_type(prop: dict[str, Any], schema: dict[str, Any]) -> str:
    """Return a parameter's type as people read it, such as ``integer``,
    ``string (date)``, ``one of "red", "green"`` or ``integer or null``.

    Args:
        prop: The parameter's JSON Schema.
        schema: The pipeline's whole parameter schema, where ``$ref`` points.
    """
    ref = prop.get("$ref", "")
    if ref.startswith("#/$defs/"):
        prop = {**schema.get("$defs", {}).get(ref.rpartition("/")[2], {}), **prop}
    if "enum" in prop:
        return "one of " + ", ".join(
            json.dumps(v, ensure_ascii=False) for v in prop["enum"]
        )
    if "anyOf" in prop:
        return " or ".join(parameter_type(p, schema) for p in prop["anyOf"])
    kind = prop.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if "format" in prop:
        text += f" ({prop['format']})"
    if kind == "array" and isinstance(prop.get("items"), dict) and prop["items"]:
        text += f" of {parameter_type(prop['items'], schema)}"
    low, high = prop.get("minimum"), prop.get("maximum")
    if low is not None and high is not None:
        text += f", {low} to {high}"
    elif low is not None:
        text += f", at least {low}"
    elif high is not None:
        text += f", at most {high}"
    return text


def parameters(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a pipeline's parameters as ``name``, ``type``, ``required``,
    ``default`` (JSON text, empty when there is none) and ``description``."""
    schema = pipeline.get("parameters") or {}
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "type": parameter_type(prop, schema),
            "required": name in required,
            "default": (
                json.dumps(prop["default"], ensure_ascii=False)
                if "default" in prop
                else ""
            ),
            "description": prop.get("description") or "",
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def pipelines_table(pipelines: list[dict[str, Any]]) -> Table:
    """Return a table of pipelines with their parameters in short: ``epochs:
    integer (required)``, ``rate: number = 0.1``."""
    table = Table(box=None, header_style="bold")
    table.add_column("PROJECT", no_wrap=True)
    table.add_column("PIPELINE", no_wrap=True)
    table.add_column("PARAMETERS", overflow="fold")
    table.add_column("DESCRIPTION", overflow="fold")
    for pipeline in pipelines:
        shown = [
            f"{p['name']}: {p['type']}"
            + (" (required)" if p["required"] else f" = {p['default']}")
            for p in parameters(pipeline)
        ]
        table.add_row(
            plain(pipeline["project"]),
            plain(pipeline["name"]),
            plain(", ".join(shown)),
            plain(pipeline.get("description") or ""),
        )
    return table


def pipeline_details(console: Console, pipeline: dict[str, Any]) -> None:
    """Print one pipeline with its description and a table of its parameters."""
    console.print(
        Text.assemble(
            plain(pipeline["name"], "bold"), " ", plain(f"({pipeline['project']})")
        )
    )
    if pipeline.get("description"):
        console.print(Text.assemble("  ", plain(pipeline["description"])))
    if pipeline.get("timeout") is not None:
        console.print(f"  timeout {pipeline['timeout']:g} s")

    found = parameters(pipeline)
    if not found:
        console.print("  It takes no parameters.")
        return
    table = Table(box=None, header_style="bold", padding=(0, 1, 0, 2))
    for column in ("PARAMETER", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"):
        table.add_column(column, overflow="fold")
    for p in found:
        table.add_row(
            plain(p["name"]),
            plain(p["type"]),
            "yes" if p["required"] else "no",
            plain(p["default"]),
            plain(p["description"]),
        )
    console.print(table)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def setting_text(value: Any) -> str:
    """Return a setting's value as ``uniflow config set`` takes it: ``true``,
    ``8080``, ``a.example,b.example``, ``30d``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def setting_toml(value: Any) -> str:
    """Return a setting's value as config.toml holds it: ``"30d"``, ``["a"]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def setting_record(entry: Entry) -> dict[str, Any]:
    """Return a setting as JSON shows it: its key, value and origin."""
    return {"key": entry.key, "value": entry.value, "origin": entry.origin}


def change_record(change: Change) -> dict[str, Any]:
    """Return what ``config set`` or ``unset`` did as JSON shows it: the key, the
    value now in the file (null when absent), the file, whether it changed, and
    the environment variable that overrides it, if one is set."""
    return {
        "key": change.key,
        "value": change.value,
        "path": str(change.path),
        "changed": change.changed,
        "overridden_by": change.overridden_by,
    }


def settings_table(entries: list[Entry], *, show_origin: bool) -> Table:
    """Return a table of settings, with where each value comes from if asked."""
    table = Table(box=None, header_style="bold")
    table.add_column("KEY", no_wrap=True)
    table.add_column("VALUE", overflow="fold")
    if show_origin:
        table.add_column("ORIGIN", overflow="fold")
    for entry in entries:
        row = [plain(entry.key), plain(setting_text(entry.value))]
        if show_origin:
            row.append(plain(entry.origin))
        table.add_row(*row)
    return table
