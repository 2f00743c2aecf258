"""docs/getting-started.md's walkthrough, run as written.

Each ``$`` command of the page's console examples runs in order, in a fresh home
and folder (``cd`` moves the folder). What the page shows a command printing must
come out, once run ids, times, durations, addresses and the reader's paths are
set aside; a shown ``Error:`` must come with a failing exit code, anything else
with 0.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
_CONSOLE = re.compile(r"```console\n(.*?)```", re.DOTALL)
# What differs from one run of the walkthrough to the next.
_VARYING = [
    (re.compile(r"run_[0-9a-f]{16}"), "RUN"),
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z"), "TIME"),
    (re.compile(r"\d+(\.\d+)? s\b"), "SECONDS"),
    (re.compile(r"http://127\.0\.0\.1:\d+"), "URL"),
]


def _examples() -> list[tuple[str, list[str]]]:
    """Return each command of the page with the lines it is shown printing."""
    examples: list[tuple[str, list[str]]] = []
    for block in _CONSOLE.findall(PAGE.read_text(encoding="utf-8")):
        for line in block.splitlines():
            if line.startswith("$ "):
                examples.append((line[2:], []))
            elif line.strip() and examples:
                examples[-1][1].append(line)
    return examples


def _steady(line: str) -> str:
    for pattern, name in _VARYING:
        line = pattern.sub(name, line)
    return " ".join(line.split())


def test_getting_started_runs_as_written(cli, tmp_path):
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")
    examples = _examples()
    assert len(examples) >= 5, "the page's console examples were not found"

    folder = tmp_path
    for command, shown in examples:
        words = shlex.split(command)
        if words[0] == "cd":
            folder = folder / words[1]
            assert folder.is_dir(), f"`{command}`: no such folder"
            continue
        assert words[0] == "uniflow", command

        done = cli(*words[1:], cwd=folder)
        failing = any(line.startswith("Error:") for line in shown)
        assert (done.code != 0) == failing, f"`{command}`:\n{done}"
        printed = {_steady(line) for line in (done.out + done.err).splitlines()}
        for line in shown:
            if "/home/ada" in line:
                continue  # the reader's own folders
            assert _steady(line) in printed, (
                f"`{command}` did not print:\n{line}\n{done}"
            )
