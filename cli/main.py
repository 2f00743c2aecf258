"""The ``uniflow`` command."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from uniflow.cli import completion
from uniflow.cli.status import ExitCode, Output
from uniflow.roles import Role
from uniflow.runs import RunStatus

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    help="Run pipelines and watch them from the terminal, scripts and CI.",
    no_args_is_help=True,
    add_completion=False,
)
runs_app = typer.Typer(
    help="List, show, follow, cancel and prune runs.", no_args_is_help=True
)
token_app = typer.Typer(
    help="Create, list, rotate and revoke API tokens.", no_args_is_help=True
)
auth_app = typer.Typer(
    help="Show which server and token the CLI uses.", no_args_is_help=True
)
daemon_app = typer.Typer(
    help="Start, stop and inspect the local daemon.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")
app.add_typer(token_app, name="token")
app.add_typer(auth_app, name="auth")
app.add_typer(daemon_app, name="daemon")
projects_app = typer.Typer(
    help="List and remove registered projects.", no_args_is_help=True
)
app.add_typer(projects_app, name="projects")
pipelines_app = typer.Typer(
    help="List pipelines and show their parameters.", no_args_is_help=True
)
app.add_typer(pipelines_app, name="pipelines")
config_app = typer.Typer(
    help="Show and change the settings in config.toml.", no_args_is_help=True
)
app.add_typer(config_app, name="config")


class _Consoles:
    """The terminal's two consoles, made when first used: rich takes a while to
    load, and `uniflow --version` needs neither."""

    @functools.cached_property
    def out(self) -> Console:
        from rich.console import Console

        # Piped output is read by people too (through less or grep): give tables
        # room rather than folding them at 80 columns, and keep each message on
        # one line.
        return Console(
            highlight=False,
            markup=False,
            width=None if sys.stdout.isatty() else 160,
            soft_wrap=not sys.stdout.isatty(),
            color_system=_color_system(),
        )

    @functools.cached_property
    def err(self) -> Console:
        from rich.console import Console

        # Messages quote names and errors from servers and pipelines: no markup.
        return Console(
            stderr=True,
            highlight=False,
            markup=False,
            soft_wrap=not sys.stderr.isatty(),
            color_system=_color_system(),
        )


def _color_system() -> str | None:
    # NO_COLOR asks for no colour; rich would still write bold and dim, so with it
    # set the consoles write no escape codes at all.
    return None if os.environ.get("NO_COLOR") else "auto"


_consoles = _Consoles()

OutputOption = Annotated[
    Output, typer.Option("--output", "-o", help="table for people, json for scripts.")
]


def _version(value: bool) -> None:
    if value:
        from uniflow import __version__

        print(f"uniflow {__version__}")
        raise typer.Exit()


def _not_blank(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter("must not be empty.")
    return value.strip()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of errors.")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="The server to talk to, such as https://uniflow.example:8080; "
            "UNIFLOW_URL when not given, else the local daemon.",
        ),
    ] = None,
) -> None:
    """UniFlow runs pipelines through a local daemon."""
    if debug:
        os.environ["UNIFLOW_DEBUG"] = "1"
    if server is not None:
        os.environ["UNIFLOW_URL"] = server


@app.command()
def init(
    folder: Annotated[
        Path | None,
        typer.Argument(
            help="Where to create the project; the current folder when not given, "
            "created when missing.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="The project's name; the folder's name when not given."),
    ] = None,
) -> None:
    """Create a project: a uniflow.toml and an example pipeline that runs as it is.

    Writes over no file: when one is in the way, it writes nothing.

    Example: uniflow init analysis && cd analysis && uniflow run hello --wait
    """
    from uniflow.cli import commands

    commands.init(_consoles.out, folder, name)


@app.command()
def run(
    pipeline: Annotated[
        str,
        typer.Argument(
            help="The pipeline to run.", autocompletion=completion.pipeline_names
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter as name=value; repeatable."),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(help="The project; by default the one of the current folder."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the outcome; exit 1 if it failed.")
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Wait, showing each step and the run's output as they come; "
            "takes the place of --wait. With --output json, they go to stderr.",
        ),
    ] = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """Run a pipeline through the daemon, starting the daemon if needed.

    --wait and --follow exit 0 when the run succeeds, 1 when it fails or is cancelled.

    Ctrl-C stops waiting, not the run.

    Example: uniflow run training_pipeline -p epochs=50 --follow
    """
    from uniflow.cli import commands

    code = commands.run(
        _consoles.out,
        _consoles.err,
        pipeline,
        param or [],
        project,
        wait,
        output,
        follow=follow,
    )
    raise typer.Exit(code)


@runs_app.command("list")
def runs_list(
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    status: Annotated[
        RunStatus | None, typer.Option(help="Only runs in this state.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="At most this many.")
    ] = 20,
    output: OutputOption = Output.TABLE,
) -> None:
    """List runs, newest first.

    Example: uniflow runs list --status failed --limit 5
    """
    from uniflow.cli import commands

    state = status.value if status else None
    commands.runs_list(_consoles.out, _consoles.err, pipeline, state, limit, output)


RunIdArgument = Annotated[
    str,
    typer.Argument(
        help="The run's id.", callback=_not_blank, autocompletion=completion.run_ids
    ),
]


@runs_app.command("show")
def runs_show(
    run_id: RunIdArgument,
    output: OutputOption = Output.TABLE,
) -> None:
    """Show a run with its parameters, outcome and steps.

    Example: uniflow runs show run_3f9c2a7b10de1234
    """
    from uniflow.cli import commands

    commands.runs_show(_consoles.out, _consoles.err, run_id, output)


@runs_app.command("cancel")
def runs_cancel(
    run_id: RunIdArgument,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the run has ended.")
    ] = True,
    output: OutputOption = Output.TABLE,
) -> None:
    """Cancel a queued or running run; its processes are stopped.

    Example: uniflow runs cancel run_3f9c2a7b10de1234
    """
    from uniflow.cli import commands

    commands.runs_cancel(_consoles.out, _consoles.err, run_id, wait, output)


@runs_app.command("logs")
def runs_logs(
    run_id: RunIdArgument,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing output until the run ends."),
    ] = False,
) -> None:
    """Print what a run has printed so far, or follow it as it goes.

    Example: uniflow runs logs run_3f9c2a7b10de1234 -f
    """
    from uniflow.cli import commands

    raise typer.Exit(commands.runs_logs(_consoles.out, _consoles.err, run_id, follow))


def _duration(value: str) -> str:
    from uniflow import durations
    from uniflow.errors import DurationError

    try:
        durations.parse(value)
    except DurationError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value.strip()


@runs_app.command("prune")
def runs_prune(
    older_than: Annotated[
        str,
        typer.Option(
            help="Delete the runs that ended longer ago than this: 45s, 90m, 12h, "
            "30d, 2w or 1h30m.",
            callback=_duration,
        ),
    ],
    output: OutputOption = Output.TABLE,
) -> None:
    """Delete runs that ended longer ago than a duration, with their output.

    Queued and running runs are never deleted. Needs an admin token.

    Example: uniflow runs prune --older-than 30d
    """
    from uniflow.cli import commands

    commands.runs_prune(_consoles.out, _consoles.err, older_than, output)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="A name that says who uses the token.")],
    role: Annotated[Role, typer.Option(help="What the token may do.")],
    project: Annotated[
        str | None,
        typer.Option(help="Limit the token to this project's runs and pipelines."),
    ] = None,
    expires_in: Annotated[
        str | None,
        typer.Option(help="Its lifetime, such as 12h, 30d or 2w; 90 days if not set."),
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option(help="When it stops working: 2027-01-31 or 2027-01-31T12:00Z."),
    ] = None,
    no_expiry: Annotated[
        bool, typer.Option("--no-expiry", help="A token that never expires.")
    ] = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """Create a token and print its secret, shown this once.

    Example: uniflow token create --name ci --role operator --expires-in 30d
    """
    from uniflow.cli import commands

    commands.token_create(
        _consoles.out,
        _consoles.err,
        name,
        role,
        output,
        project=project,
        expires_in=expires_in,
        expires_at=expires_at,
        no_expiry=no_expiry,
    )


@token_app.command("rotate")
def token_rotate(
    token_id: Annotated[
        str,
        typer.Option("--token-id", help="The token's id.", callback=_not_blank),
    ],
    grace: Annotated[
        str | None,
        typer.Option(help="How long the old token keeps working, such as 1h."),
    ] = None,
    output: OutputOption = Output.TABLE,
) -> None:
    """Replace a token with a new secret of the same name, role and project.

    The old token is revoked at once, or after --grace. Rotating the CLI's own
    token keeps the new secret in its place.

    Example: uniflow token rotate --token-id tok_5d41402abc4b --grace 1h
    """
    from uniflow.cli import commands

    commands.token_rotate(_consoles.out, _consoles.err, token_id, grace, output)


@token_app.command("list")
def token_list(output: OutputOption = Output.TABLE) -> None:
    """List tokens with their role and state; secrets are never shown."""
    from uniflow.cli import commands

    commands.token_list(_consoles.out, _consoles.err, output)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[
        str,
        typer.Option("--token-id", help="The token's id.", callback=_not_blank),
    ],
    output: OutputOption = Output.TABLE,
) -> None:
    """Revoke a token at once; its next request is refused.

    Example: uniflow token revoke --token-id tok_5d41402abc4b
    """
    from uniflow.cli import commands

    commands.token_revoke(_consoles.out, _consoles.err, token_id, output)


@app.command()
def login(
    url: Annotated[
        str | None,
        typer.Option(
            help="The server; UNIFLOW_URL when not given, else the local one."
        ),
    ] = None,
) -> None:
    """Keep a token for a server, read from a hidden prompt or standard input.

    Example: uniflow login --url https://uniflow.example:8080
    """
    from uniflow.cli import commands

    if sys.stdin.isatty():
        secret = typer.prompt("Token", hide_input=True)
    else:
        secret = sys.stdin.readline()
    if not secret.strip():
        _consoles.err.print(
            "Error: no token was given; paste it at the prompt or pipe it in."
        )
        raise typer.Exit(ExitCode.USAGE)
    commands.login(_consoles.out, _consoles.err, url, secret)


@app.command()
def logout(
    url: Annotated[
        str | None,
        typer.Option(
            help="The server; UNIFLOW_URL when not given, else the local one."
        ),
    ] = None,
) -> None:
    """Forget the token kept for a server.

    The token stays valid on the server until revoked. For the local daemon, the
    next command makes the CLI a new token and revokes the one forgotten.
    """
    from uniflow.cli import commands

    commands.logout(_consoles.out, url)


@auth_app.command("status")
def auth_status(output: OutputOption = Output.TABLE) -> None:
    """Show the server, the token's name, role and expiry, and where it is kept."""
    from uniflow.cli import commands

    raise typer.Exit(commands.auth_status(_consoles.out, _consoles.err, output))


@app.command("audit")
def audit(
    action: Annotated[
        str | None,
        typer.Option(help="Only this action, such as token.create or auth.fail."),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="At most this many.")
    ] = 50,
    output: OutputOption = Output.TABLE,
) -> None:
    """Show who created, rotated and revoked tokens, failed to log in, and
    triggered or cancelled runs, newest first (admin)."""
    from uniflow.cli import commands

    commands.audit_list(_consoles.out, _consoles.err, action, limit, output)


PipelineProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        help="Only this project; by default the one of the current folder, or every "
        "project outside a project folder.",
    ),
]


@pipelines_app.command("list")
def pipelines_list(
    project: PipelineProjectOption = None, output: OutputOption = Output.TABLE
) -> None:
    """List pipelines with their parameters and descriptions.

    Example: uniflow pipelines list --project analysis
    """
    from uniflow.cli import pipelines

    pipelines.list_pipelines(_consoles.out, _consoles.err, project, output)


@pipelines_app.command("show")
def pipelines_show(
    name: Annotated[
        str,
        typer.Argument(
            help="The pipeline's name.",
            callback=_not_blank,
            autocompletion=completion.pipeline_names,
        ),
    ],
    project: PipelineProjectOption = None,
    output: OutputOption = Output.TABLE,
) -> None:
    """Show a pipeline: its description, and each parameter's type, default and
    whether it is required.

    Example: uniflow pipelines show hello
    """
    from uniflow.cli import pipelines

    raise typer.Exit(
        pipelines.show(_consoles.out, _consoles.err, name, project, output)
    )


@projects_app.command("list")
def projects_list(output: OutputOption = Output.TABLE) -> None:
    """List the projects the daemon runs pipelines of, and their folders."""
    from uniflow.cli import commands

    commands.projects_list(_consoles.out, _consoles.err, output)


@projects_app.command("remove")
def projects_remove(
    name: Annotated[
        str, typer.Argument(help="The project's name.", callback=_not_blank)
    ],
    output: OutputOption = Output.TABLE,
) -> None:
    """Forget a registered project; its runs stay in the history.

    Example: uniflow projects remove old-experiments
    """
    from uniflow.cli import commands

    commands.projects_remove(_consoles.out, _consoles.err, name, output)


KeyArgument = Annotated[
    str, typer.Argument(help="A setting as section.key, such as daemon.port.")
]


@config_app.command("get")
def config_get(key: KeyArgument, output: OutputOption = Output.TABLE) -> None:
    """Print the value of a setting in force.

    Example: uniflow config get daemon.port
    """
    from uniflow.cli import commands

    commands.config_get(_consoles.out, key, output)


@config_app.command("set")
def config_set(
    key: KeyArgument,
    value: Annotated[
        str,
        typer.Argument(
            help="The value: a number, true or false, a duration such as 30d, a "
            'list as a,b or ["a", "b"], or text.'
        ),
    ],
    output: OutputOption = Output.TABLE,
) -> None:
    """Write a setting to config.toml, keeping the others.

    Example: uniflow config set tokens.max_lifetime 365d
    """
    from uniflow.cli import commands

    commands.config_set(_consoles.out, _consoles.err, key, value, output)


@config_app.command("unset")
def config_unset(key: KeyArgument, output: OutputOption = Output.TABLE) -> None:
    """Remove a setting from config.toml, so that its default applies again.

    Example: uniflow config unset daemon.port
    """
    from uniflow.cli import commands

    commands.config_unset(_consoles.out, _consoles.err, key, output)


@config_app.command("list")
def config_list(
    show_origin: Annotated[
        bool,
        typer.Option(
            "--show-origin",
            help="Say where each value comes from: env:VARIABLE, file:PATH or default.",
        ),
    ] = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """List every setting in force.

    Values come from UNIFLOW_<SECTION>_<KEY> environment variables, then
    config.toml, then the defaults.

    Example: uniflow config list --show-origin
    """
    from uniflow.cli import commands

    commands.config_list(_consoles.out, show_origin, output)


@app.command()
def tui() -> None:
    """Open the terminal UI: live runs, pipelines, and Settings > API Tokens.

    It uses the same server and token as the other commands, and starts the
    local daemon when none answers. Press Ctrl+P for every command, q to quit.

    Example: uniflow tui
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # Textual would draw into the file or pipe and wait for keys forever.
        _consoles.err.print(
            "uniflow tui needs a terminal for its input and output; in scripts, "
            "use the other commands, such as `uniflow runs list`."
        )
        raise typer.Exit(ExitCode.USAGE)
    # Imported here: Textual takes a while to load, and no other command needs it.
    from uniflow.cli.tui.app import UniFlowApp

    UniFlowApp().run()


@app.command("completion")
def completion_script(
    shell: Annotated[completion.Shell, typer.Argument(help="The shell.")],
) -> None:
    """Print the script that completes uniflow's commands, options, pipeline names
    and run ids in a shell; load it from the shell's startup file.

    Example: uniflow completion fish > ~/.config/fish/completions/uniflow.fish
    """
    # Not through rich: the script must come out exactly as written.
    print(completion.script(shell))


HostOption = Annotated[
    str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
]
PortOption = Annotated[
    int | None, typer.Option(min=0, max=65535, help="Port (default 8080; 0 = any).")
]


@daemon_app.command("start")
def daemon_start(host: HostOption = None, port: PortOption = None) -> None:
    """Start the daemon in the background and wait until it answers."""
    from uniflow.cli import commands

    commands.daemon_start(_consoles.out, host, port)


@daemon_app.command("stop")
def daemon_stop() -> None:
    """Stop the background daemon."""
    from uniflow.cli import commands

    commands.daemon_stop(_consoles.out)


@daemon_app.command("status")
def daemon_status(output: OutputOption = Output.TABLE) -> None:
    """Say whether the daemon runs, where, since when, and how many runs it has.

    Exits 3 when no daemon answers.
    """
    from uniflow.cli import commands

    raise typer.Exit(commands.daemon_status(_consoles.out, _consoles.err, output))


@daemon_app.command("run")
def daemon_run(host: HostOption = None, port: PortOption = None) -> None:
    """Run the daemon in the foreground until Ctrl-C."""
    from uniflow.cli import commands

    raise typer.Exit(commands.daemon_run(host, port))


def _refuse_secret_arguments(args: list[str]) -> None:
    """Stop before anything is done when an argument holds a token's secret.

    Every user of the machine can read a process's arguments, and an error about
    a misplaced one would print it again.
    """
    from uniflow import tokens

    if any(tokens.holds_secret(arg) for arg in args):
        _consoles.err.print(
            "Error: an argument holds a token's secret. Secrets are never given as "
            "arguments: every user of this machine can read those (`ps`). Nothing "
            "was done. Give a token with `uniflow login` (it reads standard input) "
            "or UNIFLOW_TOKEN, and rotate this one, as others may have seen it."
        )
        sys.exit(ExitCode.USAGE)


def main(argv: list[str] | None = None) -> Any:
    """Run the command line and turn UniFlow's errors into messages and exit codes.

    Usage errors are left to typer, which prints them and exits with 2.
    """
    from uniflow.errors import UniFlowError

    args = sys.argv[1:] if argv is None else argv
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            _consoles.err.print(f"Error: the argument {arg!r} is not valid UTF-8 text.")
            sys.exit(ExitCode.USAGE)
    if any("uf_" in arg for arg in args):
        _refuse_secret_arguments(args)
    if completion.COMPLETE_VAR in os.environ:
        completion.prepare()
    try:
        app(args=argv, prog_name="uniflow")
    except (UniFlowError, OSError) as exc:
        # OSError: a file UniFlow keeps (a lock, the state, the store) cannot be
        # used; no command expects that.
        if os.environ.get("UNIFLOW_DEBUG"):
            raise
        from uniflow.cli.commands import error_message, exit_code
        from uniflow.cli.render import plain

        _consoles.err.print(plain("Error: ", "red") + plain(error_message(exc)))
        sys.exit(exit_code(exc))


if __name__ == "__main__":
    main()
