"""Command pipelines: pipelines that ``uniflow.toml`` declares as a program to run.

A command pipeline is for a job written in any language. Its declaration (see
:mod:`uniflow.projects` for the format) gives the program and its arguments as a
list, never a shell command line, and its parameters with their types, which
become a JSON Schema of the same shape as a Python pipeline's. The runner starts
the program in the project folder; the parameters reach it as a JSON file, whose
path is in ``UNIFLOW_PARAMETERS_FILE``, and as one ``UNIFLOW_PARAM_<NAME>``
environment variable each. No parameter is ever part of the argument list.
"""

from __future__ import annotations

import copy
import datetime
import errno
import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uniflow import parameters
from uniflow.errors import ConfigError, ParameterError, PipelineError
from uniflow.pipelines import check_timeout

PARAMETERS_FILE = "parameters.json"
"""The file in the run's folder that holds the run's parameters as JSON."""
PARAMETERS_FILE_ENV = "UNIFLOW_PARAMETERS_FILE"
PARAM_ENV_PREFIX = "UNIFLOW_PARAM_"
RUN_ID_ENV = "UNIFLOW_RUN_ID"
RUN_FOLDER_ENV = "UNIFLOW_RUN_FOLDER"

TYPES = ("string", "integer", "number", "boolean", "array", "object")
"""The types a parameter may declare."""
FORMATS = ("date", "date-time", "time")
"""The formats a string parameter may declare."""

_PIPELINE_KEYS = ("command", "description", "timeout", "parameters")
_PARAMETER_KEYS = (
    "type",
    "default",
    "description",
    "format",
    "enum",
    "minimum",
    "maximum",
    "min_length",
    "max_length",
)
# The limits a parameter may declare, with their JSON Schema keyword by type.
_LIMITS = {
    "minimum": {"integer": "minimum", "number": "minimum"},
    "maximum": {"integer": "maximum", "number": "maximum"},
    "min_length": {"string": "minLength", "array": "minItems"},
    "max_length": {"string": "maxLength", "array": "maxItems"},
}
# Bare TOML keys, so that [pipelines.NAME] needs no quotes; no leading '-', which
# would read as an option on the command line.
_PIPELINE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,99}$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# What an environment variable's name may hold everywhere (POSIX portable).
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
# The runner's own channel to the daemon: nothing the command should hold or read.
_RUNNER_ENV = ("UNIFLOW_EVENTS_FD",)


@dataclass(frozen=True)
class CommandPipeline:
    """A pipeline that runs a program, as ``uniflow.toml`` declares it."""

    name: str
    """The name a run asks for: the key in ``[pipelines.NAME]``."""
    command: tuple[str, ...]
    """The program and its arguments, run in the project folder without a shell."""
    description: str = ""
    """What the pipeline does, for people choosing one."""
    timeout: float | None = None
    """Seconds a run may take once started; it is stopped and fails past them."""
    schema: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The JSON Schema of its parameters."""

    def parameters_schema(self) -> dict[str, Any]:
        """Return the JSON Schema of the pipeline's parameters."""
        return copy.deepcopy(self.schema)

    def describe(self) -> dict[str, Any]:
        """Return the pipeline's name, description and parameter schema as JSON data.

        The shape is that of :meth:`uniflow.pipelines.Pipeline.describe`, so the
        daemon and the CLI check a run's parameters alike for both kinds.
        """
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters_schema(),
            "timeout": self.timeout,
        }


def parse(table: object, path: Path) -> tuple[CommandPipeline, ...]:
    """Return the command pipelines that the ``[pipelines]`` table declares.

    Args:
        table: The value of the top-level ``pipelines`` key of ``uniflow.toml``.
        path: The file, named in error messages.

    Raises:
        ConfigError: A declaration is invalid; the message names the file, the
            pipeline, the key and what to write instead.
    """
    if not isinstance(table, dict):
        raise ConfigError(
            f"'pipelines' in {path} must be a table of pipelines such as "
            "[pipelines.report] with a command = [...] line; the folders of "
            "Python pipelines are listed under [project] as pipelines = [...].",
            path=path,
        )
    return tuple(_pipeline(name, value, path) for name, value in table.items())


def _pipeline(name: str, table: object, path: Path) -> CommandPipeline:
    where = _key("pipelines", name)
    if not _PIPELINE_NAME.match(name):
        raise _error(
            where,
            path,
            "is not a valid pipeline name; use 1 to 100 letters, digits, '_' or "
            "'-', starting with a letter, digit or '_'.",
        )
    if not isinstance(table, dict):
        raise _error(
            where, path, 'must be a table with a command, such as command = ["make"].'
        )
    _check_keys(table, _PIPELINE_KEYS, where, path)

    description = table.get("description", "")
    if not isinstance(description, str):
        raise _error(_key(where, "description"), path, "must be a string.")

    timeout = table.get("timeout")
    try:
        check_timeout(timeout, f"{_key(where, 'timeout')} in {path}")
    except PipelineError as exc:
        raise ConfigError(str(exc), path=path) from None

    return CommandPipeline(
        name=name,
        command=_command(table.get("command"), where, path),
        description=description,
        timeout=None if timeout is None else float(timeout),
        schema=_schema(name, table.get("parameters", {}), where, path),
    )


def _command(value: object, where: str, path: Path) -> tuple[str, ...]:
    where = _key(where, "command")
    example = '["python3", "scripts/report.py"]'
    if value is None:
        raise _error(
            where, path, f"is missing; give the program and its arguments: {example}."
        )
    if isinstance(value, str):
        raise _error(
            where,
            path,
            f"is a string; write it as a list of the program and its arguments, "
            f"such as {example}: UniFlow runs no shell and splits no text.",
        )
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(arg, str) for arg in value)
    ):
        raise _error(
            where,
            path,
            f"must be a non-empty list of strings, the program and its arguments, "
            f"such as {example}.",
        )
    if not value[0] or any("\0" in arg for arg in value):
        raise _error(
            where,
            path,
            "must name a program first, and no argument may hold a NUL character.",
        )
    return tuple(value)


def _schema(name: str, declared: object, where: str, path: Path) -> dict[str, Any]:
    where = _key(where, "parameters")
    if not isinstance(declared, dict):
        raise _error(
            where,
            path,
            "must be a table of parameters, such as "
            f'[{_key(where, "days")}] with type = "integer".',
        )

    properties = {
        pname: _parameter(pname, table, _key(where, pname), path)
        for pname, table in declared.items()
    }
    _check_env_names(list(properties), where, path)

    schema: dict[str, Any] = {
        "additionalProperties": False,
        "properties": properties,
        "title": f"{name}_parameters",
        "type": "object",
    }
    required = [p for p, prop in properties.items() if "default" not in prop]
    if required:
        schema["required"] = required
    return schema


def _parameter(name: str, table: object, where: str, path: Path) -> dict[str, Any]:
    if not _PARAMETER_NAME.match(name):
        raise _error(
            where,
            path,
            "is not a valid parameter name; use up to 100 letters, digits and '_', "
            "starting with a letter or '_', such as "
            f"{_suggest_identifier(name)!r}: it becomes part of an environment "
            "variable's name.",
        )
    if not isinstance(table, dict):
        raise _error(where, path, 'must be a table, such as { type = "string" }.')
    _check_keys(table, _PARAMETER_KEYS, where, path)

    prop: dict[str, Any] = {"title": name.replace("_", " ").strip().title() or name}
    prop["type"] = kind = _type(table.get("type"), where, path)
    if "description" in table:
        if not isinstance(table["description"], str):
            raise _error(_key(where, "description"), path, "must be a string.")
        prop["description"] = table["description"]
    if "format" in table:
        prop["format"] = _format(table["format"], kind, where, path)
    prop.update(_limits(table, kind, where, path))
    if "enum" in table:
        prop["enum"] = _enum(name, table["enum"], prop, where, path)
    if "default" in table:
        prop["default"] = _default(name, table["default"], prop, where, path)
    return prop


def _type(value: object, where: str, path: Path) -> str:
    where = _key(where, "type")
    choices = ", ".join(TYPES)
    if value is None:
        raise _error(where, path, f"is missing; give one of {choices}.")
    if value not in TYPES:
        hint = _did_you_mean(value, TYPES)
        raise _error(where, path, f"is {value!r}; use one of {choices}.{hint}")
    return str(value)


def _format(value: object, kind: str, where: str, path: Path) -> str:
    where = _key(where, "format")
    if kind != "string":
        raise _error(
            where, path, 'applies to strings only; remove it, or use type = "string".'
        )
    if value not in FORMATS:
        choices = ", ".join(FORMATS)
        raise _error(where, path, f"is {value!r}; use one of {choices}.")
    return str(value)


def _limits(table: dict[str, Any], kind: str, where: str, path: Path) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    for key, keywords in _LIMITS.items():
        if key in table:
            _check_limit(table[key], kind, keywords, _key(where, key), path)
            limits[keywords[kind]] = table[key]

    for low, high in (("minimum", "maximum"), ("min_length", "max_length")):
        if low in table and high in table and table[low] > table[high]:
            raise _error(
                where,
                path,
                f"has {low} = {table[low]} above {high} = {table[high]}; swap them.",
            )
    return limits


def _check_limit(
    value: object, kind: str, keywords: dict[str, str], where: str, path: Path
) -> None:
    if kind not in keywords:
        kinds = " and ".join(f"{k}s" for k in keywords)
        raise _error(where, path, f"applies to {kinds} only.")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
    ):
        raise _error(where, path, f"is {value!r}; give a finite number.")
    is_length = "string" in keywords
    if is_length and (not isinstance(value, int) or value < 0):
        raise _error(where, path, f"is {value!r}; give a whole number from 0.")


def _enum(
    name: str, value: object, prop: dict[str, Any], where: str, path: Path
) -> list[Any]:
    where = _key(where, "enum")
    if not isinstance(value, list) or not value:
        raise _error(
            where,
            path,
            'must be a non-empty list of the allowed values, such as ["a"].',
        )
    choices = [_plain(choice) for choice in value]
    for choice in choices:
        problem = _misfit(name, choice, prop)
        if problem:
            raise _error(
                where,
                path,
                f"holds a value that does not fit its parameter: {problem}. List "
                f"values of type {prop['type']} only.",
            )
    return choices


def _default(
    name: str, value: object, prop: dict[str, Any], where: str, path: Path
) -> Any:
    default = _plain(value)
    problem = _misfit(name, default, prop)
    if problem:
        raise _error(
            _key(where, "default"),
            path,
            f"does not fit its parameter: {problem}. Give a default that fits, or "
            "remove it to make the parameter required.",
        )
    return default


def _misfit(name: str, value: Any, prop: dict[str, Any]) -> str | None:
    """Return what is wrong with ``value`` as the parameter ``prop``, or None."""
    # The very check a run's parameters get, so that a default never fails it.
    schema = {"type": "object", "properties": {name: prop}}
    try:
        parameters.resolve(schema, {name: value})
    except ParameterError as exc:
        return "; ".join(e.message for e in exc.errors)
    return None


def _plain(value: Any) -> Any:
    # TOML has dates and times of its own; a parameter holds their ISO 8601 text,
    # which is what format = "date" (and the others) check.
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _check_env_names(names: list[str], where: str, path: Path) -> None:
    seen: dict[str, str] = {}
    for name in names:
        variable = env_name(name)
        if variable in seen:
            raise _error(
                where,
                path,
                f"declares {seen[variable]!r} and {name!r}, which would both be "
                f"passed as {variable}; rename one of them.",
            )
        seen[variable] = name


def _check_keys(
    table: dict[str, Any], known: tuple[str, ...], where: str, path: Path
) -> None:
    for key in table:
        if key not in known:
            hint = _did_you_mean(key, known)
            raise _error(
                where,
                path,
                f"has an unknown key {key!r}; the keys are {', '.join(known)}.{hint}",
            )


def _did_you_mean(value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        return ""

    import difflib  # only a broken uniflow.toml needs it, not each runner's start

    close = difflib.get_close_matches(value.lower(), choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _suggest_identifier(name: str) -> str:
    text = re.sub(r"\W+", "_", name, flags=re.ASCII).strip("_") or "name"
    return f"_{text}" if text[0].isdigit() else text


def _key(where: str, *names: str) -> str:
    """Return the dotted TOML key of ``names`` inside the key ``where``."""
    quoted = (
        n if _BARE_KEY.match(n) else json.dumps(n, ensure_ascii=False) for n in names
    )
    return ".".join([where, *quoted])


def _error(where: str, path: Path, text: str) -> ConfigError:
    return ConfigError(f"{where} in {path} {text}", path=path)


def env_name(parameter: str) -> str:
    """Return the environment variable that carries a parameter to the command."""
    return PARAM_ENV_PREFIX + parameter.upper()


def environment(
    values: dict[str, Any], *, run_id: str, run_folder: Path, parameters_file: Path
) -> dict[str, str]:
    """Return the runner's environment as the command gets it.

    Strings are passed as they are; numbers, booleans, lists and objects as JSON.

    Raises:
        PipelineError: A string parameter holds a NUL character, which no
            environment variable can carry.
    """
    env = {k: v for k, v in os.environ.items() if k not in _RUNNER_ENV}
    env.update(
        {
            RUN_ID_ENV: run_id,
            RUN_FOLDER_ENV: str(run_folder),
            PARAMETERS_FILE_ENV: str(parameters_file),
        }
    )
    for name, value in values.items():
        if isinstance(value, str):
            if "\0" in value:
                raise PipelineError(
                    f"the parameter {name!r} holds a NUL character, which an "
                    "environment variable cannot carry; send it without one."
                )
            env[env_name(name)] = value
        else:
            env[env_name(name)] = json.dumps(value, ensure_ascii=False)
    return env


def write_parameters(values: dict[str, Any], run_folder: Path) -> Path:
    """Write a run's parameters to a file only its user can read; return its path."""
    target = run_folder / PARAMETERS_FILE
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # The mode given to open() only applies to a new file, and through the umask.
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(values, f, ensure_ascii=False, indent=2)
        f.write("\n")
    return target


def run(
    pipeline: CommandPipeline,
    values: dict[str, Any],
    *,
    root: Path,
    run_id: str,
    run_folder: Path,
) -> int:
    """Run the command with ``values`` as its parameters and wait for it to end.

    The command starts in ``root``, in this process's process group (so stopping
    the group stops it too), with this process's stdout and stderr.

    Returns:
        Its exit status; a negative one is the signal that killed it.

    Raises:
        PipelineError: The command cannot be started, or a parameter cannot be
            passed to it; the message says what to change.
    """
    # Imported here: Python pipelines, most runs, start no process of their own.
    import subprocess

    parameters_file = write_parameters(values, run_folder)
    env = environment(
        values, run_id=run_id, run_folder=run_folder, parameters_file=parameters_file
    )
    program = resolve_program(pipeline.command[0], root)
    try:
        process = subprocess.Popen(
            [program, *pipeline.command[1:]],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise PipelineError(_why_not_started(pipeline, program, env, exc)) from None

    try:
        return process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise


def resolve_program(program: str, root: Path) -> str:
    """Return the program to start: a relative path is taken from ``root``, a bare
    name is looked up on ``PATH`` when it is started."""
    if "/" in program and not os.path.isabs(program):
        return str(root / program)
    return program


def _why_not_started(
    pipeline: CommandPipeline, program: str, env: dict[str, str], exc: OSError
) -> str:
    name = pipeline.command[0]
    where = f"command[0] of [{_key('pipelines', pipeline.name)}] in uniflow.toml"
    if isinstance(exc, FileNotFoundError):
        if "/" not in name and shutil.which(name, path=env.get("PATH")) is None:
            return (
                f"the command's program {name!r} was not found on PATH; install it, "
                f"or give its path in {where}."
            )
        if not os.path.exists(program):
            return (
                f"the command's program {name!r} was not found ({program}); fix "
                f"{where} (a path with a '/' is taken from the project folder)."
            )
        return (
            f"the command's program {name!r} names an interpreter in its #! line "
            "that was not found; fix that line, or install the interpreter."
        )
    if exc.errno == errno.ENOEXEC:
        return (
            f"the command's program {name!r} is neither a program nor a script "
            "with a #! line; add one such as #!/bin/sh, or name its interpreter "
            f'first in the command, such as ["sh", {name!r}].'
        )
    if isinstance(exc, PermissionError):
        if os.path.isdir(program):
            return f"the command's program {name!r} is a folder; fix {where}."
        return (
            f"the command's program {name!r} is not executable; run "
            f"`chmod +x {name}`, or name its interpreter first in the command, "
            f'such as ["sh", {name!r}].'
        )
    return f"the command's program {name!r} could not start: {exc.strerror}."


def exit_reason(code: int) -> str:
    """Return why a command that ended with ``code`` (not 0) failed its run."""
    if code < 0:
        return f"the command was killed by {signal_name(-code)}"
    return f"the command exited with code {code}"


def signal_name(number: int) -> str:
    """Return a signal's name (``SIGTERM``), or ``signal N`` for an unknown one."""
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
