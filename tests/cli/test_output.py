"""``--output json`` gives the API's shape on stdout alone; piped output and
``NO_COLOR`` get no escape codes.

One table lists every list and show command, and the action commands that print
their result. Each gives JSON that is compared with the same object fetched with
:class:`uniflow.Client`: in full where it cannot change between the two reads,
else key by key.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from uniflow import Client

FIXTURE_PROJECT = Path(__file__).resolve().parents[1] / "fixtures" / "project"
SETTING_KEYS = {"key", "value", "origin"}
CHANGE_KEYS = {"key", "value", "path", "changed", "overridden_by"}


@dataclass
class Context:
    """The shared daemon, a client of it, and the objects a command acts on."""

    daemon: Any
    client: Client
    scratch: Path
    ids: dict[str, str]


@dataclass(frozen=True)
class Case:
    """A command, and what its JSON must be."""

    args: tuple[str, ...]
    """The arguments; ``{name}`` takes the id ``prepare`` made under that name."""
    api: Callable[[Context], Any]
    """The same object from the API (or the keys it must have, as a set)."""
    exact: bool = False
    """Compare the whole value, not only the keys."""
    prepare: Callable[[Context], dict[str, str]] | None = None
    """Make what the command acts on; it runs before the API is asked."""


def _finished_run(ctx: Context) -> dict[str, str]:
    run_id = ctx.client.trigger_run("hello", project="testproj")["run_id"]
    ctx.client.wait_for_run(run_id, interval=0.1)
    return {"run_id": run_id}


def _running_run(ctx: Context) -> dict[str, str]:
    run = ctx.client.trigger_run("sleepy", {"seconds": 60}, project="testproj")
    return {"run_id": run["run_id"]}


def _token(ctx: Context) -> dict[str, str]:
    made = ctx.client.create_token(f"out-{uuid.uuid4().hex[:8]}", "viewer")
    return {"token_id": made["token_id"]}


def _project(ctx: Context) -> dict[str, str]:
    name = f"out-{uuid.uuid4().hex[:8]}"
    root = ctx.scratch / name
    shutil.copytree(FIXTURE_PROJECT, root, ignore=shutil.ignore_patterns("__pycache__"))
    toml = root / "uniflow.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(re.sub(r'(?m)^name = ".*"$', f'name = "{name}"', text), "utf-8")
    ctx.client.register_project(name, str(root))
    return {"project": name}


def _token_of(ctx: Context) -> dict[str, Any]:
    return next(
        t for t in ctx.client.list_tokens() if t["token_id"] == ctx.ids["token_id"]
    )


def _project_of(ctx: Context) -> dict[str, Any]:
    return next(
        p for p in ctx.client.list_projects() if p["name"] == ctx.ids["project"]
    )


def _daemon_status(ctx: Context) -> dict[str, Any]:
    state = json.loads((ctx.daemon.home / "daemon.json").read_text("utf-8"))
    where = {k: state[k] for k in ("url", "pid", "started_at")}
    return {**where, **ctx.client.status()}


def _hello(ctx: Context) -> dict[str, Any]:
    found = ctx.client.list_pipelines(project="testproj")
    return next(p for p in found if p["name"] == "hello")


CASES = {
    "runs list": Case(
        ("runs", "list", "--limit", "5"), lambda ctx: ctx.client.list_runs(limit=5)
    ),
    "runs show": Case(
        ("runs", "show", "{run_id}"),
        lambda ctx: ctx.client.get_run(ctx.ids["run_id"]),
        exact=True,
        prepare=_finished_run,
    ),
    "pipelines list": Case(
        ("pipelines", "list", "--project", "testproj"),
        lambda ctx: ctx.client.list_pipelines(project="testproj"),
        exact=True,
    ),
    "pipelines show": Case(
        ("pipelines", "show", "hello", "--project", "testproj"), _hello, exact=True
    ),
    "projects list": Case(("projects", "list"), lambda ctx: ctx.client.list_projects()),
    "token list": Case(("token", "list"), lambda ctx: ctx.client.list_tokens()),
    "audit": Case(("audit", "--limit", "5"), lambda ctx: ctx.client.audit(limit=5)),
    "auth status": Case(
        ("auth", "status"),
        lambda ctx: {"server", "credential", "secret", "token"},
    ),
    "daemon status": Case(("daemon", "status"), _daemon_status),
    "config get": Case(("config", "get", "daemon.port"), lambda ctx: SETTING_KEYS),
    "config list": Case(("config", "list"), lambda ctx: SETTING_KEYS),
    "runs cancel": Case(
        ("runs", "cancel", "{run_id}"),
        lambda ctx: ctx.client.get_run(ctx.ids["run_id"]),
        exact=True,
        prepare=_running_run,
    ),
    "runs prune": Case(
        ("runs", "prune", "--older-than", "3650d"),
        lambda ctx: ctx.client.prune_runs("3650d"),
    ),
    "token revoke": Case(
        ("token", "revoke", "--token-id", "{token_id}"),
        _token_of,
        exact=True,
        prepare=_token,
    ),
    "projects remove": Case(
        ("projects", "remove", "{project}"), _project_of, exact=True, prepare=_project
    ),
}
# Settings are written to a home of the test's own, not the shared daemon's.
CONFIG_CASES = {
    "config set": ("config", "set", "tokens.default_lifetime", "30d"),
    "config unset": ("config", "unset", "tokens.default_lifetime"),
}


@pytest.fixture
def context(cli_daemon, tmp_path) -> Any:
    with Client(cli_daemon.url, cli_daemon.cli_secret()) as client:
        yield Context(cli_daemon, client, tmp_path, {})


def _run(ctx: Context, case: Case, *options: str, **env: str) -> Any:
    """Prepare what the case acts on and run its command in the test project."""
    ctx.ids = case.prepare(ctx) if case.prepare else {}
    # The object a command removes is only to be read before it is gone.
    before = case.api(ctx) if case.args[1] == "remove" else None
    args = [arg.format(**ctx.ids) for arg in case.args]
    done = ctx.daemon.cli(*args, *options, cwd=ctx.daemon.project, **env)
    return done, before


def _keys(value: Any) -> set[str]:
    """The keys of an object, or of every item of a list."""
    items = value if isinstance(value, list) else [value]
    return {key for item in items for key in item}


@pytest.mark.parametrize("name", CASES)
def test_json_output_has_the_api_shape(context, name):
    case = CASES[name]

    done, before = _run(context, case, "--output", "json")

    assert done.code == 0, done
    assert "\x1b" not in done.out + done.err
    shown = json.loads(done.out)
    expected = before if before is not None else case.api(context)
    if isinstance(expected, set):
        assert _keys(shown) == expected, name
    elif case.exact:
        assert shown == expected, name
    else:
        assert type(shown) is type(expected), name
        assert _keys(shown) == _keys(expected), name
        if isinstance(expected, list):
            assert shown and expected, name


@pytest.mark.parametrize("name", CONFIG_CASES)
def test_config_json_output_is_the_change(cli, name):
    done = cli(*CONFIG_CASES[name], "-o", "json")

    assert done.code == 0, done
    shown = json.loads(done.out)
    assert set(shown) == CHANGE_KEYS
    assert shown["key"] == "tokens.default_lifetime"
    assert shown["value"] == ("30d" if name == "config set" else None)
    assert shown["path"] == str(cli.home / "config.toml")


@pytest.mark.parametrize("no_color", [False, True], ids=["piped", "no-color"])
@pytest.mark.parametrize("name", CASES)
def test_piped_output_has_no_escape_codes(context, name, no_color):
    env = {"NO_COLOR": "1"} if no_color else {}

    done, _ = _run(context, CASES[name], **env)

    assert done.code == 0, done
    assert done.out.strip() or done.err.strip(), done
    assert "\x1b" not in done.out, done
    assert "\x1b" not in done.err, done


@pytest.mark.parametrize("no_color", [False, True], ids=["piped", "no-color"])
def test_config_changes_have_no_escape_codes(cli, no_color):
    env = {"NO_COLOR": "1"} if no_color else {}

    for args in CONFIG_CASES.values():
        done = cli(*args, **env)

        assert done.code == 0, done
        assert "\x1b" not in done.out + done.err, done
