"""Starting and stopping the daemon's server, and the file that says where it is."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from types import FrameType
from typing import TYPE_CHECKING, Any

from uniflow import paths
from uniflow.config import DEFAULT_HOST, DEFAULT_PORT, Settings
from uniflow.daemon_state import (
    DaemonState,
    clear_state,
    client_url,
    read_state,
    take_lock,
)
from uniflow.errors import DaemonError, UniFlowError
from uniflow.runs import timestamp

if TYPE_CHECKING:
    from uniflow.daemon.supervisor import Supervisor

logger = logging.getLogger(__name__)


def _write_state(state: DaemonState) -> None:
    target = paths.daemon_state()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".daemon-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state.__dict__, f)
    os.replace(tmp, target)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, settings: Settings) -> None:
    """Refuse a non-loopback address unless the config allows one explicitly.

    Raises:
        DaemonError: ``host`` is not loopback and ``allow_remote`` is off.
    """
    if not is_loopback(host) and not settings.allow_remote:
        raise DaemonError(
            f"Refusing to listen on {host!r}: other machines could reach the API, "
            "and with a token run code on this one. To do it anyway, set "
            "allow_remote = true in the [daemon] section of config.toml."
        )


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **options: Any) -> None:
    """Serve the API in this process until SIGTERM or SIGINT.

    Args:
        host: The address to listen on; loopback unless told otherwise.
        port: The port; 0 picks a free one, recorded in the state file.
        **options: Passed to waitress, such as ``threads``.
    """
    _configure_logging()
    # One daemon per data folder: a second one would fight the first over its
    # runs, its state file and its store.
    lock = take_lock()
    if lock is None:
        other = read_state()
        where = f" (pid {other.pid}, {other.url})" if other else ""
        raise DaemonError(
            f"A UniFlow daemon already runs for {paths.home()}{where}; stop it "
            "with `uniflow daemon stop`, or set UNIFLOW_HOME to use another folder."
        )
    os.ftruncate(lock, 0)
    os.write(lock, str(os.getpid()).encode())
    try:
        _serve(host, port, options)
    finally:
        os.close(lock)


def _serve(host: str, port: int, options: dict[str, Any]) -> None:
    import waitress

    from uniflow import config
    from uniflow.catalog import Catalog
    from uniflow.daemon.app import create_app
    from uniflow.daemon.supervisor import LocalExecutor, Supervisor
    from uniflow.store import SQLiteStore

    settings = replace(config.load(), host=host)
    check_host(host, settings)
    if not is_loopback(host):
        logger.warning(
            "Listening on %s: other machines can reach the API; only tokens "
            "protect it, and they travel unencrypted unless a TLS proxy is in front.",
            host,
        )

    store = SQLiteStore(paths.database())
    supervisor = Supervisor(
        store,
        LocalExecutor(),
        max_concurrent=settings.max_concurrent_runs or None,
        grace=settings.cancel_grace,
    )
    app = create_app(store, supervisor, Catalog(), settings)
    server = waitress.create_server(
        app,
        host=host,
        port=port,
        threads=options.pop("threads", 8),
        clear_untrusted_proxy_headers=True,
        # waitress reads a whole body before the app sees the request. Past this it
        # refuses at once (a plain-text 413); up to it, the app answers a body over
        # max_request_bytes with its problem+json 413.
        max_request_body_size=settings.max_request_bytes * 16,
        # Keep reading a connection while its request runs: that is how waitress
        # sees a client leave and tells the app (waitress.client_disconnected), so
        # that a followed log whose run prints nothing frees its thread at once.
        channel_request_lookahead=1,
        **options,
    )
    url = client_url(host, int(server.effective_port))
    state = DaemonState(
        os.getpid(),
        url,
        timestamp(),
        stop_grace=settings.stop_grace,
        cancel_grace=settings.cancel_grace,
        default_lifetime=settings.default_lifetime,
        max_lifetime=settings.max_lifetime,
    )

    supervisor.start()
    _write_state(state)
    logger.info("UniFlow daemon %d listening on %s", state.pid, url)
    stop = _on_signal(server)
    reason = None
    try:
        _serve_until(server, stop.is_set)
        reason = _let_runs_finish(server, supervisor, stop, settings.stop_grace)
    finally:
        clear_state(state.pid)
        server.close()
        supervisor.stop(reason)
        logger.info("Daemon stopped")


def _let_runs_finish(
    server: Any, supervisor: Supervisor, stop: threading.Event, grace: float
) -> str:
    """Serve on while running runs finish, for up to ``grace`` seconds or until a
    second signal; new runs are refused. Return why the rest are cancelled."""
    from uniflow.daemon.supervisor import STOPPED_EARLY

    stop.clear()
    supervisor.drain()
    logger.info("Stopping: no new runs; running ones get %g s to finish", grace)
    began = time.monotonic()
    _serve_until(
        server,
        lambda: stop.is_set() or supervisor.idle() or time.monotonic() - began >= grace,
        tick=0.1,
    )
    waited = time.monotonic() - began
    return f"{STOPPED_EARLY} (it waited {waited:.0f} s for it)"


def _on_signal(server: Any) -> threading.Event:
    """Return an event that SIGTERM and SIGINT set.

    The handler only notes the signal and wakes the server's loop. An exception
    raised from it would land wherever the main thread happens to be, which can be
    inside waitress's own handlers, and they swallow it: the daemon would then
    never stop.
    """
    stop = threading.Event()

    def note(signum: int, frame: FrameType | None) -> None:
        stop.set()
        server.pull_trigger()

    signal.signal(signal.SIGTERM, note)
    signal.signal(signal.SIGINT, note)
    return stop


def _serve_until(
    server: Any, done: Callable[[], bool], tick: float | None = None
) -> None:
    """Serve requests until ``done()``, checked at least every ``tick`` seconds."""
    # waitress's run() is this loop without the check; it reads the same map.
    while not done():
        server.asyncore.loop(
            timeout=tick or server.adj.asyncore_loop_timeout,
            map=server._map,
            use_poll=server.adj.asyncore_use_poll,
            count=1,
        )


class _MaskingFormatter(logging.Formatter):
    """Masks whatever looks like a token's secret in each line, tracebacks
    included: a name, path or value quoted in a message may hold one."""

    def format(self, record: logging.LogRecord) -> str:
        from uniflow.tokens import mask_secrets

        return mask_secrets(super().format(record))


def _configure_logging() -> None:
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Run the daemon in the foreground: ``python -m uniflow.daemon``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m uniflow.daemon")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port)
    except UniFlowError as exc:
        logger.error("%s", exc)
        return 1
    except OSError as exc:
        logger.error("Cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1
    return 0
