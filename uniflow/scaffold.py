"""New projects: a ``uniflow.toml`` and an example pipeline to start from.

:func:`create` writes a project that runs as it is (``uniflow run hello --wait``
in its folder), and never writes over a file: when one is in the way it writes
nothing at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from uniflow import projects
from uniflow.errors import ConfigError, ProjectError, ProjectExists

EXAMPLE_PIPELINE = "hello"
"""The name of the example pipeline a new project has."""

_CONFIG = """\
# A UniFlow project. Inside this folder, `uniflow run hello --wait` runs the
# example pipeline and `uniflow pipelines list` shows its pipelines.
[project]
name = "{name}"
pipelines = ["pipelines"]   # files or folders of pipeline modules, relative to here
"""

_EXAMPLE = '''\
"""An example pipeline: change it, or add modules of your own beside it.

Run it from the project's folder:

    uniflow run hello --wait
    uniflow run hello -p name=Ada -p times=3 -p excited=true --follow
"""

from uniflow import pipeline, run_folder, step


@step
def compose(name: str, excited: bool) -> str:
    """Write the greeting."""
    return f"Hello, {name}{'!' if excited else '.'}"


@step
def save(greeting: str, times: int) -> str:
    """Print the greeting ``times`` times and keep it in the run's folder."""
    lines = [greeting] * times
    for line in lines:
        print(line, flush=True)
    path = run_folder() / "greeting.txt"
    path.write_text("\\n".join(lines) + "\\n", encoding="utf-8")
    return str(path)


@pipeline
def hello(name: str = "world", times: int = 1, excited: bool = False) -> dict:
    """Greet someone and keep the greeting in the run's folder."""
    greeting = compose(name, excited)
    return {"greeting": greeting, "saved": save(greeting, times)}
'''

_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Created:
    """A project that :func:`create` wrote."""

    name: str
    root: Path
    files: tuple[Path, ...]
    """The files written, relative to ``root``."""


def files(name: str) -> dict[Path, str]:
    """Return the files of a new project named ``name``, by path relative to its
    folder."""
    return {
        Path(projects.CONFIG_NAME): _CONFIG.format(name=name),
        Path("pipelines") / f"{EXAMPLE_PIPELINE}.py": _EXAMPLE,
    }


def suggest_name(text: str) -> str:
    """Return a valid project name made from ``text``, or ``"my-project"``.

    Used to offer a name when a folder's name is not one, such as
    ``"my-project"`` for ``"my project"``.
    """
    name = _NOT_IN_NAMES.sub("-", text).strip("-_.")[:64].rstrip("-_.")
    return name or "my-project"


def create(root: Path, name: str) -> Created:
    """Write a new project named ``name`` into the folder ``root``.

    The folder and its parents are created when missing.

    Raises:
        ConfigError: ``name`` is not a valid project name, or ``root`` is not a
            folder.
        ProjectExists: One of the project's files, or a folder it needs, is
            already there; nothing was written.
        ProjectError: The files cannot be written (no permission, disk full);
            what was written is taken back.
    """
    projects.validate_name(name)
    root = root.resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(
            f"{root} is a file, not a folder; give a folder to create the project "
            "in (it is created when missing).",
            path=root,
        )

    wanted = files(name)
    in_the_way = sorted({path for p in wanted if (path := _in_the_way(root, p))})
    if in_the_way:
        raise ProjectExists(in_the_way, project=name)

    made: list[Path] = []
    try:
        for relative, text in wanted.items():
            _write(root, relative, text, made)
    except OSError as exc:
        _take_back(made)
        if isinstance(exc, FileExistsError):
            # Written by someone else since the check above.
            raise ProjectExists([Path(exc.filename)], project=name) from None
        raise ProjectError(
            f"Cannot create the project in {root}: {exc.strerror or exc} "
            f"({exc.filename}). Nothing was written.",
            project=name,
        ) from None
    return Created(name=name, root=root, files=tuple(wanted))


def _in_the_way(root: Path, relative: Path) -> Path | None:
    """Return what is in the way of writing ``relative`` under ``root``: the file
    itself, or a file where one of its folders should be; None when nothing is."""
    for parent in reversed(relative.parents):
        folder = root / parent
        if os.path.lexists(folder) and not folder.is_dir():
            return folder
    path = root / relative
    return path if os.path.lexists(path) else None


def _write(root: Path, relative: Path, text: str, made: list[Path]) -> None:
    """Write one file, creating its folders; note everything created in ``made``."""
    path = root / relative
    missing = [f for f in (path.parent, *path.parent.parents) if not f.exists()]
    for folder in reversed(missing):
        folder.mkdir()
        made.append(folder)
    # "x": fails rather than write over a file that appeared since the check.
    with path.open("x", encoding="utf-8") as file:
        made.append(path)
        file.write(text)


def _take_back(made: list[Path]) -> None:
    """Remove what a failed :func:`create` made, newest first."""
    for path in reversed(made):
        try:
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
        except OSError:
            pass
