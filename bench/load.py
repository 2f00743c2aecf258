"""Measuring a daemon: request rates under load with wrk, and server times."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench import BenchError

SERVER_TIMING = "Server-Timing app"
CLIENT_ELAPSED = "client-side elapsed (no Server-Timing header)"

_MARK = "UNIFLOW-BENCH"
_SECRET = re.compile(r"[A-Za-z0-9_-]+")

# wrk runs this script: it sends the token as a header, which keeps the secret off
# wrk's command line (visible to every user in `ps`), and prints the summary as
# one line of JSON after the run.
_SCRIPT = """\
wrk.headers["Authorization"] = "Bearer {secret}"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark} {{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %.0f, "p99_us": %.0f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def split_cpus() -> tuple[set[int], set[int]] | None:
    """Return the CPUs for the daemon and for the load tool, or None with one CPU.

    On separate CPUs the load tool's own work (it parses every answer, and a page
    of runs is 16 KB where a health check is 70 bytes) does not take the
    daemon's time, so rates measure the daemon alone.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


def pinned(cpus: set[int] | None) -> Any:
    """Return a ``preexec_fn`` that keeps a child process on ``cpus``."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


@dataclass(frozen=True)
class Load:
    """How wrk loads the daemon in one repetition."""

    seconds: int = 5
    connections: int = 4
    threads: int = 1

    def __str__(self) -> str:
        where = " on a CPU of its own" if split_cpus() else ""
        return f"wrk -t{self.threads} -c{self.connections} -d{self.seconds}s{where}"


@dataclass(frozen=True)
class Rate:
    """What one wrk run measured."""

    per_second: float
    requests: int
    socket_errors: int
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class ServerTimes:
    """Server times of sequential requests to one path, in milliseconds."""

    values: list[float]
    source: str
    """``SERVER_TIMING``, or ``CLIENT_ELAPSED`` when an answer had no such header."""

    @property
    def label(self) -> str:
        """``server time``, or ``client time`` when the client measured it.

        A client time includes the client and the network.
        """
        return "server time" if self.source == SERVER_TIMING else "client time"


def require_wrk() -> str:
    """Return the path of wrk.

    Raises:
        BenchError: wrk is not installed.
    """
    path = shutil.which("wrk")
    if path is None:
        raise BenchError(
            "The benchmarks need the HTTP load tool wrk; install it with "
            "`apt-get install wrk`."
        )
    return path


def write_script(folder: Path, secret: str) -> Path:
    """Write the wrk script that sends ``secret``, readable by the owner only."""
    if not _SECRET.fullmatch(secret):
        raise BenchError("The token secret has characters the wrk script cannot hold.")
    path = folder / "wrk.lua"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as script:
        script.write(_SCRIPT.format(secret=secret, mark=_MARK))
    return path


def rate(wrk: str, script: Path, url: str, load: Load) -> Rate:
    """Load ``url`` with wrk for ``load.seconds`` and return what it measured.

    Raises:
        BenchError: The URL is not on loopback, wrk failed, or some answers were not
            2xx or 3xx (a rate of errors says nothing about the endpoint).
    """
    if urlsplit(url).hostname not in ("127.0.0.1", "::1", "localhost"):
        raise BenchError(f"wrk only loads loopback addresses, not {url!r}.")
    command = [
        wrk,
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{load.seconds}s",
        "-s",
        str(script),
        url,
    ]
    cpus = split_cpus()
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=load.seconds + 30,
        preexec_fn=pinned(cpus[1] if cpus else None),
    )
    summary = _summary(done.stdout)
    if done.returncode != 0 or summary is None:
        raise BenchError(
            f"wrk failed on {url!r} with exit code {done.returncode}: "
            f"{(done.stderr or done.stdout).strip()[-1000:]}"
        )
    if summary["status"]:
        raise BenchError(
            f"{summary['status']} of {summary['requests']} answers from {url!r} were "
            "not 2xx or 3xx; the daemon may limit the request rate."
        )
    return Rate(
        per_second=summary["requests"] / (summary["duration_us"] / 1e6),
        requests=summary["requests"],
        socket_errors=sum(summary[k] for k in ("connect", "read", "write", "timeout")),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
    )


def _summary(output: str) -> dict[str, int] | None:
    """Return the summary our script printed, or None when it printed none."""
    for line in output.splitlines():
        if line.startswith(_MARK + " "):
            data: dict[str, int] = json.loads(line[len(_MARK) + 1 :])
            return data
    return None


def server_times(
    client: httpx.Client, paths: list[str], requests: int
) -> dict[str, ServerTimes]:
    """Send ``requests`` sequential requests to each path, interleaved; time them.

    The time is the ``app`` metric of the ``Server-Timing`` header when every answer
    of a path has one, else the time the client waited.

    Raises:
        BenchError: An answer's status was not 200.
    """
    header: dict[str, list[float | None]] = {path: [] for path in paths}
    elapsed: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(requests):
        for path in paths:
            started = time.perf_counter()
            response = client.get(path)
            elapsed[path].append((time.perf_counter() - started) * 1000)
            ensure_ok(response)
            header[path].append(_app_duration(response))

    times = {}
    for path in paths:
        found = [value for value in header[path] if value is not None]
        if len(found) == requests:
            times[path] = ServerTimes(found, SERVER_TIMING)
        else:
            times[path] = ServerTimes(elapsed[path], CLIENT_ELAPSED)
    return times


def ensure_ok(response: httpx.Response) -> None:
    """Raise BenchError unless ``response`` has status 200."""
    if response.status_code != 200:
        raise BenchError(
            f"GET {response.request.url} answered {response.status_code}, not 200: "
            f"{response.text[:500]}"
        )


def _app_duration(response: httpx.Response) -> float | None:
    """Return the ``app`` metric's ``dur`` of the Server-Timing header, in ms."""
    # For example: Server-Timing: db;dur=0.4, app;desc="handler";dur=1.27
    for header in response.headers.get_list("Server-Timing"):
        for metric in header.split(","):
            name, *params = (part.strip() for part in metric.split(";"))
            values = dict(param.partition("=")[::2] for param in params)
            if name == "app" and "dur" in values:
                try:
                    return float(values["dur"].strip('"'))
                except ValueError:
                    return None
    return None
