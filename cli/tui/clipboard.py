"""Copying text to the system clipboard through the platform's own tool.

The text goes to the tool's standard input, never to its arguments, which every
user of the machine can read. Over SSH there is no such tool, or it reaches the
wrong machine: the app also sends the terminal's OSC 52 sequence
(``App.copy_to_clipboard``), which the user's own terminal acts on.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

logger = logging.getLogger(__name__)

TIMEOUT = 3.0
"""Seconds a clipboard tool may take before it is given up on."""


def _tools() -> list[list[str]]:
    """Return the clipboard commands worth trying here, the likeliest first."""
    tools: list[list[str]] = []
    if sys.platform == "darwin":
        tools.append(["pbcopy"])
    if os.environ.get("WAYLAND_DISPLAY"):
        tools.append(["wl-copy"])
    if os.environ.get("DISPLAY"):
        tools.append(["xclip", "-selection", "clipboard"])
        tools.append(["xsel", "--clipboard", "--input"])
    if sys.platform == "win32" or os.environ.get("WSL_DISTRO_NAME"):
        tools.append(["clip.exe"])
    return tools


def copy(text: str) -> str | None:
    """Copy ``text`` to the system clipboard; return the tool that did, or None.

    None means no tool worked here, as on a server without a display.
    """
    for command in _tools():
        program = shutil.which(command[0])
        if program is None:
            continue
        try:
            # The output goes nowhere: xclip stays behind to serve the selection,
            # and a pipe it holds open would keep this call waiting.
            done = subprocess.run(
                [program, *command[1:]],
                input=text.encode("utf-8"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.info("Copying with %s failed: %s", command[0], type(exc).__name__)
            continue
        if done.returncode == 0:
            return command[0]
        logger.info("Copying with %s exited with %d", command[0], done.returncode)
    return None
