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
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

from uniflow import paths
from uniflow._context import EVENTS_FILE
from uniflow.command_pipelines import signal_name
from uniflow.errors import ConfigError, RunFinished, RunNotFound
from uniflow.runs import Run, RunStatus, StepRecord, timestamp
from uniflow.store import Store

logger = logging.getLogger(__name__)

LOG_NAME = "output.log"
DAEMON_STOPPED = "the daemon stopped while the run was running"
UNREPORTED = (
    "the run's process ended without reporting an outcome; it was started by an "
    "earlier daemon, so its exit status is unknown"
)
STOPPED_EARLY = "the daemon stopped before the run finished"
# How often a watched process that is not our child is checked for new events.
_ADOPTED_POLL = 0.2
# Variables a pipeline has no business seeing: the CLI's own credential.
_HIDDEN_ENV = ("UNIFLOW_TOKEN",)


class Execution(Protocol):
    """One run being executed."""

    pid: int

    def release(self) -> None:
        """Let the started process run the pipeline; it waits for this."""
        ...

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

    def __init__(
        self, process: subprocess.Popen[bytes], events: IO[str], spec: dict[str, Any]
    ) -> None:
        self._process = process
        self._events = events
        self._spec = spec
        self.pid = process.pid

    def release(self) -> None:
        """Send the run's spec: the runner reads it before anything else, so a
        daemon that dies before it has recorded the run as running leaves a runner
        that exits at once and a run still queued, never one that runs twice."""
        assert self._process.stdin is not None
        try:
            data = json.dumps(self._spec, ensure_ascii=False).encode("utf-8")
            self._process.stdin.write(data)
            self._process.stdin.close()
        except BrokenPipeError:
            pass

    def events(self) -> Iterator[dict[str, Any]]:
        """Yield each JSON line the runner writes to its event pipe."""
        with self._events:
            for line in self._events:
                event = _event(line, self.pid)
                if event is not None:
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


class AdoptedExecution:
    """A run's process that an earlier daemon started and left running.

    It is not this daemon's child: its end is seen through a pidfd and its events
    are read from the ``events.jsonl`` its runner writes beside the pipe.
    """

    def __init__(self, pid: int, pidfd: int, events_file: Path) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._events_file = events_file
        self._code = 1
        self._reported = False

    def release(self) -> None:
        """Nothing to do: the process is already running its pipeline."""

    def events(self) -> Iterator[dict[str, Any]]:
        """Yield every event in the file, then new ones, until the process ends."""
        ended = False
        with open(self._events_file, encoding="utf-8", errors="replace") as f:
            pending = ""
            while True:
                pending += f.readline()
                if pending.endswith("\n"):
                    event = _event(pending, self.pid)
                    pending = ""
                    if event is not None:
                        self._note_outcome(event)
                        yield event
                    continue
                if ended:
                    break
                ended = self._ended(_ADOPTED_POLL)
        if self._code != 0 and not self._reported:
            yield {"event": "run_failed", "error": UNREPORTED}

    def wait(self) -> int:
        """Wait for the process to end; return the exit code its events report."""
        self._ended(None)
        os.close(self._pidfd)
        _kill_group(self.pid, signal.SIGKILL)
        return self._code

    def terminate(self, grace: float) -> None:
        """SIGTERM the process group, then SIGKILL it after ``grace`` seconds."""
        if _kill_group(self.pid, signal.SIGTERM) and not self._ended(grace):
            _kill_group(self.pid, signal.SIGKILL)

    def _note_outcome(self, event: dict[str, Any]) -> None:
        code = _reported_code(event)
        if code is not None:
            self._reported, self._code = True, code

    def _ended(self, timeout: float | None) -> bool:
        try:
            readable, _, _ = select.select([self._pidfd], [], [], timeout)
        except (OSError, ValueError):  # closed by wait()
            return True
        return bool(readable)


class RecordedEvents:
    """The events of a run whose process ended while no daemon watched it, as its
    runner wrote them to ``events.jsonl``."""

    def __init__(self, events_file: Path, pid: int) -> None:
        self._events_file = events_file
        self._pid = pid
        self.code: int | None = None
        """The exit code the events report, or None when they report no end."""

    def events(self) -> Iterator[dict[str, Any]]:
        """Yield every event the file holds."""
        try:
            text = self._events_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for line in text.splitlines():
            event = _event(line, self._pid)
            if event is not None:
                self.code = _reported_code(event) if self.code is None else self.code
                yield event


def _reported_code(event: dict[str, Any]) -> int | None:
    """Return the exit code a run's final event reports, or None for other events."""
    kind = event.get("event")
    if kind == "run_succeeded":
        return 0
    if kind == "run_failed":
        code = event.get("exit_code")
        return code if isinstance(code, int) and code != 0 else 1
    return None


def _event(line: str, pid: int) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        logger.warning("Run process %d sent a bad event line", pid)
        return None
    return event if isinstance(event, dict) else None


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
        return LocalExecution(process, open(read_fd, encoding="utf-8"), spec)


class _Stop(NamedTuple):
    """Why the daemon stopped a run, and the state it ends in."""

    status: RunStatus
    reason: str


class Supervisor:
    """Runs queued runs, at most ``max_concurrent`` at a time, oldest first.

    Args:
        store: Where runs and their states live.
        executor: What starts each run.
        max_concurrent: How many runs may execute at once; the CPUs when None.
        grace: Seconds a stopped run has between SIGTERM and SIGKILL.
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
        self._executor = executor
        self._grace = grace
        self.max_concurrent = max_concurrent or os.cpu_count() or 2
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._slots = threading.BoundedSemaphore(self.max_concurrent)
        # Runs asked to stop (cancelled, timed out, the daemon stopping) and why.
        self._stops: dict[str, _Stop] = {}
        # Runs whose process is being started: too late to cancel them as queued.
        self._starting: set[str] = set()
        self._active: dict[str, Execution] = {}
        self._workers: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._draining = threading.Event()
        self._dispatcher = threading.Thread(
            target=self._dispatch, name="uniflow-dispatcher", daemon=True
        )

    @property
    def accepting(self) -> bool:
        """Whether new runs are taken; not once the daemon has begun to stop."""
        return not self._draining.is_set()

    def start(self) -> None:
        """Take up what an earlier daemon left behind, then start dispatching.

        A run recorded ``running`` whose process still lives is watched again to
        its end; one whose process is gone ends ``failed``. Queued runs start in
        the order they came.
        """
        # Run folders hold the runs' output; one an older version left open to
        # others is closed to them.
        runs = paths.runs_folder()
        paths.keep_private(runs)
        if runs.exists() and not runs.is_dir():
            raise ConfigError(
                f"{str(runs)!r} should be the folder of the runs' output, and is not "
                "a folder; move it aside."
            )
        for run_id in self._store.run_ids_in(RunStatus.RUNNING):
            run = self._store.run(run_id)
            if run is None:
                continue
            if self._adopt(run):
                logger.info("Run %s outlived a daemon; watching it again", run_id)
                continue
            self._settle(run)
        for run_id in self._store.run_ids_in(RunStatus.QUEUED):
            self._queue.put(run_id)
        self._dispatcher.start()

    def _settle(self, run: Run) -> None:
        """Record the end of a run whose process ended while no daemon watched it:
        the one its events report, else failed because the daemon stopped."""
        events_file = paths.runs_folder() / run.run_id / EVENTS_FILE
        recorded = RecordedEvents(events_file, run.pid or 0)
        error = self._record_events(run.run_id, recorded)
        if recorded.code is None:
            logger.warning("Run %s was running when the daemon stopped", run.run_id)
            self._finish(run.run_id, None, DAEMON_STOPPED)
            return
        logger.info("Run %s ended while no daemon watched it", run.run_id)
        self._finish(run.run_id, recorded.code, error)

    def submit(self, run_id: str) -> None:
        """Queue a run that is already stored as ``queued``."""
        self._queue.put(run_id)

    def counts(self, project: str | None = None) -> dict[str, int]:
        """Return how many runs are running and how many wait in the queue; only
        those of ``project`` when it is given."""
        return {
            "running": len(self._store.run_ids_in(RunStatus.RUNNING, project)),
            "queued": len(self._store.run_ids_in(RunStatus.QUEUED, project)),
        }

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
            self._stops[run_id] = _Stop(RunStatus.CANCELLED, reason)
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
            self._terminate_later(execution)
        return run

    def drain(self) -> None:
        """Take no new runs and start no queued ones; running ones go on."""
        self._draining.set()

    def idle(self) -> bool:
        """Whether no run is executing or being started."""
        with self._lock:
            return not self._active and not self._starting

    def stop(self, reason: str | None = None) -> None:
        """Stop the supervisor and the runs still executing, recording ``reason``
        (by default that the daemon stopped) as why they were cancelled; queued
        runs stay queued for the next daemon."""
        reason = reason or STOPPED_EARLY
        self.drain()
        self._queue.put(None)
        with self._lock:
            active = list(self._active.items())
            for run_id, _ in active:
                self._stops.setdefault(run_id, _Stop(RunStatus.CANCELLED, reason))
            workers = list(self._workers)
        for run_id, execution in active:
            logger.info("Stopping run %s (pid %d)", run_id, execution.pid)
            self._terminate_later(execution)
        # Each worker records its run's final state; wait for them to write it.
        deadline = time.monotonic() + self._grace + 5
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        self._dispatcher.join(timeout=1)

    def _terminate_later(self, execution: Execution) -> None:
        # In a thread of its own: terminating waits out the grace period.
        threading.Thread(
            target=execution.terminate,
            args=(self._grace,),
            name=f"terminate-{execution.pid}",
            daemon=True,
        ).start()

    def _dispatch(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id is None or self._draining.is_set():
                return
            self._slots.acquire()
            if self._draining.is_set():
                self._slots.release()
                return
            self._spawn_worker(run_id, None, holds_slot=True)

    def _spawn_worker(
        self, run_id: str, adopted: Execution | None, *, holds_slot: bool
    ) -> None:
        worker = threading.Thread(
            target=self._execute,
            args=(run_id, adopted, holds_slot),
            name=f"run-{run_id}",
            daemon=True,
        )
        with self._lock:
            self._workers.add(worker)
            if adopted is not None:
                self._active[run_id] = adopted
        worker.start()

    def _adopt(self, run: Run) -> bool:
        """Watch a run whose runner outlived the daemon that started it."""
        if not run.pid:
            return False
        try:
            pidfd = os.pidfd_open(run.pid)
        except OSError:
            return False
        # Checked after the pidfd is open, which pins the process it names.
        events = paths.runs_folder() / run.run_id / EVENTS_FILE
        if not _is_runner_of(run.pid, run.run_id) or not events.is_file():
            os.close(pidfd)
            return False
        # A slot when one is free; an adopted run is not left waiting for one.
        holds_slot = self._slots.acquire(blocking=False)
        execution = AdoptedExecution(run.pid, pidfd, events)
        self._spawn_worker(run.run_id, execution, holds_slot=holds_slot)
        return True

    def _execute(
        self, run_id: str, adopted: Execution | None, holds_slot: bool
    ) -> None:
        try:
            if adopted is None:
                self._launch(run_id)
            else:
                run = self._store.run(run_id)
                assert run is not None
                self._watch(run, adopted)
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
            if holds_slot:
                self._slots.release()

    def _launch(self, run_id: str) -> None:
        run = self._store.run(run_id)
        root = self._store.project_path(run.project) if run else None
        with self._lock:
            if (
                run is None
                or run.status is not RunStatus.QUEUED
                or run_id in self._stops
                or self._draining.is_set()
            ):
                # Gone, cancelled while queued, or the daemon is stopping: it never
                # starts.
                self._stops.pop(run_id, None)
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
            cancelled = run_id in self._stops
            if not cancelled:
                run.started_at = timestamp()
                self._store.update_run(
                    run_id,
                    status=RunStatus.RUNNING,
                    started_at=run.started_at,
                    pid=execution.pid,
                )
        if cancelled:
            execution.terminate(self._grace)
        else:
            execution.release()
            logger.info("Run %s started: pid %d", run_id, execution.pid)
        self._watch(run, execution)

    def _watch(self, run: Run, execution: Execution) -> None:
        """Record a running run's events and its end, stopping it at its timeout."""
        timer = self._timer(run, execution)
        try:
            error = self._record_events(run.run_id, execution)
            code = execution.wait()
        finally:
            if timer is not None:
                timer.cancel()
        folder = paths.runs_folder() / run.run_id
        if code != 0 and error is None:
            error = _exit_reason(code, folder / LOG_NAME)
        self._finish(run.run_id, code, error)
        logger.info(
            "Run %s exited: pid %d, exit code %d", run.run_id, execution.pid, code
        )

    def _timer(self, run: Run, execution: Execution) -> threading.Timer | None:
        if run.timeout is None:
            return None
        elapsed = 0.0
        if run.started_at is not None:
            elapsed = max(0.0, time.time() - _epoch(run.started_at))
        timer = threading.Timer(
            max(0.0, run.timeout - elapsed),
            self._time_out,
            args=(run.run_id, execution, run.timeout),
        )
        timer.daemon = True
        timer.start()
        return timer

    def _time_out(self, run_id: str, execution: Execution, timeout: float) -> None:
        with self._lock:
            if run_id not in self._active:
                return
            reason = f"timed out after {timeout:g} s"
            self._stops.setdefault(run_id, _Stop(RunStatus.FAILED, reason))
        logger.info("Run %s timed out after %g s; stopping it", run_id, timeout)
        execution.terminate(self._grace)

    def _record_events(
        self, run_id: str, execution: Execution | RecordedEvents
    ) -> str | None:
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
            stop = self._stops.pop(run_id, None)
        if stop is not None and code != 0:
            status, error = stop.status, stop.reason
        finished_at = timestamp()
        if status is not RunStatus.SUCCESS:
            # Steps the process was in when it was stopped or died never reported
            # their end: they end with the run.
            self._store.close_steps(run_id, status.value, finished_at)
        self._store.update_run(
            run_id,
            status=status,
            finished_at=finished_at,
            exit_code=code,
            error=None if status is RunStatus.SUCCESS else error,
        )


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _exit_reason(code: int, log: Path) -> str:
    if code < 0:
        return f"the run's process was killed by {signal_name(-code)}"
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
