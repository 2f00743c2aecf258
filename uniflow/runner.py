"""The runner: the child process that loads a project and runs one pipeline.

The daemon starts it as ``python -m uniflow.runner`` in the project's folder and
never imports a project's code itself. Two modes:

- ``python -m uniflow.runner`` reads a run's spec as JSON on stdin, runs the
  pipeline, reports events as JSON lines on the file descriptor named by
  ``UNIFLOW_EVENTS_FD`` and exits 0 on success, 1 when the pipeline fails.
- ``python -m uniflow.runner --describe`` prints the project's pipelines and
  their parameter schemas as JSON on stdout.

A command pipeline (declared in ``uniflow.toml``) runs as a child process of the
runner, in its process group, so that stopping the group stops the command too.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from uniflow import _context, command_pipelines, jsondata, parameters, projects
from uniflow.command_pipelines import CommandPipeline
from uniflow.errors import ConfigError, PipelineError, PipelineNotFound
from uniflow.pipelines import Pipeline

EVENTS_FD_ENV = "UNIFLOW_EVENTS_FD"
MAX_RESULT = 256 * 1024


def discover(project: projects.Project) -> dict[str, Pipeline | CommandPipeline]:
    """Import a project's modules and return its pipelines by name.

    The command pipelines that its ``uniflow.toml`` declares are among them.

    Raises:
        PipelineError: A module fails to import, or two pipelines share a name.
        ConfigError: A Python pipeline has the name of a command pipeline.
    """
    root = str(project.root)
    if root not in sys.path:
        sys.path.insert(0, root)

    found: dict[str, Pipeline | CommandPipeline] = {c.name: c for c in project.commands}
    for path in project.module_files():
        relative = path.relative_to(project.root).with_suffix("")
        name = ".".join(relative.parts)
        try:
            module = importlib.import_module(name)
        except (Exception, SystemExit) as exc:
            raise PipelineError(
                f"Importing {path.relative_to(project.root)} failed: {_why(exc)}"
            ) from exc

        for value in vars(module).values():
            if not isinstance(value, Pipeline):
                continue
            other = found.get(value.name)
            if isinstance(other, CommandPipeline):
                raise _clash(project, other, path)
            if other is not None and other is not value:
                raise PipelineError(
                    f"Two pipelines are named {value.name!r} in project "
                    f"{project.name!r}; give one another name with "
                    "@pipeline(name=...)."
                )
            found[value.name] = value
    return found


def _clash(
    project: projects.Project, command: CommandPipeline, module: Path
) -> ConfigError:
    config = project.root / projects.CONFIG_NAME
    return ConfigError(
        f"Two pipelines are named {command.name!r} in project {project.name!r}: "
        f"the command pipeline [pipelines.{command.name}] in {config} and the "
        f"Python pipeline in {module.relative_to(project.root)}; rename the table "
        "or give the function another name with @pipeline(name=...).",
        path=config,
    )


def _why(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it calls sys.exit({exc.code!r}) when imported"
    if isinstance(exc, SyntaxError):
        where = f"{Path(exc.filename or '?').name}, line {exc.lineno}"
        return f"SyntaxError: {exc.msg} ({where})"
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def describe(root: Path) -> dict[str, Any]:
    """Return the project in ``root`` and its pipelines as JSON data."""
    project = projects.load(root)
    found = discover(project)
    return {
        "project": project.name,
        "pipelines": [found[name].describe() for name in sorted(found)],
    }


def execute(spec: dict[str, Any], events: Any) -> int:
    """Run the pipeline a spec names; return the process's exit code."""
    reporter = _context.install(events, Path(spec["run_folder"]))
    try:
        project = projects.load(Path(spec["project_root"]))
        found = discover(project)
        target = found.get(spec["pipeline_name"])
        if target is None:
            raise PipelineNotFound(
                spec["pipeline_name"], project=project.name, available=sorted(found)
            )
        if isinstance(target, CommandPipeline):
            return _execute_command(target, spec, project.root, reporter)

        result = target.func(**_arguments(target, spec["parameters"]))
    except SystemExit as exc:
        # sys.exit() in a pipeline ends the run as it would end a script: with
        # its code, or with its message on stderr and code 1.
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
            error = f"the pipeline called sys.exit({code})"
        else:
            print(exc.code, file=sys.stderr)
            code, error = 1, f"the pipeline exited: {exc.code}"
        if code == 0:
            reporter.emit("run_succeeded", result=None)
        else:
            reporter.emit("run_failed", error=error, exit_code=code)
        return code
    except BaseException as exc:
        traceback.print_exc()
        line = traceback.format_exception_only(type(exc), exc)[-1].strip()
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
        reporter.emit("run_failed", error=line, exit_code=code)
        return code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()

    reporter.emit("run_succeeded", result=_json_or_none(result))
    return 0


def _execute_command(
    target: CommandPipeline,
    spec: dict[str, Any],
    root: Path,
    reporter: _context.Reporter,
) -> int:
    # Imported here: most runs are of Python pipelines, and each import slows the
    # start of every run.
    import signal

    values = parameters.resolve(
        target.parameters_schema(), spec["parameters"], pipeline=target.name
    )
    sys.stdout.flush()
    sys.stderr.flush()

    # Cancelling or timing out a run sends SIGTERM to its whole process group.
    # The runner lives on until the command has ended, so that the command has
    # the grace period before SIGKILL to finish its work, and its end is reported.
    stopped: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _: stopped.append(signum))
    try:
        code = command_pipelines.run(
            target,
            values,
            root=root,
            run_id=spec["run_id"],
            run_folder=Path(spec["run_folder"]),
        )
    except PipelineError as exc:
        print(f"uniflow: {exc}", file=sys.stderr)
        reporter.emit("run_failed", error=str(exc), exit_code=1)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)

    if code == 0 and stopped:  # it finished its work, but the run was stopped
        error = "the command exited with code 0 after the run got SIGTERM"
        code = -signal.SIGTERM
    elif code == 0:
        reporter.emit("run_succeeded", result=None)
        return 0
    else:
        error = command_pipelines.exit_reason(code)

    # A signal is reported as a shell reports it: 128 plus its number.
    status = code if code > 0 else 128 - code
    reporter.emit("run_failed", error=error, exit_code=status)
    return status


# The annotations whose values the daemon's check leaves as they must be passed.
_PLAIN = {int: (int,), float: (float, int), str: (str,), bool: (bool,)}


def _arguments(target: Pipeline, values: dict[str, Any]) -> dict[str, Any]:
    plain = _plain_arguments(target, values)
    if plain is not None:
        return plain

    import pydantic

    try:
        arguments = target.parameters_model().model_validate(values)
        return {name: getattr(arguments, name) for name in type(arguments).model_fields}
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise PipelineError(f"Invalid parameters: {problems}") from None


def _plain_arguments(target: Pipeline, values: dict[str, Any]) -> dict[str, Any] | None:
    # Building a pydantic model takes longer than starting the interpreter, and
    # most pipelines take only ints, floats, strings and bools. When every value
    # already has its parameter's type there is nothing to convert, so pass the
    # values as they are; anything else goes through pydantic.
    try:
        signature = inspect.signature(target.func, eval_str=True)
    except Exception:
        return None
    given = dict(values)
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            return None
        if param.name not in given:
            if param.default is param.empty:
                return None
            continue
        value = given[param.name]
        kinds = _PLAIN.get(param.annotation)
        if kinds is None or type(value) not in kinds:
            return None
        if param.annotation is float:
            given[param.name] = float(value)
    if given.keys() - signature.parameters.keys():
        return None
    return given


def _json_or_none(value: Any) -> Any:
    # A result that is not JSON data (a model, a frame), or too large to show, is
    # not recorded; the log says why. Large outputs belong in the run's folder.
    try:
        jsondata.check(value)
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        if value is not None:
            print(
                f"uniflow: the result ({type(value).__name__}) is not recorded: "
                f"it cannot be written as JSON ({exc})",
                file=sys.stderr,
            )
        return None
    if size > MAX_RESULT:
        print(
            f"uniflow: the result ({size} bytes of JSON) is over {MAX_RESULT} "
            "bytes and is not recorded; write it to run_folder()",
            file=sys.stderr,
        )
        return None
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the mode that ``argv`` asks for."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--describe"]:
        return _describe_main(Path(argv[1]) if len(argv) > 1 else Path.cwd())

    text = sys.stdin.read()
    if not text:
        # The daemon went away before it let this run go; the run is still queued
        # and the next daemon starts it.
        return 0
    spec = json.loads(text)
    fd = int(os.environ[EVENTS_FD_ENV])
    # Processes the pipeline starts must not hold the pipe open, or the daemon
    # would wait for them too before it sees the run end.
    os.set_inheritable(fd, False)
    # "replace": an error message with a lone surrogate still arrives, marked.
    events = os.fdopen(fd, "w", encoding="utf-8", errors="replace")
    try:
        return execute(spec, events)
    finally:
        with contextlib.suppress(BrokenPipeError):  # the daemon is gone
            events.close()


def _describe_main(root: Path) -> int:
    # A pipeline module may print while it is imported; keep stdout for the JSON.
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        result: dict[str, Any] = describe(root)
        code = 0
    except (ConfigError, PipelineError) as exc:
        result = {"error": str(exc)}
        code = 1
    finally:
        sys.stdout = out
    json.dump(result, out, ensure_ascii=False)
    out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
