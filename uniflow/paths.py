"""Where UniFlow keeps its files.

Everything UniFlow writes lives below one folder: ``$UNIFLOW_HOME`` when that is
set, so tests and side-by-side installs never share state, else the platform's
user data folder.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "UNIFLOW_HOME"


def home() -> Path:
    """Return UniFlow's data folder, creating it readable by the user only."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        path = Path(configured).expanduser().resolve()
    else:
        import platformdirs

        path = platformdirs.user_data_path("uniflow", appauthor=False)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def database() -> Path:
    """Return the path of the SQLite store."""
    return home() / "uniflow.db"


def runs_folder() -> Path:
    """Return the folder that holds one sub-folder per run."""
    return home() / "runs"


def daemon_state() -> Path:
    """Return the file in which a running daemon records its pid and address."""
    return home() / "daemon.json"


def daemon_log() -> Path:
    """Return the log file of a daemon started in the background."""
    return home() / "daemon.log"


def config_file() -> Path:
    """Return the user's config file."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return home() / "config.toml"

    import platformdirs

    return platformdirs.user_config_path("uniflow", appauthor=False) / "config.toml"


def credentials_file() -> Path:
    """Return the fallback credential file used when no OS keyring works."""
    return home() / "credentials.json"
