"""``uniflow run --follow`` and ``runs logs -f``: steps and output as a run goes.

The tests run real pipelines of the fixture project (chatty, chatty_fails, ticks)
through a daemon of this module's own: the fallback tests take every log stream
the daemon allows, which must not slow down the other modules' tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from uniflow.cli.follow import LogLines

FIXTURE_PROJECT = Path(__file__).resolve().parents[1] / "fixtures" / "project"
_SCRIPT = Path(sys.executable).with_name("uniflow")
UNIFLOW = (
    [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "uniflow.cli.main"]
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RUN_ID = re.compile(r"Run (run_[0-9a-f]+) of")
CHATTY_OUTPUT = [
    "loading 3 rows",
    "loaded rows of Zoë ✓ \ufffd[2Jstill here",
    "scaling 3 rows",
    "total 60",
]
CHATTY_STEPS = ["load_rows", "scale_rows", "report_rows"]
FOLLOWERS = 4  # the most logs the daemon streams at once


@dataclass
class Setup:
    """The module's daemon, the CLI that started it, and the project it runs."""

    cli: Any
    project: Path
    url: str

    def run(self, *args: str, **env: str) -> Any:
        """Run ``uniflow ARGS`` in the project folder."""
        return self.cli(*args, cwd=self.project, **env)

    def http(self) -> httpx.Client:
        """Return an HTTP client with the CLI's own token."""
        entries = json.loads((self.cli.home / "credentials.json").read_text("utf-8"))
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {entries[self.url]}"},
            timeout=30,
        )


@pytest.fixture(scope="module")
def setup(cli_in: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    cli, project = cli_in(tmp_path_factory.mktemp("follow"))
    try:
        started = cli("daemon", "start", cwd=project)
        state = cli.state()
        assert started.code == 0 and state is not None, started
        yield Setup(cli, project, state["url"])
    finally:
        cli.stop_daemon()


class Terminal:
    """``uniflow`` in a real pseudo-terminal, with all it has written so far."""

    def __init__(self, setup: Setup, *args: str, **env: str) -> None:
        main, sub = pty.openpty()
        fcntl.ioctl(sub, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        self.process = subprocess.Popen(
            [*UNIFLOW, *args],
            stdin=sub,
            stdout=sub,
            stderr=sub,
            cwd=setup.project,
            env=setup.cli.env(**env),
            start_new_session=True,
        )
        os.close(sub)
        self._main = main
        self._data = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # Drained all along, so the command never blocks on a full terminal.
        while True:
            try:
                chunk = os.read(self._main, 65536)
            except OSError:
                return  # EIO: the command and its children have closed the terminal
            if not chunk:
                return
            self._data += chunk

    @property
    def raw(self) -> str:
        """What the command wrote, escape codes and all."""
        return bytes(self._data).decode("utf-8", errors="replace")

    @property
    def text(self) -> str:
        """What the command wrote, without escape codes."""
        return ANSI.sub("", self.raw)

    def wait(self, timeout: float = 90.0) -> int:
        """Wait for the command to exit and return its exit code."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(
                f"Still running after {timeout} s:\n{self.text}"
            ) from None
        self._reader.join(10)
        os.close(self._main)
        return code


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def _in_order(lines: list[str], expected: list[str]) -> bool:
    if any(line not in lines for line in expected):
        return False
    places = [lines.index(line) for line in expected]
    return places == sorted(places)


def _run_id(text: str) -> str:
    found = RUN_ID.search(text)
    assert found, text
    return found.group(1)


# Lines from chunks


def test_split_character_is_kept_whole():
    lines = LogLines()
    data = "Zoë ✓\n".encode()

    got = [line for i in range(len(data)) for line in lines.feed(data[i : i + 1])]

    assert got == ["Zoë ✓"]


def test_invalid_bytes_become_replacements():
    lines = LogLines()

    assert lines.feed(b"bad \xff byte\nend") == ["bad \ufffd byte"]
    assert lines.finish() == ["end"]


def test_control_characters_are_replaced():
    lines = LogLines()

    got = lines.feed(b"\x1b]0;title\x07\x1b[2Jtext\tend\n")

    assert got == ["\ufffd]0;title\ufffd\ufffd[2Jtext\tend"]


def test_redrawn_line_keeps_its_last_version():
    lines = LogLines()

    assert lines.feed(b"10%\r50%\r100%\r\n") == ["100%"]
    assert lines.feed(b"next") == []
    assert lines.pending == "next"


# Piped


def test_piped_follow_shows_steps_and_output(setup):
    done = setup.run("run", "chatty", "--follow")

    assert done.code == 0, done
    assert "\x1b" not in done.out + done.err
    lines = _lines(done.out)
    assert _in_order(lines, CHATTY_OUTPUT), done
    running = [f"step {name}: running" for name in CHATTY_STEPS]
    assert _in_order(lines, running), done
    for name in CHATTY_STEPS:
        ended = [line for line in lines if line.startswith(f"step {name}: success (")]
        assert len(ended) == 1, done
        assert lines.index(f"step {name}: running") < lines.index(ended[0])
    run_id = _run_id(done.err)
    outcome = next(
        i for i, line in enumerate(lines) if line.startswith(f"run {run_id}:")
    )
    assert lines[outcome].startswith(f"run {run_id}: success ("), done
    assert all(lines.index(line) < outcome for line in CHATTY_OUTPUT)
    assert '  result     {"total": 60}' in lines[outcome:]


def test_failed_step_exits_one_with_error(setup):
    done = setup.run("run", "chatty_fails", "--follow")

    assert done.code == 1, done
    assert "\x1b" not in done.out + done.err
    lines = _lines(done.out)
    assert _in_order(lines, ["loading 2 rows", "checking 2 rows"]), done
    error = "RuntimeError: row 2 is not a number"
    assert any(
        line.startswith("step reject_rows: failed (") and line.endswith(error)
        for line in lines
    ), done
    run_id = _run_id(done.err)
    assert any(
        line.startswith(f"run {run_id}: failed (") and line.endswith(error)
        for line in lines
    ), done


def test_json_output_goes_to_stdout_alone(setup):
    done = setup.run("run", "chatty", "--follow", "-o", "json")

    assert done.code == 0, done
    run = json.loads(done.out)
    assert run["status"] == "success"
    assert [step["name"] for step in run["steps"]] == CHATTY_STEPS
    assert _in_order(_lines(done.err), CHATTY_OUTPUT), done
    assert "step report_rows: running" in done.err


def test_follow_takes_the_place_of_wait(setup):
    done = setup.run("run", "hello", "--wait", "--follow", "-p", "name=Zoë")

    assert done.code == 0, done
    lines = _lines(done.out)
    # Output and steps come by two ways, so only each one's own order is sure.
    assert "hello Zoë" in lines, done
    assert _in_order(lines, ["step greet: running", "step save: running"]), done


# On a terminal


def test_terminal_draws_live_and_ends(setup):
    terminal = Terminal(setup, "run", "chatty", "--follow")

    assert terminal.wait() == 0, terminal.text
    raw, text = terminal.raw, terminal.text
    assert "\x1b[1A" in raw  # the live table moves the cursor up to redraw
    assert raw.rindex("\x1b[?25h") > raw.rindex("\x1b[1A")  # and shows it again
    assert "\x1b[2J" not in raw  # the run printed one; it arrives defused
    assert "Traceback" not in text
    run_id = _run_id(text)
    lines = _lines(text)
    assert _in_order(lines, CHATTY_OUTPUT), text
    outcome = lines.index(next(line for line in lines if f"run {run_id}:" in line))
    assert lines[outcome].startswith(f"✓ run {run_id}: success ("), text
    for name in CHATTY_STEPS:
        assert any(re.match(rf"✓ {name} +success", line) for line in lines[:outcome])
    assert '  result     {"total": 60}' in lines[outcome:]


def test_no_color_terminal_gets_plain_lines(setup):
    terminal = Terminal(setup, "run", "chatty_fails", "--follow", NO_COLOR="1")

    assert terminal.wait() == 1, terminal.text
    assert "\x1b" not in terminal.raw
    lines = _lines(terminal.raw)
    assert _in_order(lines, ["step load_rows: running", "step reject_rows: running"])
    assert "  error      RuntimeError: row 2 is not a number" in lines


def test_no_color_terminal_gets_no_bold_either(setup):
    """A table on a terminal has a bold header; with NO_COLOR, no escape codes."""
    styled = Terminal(setup, "token", "list")
    assert styled.wait() == 0, styled.text
    assert "\x1b[" in styled.raw

    plain = Terminal(setup, "token", "list", NO_COLOR="1")
    assert plain.wait() == 0, plain.text
    assert "\x1b" not in plain.raw
    assert "NAME" in plain.raw


def test_ctrl_c_stops_following_not_run(setup, wait_until):
    terminal = Terminal(
        setup, "run", "ticks", "-p", "count=600", "-p", "every=0.2", "--follow"
    )
    wait_until(lambda: "tick 1" in terminal.text, 60, "the run's output")

    terminal.process.send_signal(signal.SIGINT)

    assert terminal.wait() == 130, terminal.text
    run_id = _run_id(terminal.text)
    assert f"Stopped following; run {run_id} goes on." in terminal.text
    assert f"uniflow runs logs {run_id} -f" in terminal.text
    assert terminal.raw.count("\x1b[?25l") == terminal.raw.count("\x1b[?25h")
    assert "Traceback" not in terminal.text
    with setup.http() as http:
        run = http.get(f"/api/v1/runs/{run_id}").raise_for_status().json()
        assert run["status"] == "running"
    assert setup.run("runs", "cancel", run_id).code == 0


def test_ctrl_c_stops_runs_logs_follow_not_run(setup, wait_until):
    body = {
        "pipeline_name": "ticks",
        "project": "testproj",
        "parameters": {"count": 600, "every": 0.2},
    }
    with setup.http() as http:
        run_id = (
            http.post("/api/v1/runs", json=body).raise_for_status().json()["run_id"]
        )
    terminal = Terminal(setup, "runs", "logs", run_id, "-f")
    wait_until(lambda: "tick 1" in terminal.text, 60, "the run's output")

    terminal.process.send_signal(signal.SIGINT)

    assert terminal.wait() == 130, terminal.text
    assert f"Stopped following; run {run_id} goes on." in terminal.text
    assert "Aborted" not in terminal.text and "Traceback" not in terminal.text
    with setup.http() as http:
        run = http.get(f"/api/v1/runs/{run_id}").raise_for_status().json()
        assert run["status"] == "running"
    assert setup.run("runs", "cancel", run_id).code == 0


# When the daemon streams as many logs as it may


@pytest.fixture
def full_followers(setup: Setup, wait_until: Any) -> Iterator[None]:
    """Hold every log stream the daemon allows, on a run that keeps printing."""
    body = {
        "pipeline_name": "ticks",
        "project": "testproj",
        "parameters": {"count": 1200, "every": 0.2},
    }
    with setup.http() as http, contextlib.ExitStack() as streams:
        run = http.post("/api/v1/runs", json=body).raise_for_status().json()
        logs = f"/api/v1/runs/{run['run_id']}/logs"
        wait_until(
            lambda: http.get(logs).headers.get("X-Next-Offset", "0") != "0",
            60,
            "the run's first output",
        )

        def hold() -> bool:
            # A stream of an earlier test may take a moment to give its slot back.
            request = http.build_request("GET", logs, params={"follow": "true"})
            answer = http.send(request, stream=True)
            if answer.status_code == 200:
                streams.callback(answer.close)
                return True
            answer.close()
            return False

        for _ in range(FOLLOWERS):
            wait_until(hold, 30, "a free log stream")
        assert http.get(logs, params={"follow": "true"}).status_code == 429
        try:
            yield
        finally:
            streams.close()
            http.post(f"/api/v1/runs/{run['run_id']}/cancel")
            wait_until(
                lambda: http.get(logs).headers.get("X-Run-Status") == "cancelled",
                60,
                "the ticking run to end",
            )


def test_logs_follow_polls_when_streams_full(setup, full_followers):
    with setup.http() as http:
        body = {"pipeline_name": "chatty", "project": "testproj", "parameters": {}}
        run = http.post("/api/v1/runs", json=body).raise_for_status().json()

    done = setup.run("runs", "logs", run["run_id"], "-f")

    assert done.code == 0, done
    assert _lines(done.out) == CHATTY_OUTPUT


def test_run_follow_polls_when_streams_full(setup, full_followers):
    done = setup.run("run", "chatty", "--follow")

    assert done.code == 0, done
    lines = _lines(done.out)
    assert _in_order(lines, CHATTY_OUTPUT), done
    for name in CHATTY_STEPS:
        assert any(line.startswith(f"step {name}: success (") for line in lines)
