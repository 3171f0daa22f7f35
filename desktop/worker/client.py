"""The window's Executor: each job runs in the engine process (desktop.worker.host), started on
first use and started afresh after it dies.

run(), prepare(), start() and close() are called from one thread (the window's runner thread);
cancel Events are set from any thread and noticed here within POLL_S. close() may also come from
another thread while a job runs: that job then ends as cancelled.

Imports nothing heavy: the engine's torch-free modules (errors, request types, result) and PIL
for previews, lazily. torch, diffusers, transformers and openai stay in the child.
"""

from __future__ import annotations

import itertools
import logging
import os
import site
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

import desktop
from desktop.engine.errors import EngineError, GenerationCancelled
from desktop.jobs.executor import JobOutcome
from desktop.worker.host import LOG_LEVEL_ENV
from desktop.worker.protocol import (
    Cancel,
    Failed,
    Finished,
    Prepare,
    Prepared,
    Progress,
    Ready,
    Reconfigure,
    Run,
    Shutdown,
    WorkerDied,
    died_message,
    error_for,
)

if TYPE_CHECKING:
    from desktop.engine.request import GenerationRequest
    from desktop.engine.result import ProgressCallback
    from desktop.library.settings import Settings

__all__ = ["WorkerDied", "WorkerExecutor", "spawn_worker", "worker_argv"]

log = logging.getLogger(__name__)

POLL_S = 0.05  # how soon a cancel is noticed and sent on
READY_TIMEOUT_S = 60.0  # the child imports only the standard library and our light modules first
CLOSE_WAIT_S = 5.0  # for the running job to stop at its next step and the engine to be freed

LOST_JOB = "the job was not finished — the next one starts a fresh engine."
LOST_MODEL = "the model was not loaded — the next job starts a fresh engine."


def worker_argv(fd: int) -> list[str]:
    """The command line that starts the engine process on the inherited socket fd."""
    if getattr(sys, "frozen", False):
        # A PyInstaller bundle cannot run `-m`: its own executable routes this flag to
        # desktop.worker.host.main (desktop/app.py).
        return [sys.executable, "--engine-worker", str(fd)]
    return [sys.executable, "-m", "desktop.worker", str(fd)]


def spawn_worker() -> tuple[subprocess.Popen, Connection]:
    """Start an engine process; returns it and the parent's end of its private socket."""
    parent_sock, child_sock = socket.socketpair()
    try:
        fd = child_sock.fileno()
        process = subprocess.Popen(worker_argv(fd), pass_fds=[fd], stdin=subprocess.DEVNULL, env=_child_env())
    except BaseException:
        parent_sock.close()
        raise
    finally:
        # The child has its own copy now. Ours must go: while it stays open, the child's death
        # would never read as end-of-file here.
        child_sock.close()
    return process, Connection(parent_sock.detach())


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault(LOG_LEVEL_ENV, logging.getLevelName(logging.getLogger().getEffectiveLevel()))
    if not getattr(sys, "frozen", False):
        # Run from a source checkout that is not installed, the child must still import this very
        # desktop package. Installed packages need nothing (and site-packages must not move ahead
        # of the standard library on the path).
        root = str(Path(desktop.__file__).resolve().parent.parent)
        installed = {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}
        if root not in installed:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection
    closing: bool = False  # close() is ending it: a job it cuts short is cancelled, not lost


class WorkerExecutor:
    """Executor (desktop.jobs.executor) whose engine lives in a child process."""

    def __init__(self, settings: Settings, library_root: str | Path | None = None) -> None:
        self._settings = settings
        self._library_root = None if library_root is None else str(library_root)
        self._worker: _Worker | None = None
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        """The engine process's id; None before it starts, after close() and after it died."""
        worker = self._worker
        return None if worker is None else worker.process.pid

    def start(self) -> int:
        """Start the engine process now if none runs (run and prepare do it on demand); its pid."""
        return self._running(LOST_JOB).process.pid

    def run(
        self, request: GenerationRequest, on_progress: ProgressCallback | None, cancel: threading.Event
    ) -> JobOutcome:
        worker = self._running(LOST_JOB)
        job_id = next(self._ids)
        self._send(worker, Run(job_id, request.to_dict()), LOST_JOB)
        relay = _ProgressRelay(on_progress)
        cancel_sent = False
        while True:
            if not cancel_sent and cancel.is_set():
                self._send(worker, Cancel(job_id), LOST_JOB)
                cancel_sent = True
            message = self._receive(worker, LOST_JOB)
            if getattr(message, "job_id", None) != job_id:
                continue  # nothing yet, or a late word about a job an earlier run() gave up on
            if isinstance(message, Progress):
                try:
                    relay(message)
                except BaseException:
                    # Nobody follows this job any more: stop it rather than let it run on.
                    self._send_quietly(worker, Cancel(job_id))
                    raise
            elif isinstance(message, Finished):
                # Returned even if cancel was set meanwhile: the results are saved by now, and the
                # gallery should show what the library holds.
                return JobOutcome(list(message.row_ids), message.device, message.loaded_model, list(message.notes))
            elif isinstance(message, Failed):
                raise error_for(message)

    def prepare(self, model: str) -> tuple[str, str]:
        worker = self._running(LOST_MODEL)
        job_id = next(self._ids)
        self._send(worker, Prepare(job_id, model), LOST_MODEL)
        while True:
            message = self._receive(worker, LOST_MODEL)
            if getattr(message, "job_id", None) != job_id:
                continue
            if isinstance(message, Prepared):
                return message.device, message.model
            if isinstance(message, Failed):
                raise error_for(message)

    def reconfigure(self, settings: Settings) -> None:
        """The running child frees its engine and builds one from these settings at the next job.

        A message rather than a restart: a new process costs seconds of torch imports for every
        settings change (an export folder, a timeout), while freeing the engine already gives back
        its memory; the OpenAI key is read again when the engine is rebuilt.
        """
        self._settings = settings
        worker = self._worker
        if worker is None:
            return  # the next start sends them
        if not self._send_quietly(worker, Reconfigure(settings.to_dict(), self._library_root)):
            self._discard(worker)  # it died; the next job starts a fresh one with these settings

    def close(self) -> None:
        """Ask the engine process to stop (the running job is cancelled at its next step, the
        engine freed); kill it if it has not exited within CLOSE_WAIT_S."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.closing = True
        self._send_quietly(worker, Shutdown())
        try:
            worker.process.wait(timeout=CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            # Expected when it is still importing or loading a model: nothing it holds is half-written.
            log.info("the engine process did not stop within %s s; killing it", CLOSE_WAIT_S)
            worker.process.kill()
            worker.process.wait()
        worker.conn.close()

    # --- the child process ------------------------------------------------------------------

    def _running(self, consequence: str) -> _Worker:
        worker = self._worker
        if worker is not None and worker.process.poll() is None:
            return worker
        if worker is not None:
            # It died between jobs (the OOM killer picks the biggest process, idle or not).
            log.warning("the engine process had stopped (status %s); starting a new one", worker.process.returncode)
            self._discard(worker)
        try:
            process, conn = spawn_worker()
        except OSError as exc:  # no interpreter to run, no file descriptors left, ...
            raise EngineError(f"the engine process could not start ({exc.strerror or exc}).") from None
        worker = self._worker = _Worker(process, conn)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not isinstance(self._receive(worker, consequence), Ready):
            if time.monotonic() > deadline:
                self._discard(worker)
                raise WorkerDied(f"the engine process did not start within {READY_TIMEOUT_S:.0f} s; {consequence}")
        self._send(worker, Reconfigure(self._settings.to_dict(), self._library_root), consequence)
        return worker

    def _send(self, worker: _Worker, message, consequence: str) -> None:
        if not self._send_quietly(worker, message):
            raise self._died(worker, consequence)

    def _send_quietly(self, worker: _Worker, message) -> bool:
        try:
            with self._send_lock:
                worker.conn.send(message)
            return True
        except OSError:  # BrokenPipe, ConnectionReset, or closed by close()
            return False

    def _receive(self, worker: _Worker, consequence: str):
        """The child's next message, or None if none came within POLL_S; raises when it is gone."""
        try:
            if worker.conn.poll(POLL_S):
                return worker.conn.recv()
            if worker.process.poll() is None:
                return None
            # It exited without end-of-file reaching us (a process it forked holds the socket):
            # read what it wrote before, then give it up.
            if worker.conn.poll(0):
                return worker.conn.recv()
        except (EOFError, OSError):
            pass
        raise self._died(worker, consequence)

    def _died(self, worker: _Worker, consequence: str) -> EngineError:
        self._discard(worker)
        if worker.closing:
            return GenerationCancelled()  # close() ended it on purpose
        message = died_message(worker.process.returncode, consequence)
        log.warning("%s", message)
        return WorkerDied(message)

    def _discard(self, worker: _Worker) -> None:
        if self._worker is worker:
            self._worker = None
        if worker.process.poll() is None:
            try:
                # End-of-file comes as the process exits; its exit status follows at once.
                worker.process.wait(timeout=CLOSE_WAIT_S)
            except subprocess.TimeoutExpired:  # it closed the socket but lives on: no use to us
                worker.process.kill()
                worker.process.wait()
        worker.conn.close()


class _ProgressRelay:
    """Turns Progress messages back into the engine's Progress, with a PIL preview.

    A step whose preview the child dropped (at most ~10 a second travel) shows the last preview
    again: to the UI a None preview means "this backend has none", not "not this time".
    """

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        self._on_progress = on_progress
        self._last_preview = None

    def __call__(self, message: Progress) -> None:
        if self._on_progress is None:
            return
        from desktop.engine.result import Progress as EngineProgress

        if message.preview is not None:
            from PIL import Image

            width, height, pixels = message.preview
            self._last_preview = Image.frombytes("RGB", (width, height), pixels)
        self._on_progress(EngineProgress(message.step, message.total, message.elapsed_s, self._last_preview))
