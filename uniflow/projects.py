"""Projects: folders with a ``uniflow.toml`` that say where their pipelines are.

A minimal ``uniflow.toml``::

    [project]
    name = "default"            # optional; "default" when not set
    pipelines = ["pipelines"]   # files or folders of .py modules, relative to it

It may also declare pipelines that run a program, written in any language (see
:mod:`uniflow.command_pipelines`)::

    [pipelines.report]
    command = ["python3", "scripts/report.py"]  # the program and its arguments
    description = "Write the weekly report"     # optional
    timeout = 600                               # optional, seconds

    [pipelines.report.parameters.days]
    type = "integer"            # string, integer, number, boolean, array, object
    default = 7                 # optional; without one the parameter is required
    description = "How many days back"          # optional

``command`` is a list, never a shell command line. The program starts in the
project folder: a program with a ``/`` in its name is taken from there (such as
``scripts/report.sh``), a bare name is looked up on ``PATH``. A run's parameters
reach it as the JSON file named by ``UNIFLOW_PARAMETERS_FILE`` and as one
variable each, ``UNIFLOW_PARAM_<NAME>`` (the name upper-cased; strings as they
are, other values as JSON), beside ``UNIFLOW_RUN_ID`` and ``UNIFLOW_RUN_FOLDER``.
The run succeeds when the program exits with code 0.

A parameter may also have ``format`` (``"date"``, ``"date-time"`` or ``"time"``,
for strings), ``enum`` (a list of the allowed values), ``minimum`` and
``maximum`` (for integers and numbers), ``min_length`` and ``max_length`` (for
strings and arrays). Its name is letters, digits and ``_``. A project with only
command pipelines needs no ``pipelines`` folder.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from uniflow import command_pipelines, paths
from uniflow.command_pipelines import CommandPipeline
from uniflow.errors import ConfigError, ProjectError
from uniflow.runs import timestamp
from uniflow.tokens import holds_secret

if TYPE_CHECKING:
    from uniflow.store import Store

CONFIG_NAME = "uniflow.toml"
DEFAULT_PROJECT = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Project:
    """A project folder and what its ``uniflow.toml`` says."""

    name: str
    root: Path
    pipelines: tuple[str, ...]
    """Files or folders, relative to ``root``, whose modules hold pipelines."""
    commands: tuple[CommandPipeline, ...] = ()
    """The pipelines that ``uniflow.toml`` declares as a program to run."""

    def module_files(self) -> list[Path]:
        """Return every Python file that may define pipelines, in a stable order."""
        files: list[Path] = []
        for entry in self.pipelines:
            path = (self.root / entry).resolve()
            if not path.is_relative_to(self.root):
                raise ConfigError(
                    f"{CONFIG_NAME} names pipelines {entry!r}, outside the project "
                    f"folder {self.root}; list paths inside it.",
                    path=self.root / CONFIG_NAME,
                )
            if path.is_dir():
                files.extend(
                    p
                    for p in sorted(path.rglob("*.py"))
                    if "__pycache__" not in p.parts
                )
            elif path.suffix == ".py" and path.is_file():
                files.append(path)
            else:
                raise ConfigError(
                    f"{CONFIG_NAME} names pipelines {entry!r}, but {path} is neither "
                    "a .py file nor a folder; fix the 'pipelines' list.",
                    path=self.root / CONFIG_NAME,
                )
        return files


def validate_name(name: str) -> str:
    """Return ``name`` when it is a valid project name.

    Raises:
        ConfigError: The name is empty, too long or has other characters than
            letters, digits, ``_``, ``.`` and ``-``.
    """
    if holds_secret(name):
        raise ConfigError(
            "The project name given holds a token's secret (uf_ and a long random "
            "part); project names are shown in lists and logs, so choose another "
            "one, and rotate that token if the secret is real."
        )
    if not _NAME.match(name):
        raise ConfigError(
            f"Invalid project name {name!r}; use 1 to 64 letters, digits, '_', '.' "
            "or '-', starting with a letter or digit."
        )
    return name


def load(root: Path) -> Project:
    """Read the project whose ``uniflow.toml`` is in ``root``.

    Raises:
        ConfigError: The file is missing, is not valid TOML, or has wrong values.
    """
    root = root.resolve()
    path = root / CONFIG_NAME
    try:
        # Bounded and without blocking: a FIFO in its place would hang the daemon's
        # request that registers the project.
        raw = paths.read_small(path)
    except FileNotFoundError:
        raise ConfigError(
            f"No {CONFIG_NAME} in {root}; a project folder needs one.", path=path
        ) from None
    except paths.NotASmallFile as exc:
        raise ConfigError(
            f"{path} is {exc.strerror}; it must be a regular file of at most 1 MiB "
            "holding the project's settings.",
            path=path,
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{path} cannot be read ({exc.strerror}); check its permissions.",
            path=path,
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.", path=path) from None

    section = data.get("project", {})
    if not isinstance(section, dict):
        raise ConfigError(f"[project] in {path} must be a table.", path=path)

    name = section.get("name", DEFAULT_PROJECT)
    if not isinstance(name, str):
        raise ConfigError(f"project.name in {path} must be a string.", path=path)

    commands = command_pipelines.parse(data.get("pipelines", {}), path)
    # The default folder is optional where the file declares pipelines itself.
    default = [] if commands and not (root / "pipelines").exists() else ["pipelines"]
    pipelines = section.get("pipelines", default)
    if isinstance(pipelines, str):
        pipelines = [pipelines]
    if not isinstance(pipelines, list) or not all(
        isinstance(p, str) for p in pipelines
    ):
        raise ConfigError(
            f"project.pipelines in {path} must be a list of paths, "
            'for example ["pipelines"].',
            path=path,
        )

    return Project(
        name=validate_name(name),
        root=root,
        pipelines=tuple(pipelines),
        commands=commands,
    )


def find(start: Path) -> Project | None:
    """Return the project whose folder holds ``start``, or None outside any project."""
    start = start.resolve()
    for folder in (start, *start.parents):
        config = folder / CONFIG_NAME
        # Not only a regular file: a FIFO or a device there is a broken project,
        # which load() says, not the absence of one.
        if config.exists() and not config.is_dir():
            return load(folder)
    return None


def register(store: Store, name: str, path: str) -> bool:
    """Register the project folder ``path`` under ``name``.

    A name already registered from another folder is taken over only when that
    folder no longer holds the project (it moved or was deleted), so that two
    projects of one name never replace each other silently.

    Returns:
        True when the registration is new or changed, False when it was there.

    Raises:
        ProjectError: The path is not an absolute folder, its ``uniflow.toml``
            names another project, or the name belongs to another folder.
        ConfigError: Its ``uniflow.toml`` is invalid.
    """
    if holds_secret(path):
        # Paths are listed to every token that may read projects.
        raise ProjectError(
            "The project path given holds a token's secret; move the project to a "
            "folder whose path does not, and rotate that token if the secret is real."
        )
    root = Path(path)
    if not root.is_absolute():
        raise ProjectError(f"The project path {path!r} must be absolute.")
    if not root.is_dir():
        raise ProjectError(f"The project path {path!r} is not a folder.")
    project = load(root)
    if project.name != name:
        raise ProjectError(
            f"{project.root / CONFIG_NAME} names the project {project.name!r}, "
            f"not {name!r}."
        )

    known = store.project_path(name)
    if known == str(project.root):
        return False
    if known is not None and _holds(Path(known), name):
        raise ProjectError(
            f"Project {name!r} is already registered from {known}; give this one "
            f"another name in {project.root / CONFIG_NAME}, or remove the other "
            f"with `uniflow projects remove {name}`.",
            project=name,
            conflict=True,
        )
    store.put_project(name, str(project.root), timestamp())
    return True


def _holds(root: Path, name: str) -> bool:
    try:
        return load(root).name == name
    except ConfigError:
        return False
