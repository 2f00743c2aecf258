"""How the CLI shows runs, tokens and projects: rich tables for people, JSON for
scripts.

Every value that comes from a server goes through :func:`plain`: a run's error or
a pipeline's name is data, never Rich markup or terminal control sequences, so a
pipeline cannot clear the screen or retitle the window of whoever looks at it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

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
            short_time(token.get("expires_at")) or "never",
            short_time(token.get("last_used_at")) or "never",
            plain(token.get("last_used_from") or ""),
            status(token["state"]),
        )
    return table


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


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
