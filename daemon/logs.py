"""A run's output over HTTP: from a byte offset, or followed while the run goes on.

The runner's stdout and stderr go to ``output.log`` in the run's folder. Clients
ask for it from an offset and get the next offset back, so a poll never sends
the same bytes twice; ``follow=true`` keeps the answer open and streams what the
run writes until it ends.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flask import Response, abort, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from uniflow import paths
from uniflow.daemon import auth
from uniflow.daemon.models import RunPath, error_answers
from uniflow.daemon.problems import problem, refuse_query
from uniflow.daemon.supervisor import LOG_NAME
from uniflow.store import Store
from uniflow.tokens import Role

CHUNK = 1024 * 1024
"""The most bytes one answer without ``follow`` carries; the next offset says where
the rest starts."""
POLL = 0.2
"""Seconds between looks at a followed run's log."""
IDLE = 15.0
"""Seconds without output after which a follow answer ends, so that a client that
went away unseen (its connection dropped without a close) while the run printed
nothing frees its slot; a client that is still there asks again from where it got
to."""
FOLLOWERS = 4
"""How many followed logs may stream at once: each holds one of the daemon's
threads for as long as its run goes on."""
_HEADERS = {
    "X-Next-Offset": "The offset to ask from next time.",
    "X-Run-Status": "The run's state when the answer was made.",
}


class LogQuery(BaseModel):
    """Where to start reading a run's output, and whether to follow it."""

    model_config = ConfigDict(extra="forbid")

    offset: int = Field(
        default=0,
        ge=0,
        le=2**62,
        description="The byte to start from: 0, or the X-Next-Offset of an "
        "earlier answer.",
    )
    follow: bool = Field(
        default=False,
        description="Keep the answer open and stream new output until the run ends.",
    )


def add_log_routes(api: APIBlueprint, store: Store, tag: Tag) -> None:
    """Add ``GET /runs/<run_id>/logs`` to the API."""
    followers = threading.BoundedSemaphore(FOLLOWERS)

    @api.get(
        "/runs/<run_id>/logs",
        tags=[tag],
        summary="Read a run's output",
        description="Return the bytes the run printed (mostly UTF-8 text) from "
        f"`offset` on, at most {CHUNK}, with `X-Next-Offset` for the next request; "
        "nothing new gives an empty body. With `follow=true` the answer streams "
        f"new output until the run ends, or until {IDLE:.0f} s pass without any "
        "(ask again from the offset reached). Needs the viewer role.",
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "headers": {
                    name: {"description": text, "schema": {"type": "string"}}
                    for name, text in _HEADERS.items()
                },
            },
            **error_answers(404, 429),
        },
    )
    @auth.requires(Role.VIEWER)
    def run_logs(path: RunPath, query: LogQuery) -> Any:
        run = auth.visible(store.run(path.run_id), path.run_id)
        log = paths.runs_folder() / run.run_id / LOG_NAME
        size = _size(log)
        if query.offset > size:
            refuse_query(
                "offset",
                f"{query.offset} is past the end of the output, which has {size} "
                "bytes so far",
            )

        if not query.follow:
            data = _read(log, query.offset, CHUNK)
            answer = Response(data, mimetype="text/plain")
            answer.headers["X-Next-Offset"] = str(query.offset + len(data))
            answer.headers["X-Run-Status"] = run.status.value
            return answer

        if not followers.acquire(blocking=False):
            abort(
                problem(
                    429,
                    f"{FOLLOWERS} logs are being followed already, the most at once; "
                    "poll with X-Next-Offset instead, or try again later.",
                    kind="too-many-followers",
                    headers={"Retry-After": "5"},
                )
            )
        # waitress says whether the client is still there (with a request lookahead,
        # see server.py); other servers do not, and a follow then ends at a write
        # that fails or after IDLE.
        gone = request.environ.get("waitress.client_disconnected", _never)
        stream = _follow(store, run.run_id, log, query.offset, followers, gone)
        answer = Response(stream, mimetype="text/plain")
        answer.headers["X-Run-Status"] = run.status.value
        answer.headers["Cache-Control"] = "no-store"
        return answer


def _follow(
    store: Store,
    run_id: str,
    log: Path,
    offset: int,
    followers: threading.BoundedSemaphore,
    gone: Callable[[], bool],
) -> Iterator[bytes]:
    """Yield what the run writes from ``offset`` on, until it has ended.

    When the client goes away, ``gone()`` says so at the next poll (or waitress
    closes the generator at its next write), and the ``finally`` gives the slot
    back.
    """
    quiet_since = time.monotonic()
    try:
        while True:
            # The state is read before the log: output written before the run
            # ended is then always sent before the stream stops.
            run = store.run(run_id)
            data = _read(log, offset, CHUNK)
            if data:
                offset += len(data)
                quiet_since = time.monotonic()
                yield data
                continue
            if run is None or run.status.finished:
                return
            if gone() or time.monotonic() - quiet_since > IDLE:
                return
            time.sleep(POLL)
    finally:
        followers.release()


def _never() -> bool:
    return False


def _size(log: Path) -> int:
    fd = _open(log)
    if fd is None:
        return 0
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _read(log: Path, offset: int, most: int) -> bytes:
    fd = _open(log)
    if fd is None:
        return b""
    try:
        return os.pread(fd, most, offset)
    finally:
        os.close(fd)


def _open(log: Path) -> int | None:
    """Open a run's output for reading, or return None when it has none.

    A run writes into its own folder, so its pipeline could put something else in
    place of the output: a FIFO, which would block this thread and in time the
    whole daemon, or a link to another file, the credential file say. Only a
    regular file of its own counts; anything else is no output. A queued run has
    none yet either.
    """
    folder = log.parent
    try:
        if not stat.S_ISDIR(folder.lstat().st_mode):
            return None
        fd = os.open(log, os.O_RDONLY | os.O_NONBLOCK | paths.NO_FOLLOW)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd
