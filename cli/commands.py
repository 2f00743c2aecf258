"""What each ``uniflow`` command does: parse, call the core or the server, render.

Kept apart from ``main.py`` so that ``uniflow --version`` and ``--help`` import
none of it. What only some commands need (following a run, reading a project,
checking parameters) is imported by those commands.
"""

from __future__ import annotations

import codecs
import os
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from uniflow import config, credentials, durations, tokens
from uniflow.cli import daemon_control, render
from uniflow.cli.session import Session, call, open_session, rotate
from uniflow.cli.status import ExitCode, Output
from uniflow.client import FINISHED, Client, check_url
from uniflow.daemon.server import check_host, is_loopback
from uniflow.errors import (
    APIError,
    AuthenticationError,
    ConfigError,
    CredentialError,
    DaemonNotRunning,
    DurationError,
    FieldError,
    ParameterError,
    PermissionDenied,
    PipelineNotFound,
    RequestError,
    TokenError,
    UniFlowError,
)
from uniflow.tokens import Role

if TYPE_CHECKING:
    from uniflow.daemon_state import DaemonState


def exit_code(exc: UniFlowError | OSError) -> ExitCode:
    """Return the exit code for an error that reached the command line."""
    if isinstance(exc, DaemonNotRunning):
        return ExitCode.DAEMON_UNREACHABLE
    if isinstance(exc, AuthenticationError):
        return ExitCode.NOT_AUTHENTICATED
    usage = ParameterError | TokenError | ConfigError | DurationError | RequestError
    if isinstance(exc, usage):
        return ExitCode.USAGE
    if isinstance(exc, APIError):
        if exc.status == 401:
            return ExitCode.NOT_AUTHENTICATED
        if exc.status == 409 and "run_status" in exc.body:
            return ExitCode.FAILURE  # the run has ended: nothing wrong was typed
        if exc.status in (400, 409, 413, 415, 422):
            return ExitCode.USAGE
    return ExitCode.FAILURE


def error_message(exc: UniFlowError | OSError) -> str:
    """Return what to say about an error that reached the command line: its
    message, and for a refused token where to get a valid one."""
    if isinstance(exc, OSError):
        # The data folder is read-only, full or someone else's.
        where = f" ({exc.filename})" if exc.filename else ""
        return (
            f"{exc.strerror or exc}{where}. Check that UniFlow's data folder is "
            "yours, can be written and has room, or set UNIFLOW_HOME to one that "
            "does."
        )
    # A secret typed where a name goes would otherwise be quoted back.
    text = tokens.mask_secrets(str(exc))
    if exit_code(exc) is not ExitCode.NOT_AUTHENTICATED:
        return text
    if "uniflow login" in text or credentials.TOKEN_ENV in text:
        return text
    if os.environ.get(credentials.TOKEN_ENV, "").strip():
        return (
            f"{text} The token comes from {credentials.TOKEN_ENV}: set it to a valid "
            "one, or unset it to use the token kept for this server (the local "
            "daemon's is made for you; for another server, `uniflow login`)."
        )
    return f"{text} Get a valid token and keep it with `uniflow login`."


# Runs


def run(
    out: Console,
    err: Console,
    pipeline: str,
    texts: list[str],
    project: str | None,
    wait: bool,
    output: Output,
    *,
    follow: bool = False,
) -> int:
    """Trigger a run, optionally wait for it or follow it, and return the exit code."""
    pairs = [_split_param(text) for text in texts]
    session = open_session(err)

    def trigger(client: Client) -> dict[str, Any]:
        name = project or _register_current_project(client)
        described = {p["name"]: p for p in client.list_pipelines(project=name)}
        if pipeline not in described:
            raise PipelineNotFound(pipeline, project=name, available=sorted(described))
        schema = described[pipeline]["parameters"]
        values = _parse_params(schema, pairs, pipeline)
        return client.trigger_run(pipeline, values, project=name)

    started = call(session, err, trigger)
    if follow:
        return _follow(out, err, session, started, output)
    if not wait:
        if output is Output.JSON:
            render.print_json(out, started)
        else:
            out.print(started["run_id"])
        return ExitCode.OK

    err.print(
        render.plain(
            f"Run {started['run_id']} of {pipeline!r} queued in project "
            f"{started['project']!r}; waiting for it to finish."
        )
    )
    try:
        with session.client() as client:
            finished = _wait(client, started["run_id"])
    except KeyboardInterrupt:
        err.print(
            f"Stopped waiting; run {started['run_id']} goes on. See it with "
            f"`uniflow runs show {started['run_id']}`."
        )
        return ExitCode.INTERRUPTED

    code = _outcome(out, finished, output, shown=False)
    if code != ExitCode.OK:
        run_id = finished["run_id"]
        err.print(
            render.plain(
                f"Run {run_id} {finished['status']}; read its output with "
                f"`uniflow runs logs {run_id}`."
            )
        )
    return code


def _follow(
    out: Console,
    err: Console,
    session: Session,
    started: dict[str, Any],
    output: Output,
) -> int:
    """Show a run's steps and output until it ends; with JSON, on stderr."""
    from uniflow.cli.follow import follow_run

    run_id = started["run_id"]
    err.print(
        render.plain(
            f"Run {run_id} of {started['pipeline_name']!r} queued in project "
            f"{started['project']!r}; following it."
        )
    )
    try:
        finished = follow_run(
            session.client,
            run_id,
            err if output is Output.JSON else out,
            details=output is not Output.JSON,
        )
    except KeyboardInterrupt:
        err.print(
            f"Stopped following; run {run_id} goes on. See it again with "
            f"`uniflow runs logs {run_id} -f` or `uniflow runs show {run_id}`."
        )
        return ExitCode.INTERRUPTED
    return _outcome(out, finished, output, shown=True)


def _outcome(
    out: Console, finished: dict[str, Any], output: Output, *, shown: bool
) -> int:
    """Print an ended run (its JSON, or its details unless ``shown`` already) and
    return the exit code its status calls for."""
    if output is Output.JSON:
        render.print_json(out, finished)
    elif not shown:
        render.run_details(out, finished)
    return ExitCode.OK if finished["status"] == "success" else ExitCode.FAILURE


def _wait(client: Client, run_id: str) -> dict[str, Any]:
    delay = 0.1
    while True:
        run = client.get_run(run_id)
        if run["status"] in FINISHED:
            return run
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def _split_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ParameterError(
            [FieldError(text, "write parameters as name=value, e.g. -p epochs=50")]
        )
    return name.strip(), value


def _parse_params(
    schema: dict[str, Any], pairs: list[tuple[str, str]], pipeline: str
) -> dict[str, Any]:
    from uniflow import parameters

    values: dict[str, Any] = {}
    problems: list[FieldError] = []
    for name, text in pairs:
        try:
            values[name] = parameters.parse_text(schema, name, text)
        except ParameterError as exc:
            problems.extend(exc.errors)
    if problems:
        raise ParameterError(problems, pipeline=pipeline)
    # Check here too, so a bad value is refused before anything is sent; the
    # daemon fills in the defaults.
    parameters.resolve(schema, values, pipeline=pipeline)
    return values


def _register_current_project(client: Client) -> str:
    from uniflow import projects

    return current_project(client) or projects.DEFAULT_PROJECT


def current_project(client: Client) -> str | None:
    """Return the name of the project the current folder is in, registering it
    with the server first when needed; None outside any project folder."""
    from uniflow import projects

    project = projects.find(Path.cwd())
    if project is None:
        return None
    known = {p["name"]: p["path"] for p in client.list_projects()}
    if known.get(project.name) != str(project.root):
        try:
            client.register_project(project.name, str(project.root))
        except PermissionDenied as exc:
            raise PermissionDenied(
                f"The project {project.name!r} in {project.root} is not registered "
                f"with the server, and registering it was refused: {exc} Ask an "
                "admin to register it (`uniflow pipelines list` run in its folder "
                "with an admin token does), or pass --project with a registered one."
            ) from None
    return project.name


def runs_list(
    out: Console,
    err: Console,
    pipeline: str | None,
    status: str | None,
    limit: int,
    output: Output,
) -> None:
    """Print runs, newest first."""
    session = open_session(err)
    found = call(
        session,
        err,
        lambda c: c.list_runs(pipeline_name=pipeline, status=status, limit=limit),
    )
    if output is Output.JSON:
        render.print_json(out, found)
    elif not found and (pipeline is not None or status is not None):
        err.print("No runs match these filters.")
    elif not found:
        err.print("No runs yet; start one with `uniflow run PIPELINE`.")
    else:
        out.print(render.runs_table(found))


def runs_show(out: Console, err: Console, run_id: str, output: Output) -> None:
    """Print one run."""
    session = open_session(err)
    found = call(session, err, lambda c: c.get_run(run_id))
    if output is Output.JSON:
        render.print_json(out, found)
    else:
        render.run_details(out, found)


def runs_cancel(
    out: Console, err: Console, run_id: str, wait: bool, output: Output
) -> None:
    """Cancel a run, and by default wait until it has ended."""
    session = open_session(err)
    run = call(session, err, lambda c: c.cancel_run(run_id))
    if wait and run["status"] not in FINISHED:
        err.print(render.plain(f"Stopping run {run_id}..."))
        run = call(session, err, lambda c: c.wait_for_run(run_id, interval=0.2))

    if output is Output.JSON:
        render.print_json(out, run)
    elif run["status"] in FINISHED:
        out.print(render.plain(f"Run {run_id} is {run['status']}."))
    else:
        out.print(
            render.plain(
                f"Run {run_id} is stopping; `uniflow runs show {run_id}` says when "
                "it has ended."
            )
        )


def runs_logs(out: Console, err: Console, run_id: str, follow: bool) -> int:
    """Print a run's output as it was written, or follow it until the run ends;
    return the exit code."""
    session = open_session(err)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(data: bytes, final: bool = False) -> None:
        # Raw lines, as the pipeline printed them, less the control characters
        # that could drive the terminal (a run's output may quote its parameters).
        out.file.write(render.LOG_CONTROL.sub("\ufffd", decoder.decode(data, final)))
        out.file.flush()

    def show(client: Client) -> None:
        if follow:
            from uniflow.cli.follow import stream_logs

            # Polls instead when the daemon already streams as many logs as it may.
            for data in stream_logs(client, run_id):
                write(data)
            return
        offset = 0
        while True:
            data, offset, _ = client.run_logs(run_id, offset=offset)
            if not data:
                return
            write(data)

    try:
        call(session, err, show)
    except KeyboardInterrupt:
        write(b"", final=True)
        err.print(
            f"Stopped following; run {run_id} goes on. Stop it with "
            f"`uniflow runs cancel {run_id}`."
        )
        return ExitCode.INTERRUPTED
    write(b"", final=True)
    return ExitCode.OK


def runs_prune(out: Console, err: Console, older_than: str, output: Output) -> None:
    """Delete the runs that ended longer ago than ``older_than``."""
    session = open_session(err)
    pruned = call(session, err, lambda c: c.prune_runs(older_than))
    if output is Output.JSON:
        render.print_json(out, pruned)
        return

    count = pruned["deleted"]
    out.print(
        render.plain(
            f"Deleted {count} {'run' if count == 1 else 'runs'} that ended before "
            f"{pruned['finished_before']}."
        )
    )


# Tokens


def token_create(
    out: Console,
    err: Console,
    name: str,
    role: Role,
    output: Output,
    *,
    project: str | None = None,
    expires_in: str | None = None,
    expires_at: str | None = None,
    no_expiry: bool = False,
) -> None:
    """Create a token and print its secret once."""
    session = open_session(err)
    created = call(
        session,
        err,
        lambda c: c.create_token(
            name,
            role.value,
            project=project,
            expires_in=expires_in,
            expires_at=expires_at,
            no_expiry=no_expiry,
        ),
    )
    _show_secret(out, err, created, output, "Created")


def _token_fields(token: dict[str, Any]) -> dict[str, Any]:
    """Return what --output json shows of a created or rotated token, its secret
    aside."""
    keys = ("token_id", "name", "role", "project", "created_at", "expires_at")
    shown = {k: token[k] for k in keys}
    if "old_revoked_at" in token:
        shown["old_revoked_at"] = token["old_revoked_at"]
    return shown


def _show_secret(
    out: Console, err: Console, token: dict[str, Any], output: Output, done: str
) -> None:
    if output is Output.JSON:
        render.print_json(out, {**_token_fields(token), "secret": token["secret"]})
        return

    reach = f", project {token['project']}" if token["project"] else ""
    expires = token["expires_at"] or "never"
    err.print(
        render.plain(
            f"{done} token {token['name']!r} ({token['token_id']}, role "
            f"{token['role']}{reach}, expires {expires}). Copy the secret now: it "
            "will not be shown again."
        )
    )
    out.print(token["secret"], soft_wrap=True)


def token_list(out: Console, err: Console, output: Output) -> None:
    """Print every token without secrets."""
    session = open_session(err)
    found = call(session, err, lambda c: c.list_tokens())
    if output is Output.JSON:
        render.print_json(out, found)
    else:
        out.print(render.tokens_table(found))


def _check_token_id(token_id: str) -> None:
    # A secret given as an id would travel in a URL and land in server logs.
    if tokens.mask_secrets(token_id) != token_id:
        raise TokenError(
            "--token-id was given a token's secret, not its id; ids look like "
            "tok_5d41402abc4b (`uniflow token list` shows them). Nothing was sent."
        )


def token_revoke(out: Console, err: Console, token_id: str, output: Output) -> None:
    """Revoke a token."""
    _check_token_id(token_id)
    session = open_session(err)
    token = call(session, err, lambda c: c.revoke_token(token_id))
    if output is Output.JSON:
        render.print_json(out, token)
        return
    out.print(render.plain(f"Revoked token {token['name']!r} ({token['token_id']})."))


def token_rotate(
    out: Console, err: Console, token_id: str, grace: str | None, output: Output
) -> None:
    """Replace a token with a new one; keep the secret when it is the CLI's own."""
    _check_token_id(token_id)
    if grace is not None:
        durations.parse(grace)  # refused here, before the server is asked
    session = open_session(err)
    rotation = rotate(session, err, token_id, grace)
    rotated = rotation.token
    if rotation.kept_in is None:
        _show_secret(out, err, rotated, output, "Rotated into")
        if output is not Output.JSON:
            err.print(render.plain(_old_token_ends(rotated)))
        if rotation.not_kept is not None:
            raise CredentialError(
                f"{rotation.not_kept} The new secret above could not be kept, so "
                f"this CLI still holds the old one: set {credentials.TOKEN_ENV} to "
                f"the new one, or keep it with `uniflow login --url {session.url}` "
                "once the keyring works."
            )
        if rotation.own:
            also = (
                f" The copy kept in the {rotation.also_kept_in} was replaced too."
                if rotation.also_kept_in
                else ""
            )
            err.print(
                render.plain(
                    f"This was the token in {credentials.TOKEN_ENV}; set it to the "
                    f"new secret.{also}",
                    "yellow",
                )
            )
        return

    if output is Output.JSON:
        render.print_json(out, _token_fields(rotated))
        return
    out.print(
        render.plain(
            f"Rotated the CLI's own token {rotated['name']!r} into "
            f"{rotated['token_id']}; the new secret replaces the old one in the "
            f"{rotation.kept_in}. {_old_token_ends(rotated)}"
        )
    )


def _old_token_ends(rotated: dict[str, Any]) -> str:
    ends = rotated.get("old_revoked_at")
    if not ends or ends <= rotated["created_at"]:
        return "The old token no longer works."
    # Said even when asked for: a grace is cut short at the old token's expiry.
    return f"The old token works until {render.short_time(ends)} UTC."


# Logging in to servers


def login(out: Console, err: Console, url: str | None, secret: str) -> None:
    """Check a token against a server and keep it for that server."""
    target = _server_url(url)
    secret = secret.strip()
    tokens.check_format(secret)
    with Client(target, secret) as client:
        token = client.own_token()
    stored = credentials.store(target, secret)
    if stored.fallback:
        err.print(
            render.plain(
                f"No OS keyring works here; the token is kept in plain text in "
                f"{stored.location}, readable by you only.",
                "yellow",
            )
        )
    out.print(
        render.plain(
            f"Logged in to {target} as {token['name']!r} (role {token['role']}, "
            f"expires {token['expires_at'] or 'never'}); the token is kept in the "
            f"{stored.location}."
        )
    )


def logout(out: Console, url: str | None) -> None:
    """Forget the token kept for a server."""
    from uniflow.servers import URL_ENV

    target = _server_url(url)
    if credentials.delete(target):
        out.print(render.plain(f"Forgot the token for {target}."))
        if not url and not os.environ.get(URL_ENV, "").strip():
            out.print(
                render.plain(
                    "The next command makes the CLI a new token for the local "
                    "daemon and revokes the one forgotten."
                )
            )
    else:
        out.print(render.plain(f"No token was kept for {target}."))


def auth_status(out: Console, err: Console, output: Output) -> int:
    """Show the server, the token in use and where it is kept; 4 if it fails."""
    session = open_session(err, start=False, provision=False)
    credential = session.credential
    shown: dict[str, Any] = {
        "server": session.url,
        "credential": credential.source if credential else None,
        "secret": credential.masked() if credential else None,
    }
    failure = None
    if credential is None and session.local:
        failure = (
            "no token is kept for the local daemon; the next command that needs "
            "one makes it (`uniflow token list`, say)."
        )
    elif credential is None:
        failure = "no token is kept for this server; run `uniflow login`."
    else:
        try:
            with session.client() as client:
                shown["token"] = client.own_token()
        except APIError as exc:
            if exc.status != 401:
                raise
            failure = f"the server refuses the token: {exc.detail}"
    if failure:
        shown["problem"] = failure
    if output is Output.JSON:
        render.print_json(out, shown)
    else:
        out.print(render.auth_status(shown))
    return ExitCode.NOT_AUTHENTICATED if failure else ExitCode.OK


def _server_url(url: str | None) -> str:
    from uniflow.servers import URL_ENV

    given = url or os.environ.get(URL_ENV, "").strip()
    if given:
        return check_url(given)
    settings = config.load()
    return daemon_control.running_url() or daemon_control.client_url(
        settings.host, settings.port
    )


def audit_list(
    out: Console, err: Console, action: str | None, limit: int, output: Output
) -> None:
    """Print the newest audit events."""
    session = open_session(err)
    found = call(session, err, lambda c: c.audit(action=action, limit=limit))
    if output is Output.JSON:
        render.print_json(out, found)
    else:
        out.print(render.audit_table(found))


# Projects


def init(out: Console, folder: Path | None, name: str | None) -> None:
    """Create a project with an example pipeline in ``folder``, the current one
    when None; its name is the folder's unless ``name`` is given."""
    from uniflow import projects, scaffold

    root = (folder or Path.cwd()).resolve()
    if name is None:
        name = root.name
        try:
            projects.validate_name(name)
        except ConfigError:
            where = f" {shlex.quote(str(folder))}" if folder else ""
            again = f"uniflow init{where} --name {scaffold.suggest_name(name)}"
            raise ConfigError(
                f"The folder's name {name!r} is not a valid project name (1 to 64 "
                "letters, digits, '_', '.' or '-', starting with a letter or "
                f"digit); give the project one with --name, such as `{again}`."
            ) from None

    created = scaffold.create(root, name)
    written = ", ".join(str(p) for p in created.files)
    out.print(render.plain(f"Created project {name!r} in {created.root}: {written}."))
    command = f"uniflow run {scaffold.EXAMPLE_PIPELINE} --wait"
    if created.root != Path.cwd().resolve():
        command = f"cd {shlex.quote(_shown_path(created.root))} && {command}"
    out.print(render.plain(f"Run its example pipeline: {command}"))


def _shown_path(path: Path) -> str:
    """Return ``path`` relative to the current folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def projects_list(out: Console, err: Console, output: Output) -> None:
    """Print the registered projects."""
    session = open_session(err)
    found = call(session, err, lambda c: c.list_projects())
    if output is Output.JSON:
        render.print_json(out, found)
    elif not found:
        err.print("No projects yet; `uniflow run` inside a project folder adds it.")
    else:
        out.print(render.projects_table(found))


def projects_remove(out: Console, err: Console, name: str, output: Output) -> None:
    """Forget a registered project."""
    session = open_session(err)
    removed = call(session, err, lambda c: c.remove_project(name))
    if output is Output.JSON:
        render.print_json(out, removed)
        return
    out.print(render.plain(f"Removed project {removed['name']!r} ({removed['path']})."))


# Daemon


def daemon_start(out: Console, host: str | None, port: int | None) -> None:
    """Start the daemon in the background unless one runs."""
    settings = config.load()
    host = host or settings.host
    port = settings.port if port is None else port
    check_host(host, settings)
    state, started = daemon_control.start(host, port)
    if started:
        out.print(
            render.plain(f"UniFlow daemon started at {state.url} (pid {state.pid}).")
        )
    else:
        out.print(
            render.plain(
                f"A UniFlow daemon already runs at {state.url} (pid {state.pid})."
            )
        )
        if port and not state.url.endswith(f":{port}"):
            out.print(
                f"To move it to port {port}, stop it first: `uniflow daemon stop`."
            )
    if started and not is_loopback(host):
        out.print(
            f"It listens on {host}: other machines can reach the API, protected "
            "only by tokens.",
            style="yellow",
        )
    from uniflow import projects

    project = projects.find(Path.cwd())
    if project is not None:
        session = open_session(out, start=False)
        call(session, out, _register_current_project)
        out.print(
            render.plain(f"Project {project.name!r} registered from {project.root}.")
        )


def daemon_stop(out: Console) -> None:
    """Stop the background daemon, letting running runs finish within the grace."""
    # The daemon's own graces, which its environment may have set: this shell's
    # settings are only a guess for a record written before daemons kept them.
    settings = config.load()
    running = daemon_control.current()
    stop_grace, cancel_grace = settings.stop_grace, settings.cancel_grace
    if running is not None:
        stop_grace = _or(running.stop_grace, stop_grace)
        cancel_grace = _or(running.cancel_grace, cancel_grace)
        out.print(
            f"Stopping the UniFlow daemon; running runs get {stop_grace} s "
            "to finish, then are cancelled. Queued runs wait for the next start."
        )
    state = daemon_control.stop(stop_grace + cancel_grace + 10)
    if state is None:
        out.print("No UniFlow daemon is running.")
    else:
        out.print(render.plain(f"Stopped the UniFlow daemon (pid {state.pid})."))


def _or(value: int | None, fallback: int) -> int:
    return fallback if value is None else value


def daemon_status(out: Console, err: Console, output: Output) -> int:
    """Print the daemon's address and load; return 3 when no daemon answers."""
    state = daemon_control.current()
    if state is None or not daemon_control.healthy(state.url):
        err.print(render.plain(_daemon_missing(state)))
        return ExitCode.DAEMON_UNREACHABLE

    # One shape whatever the daemon tells: /api/v1/status's keys are null when it
    # cannot be asked (its token refused, say), and the reason goes to stderr.
    shown: dict[str, Any] = {
        "url": state.url,
        "pid": state.pid,
        "started_at": state.started_at,
        **dict.fromkeys(("version", "accepting_runs", "max_concurrent_runs", "runs")),
    }
    try:
        shown.update(call(open_session(err, start=False), err, Client.status))
    except UniFlowError as exc:
        err.print(render.plain(f"Its runs cannot be counted: {exc}"))

    if output is Output.JSON:
        render.print_json(out, shown)
    else:
        _print_daemon_status(out, shown)
    return ExitCode.OK


def _daemon_missing(state: DaemonState | None) -> str:
    """Say why no daemon answers, and what to do about it."""
    holder = None if state else daemon_control.lock_holder()
    if holder is not None:
        return (
            f"A UniFlow daemon (pid {holder}) runs for this data folder, but its "
            "daemon.json is gone; restart it: `uniflow daemon stop`, then start."
        )
    if state is None:
        return "No UniFlow daemon is running; start one with `uniflow daemon start`."
    return (
        f"The daemon (pid {state.pid}) does not answer at {state.url}; restart it: "
        "`uniflow daemon stop`, then `uniflow daemon start`."
    )


def _print_daemon_status(out: Console, shown: dict[str, Any]) -> None:
    out.print(
        render.plain(
            f"UniFlow daemon running at {shown['url']} (pid {shown['pid']}, "
            f"since {shown['started_at']})."
        )
    )
    runs = shown["runs"]
    if runs is None:
        return
    out.print(
        f"Runs: {runs['running']} running, {runs['queued']} queued "
        f"(at most {shown['max_concurrent_runs']} at once)."
    )
    if not shown["accepting_runs"]:
        out.print("It is stopping: running runs may finish, new ones are refused.")


def daemon_run(host: str | None, port: int | None) -> int:
    """Serve in the foreground."""
    from uniflow.daemon.server import main

    settings = config.load()
    argv = ["--host", host or settings.host]
    argv += ["--port", str(settings.port if port is None else port)]
    return main(argv)


# Settings


def config_get(out: Console, key: str, output: Output) -> None:
    """Print the value in force of one setting."""
    entry = config.get(key)
    if output is Output.JSON:
        render.print_json(out, render.setting_record(entry))
    else:
        out.print(render.plain(render.setting_text(entry.value)))


def config_list(out: Console, show_origin: bool, output: Output) -> None:
    """Print every setting in force, and with ``show_origin`` where each comes from."""
    found = config.entries()
    if output is Output.JSON:
        render.print_json(out, [render.setting_record(entry) for entry in found])
    else:
        out.print(render.settings_table(found, show_origin=show_origin))


def config_set(
    out: Console, err: Console, key: str, value: str, output: Output
) -> None:
    """Write a setting to the config file."""
    change = config.set_value(key, value)
    if output is Output.JSON:
        render.print_json(out, render.change_record(change))
    else:
        shown = render.setting_toml(change.value)
        out.print(render.plain(f"Set {key} = {shown} in {change.path}."))
    _config_warnings(err, change)


def config_unset(out: Console, err: Console, key: str, output: Output) -> None:
    """Remove a setting from the config file; an absent one is no error."""
    change = config.unset(key)
    if output is Output.JSON:
        render.print_json(out, render.change_record(change))
    elif not change.changed:
        out.print(render.plain(f"{key} is not set in {change.path}; nothing to do."))
    else:
        out.print(render.plain(f"Removed {key} from {change.path}."))
    if change.changed:
        _config_warnings(err, change)


def _config_warnings(err: Console, change: config.Change) -> None:
    # What keeps the file's new contents from taking effect.
    if change.overridden_by:
        err.print(
            render.plain(
                f"{change.overridden_by} is set and takes precedence over the file; "
                "unset it for the file's value to apply.",
                "yellow",
            )
        )
    if change.problem is not None:
        err.print(
            render.plain(
                f"The file still has a problem: {change.problem} Fix it with "
                "`uniflow config set` or `uniflow config unset`, or in an editor.",
                "yellow",
            )
        )
    if change.key in ("daemon.host", "daemon.allow_remote"):
        try:
            settings = config.load()
            check_host(settings.host, settings)
        except UniFlowError as refused:
            err.print(render.plain(f"The daemon will not start: {refused}", "yellow"))
    if change.changed and daemon_control.current() is not None:
        err.print(
            "The running daemon keeps its settings until it restarts: "
            "`uniflow daemon stop`, then `uniflow daemon start`."
        )
