"""Command pipelines: their declaration in uniflow.toml, and how they are run."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap

import pytest

from uniflow import command_pipelines, parameters, projects
from uniflow.catalog import Catalog
from uniflow.command_pipelines import CommandPipeline
from uniflow.errors import ConfigError, PipelineError

REPORT = """
[project]
name = "demo"

[pipelines.report]
command = ["python3", "scripts/report.py"]
description = "Write the weekly report"
timeout = 600

[pipelines.report.parameters.days]
type = "integer"
default = 7
description = "How many days back"

[pipelines.report.parameters.title]
type = "string"

[pipelines.report.parameters.since]
type = "string"
format = "date"
default = 2024-02-29

[pipelines.report.parameters.rate]
type = "number"
default = 1
minimum = 0
maximum = 1.5

[pipelines.report.parameters.formats]
type = "array"
default = ["pdf"]
min_length = 1

[pipelines.report.parameters.extra]
type = "object"
default = { a = [1, 2] }

[pipelines.report.parameters.dry_run]
type = "boolean"
default = true
"""


def write(root, toml, **files):
    root.mkdir(parents=True, exist_ok=True)
    (root / "uniflow.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


OK = 'command = ["true"]'


def declare(root, pipeline=OK, parameter=""):
    """Write a project whose one command pipeline ``job`` has the TOML lines
    ``pipeline`` and, when given, one parameter ``p`` with the lines
    ``parameter``."""
    toml = f"[pipelines.job]\n{pipeline}\n"
    if parameter:
        toml += f"[pipelines.job.parameters.p]\n{parameter}\n"
    return write(root, toml)


def test_declaration_becomes_a_schema(tmp_path):
    project = projects.load(write(tmp_path / "p", REPORT))

    [report] = project.commands
    assert report.command == ("python3", "scripts/report.py")
    assert report.timeout == 600.0
    schema = report.parameters_schema()
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["title"]
    assert schema["properties"]["days"] == {
        "title": "Days",
        "type": "integer",
        "description": "How many days back",
        "default": 7,
    }
    assert schema["properties"]["since"]["default"] == "2024-02-29"
    assert schema["properties"]["rate"]["maximum"] == 1.5
    assert schema["properties"]["formats"]["minItems"] == 1
    assert schema["properties"]["extra"]["default"] == {"a": [1, 2]}


def test_describe_has_the_python_shape(tmp_path):
    python = "from uniflow import pipeline\n\n@pipeline\ndef native(days: int = 7):\n"
    python += '    """Say the days."""\n'
    root = write(tmp_path / "p", REPORT, **{"pipelines/native.py": python})

    described = Catalog().describe(root)

    report, native = described.pipeline("report"), described.pipeline("native")
    assert (
        report.keys()
        == native.keys()
        == {
            "name",
            "description",
            "parameters",
            "timeout",
        }
    )
    assert report["description"] == "Write the weekly report"
    assert report["timeout"] == 600.0
    assert native["parameters"]["properties"]["days"] == {
        k: v
        for k, v in report["parameters"]["properties"]["days"].items()
        if k != "description"
    }


def test_parameters_are_checked_like_python(tmp_path):
    [report] = projects.load(write(tmp_path / "p", REPORT)).commands
    schema = report.parameters_schema()

    resolved = parameters.resolve(schema, {"title": "Weekly"})
    assert resolved["days"] == 7 and resolved["dry_run"] is True

    for bad in ({}, {"title": 3}, {"title": "t", "days": 2.5}, {"title": "t", "x": 1}):
        with pytest.raises(PipelineError):
            parameters.resolve(schema, bad)
    with pytest.raises(PipelineError, match="since"):
        parameters.resolve(schema, {"title": "t", "since": "2023-02-29"})
    with pytest.raises(PipelineError, match="rate"):
        parameters.resolve(schema, {"title": "t", "rate": 2})

    # What `uniflow run -p name=value` does with the schema.
    assert parameters.parse_text(schema, "days", "30") == 30
    assert parameters.parse_text(schema, "dry_run", "false") is False
    assert parameters.parse_text(schema, "formats", '["a", "b"]') == ["a", "b"]
    assert parameters.parse_text(schema, "title", "$(id)") == "$(id)"


def test_command_only_project_needs_no_folder(tmp_path):
    project = projects.load(declare(tmp_path / "p"))

    assert project.pipelines == ()
    assert [c.name for c in project.commands] == ["job"]
    assert Catalog().describe(project.root).pipeline("job")["name"] == "job"


def test_python_pipeline_of_same_name_clashes(tmp_path):
    python = "from uniflow import pipeline\n\n@pipeline\ndef report():\n    pass\n"
    root = write(tmp_path / "p", REPORT, **{"pipelines/reports.py": python})

    with pytest.raises(PipelineError) as caught:
        Catalog().describe(root)

    message = str(caught.value)
    assert "[pipelines.report]" in message
    assert str(root / "uniflow.toml") in message
    assert "pipelines/reports.py" in message
    assert "@pipeline(name=...)" in message


# Each bad declaration: (extra lines of [pipelines.job], lines of its parameter p,
# what the message must say besides the file's path).
BAD = {
    "command missing": (
        'description = "x"',
        "",
        ["pipelines.job.command", "is missing"],
    ),
    "command a string": (
        'command = "make all"',
        "",
        ["pipelines.job.command", "is a string", "runs no shell"],
    ),
    "command empty": ("command = []", "", ["non-empty list of strings"]),
    "command not strings": ('command = ["make", 3]', "", ["non-empty list"]),
    "command empty program": ('command = ["", "x"]', "", ["must name a program"]),
    "unknown key": (
        'comand = ["x"]',
        "",
        ["pipelines.job", "unknown key 'comand'", "Did you mean 'command'?"],
    ),
    "description not text": (OK + "\ndescription = 3", "", ["description", "string"]),
    "timeout zero": (OK + "\ntimeout = 0", "", ["pipelines.job.timeout", "positive"]),
    "timeout text": (OK + '\ntimeout = "1h"', "", ["pipelines.job.timeout", "seconds"]),
    "timeout past a year": (
        OK + "\ntimeout = 1e300",
        "",
        ["pipelines.job.timeout", "up to a year"],
    ),
    "parameters not a table": (
        OK + "\nparameters = 3",
        "",
        ["pipelines.job.parameters", "must be a table"],
    ),
    "type missing": (OK, 'default = "x"', ["pipelines.job.parameters.p.type"]),
    "type unknown": (
        OK,
        'type = "int"',
        ["'int'", "use one of string, integer", "Did you mean 'integer'?"],
    ),
    "parameter key unknown": (
        OK,
        'type = "string"\nrequired = true',
        ["pipelines.job.parameters.p", "unknown key 'required'"],
    ),
    "default of another type": (
        OK,
        'type = "integer"\ndefault = "seven"',
        ["parameters.p.default", 'got "seven"', "expects an integer", "remove it"],
    ),
    "float default for integer": (
        OK,
        'type = "integer"\ndefault = 2.5',
        ["parameters.p.default", "expects an integer"],
    ),
    "bool default for number": (
        OK,
        'type = "number"\ndefault = true',
        ["parameters.p.default", "expects a number"],
    ),
    "bad date default": (
        OK,
        'type = "string"\nformat = "date"\ndefault = "2023-02-29"',
        ["parameters.p.default", "'2023-02-29'"],
    ),
    "default out of range": (
        OK,
        'type = "integer"\nminimum = 1\ndefault = 0',
        ["parameters.p.default", "minimum"],
    ),
    "default not in enum": (
        OK,
        'type = "string"\nenum = ["a", "b"]\ndefault = "c"',
        ["parameters.p.default", "'c'"],
    ),
    "enum of another type": (
        OK,
        'type = "string"\nenum = ["a", 1]',
        ["parameters.p.enum", "got 1", "type string"],
    ),
    "enum empty": (OK, 'type = "string"\nenum = []', ["enum", "non-empty"]),
    "format on an integer": (
        OK,
        'type = "integer"\nformat = "date"',
        ["parameters.p.format", "strings only"],
    ),
    "format unknown": (
        OK,
        'type = "string"\nformat = "email"',
        ["'email'", "date, date-time, time"],
    ),
    "minimum on a string": (
        OK,
        'type = "string"\nminimum = 1',
        ["parameters.p.minimum", "integers and numbers"],
    ),
    "length on an integer": (
        OK,
        'type = "integer"\nmax_length = 1',
        ["parameters.p.max_length", "strings and arrays"],
    ),
    "length negative": (
        OK,
        'type = "string"\nmin_length = -1',
        ["parameters.p.min_length", "from 0"],
    ),
    "limit not finite": (
        OK,
        'type = "number"\nminimum = nan',
        ["parameters.p.minimum", "finite number"],
    ),
    "default not finite": (
        OK,
        'type = "number"\ndefault = inf',
        ["parameters.p.default", "JSON has no form for"],
    ),
    "limits swapped": (
        OK,
        'type = "number"\nminimum = 2\nmaximum = 1',
        ["parameters.p", "swap them"],
    ),
}


@pytest.mark.parametrize(("pipeline", "parameter", "expected"), BAD.values(), ids=BAD)
def test_bad_declaration_is_explained(tmp_path, pipeline, parameter, expected):
    root = declare(tmp_path / "p", pipeline, parameter)

    assert_explained(root, expected)


BAD_FILES = {
    "pipelines not a table": ('pipelines = ["x"]', ["'pipelines'", "[project]"]),
    "pipeline not a table": ("[pipelines]\njob = 3", ["pipelines.job", "a table"]),
    "pipeline name": (
        '[pipelines."weekly report"]\ncommand = ["true"]',
        ['pipelines."weekly report"', "not a valid pipeline name"],
    ),
    "parameter name": (
        '[pipelines.job]\ncommand = ["true"]\n'
        '[pipelines.job.parameters.my-days]\ntype = "integer"',
        ["pipelines.job.parameters.my-days", "not a valid parameter name", "my_days"],
    ),
    "parameter name unicode": (
        '[pipelines.job]\ncommand = ["true"]\n'
        '[pipelines.job.parameters."tagé"]\ntype = "string"',
        ['parameters."tagé"', "not a valid parameter name"],
    ),
    "names collide in env": (
        '[pipelines.job]\ncommand = ["true"]\n'
        '[pipelines.job.parameters.days]\ntype = "integer"\n'
        '[pipelines.job.parameters.Days]\ntype = "integer"',
        ["'days' and 'Days'", "UNIFLOW_PARAM_DAYS", "rename one"],
    ),
}


@pytest.mark.parametrize(("toml", "expected"), BAD_FILES.values(), ids=BAD_FILES)
def test_bad_pipelines_table_is_explained(tmp_path, toml, expected):
    root = write(tmp_path / "p", toml)

    assert_explained(root, expected)


def assert_explained(root, expected):
    """Loading the project in ``root`` fails with a message naming its uniflow.toml
    and every part in ``expected``."""
    with pytest.raises(ConfigError) as caught:
        projects.load(root)

    message = str(caught.value)
    assert str(root / "uniflow.toml") in message
    for part in expected:
        assert part in message
    assert caught.value.path == root / "uniflow.toml"


def test_environment_carries_every_parameter(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIFLOW_EVENTS_FD", "7")
    values = {
        "text": "; rm -rf / $(id) 'q' \"d\"\nline 2 Zoë 🚀",
        "days": 7,
        "rate": 0.5,
        "flag": False,
        "tags": ["a", "é"],
        "extra": {"a": None},
    }

    env = command_pipelines.environment(
        values, run_id="r1", run_folder=tmp_path, parameters_file=tmp_path / "p.json"
    )

    assert env["UNIFLOW_PARAM_TEXT"] == values["text"]
    assert env["UNIFLOW_PARAM_DAYS"] == "7"
    assert env["UNIFLOW_PARAM_RATE"] == "0.5"
    assert env["UNIFLOW_PARAM_FLAG"] == "false"
    assert json.loads(env["UNIFLOW_PARAM_TAGS"]) == ["a", "é"]
    assert env["UNIFLOW_PARAM_EXTRA"] == '{"a": null}'
    assert env["UNIFLOW_RUN_ID"] == "r1"
    assert env["UNIFLOW_RUN_FOLDER"] == str(tmp_path)
    assert env["UNIFLOW_PARAMETERS_FILE"] == str(tmp_path / "p.json")
    assert "UNIFLOW_EVENTS_FD" not in env


def test_nul_in_a_string_is_refused(tmp_path):
    with pytest.raises(PipelineError, match="'text' holds a NUL"):
        command_pipelines.environment(
            {"text": "a\0b"}, run_id="r", run_folder=tmp_path, parameters_file=tmp_path
        )


def test_parameters_file_is_private(tmp_path):
    (tmp_path / command_pipelines.PARAMETERS_FILE).write_text("old")
    os.chmod(tmp_path / command_pipelines.PARAMETERS_FILE, 0o644)

    path = command_pipelines.write_parameters({"text": "Zoë"}, tmp_path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text(encoding="utf-8")) == {"text": "Zoë"}


def run_command(tmp_path, *command):
    pipeline = CommandPipeline(name="job", command=command)
    return command_pipelines.run(
        pipeline, {"n": 1}, root=tmp_path, run_id="r", run_folder=tmp_path
    )


def test_run_returns_the_exit_status(tmp_path):
    script = "import os, sys; sys.exit(int(os.environ['UNIFLOW_PARAM_N']) + 2)"
    (tmp_path / "exit.py").write_text(script)

    assert run_command(tmp_path, sys.executable, "exit.py") == 3
    assert command_pipelines.exit_reason(3) == "the command exited with code 3"
    assert command_pipelines.exit_reason(-9) == "the command was killed by SIGKILL"


def test_relative_program_is_taken_from_the_project(tmp_path, monkeypatch):
    script = tmp_path / "bin" / "ok.sh"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\n[ "$(pwd)" = "$1" ]\n')
    script.chmod(0o755)
    monkeypatch.chdir("/")

    assert run_command(tmp_path, "bin/ok.sh", str(tmp_path)) == 0


CANNOT_START = {
    "not on PATH": (
        ["uniflow-no-such-program"],
        None,
        ["'uniflow-no-such-program' was not found on PATH", "install it"],
    ),
    "path missing": (
        ["scripts/nope.sh"],
        None,
        ["'scripts/nope.sh' was not found", "command[0] of [pipelines.job]"],
    ),
    "not executable": (
        ["scripts/run.sh"],
        ("#!/bin/sh\necho hi\n", 0o644),
        ["'scripts/run.sh' is not executable", "chmod +x scripts/run.sh"],
    ),
    "no #! line": (
        ["scripts/run.sh"],
        ("echo hi\n", 0o755),
        ["no", "#! line", "[\"sh\", 'scripts/run.sh']"],
    ),
    "interpreter missing": (
        ["scripts/run.sh"],
        ("#!/nonexistent/interpreter\necho hi\n", 0o755),
        ["interpreter", "#! line"],
    ),
    "a folder": (["./scripts"], None, ["'./scripts' is a folder"]),
}


@pytest.mark.parametrize(
    ("command", "script", "expected"), CANNOT_START.values(), ids=CANNOT_START
)
def test_command_that_cannot_start_is_explained(tmp_path, command, script, expected):
    (tmp_path / "scripts").mkdir()
    if script:
        path = tmp_path / "scripts" / "run.sh"
        path.write_text(script[0])
        path.chmod(script[1])

    with pytest.raises(PipelineError) as caught:
        run_command(tmp_path, *command)

    for part in expected:
        assert part in str(caught.value)
