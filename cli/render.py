"""How the CLI shows runs and tokens: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

STATUS_STYLE = {
    "queued": "dim",
    "running": "cyan",
    "success": "green",
    "failed": "red",
    "cancelled": "yellow",
}


class Output(StrEnum):
    """The formats of list and show commands."""

    TABLE = "table"
    JSON = "json"


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


def runs_table(runs: list[dict[str, Any]]) -> Table:
    """Return a table of runs."""
    table = Table(box=None, header_style="bold")
    table.add_column("RUN ID", no_wrap=True, min_width=20)
    table.add_column("PIPELINE", overflow="fold")
    table.add_column("PROJECT", overflow="fold")
    for column in ("STATUS", "CREATED", "DURATION"):
        table.add_column(column, no_wrap=True)
    for run in runs:
        status = run["status"]
        table.add_row(
            run["run_id"],
            run["pipeline_name"],
            run["project"],
            f"[{STATUS_STYLE.get(status, '')}]{status}[/]",
            short_time(run["created_at"]),
            duration(run),
        )
    return table


def run_details(console: Console, run: dict[str, Any]) -> None:
    """Print one run with its parameters, result and steps."""
    status = run["status"]
    console.print(
        f"[bold]{run['run_id']}[/]  {run['pipeline_name']} ({run['project']})"
    )
    fields = {
        "status": f"[{STATUS_STYLE.get(status, '')}]{status}[/]",
        "parameters": json.dumps(run["parameters"], ensure_ascii=False),
        "created": run["created_at"],
        "started": run.get("started_at") or "",
        "finished": run.get("finished_at") or "",
        "duration": duration(run),
        "exit code": "" if run.get("exit_code") is None else str(run["exit_code"]),
        "error": run.get("error") or "",
        "result": (
            ""
            if run.get("result") is None
            else json.dumps(run["result"], ensure_ascii=False)
        ),
    }
    for name, value in fields.items():
        if value:
            console.print(f"  {name:<11}{value}", highlight=False)

    if run.get("steps"):
        table = Table(box=None, header_style="bold", padding=(0, 1, 0, 2))
        for column in ("STEP", "STATE", "DURATION", "ERROR"):
            table.add_column(column)
        for step in run["steps"]:
            took = "" if step["duration"] is None else f"{step['duration']:.2f} s"
            state = step["state"]
            table.add_row(
                step["name"],
                f"[{STATUS_STYLE.get(state, '')}]{state}[/]",
                took,
                step.get("error") or "",
            )
        console.print(table)


def tokens_table(tokens: list[dict[str, Any]]) -> Table:
    """Return a table of tokens; secrets are never part of it."""
    table = Table(box=None, header_style="bold")
    table.add_column("ID", no_wrap=True, min_width=16)
    table.add_column("NAME", overflow="fold")
    for column in ("ROLE", "CREATED", "LAST USED", "STATE"):
        table.add_column(column, no_wrap=True)
    for token in tokens:
        state = token["state"]
        table.add_row(
            token["token_id"],
            token["name"],
            token["role"],
            short_time(token["created_at"]),
            short_time(token.get("last_used_at")) or "never",
            f"[{'green' if state == 'active' else 'dim'}]{state}[/]",
        )
    return table


def short_time(text: str | None) -> str:
    """Return a UTC timestamp to the second, as ``2026-01-31 12:00:00``."""
    return text[:19].replace("T", " ") if text else ""


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
