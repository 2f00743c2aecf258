"""What ``uniflow pipelines list`` and ``show`` do: ask the server, render.

Which project they look at follows ``uniflow run``: the one given with
``--project``, else the one of the current folder (registered first when the
server does not know it yet), and outside any project folder every project.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from uniflow.cli import render
from uniflow.cli.commands import current_project
from uniflow.cli.session import call, open_session
from uniflow.cli.status import ExitCode, Output
from uniflow.client import Client
from uniflow.errors import PipelineError, PipelineNotFound


def list_pipelines(
    out: Console, err: Console, project: str | None, output: Output
) -> None:
    """Print the pipelines of ``project``, else of the current folder's project,
    else of every project; say on stderr which projects could not be read."""
    problems: list[dict[str, Any]] = []
    scope, found = _listed(err, project, problems)
    for problem in problems:
        err.print(
            render.plain(
                f"Project {problem['project']!r} is left out: {problem['detail']}",
                "yellow",
            )
        )

    if output is Output.JSON:
        render.print_json(out, found)
    elif found:
        out.print(render.pipelines_table(found))
    elif scope is not None:
        err.print(render.plain(f"Project {scope!r} has no pipelines."))
    else:
        err.print(
            "No pipelines yet; `uniflow init` creates a project with an example, "
            "and `uniflow run` inside a project's folder registers it."
        )


def show(
    out: Console, err: Console, name: str, project: str | None, output: Output
) -> int:
    """Print one pipeline with its parameters and return the exit code.

    Without ``project`` and outside any project folder, the pipeline is looked
    for in every project; a name that several projects have is a usage error.

    Raises:
        PipelineNotFound: The project has no pipeline ``name``.
        PipelineError: No project has one, where every project was looked at.
    """
    scope, found = _listed(err, project, [])
    chosen = [p for p in found if p["name"] == name]
    if not chosen and scope is not None:
        available = sorted({p["name"] for p in found})
        raise PipelineNotFound(name, project=scope, available=available)
    if not chosen:
        raise PipelineError(
            f"No project has a pipeline {name!r}; `uniflow pipelines list` shows "
            "those that exist."
        )
    if len(chosen) > 1:
        where = ", ".join(repr(p["project"]) for p in chosen)
        err.print(
            render.plain("Error: ", "red")
            + render.plain(
                f"Pipeline {name!r} is in projects {where}; choose one with "
                f"--project, such as `uniflow pipelines show {name} --project "
                f"{chosen[0]['project']}`."
            )
        )
        return ExitCode.USAGE

    if output is Output.JSON:
        render.print_json(out, chosen[0])
    else:
        render.pipeline_details(out, chosen[0])
    return ExitCode.OK


def _listed(
    err: Console, project: str | None, problems: list[dict[str, Any]]
) -> tuple[str | None, list[dict[str, Any]]]:
    """Return the project looked at (None for every project) and its pipelines;
    the projects whose code could not be read go to ``problems``."""

    def listed(client: Client) -> tuple[str | None, list[dict[str, Any]]]:
        problems.clear()  # `call` may try again with a new token
        scope = project or current_project(client)
        return scope, client.list_pipelines(project=scope, problems=problems)

    return call(open_session(err), err, listed)
