"""``uniflow run``: auto-start, project registration, parameters from the shell.

Runs go to the session's CLI-started daemon, from a copy of the fixture project
(project "testproj", pipelines hello, typed, fails and sleepy).
"""

from __future__ import annotations

import json
import re
import shutil

import httpx

RUN_ID = re.compile(r"run_[0-9a-f]+")


def _run_count(cli_daemon) -> int:
    with cli_daemon.http() as http:
        return len(http.get("/api/v1/runs", params={"limit": 1000}).json()["items"])


def test_first_run_starts_the_daemon(cli_daemon, alive):
    first = cli_daemon.first

    assert first.code == 0, first
    assert f"Started the UniFlow daemon at {cli_daemon.url}" in first.said
    assert alive(cli_daemon.pid)
    assert httpx.get(f"{cli_daemon.url}/healthz", timeout=5).status_code == 200
    # config.toml asked for port 0: the daemon took a free port, not 8080.
    assert not cli_daemon.url.endswith(":0")


def test_first_run_registers_the_project(cli_daemon):
    with cli_daemon.http() as http:
        projects = http.get("/api/v1/projects").raise_for_status().json()["items"]

    paths = {p["name"]: p["path"] for p in projects}
    assert paths.get("testproj") == str(cli_daemon.project)


def test_first_run_prints_its_outcome(cli_daemon):
    first = cli_daemon.first
    run_id = RUN_ID.search(first.out)

    assert run_id, first
    assert "hello (testproj)" in first.said
    assert "success" in first.out
    assert "hello world" in first.out
    with cli_daemon.http() as http:
        run = http.get(f"/api/v1/runs/{run_id.group()}").raise_for_status().json()
    assert run["status"] == "success"
    assert run["pipeline_name"] == "hello"


def test_wait_on_failed_run_exits_one(cli_daemon):
    done = cli_daemon.cli("run", "fails", "--wait", cwd=cli_daemon.project)

    assert done.code == 1, done
    assert "failed" in done.out
    assert "ValueError: boom: the step failed on purpose" in done.said
    assert "explode" in done.out
    assert "Traceback" not in done.err


def test_run_without_wait_prints_run_id(cli_daemon):
    done = cli_daemon.cli("run", "hello", cwd=cli_daemon.project)

    assert done.code == 0, done
    assert RUN_ID.fullmatch(done.out.strip()), done
    assert done.out.count("\n") == 1
    run = cli_daemon.wait_run(done.out.strip())
    assert run["status"] == "success"


def test_params_are_converted_to_types(cli_daemon):
    done = cli_daemon.cli(
        "run", "hello", "--wait", "-p", "times=3", "-p", "name=Zoë",
        "--output", "json", cwd=cli_daemon.project,
    )  # fmt: skip

    assert done.code == 0, done
    run = json.loads(done.out)
    assert run["parameters"] == {"name": "Zoë", "times": 3}
    assert run["result"] == {"greeting": "hello Zoë hello Zoë hello Zoë"}


def test_typed_params_keep_their_types(cli_daemon):
    done = cli_daemon.cli(
        "run", "typed", "--wait", "-p", "epochs=5", "-p", "rate=0.5",
        "-p", "flag=true", "-p", "label=007", "-o", "json", cwd=cli_daemon.project,
    )  # fmt: skip

    assert done.code == 0, done
    result = json.loads(done.out)["result"]
    assert result["types"] == ["int", "float", "bool", "str"]
    assert (result["epochs"], result["rate"], result["flag"]) == (5, 0.5, True)
    assert result["label"] == "007"


def test_table_shows_greeting_as_text(cli_daemon):
    done = cli_daemon.cli(
        "run", "hello", "--wait", "-p", "times=3", "-p", "name=Zoë",
        cwd=cli_daemon.project,
    )  # fmt: skip

    assert done.code == 0, done
    assert '"name": "Zoë"' in done.out
    # The result line is for people: Zoë, not an escape sequence.
    assert "hello Zoë hello Zoë hello Zoë" in done.out, done


def test_bad_value_refused_before_send(cli_daemon):
    before = _run_count(cli_daemon)

    done = cli_daemon.cli("run", "hello", "-p", "times=ten", cwd=cli_daemon.project)

    assert done.code == 2, done
    assert "times" in done.err
    assert "'ten'" in done.err
    assert done.out == ""
    assert "Traceback" not in done.err
    assert _run_count(cli_daemon) == before


def test_unknown_param_is_a_usage_error(cli_daemon):
    before = _run_count(cli_daemon)

    done = cli_daemon.cli("run", "hello", "-p", "nonexistent=1", cwd=cli_daemon.project)

    assert done.code == 2, done
    assert "nonexistent" in done.err
    assert "name, times" in done.said
    assert "Traceback" not in done.err
    assert _run_count(cli_daemon) == before


def test_param_without_value_is_refused(cli_daemon):
    before = _run_count(cli_daemon)

    done = cli_daemon.cli("run", "hello", "-p", "novalue", cwd=cli_daemon.project)

    assert done.code == 2, done
    assert "novalue" in done.err
    assert "name=value" in done.said
    assert "Traceback" not in done.err
    assert _run_count(cli_daemon) == before


def test_unknown_pipeline_lists_others(cli_daemon):
    done = cli_daemon.cli("run", "nope", "--wait", cwd=cli_daemon.project)

    assert done.code != 0, done
    assert "'nope'" in done.said
    for name in ("fails", "hello", "sleepy", "typed"):
        assert f"'{name}'" in done.said
    assert "Traceback" not in done.err


def test_json_output_parses_without_wait(cli_daemon):
    done = cli_daemon.cli("run", "hello", "--output", "json", cwd=cli_daemon.project)

    assert done.code == 0, done
    run = json.loads(done.out)
    assert RUN_ID.fullmatch(run["run_id"])
    assert run["pipeline_name"] == "hello"
    assert run["project"] == "testproj"
    assert run["status"] in {"queued", "running", "success"}
    cli_daemon.wait_run(run["run_id"])


def test_json_output_parses_with_wait(cli_daemon):
    done = cli_daemon.cli(
        "run", "hello", "--wait", "-o", "json", cwd=cli_daemon.project
    )

    assert done.code == 0, done
    run = json.loads(done.out)
    assert run["status"] == "success"
    assert [s["name"] for s in run["steps"]] == ["greet", "save"]
    assert run["created_at"].endswith("Z")


def test_project_option_runs_outside_it(cli_daemon, tmp_path):
    done = cli_daemon.cli(
        "run", "hello", "--project", "testproj", "--wait", "-o", "json", cwd=tmp_path
    )

    assert done.code == 0, done
    assert json.loads(done.out)["project"] == "testproj"


def test_same_project_name_is_refused(cli_daemon, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(cli_daemon.project, other)

    done = cli_daemon.cli("run", "hello", cwd=other)

    assert done.code == 2, done
    assert "already registered" in done.said
    assert "uniflow projects remove testproj" in done.said
    listed = cli_daemon.cli("projects", "list", "--output", "json")
    assert {"name": "testproj", "path": str(cli_daemon.project)} in json.loads(
        listed.out
    )


def test_escapes_in_errors_are_defused(cli_daemon):
    evil = "\x1b]0;pwned\x07\x1b[2J[red]FAKE[/red]"
    done = cli_daemon.cli(
        "run", "raises", "--wait", "-p", f"message={evil}", cwd=cli_daemon.project
    )

    assert done.code == 1, done
    assert "\x1b" not in done.out + done.err
    assert "\x07" not in done.out + done.err
    assert "[red]FAKE[/red]" in done.out


def test_broken_project_says_why(cli_daemon, tmp_path):
    project = tmp_path / "oddproj"
    (project / "pipelines").mkdir(parents=True)
    (project / "uniflow.toml").write_text(
        '[project]\nname = "oddproj"\npipelines = ["pipelines"]\n'
    )
    (project / "pipelines" / "odd.py").write_text(
        "from uniflow import pipeline\n\n"
        "@pipeline\ndef fine() -> None:\n    pass\n\n"
        "@pipeline\ndef odd(x: float = float('inf')) -> None:\n    pass\n"
    )

    done = cli_daemon.cli("run", "fine", cwd=project)

    assert done.code != 0, done
    assert "'odd' has a default" in done.said and "inf" in done.said, done


def test_operator_in_an_unregistered_project_is_told_why(cli_daemon, tmp_path):
    project = tmp_path / "newproj"
    (project / "pipelines").mkdir(parents=True)
    (project / "uniflow.toml").write_text('[project]\nname = "newproj"\n')
    made = cli_daemon.cli(
        "token", "create", "--name", "op-newproj", "--role", "operator", "-o", "json"
    )
    secret = json.loads(made.out)["secret"]

    done = cli_daemon.cli(
        "run", "hello", cwd=project, UNIFLOW_TOKEN=secret, UNIFLOW_URL=cli_daemon.url
    )

    assert done.code == 1, done
    assert "'newproj'" in done.said and "is not registered" in done.said
    assert "admin" in done.said and "--project" in done.said
