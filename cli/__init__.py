"""The ``uniflow`` command and its terminal rendering; installed as ``uniflow.cli``."""

from __future__ import annotations

import sys
from typing import Any


def main() -> Any:
    """Run the ``uniflow`` command (the console script).

    ``uniflow --version`` is answered here, before typer and the commands are
    loaded: scripts ask for it often, and loading them would take several times as
    long as Python's own start.
    """
    if sys.argv[1:] == ["--version"]:
        from uniflow import __version__

        print(f"uniflow {__version__}")
        return 0

    from uniflow.cli.main import main as run_command

    return run_command()
