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
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
"""For ``os.open`` of a file in the data folder: a symbolic link there is refused."""


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
    keep_private(path, link_ok=True)
    return path


def keep_private(path: Path, *, link_ok: bool = False) -> None:
    """Make sure only the user can reach a file or folder of UniFlow's.

    A folder made by `mkdir`, or a store or credential file left by an older
    version or copied in, follows the usual umask and may be open to others: it is
    closed to them. One that belongs to another user, who could change the tokens
    kept there whatever its mode, or a symbolic link, which could lead writes
    anywhere, is refused. A missing path is left for the caller to make.

    Args:
        link_ok: The path may be a symbolic link (the data folder itself, which a
            user may keep elsewhere); what it leads to is checked.

    Raises:
        ConfigError: The path is a symbolic link, or belongs to another user.
    """
    try:
        info = path.stat() if link_ok else path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise ConfigError(
            f"{str(path)!r} is a symbolic link; UniFlow writes there, so it must be "
            "a file of its own: remove the link.",
            path=path,
        )
    if info.st_uid != os.getuid():
        raise ConfigError(
            f"{str(path)!r} belongs to another user (uid {info.st_uid}), who could "
            "change what UniFlow reads there; UniFlow uses only files and folders "
            "of your own: take it over with chown, or move it aside (for the data "
            f"folder, set {HOME_ENV} to one of yours).",
            path=path,
        )
    if info.st_mode & 0o077:
        path.chmod(0o700 if stat.S_ISDIR(info.st_mode) else 0o600)


ONE_MIB = 1 << 20


class NotASmallFile(OSError):
    """A file UniFlow reads is not a regular file, or is too long to be one of its
    own; ``strerror`` says which, in words that follow "is"."""


def read_small(path: Path, most: int = ONE_MIB) -> bytes:
    """Return the whole of a small regular file.

    Neither a FIFO without a writer nor an endless device can hang the caller: the
    file is opened without blocking and read only when it is a regular file, and
    at most one byte past ``most`` is read.

    Raises:
        NotASmallFile: It is no regular file, or longer than ``most`` bytes.
        OSError: It cannot be opened or read (FileNotFoundError when missing).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotASmallFile(0, "not a regular file", str(path))
        data = os.read(fd, most + 1)
    finally:
        os.close(fd)
    if len(data) > most:
        size = "1 MiB" if most == ONE_MIB else f"{most} bytes"
        raise NotASmallFile(0, f"over {size}, far more than it should hold", str(path))
    return data


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
