"""``uniflow pipelines list`` and ``show``, against the session's CLI-started daemon.

The fixture project (``testproj``: hello, typed, fails, ...) is registered there;
the answers of the commands are checked against the daemon's own API.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest


def _api(cli_daemon, **params):
    with cli_daemon.http() as http:
        answer = http.get("/api/v1/pipelines", params={"limit": 1000, **params})
    return answer.raise_for_status().json()


@contextmanager
def _new_project(cli_daemon, folder):
    """Create a project with `uniflow init`, registered by listing its pipelines
    from its folder; forget it afterwards, so other tests never see it."""
    created = cli_daemon.cli("init", str(folder))
    assert created.code == 0, created
    try:
        yield folder
    finally:
        cli_daemon.cli("projects", "remove", folder.name)


def test_list_json_in_a_project_is_the_api_answer(cli_daemon):
    done = cli_daemon.cli("pipelines", "list", "-o", "json", cwd=cli_daemon.project)

    assert done.code == 0, done
    listed = json.loads(done.out)
    assert listed == _api(cli_daemon, project="testproj")["items"]
    assert {p["project"] for p in listed} == {"testproj"}
    assert {"hello", "typed", "fails"} <= {p["name"] for p in listed}


def test_list_json_outside_projects_has_all(cli_daemon):
    done = cli_daemon.cli("pipelines", "list", "--output", "json")

    assert done.code == 0, done
    assert json.loads(done.out) == _api(cli_daemon)["items"]


def test_list_project_option_filters(cli_daemon):
    done = cli_daemon.cli("pipelines", "list", "--project", "testproj", "-o", "json")

    assert done.code == 0, done
    assert json.loads(done.out) == _api(cli_daemon, project="testproj")["items"]


def test_list_table_is_plain_when_piped(cli_daemon):
    done = cli_daemon.cli("pipelines", "list", cwd=cli_daemon.project)

    assert done.code == 0, done
    assert "\x1b" not in done.out + done.err
    assert done.out.split()[:4] == ["PROJECT", "PIPELINE", "PARAMETERS", "DESCRIPTION"]
    hello = next(line for line in done.out.splitlines() if " hello " in line)
    assert 'name: string = "world", times: integer = 1' in hello
    assert "Print a greeting and save it in the run's folder." in hello
    assert "epochs: integer (required), rate: number = 0.1" in done.out


def test_show_json_is_the_api_item(cli_daemon):
    done = cli_daemon.cli(
        "pipelines", "show", "typed", "-o", "json", cwd=cli_daemon.project
    )

    assert done.code == 0, done
    items = _api(cli_daemon, project="testproj")["items"]
    assert json.loads(done.out) == next(p for p in items if p["name"] == "typed")


def test_show_table_lists_parameters(cli_daemon):
    done = cli_daemon.cli("pipelines", "show", "typed", "--project", "testproj")

    assert done.code == 0, done
    assert "\x1b" not in done.out + done.err
    lines = [line.split() for line in done.out.splitlines()]
    assert lines[0] == ["typed", "(testproj)"]
    assert "Echo typed parameters back as the run's result." in done.out
    assert ["PARAMETER", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"] in lines
    assert ["epochs", "integer", "yes"] in lines
    assert ["rate", "number", "no", "0.1"] in lines
    assert ["label", "string", "no", '"x"'] in lines


def test_show_unknown_pipeline_exits_one(cli_daemon):
    done = cli_daemon.cli("pipelines", "show", "nope", cwd=cli_daemon.project)

    assert done.code == 1, done
    assert done.out == ""
    assert "Project 'testproj' has no pipeline 'nope'" in done.said
    assert "'hello'" in done.err
    assert "Traceback" not in done.err


def test_show_unknown_anywhere_exits_one(cli_daemon):
    done = cli_daemon.cli("pipelines", "show", "nope")

    assert done.code == 1, done
    assert "No project has a pipeline 'nope'" in done.said


def test_unknown_project_exits_one(cli_daemon):
    listed = cli_daemon.cli("pipelines", "list", "--project", "nosuch")
    shown = cli_daemon.cli("pipelines", "show", "hello", "--project", "nosuch")

    for done in (listed, shown):
        assert done.code == 1, done
        assert "No project 'nosuch' is registered" in done.said


@pytest.mark.parametrize("args", [["show"], ["show", " "], ["list", "-o", "xml"]])
def test_usage_errors_exit_two(cli_daemon, args):
    done = cli_daemon.cli("pipelines", *args)

    assert done.code == 2, done


def test_new_project_is_registered_and_listed(cli_daemon, tmp_path):
    with _new_project(cli_daemon, tmp_path / "pipes-new") as folder:
        done = cli_daemon.cli("pipelines", "list", "-o", "json", cwd=folder)
        projects = cli_daemon.cli("projects", "list", "-o", "json")

        assert done.code == 0, done
        assert [(p["project"], p["name"]) for p in json.loads(done.out)] == [
            ("pipes-new", "hello")
        ]
        assert {"name": "pipes-new", "path": str(folder)} in json.loads(projects.out)


def test_name_in_two_projects_needs_project(cli_daemon, tmp_path):
    with _new_project(cli_daemon, tmp_path / "pipes-twin") as folder:
        assert cli_daemon.cli("pipelines", "list", cwd=folder).code == 0

        both = cli_daemon.cli("pipelines", "show", "hello")
        chosen = cli_daemon.cli(
            "pipelines", "show", "hello", "--project", "pipes-twin", "-o", "json"
        )
        here = cli_daemon.cli("pipelines", "show", "hello", "-o", "json", cwd=folder)

    assert both.code == 2, both
    assert "'pipes-twin'" in both.said and "'testproj'" in both.said
    assert "--project" in both.err
    assert json.loads(chosen.out)["project"] == "pipes-twin"
    assert json.loads(here.out) == json.loads(chosen.out)


def test_broken_project_is_left_out(cli_daemon, tmp_path):
    with _new_project(cli_daemon, tmp_path / "pipes-broken") as folder:
        assert cli_daemon.cli("pipelines", "list", cwd=folder).code == 0
        with (folder / "pipelines" / "hello.py").open("a") as module:
            module.write("\nraise RuntimeError('broken on purpose')\n")

        everything = cli_daemon.cli("pipelines", "list", "-o", "json")
        alone = cli_daemon.cli("pipelines", "list", cwd=folder)

    assert everything.code == 0, everything
    listed = json.loads(everything.out)
    assert "pipes-broken" not in {p["project"] for p in listed}
    assert "testproj" in {p["project"] for p in listed}
    assert "Project 'pipes-broken' is left out" in everything.said
    assert "broken on purpose" in everything.said
    assert alone.code == 1, alone
    assert "broken on purpose" in alone.said
