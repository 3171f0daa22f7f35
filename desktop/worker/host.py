"""The engine process's main: runs jobs for its parent (the window) and reports back.

Two threads. A reader thread receives every message, so that a Cancel reaches the running job's
threading.Event while the main thread is busy generating; everything else goes to the main thread
through a queue, in order. Only the main thread builds the engine, runs jobs and sends.

torch, diffusers and transformers are imported by the engine on the first job (or Prepare), not
at start, so Ready reaches the parent in a fraction of a second.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, NoReturn

from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
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
)

if TYPE_CHECKING:
    from desktop.engine.engine import Engine
    from desktop.engine.result import Progress as EngineProgress
    from desktop.library.store import Library

log = logging.getLogger("desktop.worker")

PROCESS_NAME = "engine worker"
LOG_LEVEL_ENV = "DIFFUSION_STUDIO_WORKER_LOG_LEVEL"
# A tiny model finishes a step in milliseconds: previews beyond ~10 a second only fill the pipe and
# the UI's event queue. The step count still goes out at every step.
PREVIEW_INTERVAL_S = 0.1


def main(fd: int) -> NoReturn:
    """Serve the parent on the connected socket fd until Shutdown, or until the parent is gone;
    then end the process (it never returns)."""
    _name_process()
    logging.basicConfig(
        level=_log_level(os.environ.get(LOG_LEVEL_ENV, "")),
        format=f"{PROCESS_NAME}[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    # Ctrl-C in the window's terminal reaches the whole process group: the parent decides when the
    # engine stops (Shutdown), so the child ignores it rather than dying mid-job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Our own subprocesses (ffmpeg for videos) must not hold the socket open after we die, or the
    # parent would not see EOF.
    os.set_inheritable(fd, False)
    host = Host(Connection(fd))
    host.send(Ready(os.getpid()))
    code = host.serve()
    # The engine is freed and the library closed: skip the interpreter's teardown, which takes
    # over a second once torch is loaded and would only delay the window's closing.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _log_level(name: str) -> int:
    """The window's log level (passed in the environment), so --debug reaches the engine too."""
    level = logging.getLevelName(name.upper())
    return level if isinstance(level, int) else logging.WARNING


def _name_process() -> None:
    """Let ps, top and the system monitor say "engine worker" (Linux; elsewhere nothing happens)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        PR_SET_NAME = 15
        ctypes.CDLL(None).prctl(PR_SET_NAME, PROCESS_NAME.encode(), 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl: only the name in ps differs
        pass


def _parent_gone() -> None:
    """The parent closed its end (it exited or crashed): nobody is left to report to."""
    log.info("the window's end of the connection closed; exiting")
    # os._exit: no cleanup to wait for. Library writes are atomic and the GPU memory goes with us.
    os._exit(0)


class Host:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._cancels: dict[int, threading.Event] = {}
        self._cancels_lock = threading.Lock()
        self._settings_dict: dict = {}
        self._library_root: str | None = None
        self._engine: Engine | None = None
        self._library: Library | None = None

    # --- messages ---------------------------------------------------------------------------

    def send(self, message) -> None:
        try:
            with self._send_lock:
                self._conn.send(message)
        except OSError:  # BrokenPipe, ConnectionReset: the parent is gone
            _parent_gone()

    def _read(self) -> None:
        """The reader thread: cancels act at once; everything else queues for the main thread."""
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                _parent_gone()
                return
            except Exception:  # a message we cannot read: the stream is out of step, start over
                log.exception("unreadable message from the window")
                os._exit(1)
            if isinstance(message, Run):
                # Registered here, not when the main thread starts the job: a Cancel that follows
                # a Run at once must find its event.
                with self._cancels_lock:
                    self._cancels[message.job_id] = threading.Event()
            elif isinstance(message, Cancel):
                with self._cancels_lock:
                    event = self._cancels.get(message.job_id)
                if event is not None:
                    event.set()
                continue
            elif isinstance(message, Shutdown):
                with self._cancels_lock:
                    for event in self._cancels.values():
                        event.set()
                self._inbox.put(message)
                # Nothing after Shutdown matters; the parent's closing its end must no longer
                # cut the engine's release short.
                return
            self._inbox.put(message)

    def serve(self) -> int:
        threading.Thread(target=self._read, name="worker-reader", daemon=True).start()
        try:
            while True:
                message = self._inbox.get()
                if isinstance(message, Shutdown):
                    return 0
                if isinstance(message, Run):
                    self._run(message)
                elif isinstance(message, Prepare):
                    self._prepare(message)
                elif isinstance(message, Reconfigure):
                    self._release()
                    self._settings_dict, self._library_root = message.settings, message.library_root
                else:
                    log.warning("ignoring an unknown message: %s", type(message).__name__)
        finally:
            self._release()

    # --- work -------------------------------------------------------------------------------

    def _engine_now(self) -> Engine:
        if self._engine is None:
            from desktop.jobs.local import build_engine
            from desktop.library.settings import Settings

            self._engine = build_engine(Settings.from_dict(self._settings_dict))
        return self._engine

    def _library_now(self) -> Library:
        if self._library is None:
            from desktop.library.store import Library

            self._library = Library(self._library_root)
        return self._library

    def _release(self) -> None:
        if self._engine is not None:
            self._engine.release()
            self._engine = None
        if self._library is not None:
            self._library.close()
            self._library = None

    def _run(self, message: Run) -> None:
        with self._cancels_lock:
            cancel = self._cancels[message.job_id]
        try:
            with _reported(self, message.job_id):
                from desktop.engine.request import GenerationRequest

                request = GenerationRequest.from_dict(message.request)
                engine = self._engine_now()
                result = engine.run(request, _ProgressSender(self, message.job_id), cancel)
                if cancel.is_set():  # cancelled after the last step: nothing is saved
                    raise GenerationCancelled()
                saved = self._library_now().save(result)
                self.send(
                    Finished(
                        job_id=message.job_id,
                        row_ids=[item.row.id for item in saved],
                        device=result.device,
                        loaded_model=engine.loaded_model(request.backend),
                        notes=list(result.notes),
                    )
                )
        finally:
            with self._cancels_lock:
                self._cancels.pop(message.job_id, None)

    def _prepare(self, message: Prepare) -> None:
        with _reported(self, message.job_id):
            device = self._engine_now().prepare(message.model)
            self.send(Prepared(message.job_id, device, message.model))


@contextmanager
def _reported(host: Host, job_id: int) -> Iterator[None]:
    """Turns whatever a job raises into one Failed message: the engine's own errors keep their
    sentence (and a validation error its field); anything else is a bug of ours, logged here with
    its traceback (stderr) and reported as one sentence, never as an exception object."""
    try:
        yield
    except ValidationError as exc:
        host.send(Failed(job_id, "validation", str(exc), exc.field))
    except GenerationCancelled as exc:
        host.send(Failed(job_id, "cancelled", str(exc)))
    except EngineError as exc:
        host.send(Failed(job_id, "engine", str(exc)))
    except Exception as exc:
        log.exception("job %s failed", job_id)
        host.send(Failed(job_id, "bug", f"unexpected failure ({type(exc).__name__}); see the log."))


class _ProgressSender:
    """The engine's progress callback: every step's count goes out, previews at most ~10 a second
    (the first and the last always)."""

    def __init__(self, host: Host, job_id: int) -> None:
        self._host, self._job_id = host, job_id
        self._last_preview_at = float("-inf")

    def __call__(self, progress: EngineProgress) -> None:
        preview = None
        now = time.monotonic()
        due = now - self._last_preview_at >= PREVIEW_INTERVAL_S or progress.step >= progress.total
        if progress.preview is not None and due:
            image = progress.preview.convert("RGB")
            preview = (image.width, image.height, image.tobytes())
            self._last_preview_at = now
        self._host.send(Progress(self._job_id, progress.step, progress.total, progress.elapsed_s, preview))
