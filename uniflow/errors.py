"""The exceptions UniFlow raises.

Every error UniFlow raises on purpose derives from :class:`UniFlowError`, so a
caller can catch them all at once; each family below carries the data that
explains it (a path, a field, a status) besides its message::

    UniFlowError
    ├── ConfigError              a uniflow.toml or config file is wrong
    ├── ProjectError             a project is unknown or cannot be registered
    │   └── ProjectExists        a new project would write over existing files
    ├── PipelineError
    │   ├── PipelineNotFound     no pipeline of that name in the project
    │   └── ParameterError       parameters do not match the pipeline's signature
    ├── RunNotFound              no run of that id
    ├── RunFinished              the run has ended; it cannot be cancelled
    ├── DurationError            a duration such as '30d' cannot be read
    ├── TokenError               a token request is invalid (name, role, id, expiry)
    ├── AuthenticationError      no valid credential: missing, malformed, unknown,
    │                            revoked or expired (HTTP 401)
    ├── PermissionDenied         the credential's role or project does not allow it
    │                            (HTTP 403)
    ├── CredentialError          the credential store failed or timed out
    ├── RequestError             a value cannot be sent as given: not an id, or
    │                            too long for an address
    ├── DaemonError
    │   ├── DaemonNotRunning     nothing answers at the daemon's address
    │   └── DaemonStopping       the daemon is stopping and takes no new run
    └── APIError                 an error answer from a UniFlow server, with its
        │                        status; a 503 is a daemon that is stopping
        ├── Unauthorized         401: also an AuthenticationError
        └── Forbidden            403: also a PermissionDenied

The client (:class:`uniflow.Client`) raises the :class:`APIError` family for what
a server answers, so ``except AuthenticationError`` catches a token the server
refused as well as one that is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uniflow.tokens import Token


class UniFlowError(Exception):
    """Base class of every error UniFlow raises on purpose."""


class ConfigError(UniFlowError):
    """A configuration file is missing, unreadable or invalid."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class ProjectError(UniFlowError):
    """A project is unknown (``found`` is False), or cannot be registered as asked."""

    def __init__(
        self,
        message: str,
        *,
        project: str | None = None,
        found: bool = True,
        conflict: bool = False,
    ) -> None:
        super().__init__(message)
        self.project = project
        self.found = found
        """False when the project is not registered."""
        self.conflict = conflict
        """True when the name belongs to another project folder."""


class ProjectExists(ProjectError):
    """A new project would write over files that already exist; nothing was written."""

    def __init__(self, paths: list[Path], *, project: str) -> None:
        named = " and ".join(str(p) for p in paths)
        verb = "exists" if len(paths) == 1 else "exist"
        super().__init__(
            f"{named} already {verb}; UniFlow does not write over "
            f"{'it' if len(paths) == 1 else 'them'}. Move "
            f"{'it' if len(paths) == 1 else 'them'} away, or create the project in "
            "another folder. Nothing was written.",
            project=project,
        )
        self.paths = paths
        """The files in the way."""


class PipelineError(UniFlowError):
    """A pipeline cannot be found, described or run."""


class PipelineNotFound(PipelineError):
    """The project has no pipeline of the requested name."""

    def __init__(self, name: str, *, project: str, available: list[str]) -> None:
        known = ", ".join(repr(n) for n in available) or "none"
        super().__init__(
            f"Project {project!r} has no pipeline {name!r}; its pipelines: {known}."
        )
        self.name = name
        self.project = project
        self.available = available


@dataclass(frozen=True)
class FieldError:
    """One parameter that failed validation."""

    field: str
    """The parameter's name (empty when the problem is the whole object)."""
    message: str
    """What is wrong and what the parameter expects."""


class ParameterError(PipelineError):
    """A run's parameters do not match the pipeline's signature."""

    def __init__(self, errors: list[FieldError], *, pipeline: str = "") -> None:
        parts = "; ".join(
            f"{e.field}: {e.message}" if e.field else e.message for e in errors
        )
        prefix = f"Invalid parameters for {pipeline!r}" if pipeline else "Invalid"
        super().__init__(f"{prefix}: {parts}.")
        self.errors = errors
        self.pipeline = pipeline


class RunNotFound(UniFlowError):
    """No run has the requested id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"No run {run_id!r}; `uniflow runs list` shows the runs that exist."
        )
        self.run_id = run_id


class RunFinished(UniFlowError):
    """The run has already ended, so it cannot be changed."""

    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(
            f"Run {run_id!r} has already ended ({status}); there is nothing to cancel."
        )
        self.run_id = run_id
        self.status = status


class DurationError(UniFlowError):
    """A duration such as ``30d`` is malformed, zero or too long."""

    def __init__(self, message: str, *, text: str) -> None:
        super().__init__(message)
        self.text = text
        """The duration as given."""


class TokenError(UniFlowError):
    """A token cannot be created, found, rotated or revoked as asked."""

    def __init__(self, message: str, *, status: int = 422, field: str = "name") -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        """The request field at fault, for a 422."""


class AuthenticationError(UniFlowError):
    """The request carries no valid credential."""

    def __init__(
        self, message: str, *, reason: str = "unknown", token: Token | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        """Why, in one word: ``missing``, ``malformed``, ``checksum``,
        ``unknown``, ``revoked`` or ``expired``."""
        self.token = token
        """The token the secret belongs to, when it is known but not active."""


class PermissionDenied(UniFlowError):
    """The credential is valid but its role does not allow the action."""


class CredentialError(UniFlowError):
    """The credential store (OS keyring or fallback file) failed."""


class RequestError(UniFlowError):
    """A value cannot be sent to a server as given: it is not an id or name of
    the kind asked for, or it makes the request's address too long."""


class DaemonError(UniFlowError):
    """The daemon cannot be started, stopped or reached."""


class DaemonNotRunning(DaemonError):
    """Nothing answers at the daemon's address."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"No UniFlow daemon answers at {url}; "
            "start one with `uniflow daemon start`."
        )
        self.url = url


class DaemonStopping(DaemonError):
    """The daemon is stopping and takes no new runs."""

    def __init__(self) -> None:
        super().__init__(
            "The daemon is stopping and takes no new runs; trigger the run again "
            "once it is back (`uniflow daemon start`)."
        )


class APIError(UniFlowError):
    """A UniFlow server answered with an error status."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        url: str,
        body: dict[str, object] | None = None,
    ) -> None:
        super().__init__(detail or f"{status} {title} for {url}")
        self.status = status
        self.title = title
        self.detail = detail
        self.url = url
        self.body = body or {}


def shorten(text: str, most: int, *, whole: str = "in all") -> str:
    """Return ``text`` cut to at most ``most`` characters, saying how long it was.

    Messages can quote what they are about (a value sent, a module's exception),
    which may be any size; wherever one is kept or sent, it is cut with this.

    Args:
        text: The message.
        most: The most characters to return.
        whole: Where the whole text is, said after its length.
    """
    if len(text) <= most:
        return text
    tail = f"... ({len(text)} characters {whole})"
    return text[: most - len(tail)] + tail


class Unauthorized(APIError, AuthenticationError):
    """The server refused the request's token (HTTP 401): missing, malformed,
    unknown, revoked or expired; the detail says which."""


class Forbidden(APIError, PermissionDenied):
    """The server refused the action to the token's role or project (HTTP 403)."""
