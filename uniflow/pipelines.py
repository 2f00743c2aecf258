"""Pipelines and steps: the decorators users write, and their parameter schemas.

A pipeline is a function marked with :func:`pipeline`; its parameters, their
types and defaults come from its signature. A step is a function marked with
:func:`step`; inside a run each call of it is recorded with its state and timing.
Outside a run both are plain functions, so a pipeline can be called and tested
like any other Python code.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar, overload

from uniflow import _context, parameters
from uniflow.errors import PipelineError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Pipeline:
    """A function marked as a pipeline."""

    name: str
    """The name a run asks for; the function's name unless given."""
    func: Callable[..., Any]
    """The decorated function."""
    description: str = ""
    """The first paragraph of the function's docstring."""
    timeout: float | None = None
    """Seconds a run may take once started; it is stopped and fails past them."""
    _model: Any = field(default=None, repr=False, compare=False)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the pipeline's function directly, outside any run."""
        return self.func(*args, **kwargs)

    def parameters_model(self) -> Any:
        """Return a pydantic model of the pipeline's parameters."""
        if self._model is None:
            object.__setattr__(self, "_model", _signature_model(self.name, self.func))
        return self._model

    def parameters_schema(self) -> dict[str, Any]:
        """Return the JSON Schema of the pipeline's parameters.

        Raises:
            PipelineError: A parameter's type has no JSON form (a class of the
                project's own, say).
        """
        try:
            schema: dict[str, Any] = self.parameters_model().model_json_schema()
        except PipelineError:
            raise
        except Exception as exc:
            raise PipelineError(
                f"Pipeline {self.name!r} has a parameter whose type UniFlow cannot "
                f"check or pass as JSON ({str(exc).splitlines()[0]}); use str, int, "
                "float, bool, lists, dicts, enums or dates."
            ) from None
        schema["additionalProperties"] = False

        defaults = {
            name: prop["default"]
            for name, prop in schema.get("properties", {}).items()
            if "default" in prop
        }
        problems = parameters.check_limits(defaults)
        if problems:
            listed = "; ".join(
                f"{p.field} {p.message}" if p.field else p.message for p in problems
            )
            raise PipelineError(
                f"Pipeline {self.name!r} has a default that cannot travel as a run's "
                f"parameter: {listed}. Give it a default that JSON can carry, or None."
            )
        return schema

    def describe(self) -> dict[str, Any]:
        """Return the pipeline's name, description and parameter schema as JSON data."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters_schema(),
            "timeout": self.timeout,
        }


@overload
def pipeline(func: Callable[P, R], /) -> Pipeline: ...


@overload
def pipeline(
    *, name: str | None = None, timeout: float | None = None
) -> Callable[[Callable[P, R]], Pipeline]: ...


def pipeline(
    func: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
) -> Pipeline | Callable[[Callable[P, R]], Pipeline]:
    """Mark a function as a pipeline, as ``@pipeline`` or ``@pipeline(name=...)``.

    Args:
        func: The function to mark.
        name: The pipeline's name; the function's name when not given.
        timeout: Seconds a run may take once started; past them it is stopped
            like a cancelled run and ends ``failed``. No limit when None.

    Raises:
        PipelineError: ``timeout`` is not a positive number of seconds.

    Returns:
        The :class:`Pipeline`, or a decorator that makes one.
    """

    check_timeout(timeout, f"@pipeline(timeout={timeout!r})")

    def make(target: Callable[P, R]) -> Pipeline:
        doc = inspect.getdoc(target) or ""
        return Pipeline(
            name=name or target.__name__,
            func=target,
            description=doc.split("\n\n", 1)[0].replace("\n", " "),
            timeout=None if timeout is None else float(timeout),
        )

    return make(func) if func is not None else make


LONGEST_TIMEOUT = 365 * 24 * 3600
"""The longest timeout a pipeline may declare, in seconds."""


def check_timeout(timeout: object, where: str) -> None:
    """Refuse a pipeline timeout that is not a positive number of seconds up to a
    year (the daemon's timers take no more).

    Raises:
        PipelineError: It is a bool, not a number, not above zero, or over a year.
    """
    if timeout is None:
        return
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 < timeout <= LONGEST_TIMEOUT
    ):
        raise PipelineError(
            f"{where}: a timeout is a positive number of seconds up to a year "
            f"({LONGEST_TIMEOUT:,}), such as 600."
        )


def step(func: Callable[P, R]) -> Callable[P, R]:
    """Mark a function as a step, whose every call inside a run is recorded.

    Args:
        func: The function to mark.

    Returns:
        The function, wrapped to report its start and end to the running run.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        reporter = _context.reporter()
        if reporter is None:
            return func(*args, **kwargs)

        index = reporter.next_step_index()
        reporter.emit("step_started", index=index, name=func.__name__)
        started = time.monotonic()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            reporter.emit(
                "step_finished",
                index=index,
                state="failed",
                duration=time.monotonic() - started,
                error=_last_line(exc),
            )
            raise

        reporter.emit(
            "step_finished",
            index=index,
            state="success",
            duration=time.monotonic() - started,
        )
        return result

    return wrapper


def _last_line(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return lines[-1].strip() if lines else type(exc).__name__


def _signature_model(name: str, func: Callable[..., Any]) -> Any:
    # pydantic is imported here: it is only needed where parameters are checked,
    # which is in the runner and describe child processes.
    import pydantic

    try:
        # eval_str resolves annotations written as strings (as under
        # `from __future__ import annotations`) in the function's module.
        signature = inspect.signature(func, eval_str=True)
    except Exception as exc:
        raise PipelineError(
            f"The parameter types of pipeline {name!r} cannot be resolved ({exc}); "
            "import the types they name at the top of its module."
        ) from None

    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = Any if param.annotation is param.empty else param.annotation
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)

    return pydantic.create_model(
        f"{name}_parameters",
        __config__=pydantic.ConfigDict(extra="forbid"),
        **fields,
    )
