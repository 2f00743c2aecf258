"""Where UniFlow keeps its files.

Everything UniFlow writes lives below one folder: ``$UNIFLOW_HOME`` when that is
set, so tests and side-by-side installs never share state, else the platform's
user data folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from uniflow.errors import ConfigError

HOME_ENV = "UNIFLOW_HOME"


def home() -> Path:
    """Return UniFlow's data folder, creating it readable by the user only."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_absolute():
            # A relative folder would change with the current folder.
            raise ConfigError(
                f"{HOME_ENV}={configured!r} is relative; give an absolute path."
            )
    else:
        import platformdirs

        path = platformdirs.user_data_path("uniflow", appauthor=False)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(
            f"UniFlow cannot use {str(path)!r} as its data folder: {exc.strerror}; "
            f"set {HOME_ENV} to a folder you can write."
        ) from None
    if not path.is_dir():
        raise ConfigError(f"{str(path)!r} is not a folder; set {HOME_ENV} to one.")
    keep_private(path)
    return path


def keep_private(path: Path) -> None:
    """Take away other users' access to a file or folder of ours made beforehand.

    A folder made by `mkdir`, or a store or credential file left by an older
    version or copied in, follows the usual umask and may be open to others; the
    tokens' hashes, the credentials and the names of runs and projects are the
    user's alone. A missing path, or one owned by someone else, is left as it is.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_mode & 0o077 and info.st_uid == os.getuid():
        path.chmod(0o700 if path.is_dir() else 0o600)


def read_bounded(path: Path, most: int) -> bytes | None:
    """Return up to ``most + 1`` bytes of a regular file; None for anything else.

    Neither a FIFO without a writer nor an endless device can hang the caller: the
    file is opened without blocking and only read when it is a regular file. One
    byte past ``most`` tells the caller the file is too long.

    Raises:
        OSError: It cannot be opened or read (FileNotFoundError when missing).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, most + 1)
    finally:
        os.close(fd)


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
