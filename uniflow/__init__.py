"""UniFlow: run parameterised pipelines from the terminal, scripts and CI.

Glossary, one word per concept everywhere (classes, CLI flags, JSON keys, logs):

- *project*: a folder with a ``uniflow.toml`` that names it and says where its
  pipelines are.
- *pipeline*: what to run; a function marked with :func:`pipeline`, whose
  parameters come from its signature, or a command (a program and its
  arguments) that ``uniflow.toml`` declares with typed parameters.
- *step*: a function marked with :func:`step`; each call inside a run is
  recorded.
- *run*: one execution of a pipeline with resolved parameters.
- *daemon*: the local Flask service that serves the API and executes runs.
- *token*: a named credential with a role, sent as ``Authorization: Bearer``.
- *role*: what a token may do: ``viewer``, ``operator`` or ``admin``.

This package is the core: it never prints to a terminal and knows nothing of
Flask. ``uniflow.cli`` and ``uniflow.daemon`` are the adapters over it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uniflow._context import run_folder
    from uniflow.client import Client
    from uniflow.errors import (
        APIError,
        AuthenticationError,
        ConfigError,
        CredentialError,
        DaemonError,
        DaemonNotRunning,
        PermissionDenied,
        UniFlowError,
    )
    from uniflow.pipelines import Pipeline, pipeline, step

__version__ = "0.1.0"

# The public names are imported when first used, so that `uniflow --version` and
# the daemon's own modules do not pay for the client and the pipeline machinery.
_HOMES = {
    "APIError": "uniflow.errors",
    "AuthenticationError": "uniflow.errors",
    "Client": "uniflow.client",
    "ConfigError": "uniflow.errors",
    "CredentialError": "uniflow.errors",
    "DaemonError": "uniflow.errors",
    "DaemonNotRunning": "uniflow.errors",
    "PermissionDenied": "uniflow.errors",
    "Pipeline": "uniflow.pipelines",
    "pipeline": "uniflow.pipelines",
    "run_folder": "uniflow._context",
    "step": "uniflow.pipelines",
    "UniFlowError": "uniflow.errors",
}

__all__ = [
    "APIError",
    "AuthenticationError",
    "Client",
    "ConfigError",
    "CredentialError",
    "DaemonError",
    "DaemonNotRunning",
    "PermissionDenied",
    "Pipeline",
    "UniFlowError",
    "__version__",
    "pipeline",
    "run_folder",
    "step",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'uniflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
