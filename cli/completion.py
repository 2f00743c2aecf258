"""Shell completion: the scripts for each shell, and names and ids from the daemon.

A shell's script runs ``uniflow`` with ``_UNIFLOW_COMPLETE`` set at each TAB
press; typer answers from the command's own parameters. Pipeline names and run
ids come from a daemon that already runs, asked with a short timeout and a token
found without asking the user anything: a TAB press must never start a daemon,
pop up a keyring's unlock dialog, hang, or print an error into the command line.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

# typer reads the annotations of the functions that complete values.
import typer

if TYPE_CHECKING:
    from uniflow.client import Client

PROG_NAME = "uniflow"
COMPLETE_VAR = "_UNIFLOW_COMPLETE"
_TIMEOUT = 1.0
_ACTIVE = ("queued", "running")

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class Shell(enum.StrEnum):
    """The shells ``uniflow completion`` writes a script for."""

    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"


def script(shell: Shell) -> str:
    """Return the completion script for a shell."""
    from typer._completion_shared import get_completion_script

    return get_completion_script(
        prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell.value
    )


def prepare() -> None:
    """Make typer answer completion requests in the format of its own scripts.

    Typer registers its shell formats only for apps with ``--install-completion``,
    which would load its completion machinery for every command.
    """
    from typer._completion_classes import completion_init

    completion_init()


def pipeline_names(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Return the names of the pipelines that start with ``incomplete``."""
    project = ctx.params.get("project")
    pipelines = _ask(ctx, lambda client: client.list_pipelines(project=project))
    found: dict[str, str] = {}
    for pipeline in pipelines or []:
        name = str(pipeline.get("name", ""))
        if name.startswith(incomplete) and name not in found:
            found[name] = str(pipeline.get("description") or "")
    return sorted(found.items())


def run_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Return the ids of the newest runs that start with ``incomplete``; for
    ``runs cancel``, only of the runs that have not ended."""
    runs = _ask(ctx, lambda client: client.list_runs(limit=100)) or []
    if ctx.info_name == "cancel":
        runs = [run for run in runs if run.get("status") in _ACTIVE]
    return [
        (str(run["run_id"]), f"{run.get('pipeline_name', '')} {run.get('status', '')}")
        for run in runs
        if str(run.get("run_id", "")).startswith(incomplete)
    ]


def _ask(ctx: typer.Context, request: Callable[[Client], _T]) -> _T | None:
    """Return what ``request`` gets from the server, or None on any failure."""
    try:
        client = _client(ctx)
        if client is None:
            return None
        with client:
            return request(client)
    except Exception:
        # Whatever went wrong, the shell gets no completion rather than a
        # traceback in the middle of its command line.
        logger.debug("No completion from the server", exc_info=True)
        return None


def _client(ctx: typer.Context) -> Client | None:
    """Return a client for the server the command would use, or None when it
    has no daemon running or no token that can be read without asking."""
    from uniflow import credentials, servers
    from uniflow.client import Client

    server: Any = ctx.find_root().params.get("server")
    url = servers.configured_url(server if isinstance(server, str) else None)
    if url is None:
        url = servers.local_url()
    if url is None:
        return None

    credential = credentials.get(url, interactive=False)
    if credential is None:
        return None
    return Client(url, credential.secret, timeout=_TIMEOUT)
