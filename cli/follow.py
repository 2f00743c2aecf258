"""Follow a run as it goes: its steps with their states and times, and its output.

On a terminal, the steps stay in a live table at the bottom of the screen while
the run's output scrolls above it. Piped, or with ``NO_COLOR`` set, the same
events come out as plain lines (``step load: running``, the output, ``step
load: success (0.31 s)``), with no colour, spinner or cursor movement.

Two things go on at once: a thread streams the run's output (polling for it
when the daemon already streams as many logs as it allows), while the calling
thread asks for the run's steps a few times a second.

Known shortcoming: the two are not ordered with each other, so piped, a step
that starts and prints within one look (0.3 s) shows its ``running`` line after
its first output. Ordering them needs each step event to record the output's
byte offset when it happened, which the runner does not write yet.
"""

from __future__ import annotations

import codecs
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from uniflow.cli import render
from uniflow.client import FINISHED, Client
from uniflow.errors import APIError

logger = logging.getLogger(__name__)

POLL = 0.3
"""Seconds between asks for a run's steps."""
LOG_POLL = 0.5
"""Seconds between asks for new output when the daemon refuses to stream it."""
LONGEST_LINE = 64 * 1024
"""Characters of output without a newline after which they are shown anyway."""
MARKS = {
    "success": ("✓", "green"),
    "failed": ("✗", "red"),
    "cancelled": ("✗", "yellow"),
}


def stream_logs(
    client: Client,
    run_id: str,
    *,
    offset: int = 0,
    stop: threading.Event | None = None,
) -> Iterator[bytes]:
    """Yield a run's output from ``offset`` on as it is written, until the run ends.

    The daemon streams only a few logs at once and answers 429 to more; then the
    output is polled instead, which costs a request every :data:`LOG_POLL` seconds
    but shows the same bytes.

    Args:
        client: The client to ask with.
        run_id: The run whose output to yield.
        offset: The byte to start from.
        stop: When set, the output stops after the next chunk or poll.
    """
    stop = stop or threading.Event()
    try:
        for data in client.follow_logs(run_id, offset=offset):
            offset += len(data)
            yield data
            if stop.is_set():
                return
        return
    except APIError as exc:
        if exc.status != 429:
            raise

    logger.info("The daemon streams too many logs; polling run %s's output", run_id)
    while not stop.is_set():
        data, offset, status = client.run_logs(run_id, offset=offset)
        if data:
            yield data
        elif status in FINISHED:
            return
        else:
            stop.wait(LOG_POLL)


class LogLines:
    """Turn a run's output, arriving as chunks of bytes, into lines safe to show.

    The bytes are read as UTF-8, invalid ones replaced, and a character split
    across two chunks is kept whole. Control characters that could drive the
    terminal are replaced; a line redrawn with carriage returns (a progress bar)
    keeps its last version.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._rest = ""

    @property
    def pending(self) -> str:
        """The start of a line whose end has not come yet, cleaned for showing."""
        return _clean(self._rest)

    def feed(self, data: bytes) -> list[str]:
        """Take the next chunk of output; return the lines it completes."""
        *lines, self._rest = (self._rest + self._decoder.decode(data)).split("\n")
        if len(self._rest) > LONGEST_LINE:
            lines.append(self._rest)
            self._rest = ""
        return [_clean(line) for line in lines]

    def finish(self) -> list[str]:
        """Return the last line, when the output did not end with a newline."""
        rest = self._rest + self._decoder.decode(b"", final=True)
        self._rest = ""
        return [_clean(rest)] if rest else []


def _clean(line: str) -> str:
    line = line.rstrip("\r").rsplit("\r", 1)[-1]
    return render.LOG_CONTROL.sub("\ufffd", line)


def wants_live(console: Console) -> bool:
    """Return whether to draw a live display on ``console``.

    Only a terminal that can move its cursor gets one, and not when ``NO_COLOR``
    asks for plain output.
    """
    return (
        console.is_terminal
        and not console.is_dumb_terminal
        and not os.environ.get("NO_COLOR")
    )


def follow_run(
    connect: Callable[[], Client],
    run_id: str,
    console: Console,
    *,
    details: bool = True,
) -> dict[str, Any]:
    """Show a run's steps and output until it ends, then its outcome.

    Args:
        connect: Returns a new client; two are used, one per thread.
        run_id: The run to follow.
        console: Where to show it all: live on a terminal, else as plain lines.
        details: Whether to end with the run's details, as ``runs show`` does.

    Returns:
        The run as it ended.

    Raises:
        KeyboardInterrupt: Ctrl-C stopped the following; the run goes on.
    """
    live = wants_live(console)
    shown = console if live else _plain(console)
    display: _Display = _LiveDisplay(shown) if live else _PlainDisplay(shown)
    chunks: queue.Queue[bytes | Exception | None] = queue.Queue()
    stop = threading.Event()
    reader = threading.Thread(
        target=_read_logs,
        args=(connect, run_id, chunks, stop),
        name=f"logs of {run_id}",
        # Ctrl-C must not wait for the stream, which ends only with the run.
        daemon=True,
    )

    with connect() as client:
        reader.start()
        try:
            with display:
                run = _watch(client, run_id, chunks, display)
        finally:
            stop.set()

    shown.print(outcome(run, marks=live))
    if details:
        render.run_details(shown, run)
    return run


def outcome(run: dict[str, Any], *, marks: bool = False) -> Text:
    """Return one line that says how a run ended, with its error."""
    text = Text()
    if marks and run["status"] in MARKS:
        mark, style = MARKS[run["status"]]
        text.append(f"{mark} ", style=style)
    text.append(f"run {run['run_id']}: ")
    text.append(render.status(run["status"]))
    took = render.duration(run)
    if took and took != "…":
        text.append(f" ({took})")
    if run.get("error"):
        text.append(": ")
        text.append(render.plain(run["error"]))
    return text


def _plain(console: Console) -> Console:
    """Return a console to the same file that writes no escape codes at all."""
    return Console(
        file=console.file,
        color_system=None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
        width=console.width,
    )


def _read_logs(
    connect: Callable[[], Client],
    run_id: str,
    chunks: queue.Queue[bytes | Exception | None],
    stop: threading.Event,
) -> None:
    """Put the run's output in ``chunks``, then any error, then None."""
    try:
        with connect() as client:
            for data in stream_logs(client, run_id, stop=stop):
                chunks.put(data)
    except Exception as exc:  # raised again by the thread that shows the run
        chunks.put(exc)
    finally:
        chunks.put(None)


def _watch(
    client: Client,
    run_id: str,
    chunks: queue.Queue[bytes | Exception | None],
    display: _Display,
) -> dict[str, Any]:
    """Show output and steps until the run has ended and all its output is shown."""
    lines = LogLines()
    run = client.get_run(run_id)
    display.update(run)
    asked = time.monotonic()
    reading = True

    while reading or run["status"] not in FINISHED:
        ended = run["status"] in FINISHED
        if not ended and time.monotonic() - asked >= POLL:
            run = client.get_run(run_id)
            asked = time.monotonic()
            # An ended run's steps are shown after all its output: they end it.
            if run["status"] not in FINISHED:
                display.update(run)
            continue

        wait = POLL if ended else max(0.0, asked + POLL - time.monotonic())
        if not reading:
            time.sleep(wait)
            continue
        try:
            item = chunks.get(timeout=wait)
        except queue.Empty:
            continue
        if item is None:
            reading = False
        elif isinstance(item, Exception):
            raise item
        else:
            done = lines.feed(item)
            display.pending(lines.pending)
            for line in done:
                display.log(line)

    display.pending("")
    for line in lines.finish():
        display.log(line)
    display.update(run)
    return run


class _Display(Protocol):
    def __enter__(self) -> object: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def log(self, line: str) -> None: ...

    def pending(self, text: str) -> None: ...

    def update(self, run: dict[str, Any]) -> None: ...


class _PlainDisplay:
    """Steps and output as lines, for pipes, files and ``NO_COLOR``."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._shown: list[str] = []
        """The state last printed of each step, by its place in the run."""

    def __enter__(self) -> _PlainDisplay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def log(self, line: str) -> None:
        self._console.print(Text(line))

    def pending(self, text: str) -> None:
        pass  # a line is printed once it is whole

    def update(self, run: dict[str, Any]) -> None:
        for index, step in enumerate(run["steps"]):
            if index == len(self._shown):
                # A step that came and went between two looks still ran.
                self._shown.append("running")
                self._console.print(_step_line(step, "running"))
            state = _state(step, run)
            if state != self._shown[index]:
                self._shown[index] = state
                self._console.print(_step_line(step, state))


class _LiveDisplay:
    """Steps in a live table at the bottom, output scrolling above it."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._run: dict[str, Any] | None = None
        self._pending = ""
        self._spinners: dict[int, Spinner] = {}
        self._live = Live(
            console=console,
            get_renderable=self._render,
            refresh_per_second=8,
            transient=False,
        )

    def __enter__(self) -> _LiveDisplay:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()

    def log(self, line: str) -> None:
        self._console.print(Text(line))

    def pending(self, text: str) -> None:
        self._pending = text

    def update(self, run: dict[str, Any]) -> None:
        self._run = run

    def _render(self) -> RenderableType:
        run = self._run
        if run is None:
            return Text("")
        table = Table.grid(padding=(0, 1))
        # A step called in a loop can make more rows than the screen has: keep
        # the latest, where the running one is.
        room = max(3, self._console.height - 4)
        first = max(0, len(run["steps"]) - room)
        for index, step in enumerate(run["steps"][first:], start=first):
            state = _state(step, run)
            table.add_row(
                self._mark(index, state),
                render.plain(step["name"]),
                render.status(state),
                _took(step, run),
                render.plain(step["error"], "red") if step.get("error") else "",
            )

        parts: list[RenderableType] = []
        if self._pending and run["status"] not in FINISHED:
            pending = Text(self._pending, style="dim")
            pending.truncate(self._console.width, overflow="ellipsis")
            parts.append(pending)
        parts.append(_header(run))
        if first:
            parts.append(Text(f"  … {first} earlier steps", style="dim"))
        parts.append(table)
        return Group(*parts)

    def _mark(self, index: int, state: str) -> RenderableType:
        if state == "running":
            return self._spinners.setdefault(index, Spinner("dots", style="cyan"))
        mark, style = MARKS.get(state, (" ", ""))
        return Text(mark, style=style)


def _header(run: dict[str, Any]) -> Text:
    """Return the live display's first line: the run, its state and time."""
    finished = run["status"] in FINISHED
    return Text.assemble(
        ("run ", "bold"),
        render.plain(run["run_id"], "bold"),
        "  ",
        render.plain(f"{run['pipeline_name']} ({run['project']})"),
        "  ",
        render.status(run["status"]),
        "  ",
        render.duration(run) if finished else _since(run.get("started_at")),
    )


def _state(step: dict[str, Any], run: dict[str, Any]) -> str:
    """Return a step's state; one still running in an ended run ended with it."""
    if step["state"] == "running" and run["status"] in FINISHED:
        return str(run["status"])
    return str(step["state"])


def _step_line(step: dict[str, Any], state: str) -> Text:
    text = Text.assemble("step ", render.plain(step["name"]), ": ")
    text.append(render.status(state))
    if state != "running" and step["duration"] is not None:
        text.append(f" ({step['duration']:.2f} s)")
    if state != "running" and step.get("error"):
        text.append(": ")
        text.append(render.plain(step["error"]))
    return text


def _took(step: dict[str, Any], run: dict[str, Any]) -> str:
    """Return how long a step took, or has been running, as text."""
    if step["duration"] is not None:
        return f"{step['duration']:.2f} s"
    if step.get("finished_at") or run["status"] in FINISHED:
        return ""
    return _since(step.get("started_at"))


def _since(started_at: str | None) -> str:
    if not started_at:
        return ""
    started = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    # The server's clock started it: a client whose clock is behind sees 0.
    seconds = max(0.0, (datetime.now(UTC) - started).total_seconds())
    return f"{seconds:.1f} s"
