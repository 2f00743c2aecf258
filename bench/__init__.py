"""UniFlow's benchmarks: figures measured against a reference in the same run.

Run them all from the repository root with ``python -m bench``; it prints a table and
writes the same figures as JSON. Each benchmark is a module with a ``run()`` function
that returns a list of :class:`bench.figures.Figure`, listed in ``BENCHMARKS`` in
``bench/__main__.py``. A figure is always set against a reference measured on the
same machine in the same run (the health check, say), because absolute numbers from
different machines cannot be compared, while a ratio mostly can.
"""

from __future__ import annotations


class BenchError(Exception):
    """A benchmark could not run; the message says why and what to do."""
