"""The supervisor: a queue of runs, and the child processes that execute them.

Runs are executed by an :class:`Executor`; :class:`LocalExecutor` starts each as
a ``python -m uniflow.runner`` child process in its own process group. Every
state change is written to the store before anything else learns of it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from uniflow import paths
from uniflow.errors import RunFinished, RunNotFound
from uniflow.runs import Run, RunStatus, StepRecord, timestamp
from uniflow.store import Store

logger = logging.getLogger(__name__)

LOG_NAME = "output.log"
DAEMON_STOPPED = "the daemon stopped while the run was running"
# Variables a pipeline has no business seeing: the CLI's own credential.
_HIDDEN_ENV = ("UNIFLOW_TOKEN",)


class Execution(Protocol):
    """One run being executed."""

    pid: int

    def events(self) -> Iterator[dict[str, Any]]:
        """Yield the run's events until its process closes the channel."""
        ...

    def wait(self) -> int:
        """Wait for the process to end and return its exit code."""
        ...

    def terminate(self, grace: float) -> None:
        """Stop the process and everything it started."""
        ...


class Executor(Protocol):
    """Starts runs; local child processes today, a cluster later."""

    def launch(self, run: Run, project_root: Path, run_folder: Path) -> Execution:
        """Start ``run`` and return a handle on it."""
        ...


class LocalExecution:
    """A run executing as a local child process."""

    def __init__(self, process: subprocess.Popen[bytes], events: IO[str]) -> None:
        self._process = process
        self._events = events
        self.pid = process.pid

    def events(self) -> Iterator[dict[str, Any]]:
        """Yield each JSON line the runner writes to its event pipe."""
        with self._events:
            for line in self._events:
                try:
                    event = json.loads(line)
                except ValueError:
                    logger.warning("Run process %d sent a bad event line", self.pid)
                    continue
                if isinstance(event, dict):
                    yield event

    def wait(self) -> int:
        """Wait for the process and return its exit code.

        What the run started and left behind in its process group is killed: a
        finished run leaves nothing running unobserved.
        """
        code = self._process.wait()
        _kill_group(self.pid, signal.SIGKILL)
        return code

    def terminate(self, grace: float) -> None:
        """SIGTERM the process group, then SIGKILL it after ``grace`` seconds."""
        if not _kill_group(self.pid, signal.SIGTERM):
            return
        try:
            self._process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        _kill_group(self.pid, signal.SIGKILL)


def _is_runner_of(pid: int, run_id: str) -> bool:
    """Whether ``pid`` is still the runner of ``run_id``, not a process that
    reuses its pid: the runner's environment names its run."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"UNIFLOW_RUN_ID={run_id}".encode() in environ.split(b"\0")


def _kill_group(pgid: int, signum: int) -> bool:
    """Send a signal to a process group; return False when the group is gone."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class LocalExecutor:
    """Starts each run as ``python -m uniflow.runner``, never through a shell."""

    def launch(self, run: Run, project_root: Path, run_folder: Path) -> Execution:
        """Start the runner in its own process group with the run's spec on stdin."""
        spec = {
            "run_id": run.run_id,
            "project_root": str(project_root),
            "pipeline_name": run.pipeline_name,
            "parameters": run.parameters,
            "run_folder": str(run_folder),
        }
        env = {k: v for k, v in os.environ.items() if k not in _HIDDEN_ENV}
        read_fd, write_fd = os.pipe()
        env.update(
            PYTHONUNBUFFERED="1",
            PYTHONIOENCODING="utf-8",
            UNIFLOW_EVENTS_FD=str(write_fd),
            UNIFLOW_RUN_ID=run.run_id,
        )
        log_fd = os.open(
            run_folder / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        log = os.fdopen(log_fd, "ab")
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "uniflow.runner"],
                cwd=project_root,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
                env=env,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
            log.close()

        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(spec, ensure_ascii=False).encode("utf-8"))
            process.stdin.close()
        except BrokenPipeError:
            pass
        return LocalExecution(process, open(read_fd, encoding="utf-8"))


class Supervisor:
    """Runs queued runs, at most ``max_concurrent`` at a time, oldest first.

    Args:
        store: Where runs and their states live.
        executor: What starts each run.
        max_concurrent: How many runs may execute at once; the CPUs when None.
        grace: Seconds a cancelled run has between SIGTERM and SIGKILL.
    """

    def __init__(
        self,
        store: Store,
        executor: Executor,
        *,
        max_concurrent: int | None = None,
        grace: float = 10.0,
    ) -> None:
        self._store = store
        self._grace = grace
        # Runs asked to stop, and why; their end is recorded as cancelled.
        self._cancelled: dict[str, str] = {}
        # Runs whose process is being started: too late to cancel them as queued.
        self._starting: set[str] = set()
        self._executor = executor
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._slots = threading.BoundedSemaphore(max_concurrent or os.cpu_count() or 2)
        self._active: dict[str, Execution] = {}
        self._workers: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._dispatcher = threading.Thread(
            target=self._dispatch, name="uniflow-dispatcher", daemon=True
        )

    def start(self) -> None:
        """Settle what an earlier daemon left behind, then start dispatching."""
        for run_id in self._store.run_ids_in(RunStatus.RUNNING):
            # TODO: re-attach to a run whose process outlived the daemon instead of
            # failing it; until then its process group is stopped, since nothing
            # would observe it or record its end.
            run = self._store.run(run_id)
            if run is not None and run.pid and _is_runner_of(run.pid, run_id):
                _kill_group(run.pid, signal.SIGTERM)
            self._store.update_run(
                run_id,
                status=RunStatus.FAILED,
                finished_at=timestamp(),
                error=DAEMON_STOPPED,
            )
            logger.warning("Run %s was running when the daemon stopped", run_id)
        for run_id in self._store.run_ids_in(RunStatus.QUEUED):
            self._queue.put(run_id)
        self._dispatcher.start()

    def submit(self, run_id: str) -> None:
        """Queue a run that is already stored as ``queued``."""
        self._queue.put(run_id)

    def cancel(self, run_id: str, reason: str) -> Run:
        """Cancel a queued or running run and return it.

        A queued run is cancelled at once and returned cancelled. A running one
        gets SIGTERM on its whole process group, SIGKILL after the grace period,
        and is recorded cancelled when its process has ended; this returns it
        before that, as it stood.

        Raises:
            RunNotFound: No run has this id.
            RunFinished: The run has already ended.
        """
        with self._lock:
            run = self._store.run(run_id)
            if run is None:
                raise RunNotFound(run_id)
            if run.status.finished:
                raise RunFinished(run_id, run.status.value)
            self._cancelled[run_id] = reason
            execution = self._active.get(run_id)
            starting = run_id in self._starting
            if execution is None and not starting and run.status is RunStatus.QUEUED:
                self._store.update_run(
                    run_id,
                    status=RunStatus.CANCELLED,
                    finished_at=timestamp(),
                    error=reason,
                )
                return self._store.run(run_id) or run
        # Running (or being started): answered as it stood, since its process may
        # end and be recorded cancelled before the caller reads it again.
        if execution is not None:
            logger.info("Cancelling run %s (pid %d)", run_id, execution.pid)
            threading.Thread(
                target=execution.terminate,
                args=(self._grace,),
                name=f"cancel-{run_id}",
                daemon=True,
            ).start()
        return run

    def stop(self, grace: float = 10.0) -> None:
        """Stop dispatching and stop the runs still executing; queued ones stay."""
        self._stopping.set()
        self._queue.put(None)
        with self._lock:
            active = list(self._active.items())
            workers = list(self._workers)
        for run_id, execution in active:
            logger.info("Stopping run %s (pid %d)", run_id, execution.pid)
            execution.terminate(grace)
        # Each worker records its run's final state; wait for them to write it.
        for worker in workers:
            worker.join(timeout=grace)
        self._dispatcher.join(timeout=grace)

    def _dispatch(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id is None or self._stopping.is_set():
                return
            self._slots.acquire()
            if self._stopping.is_set():
                self._slots.release()
                return
            worker = threading.Thread(
                target=self._execute, args=(run_id,), name=f"run-{run_id}", daemon=True
            )
            with self._lock:
                self._workers.add(worker)
            worker.start()

    def _execute(self, run_id: str) -> None:
        try:
            self._follow(run_id)
        except Exception:
            logger.exception("Supervising run %s failed", run_id)
            self._store.update_run(
                run_id,
                status=RunStatus.FAILED,
                finished_at=timestamp(),
                error="the daemon failed to supervise the run; see its log",
            )
        finally:
            with self._lock:
                self._active.pop(run_id, None)
                self._workers.discard(threading.current_thread())
            self._store.close()  # this thread's connection; the thread ends here
            self._slots.release()

    def _follow(self, run_id: str) -> None:
        run = self._store.run(run_id)
        root = self._store.project_path(run.project) if run else None
        with self._lock:
            if (
                run is None
                or run.status is not RunStatus.QUEUED
                or run_id in self._cancelled
                or self._stopping.is_set()
            ):
                # Gone, cancelled while queued, or the daemon is stopping: it never
                # starts.
                self._cancelled.pop(run_id, None)
                return
            if root is not None:
                # From here a cancel counts as one of a running run.
                self._starting.add(run_id)
        if root is None:
            self._finish(run_id, None, f"project {run.project!r} is not registered")
            return

        paths.runs_folder().mkdir(exist_ok=True, mode=0o700)
        folder = paths.runs_folder() / run_id
        folder.mkdir(exist_ok=True, mode=0o700)
        started = time.monotonic()
        try:
            execution = self._executor.launch(run, Path(root), folder)
        except OSError as exc:
            with self._lock:
                self._starting.discard(run_id)
            self._finish(run_id, None, f"the run's process could not start: {exc}")
            return

        with self._lock:
            self._starting.discard(run_id)
            self._active[run_id] = execution
            # Cancelled while it was being started: stop it before it counts as
            # running.
            cancelled = run_id in self._cancelled
            if not cancelled:
                self._store.update_run(
                    run_id,
                    status=RunStatus.RUNNING,
                    started_at=timestamp(),
                    pid=execution.pid,
                )
        if cancelled:
            execution.terminate(self._grace)
        logger.info("Run %s started: pid %d", run_id, execution.pid)

        error = self._record_events(run_id, execution)
        code = execution.wait()
        if code != 0 and error is None:
            error = _exit_reason(code, folder / LOG_NAME)
        self._finish(run_id, code, error)
        logger.info(
            "Run %s exited: pid %d, exit code %d, %.1f s",
            run_id,
            execution.pid,
            code,
            time.monotonic() - started,
        )

    def _record_events(self, run_id: str, execution: Execution) -> str | None:
        steps: dict[int, StepRecord] = {}
        error: str | None = None
        result: Any = None
        for event in execution.events():
            kind = event.get("event")
            if kind == "step_started":
                step = StepRecord(
                    index=int(event["index"]),
                    name=str(event["name"]),
                    state="running",
                    started_at=event.get("at"),
                )
                steps[step.index] = step
                self._store.save_step(run_id, step)
            elif kind == "step_finished" and int(event["index"]) in steps:
                step = steps[int(event["index"])]
                step.state = str(event["state"])
                step.finished_at = event.get("at")
                step.duration = event.get("duration")
                step.error = event.get("error")
                self._store.save_step(run_id, step)
            elif kind == "run_failed":
                error = str(event.get("error") or "the pipeline failed")
            elif kind == "run_succeeded":
                result = event.get("result")
        if result is not None:
            self._store.update_run(run_id, result=result)
        return error

    def _finish(self, run_id: str, code: int | None, error: str | None) -> None:
        status = RunStatus.SUCCESS if code == 0 else RunStatus.FAILED
        with self._lock:
            reason = self._cancelled.pop(run_id, None)
        if reason is not None and code != 0:
            status, error = RunStatus.CANCELLED, reason
        elif self._stopping.is_set() and code != 0:
            status, error = RunStatus.CANCELLED, DAEMON_STOPPED
        self._store.update_run(
            run_id,
            status=status,
            finished_at=timestamp(),
            exit_code=code,
            error=None if status is RunStatus.SUCCESS else error,
        )


def _exit_reason(code: int, log: Path) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the run's process was killed by {name}"
    last = _last_line(log)
    return last or f"the run's process exited with code {code}"


def _last_line(path: Path, size: int = 4096) -> str | None:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return None
    return lines[-1].strip()[:500] if lines else None
