"""What pipelines each project has, learnt from a child process and cached.

The process that asks (the daemon) never imports a project's code: a runner
child process in ``--describe`` mode imports it and prints the pipelines and
their parameter schemas. The answer is reused until one of the project's files
changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uniflow import projects
from uniflow.errors import PipelineError, PipelineNotFound, shorten

# Under the HTTP client's 30 s, so a caller hears why rather than a time-out.
DESCRIBE_TIMEOUT = 20.0


@dataclass(frozen=True)
class Described:
    """A project's pipelines as its describe child reported them."""

    project: str
    pipelines: dict[str, dict[str, Any]]
    """Each pipeline's name, description and parameter schema, by name."""

    def pipeline(self, name: str) -> dict[str, Any]:
        """Return one pipeline's description.

        Raises:
            PipelineNotFound: The project has no pipeline of that name.
        """
        try:
            return self.pipelines[name]
        except KeyError:
            raise PipelineNotFound(
                name, project=self.project, available=sorted(self.pipelines)
            ) from None


class Catalog:
    """Describes projects in child processes and caches the answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # A failure is kept like an answer (as its message): a broken project is
        # not described again, in a child of its own, on every request, until its
        # files change.
        self._cache: dict[Path, tuple[tuple[Any, ...], Described | str]] = {}
        self._busy: dict[Path, threading.Lock] = {}

    def describe(self, root: Path) -> Described:
        """Return the pipelines of the project in ``root``.

        Raises:
            ConfigError: The project's ``uniflow.toml`` is invalid.
            PipelineError: Its modules cannot be imported.
        """
        project = projects.load(root)
        key = _fingerprint(project)
        with self._lock:
            cached = self._cache.get(project.root)
            # One describe child per project at a time: requests that arrive
            # meanwhile wait for its answer instead of starting their own.
            busy = self._busy.setdefault(project.root, threading.Lock())

        if cached is None or cached[0] != key:
            with busy:
                with self._lock:
                    cached = self._cache.get(project.root)
                if cached is None or cached[0] != key:
                    cached = (key, _try_describe(project))
                    with self._lock:
                        self._cache[project.root] = cached

        if isinstance(cached[1], str):
            raise PipelineError(cached[1])
        return cached[1]


class _TooSlow(PipelineError):
    """Describing took too long: maybe only a busy machine, so it is not kept."""


def _try_describe(project: projects.Project) -> Described | str:
    try:
        return _describe_in_child(project)
    except _TooSlow:
        raise
    except PipelineError as exc:
        return str(exc)


def _fingerprint(project: projects.Project) -> tuple[Any, ...]:
    files = [project.root / projects.CONFIG_NAME, *project.module_files()]
    stamps = []
    for path in files:
        stat = path.stat()
        stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


def _describe_in_child(project: projects.Project) -> Described:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "uniflow.runner", "--describe", str(project.root)],
            cwd=project.root,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=DESCRIBE_TIMEOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _TooSlow(
            f"Loading the pipelines of project {project.name!r} took over "
            f"{DESCRIBE_TIMEOUT:.0f} s; a pipeline module does too much at import."
        ) from None

    try:
        answer = json.loads(done.stdout)
    except ValueError:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise PipelineError(
            f"Loading the pipelines of project {project.name!r} failed: {tail[0]}"
        ) from None
    if "error" in answer:
        # An import error's message can be any size; a page of pipelines repeats it.
        raise PipelineError(shorten(str(answer["error"]), 2000))

    return Described(
        project=answer["project"],
        pipelines={p["name"]: p for p in answer["pipelines"]},
    )
