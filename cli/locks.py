"""Locks that keep two CLI processes from doing the same one-off work at once."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from uniflow import paths


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Hold the lock file ``name`` in the data folder for the ``with`` block.

    Two ``uniflow run`` started together on a fresh machine would otherwise both
    start a daemon, or both provision a token and revoke each other's.
    """
    fd = os.open(
        paths.home() / f"{name}.lock", os.O_RDWR | os.O_CREAT | paths.NO_FOLLOW, 0o600
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
