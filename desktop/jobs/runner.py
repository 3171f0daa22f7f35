"""The job runner: a queue of validated requests, their states, and the events they raise.

Qt-free, so the window, the CLI and (later) campaigns and the server run jobs the same way. The
runner's loop runs on one thread (run_loop: the window's QThread, or run_pending on the CLI's main
thread); events are delivered on that thread, to one callback, as plain dataclasses.
"""

from __future__ import annotations

import collections
import enum
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.jobs.executor import Executor, JobOutcome

if TYPE_CHECKING:
    from desktop.engine.request import GenerationRequest
    from desktop.engine.result import Progress
    from desktop.library.settings import Settings

log = logging.getLogger(__name__)


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class Job:
    id: int
    request: GenerationRequest  # validated: defaults and seed filled in
    state: JobState = JobState.QUEUED
    message: str = ""  # why it failed, or notes on a result
    error_field: str | None = None  # the request field a failure is about, where one is
    outcome: JobOutcome | None = None
    # A failure that is a bug of ours (not an EngineError), for a caller that shows details (--debug).
    exception: BaseException | None = field(default=None, repr=False)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    ended: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobChanged:
    job: Job
    state: JobState
    message: str


@dataclass(frozen=True)
class JobProgress:
    job: Job
    progress: Progress


@dataclass(frozen=True)
class JobFinished:
    job: Job
    outcome: JobOutcome


@dataclass(frozen=True)
class EngineStatus:
    device: str
    model: str


Event = JobChanged | JobProgress | JobFinished | EngineStatus


class JobRunner:
    def __init__(self, executor: Executor, on_event: Callable[[Event], None] | None = None) -> None:
        self.executor = executor
        self._on_event = on_event or (lambda event: None)
        self._queue: collections.deque[Job] = collections.deque()
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._stopping = False
        self._warm_up_model: str | None = None
        self._new_settings: Settings | None = None

    # --- any thread ------------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> Job:
        """Queue a validated request (validation runs once, where the request was made)."""
        with self._cond:
            job = Job(next(self._ids), request)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._cond.notify()
        return job

    def jobs(self) -> list[Job]:
        with self._cond:
            return list(self._jobs.values())

    def job(self, job_id: int) -> Job | None:
        with self._cond:
            return self._jobs.get(job_id)

    def cancel(self, job_id: int) -> None:
        """A queued job is dropped; a running one stops at its next step."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or not job.active:
                return
            job.cancel.set()
            if job.state is not JobState.QUEUED:
                return
            self._queue.remove(job)
        self._end(job, JobState.CANCELLED, "Cancelled.")

    def cancel_all(self) -> None:
        for job in self.jobs():
            self.cancel(job.id)

    def forget_finished(self) -> None:
        with self._cond:
            self._jobs = {i: j for i, j in self._jobs.items() if j.active}

    def warm_up(self, model: str) -> None:
        """Load model while the queue is idle, so that the first job starts at once. Failures are
        left for that job to report."""
        with self._cond:
            if not self._stopping:
                self._warm_up_model = model
                self._cond.notify()

    def reconfigure(self, settings: Settings) -> None:
        """New settings: applied before the next job (the loaded pipeline is freed first)."""
        with self._cond:
            self._new_settings = settings
            self._cond.notify()

    def stop(self) -> None:
        """Cancel everything and make run_loop return after the running job has stopped."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.cancel_all()

    # --- the runner's thread -----------------------------------------------------------------

    def run_loop(self) -> None:
        """Run jobs until stop(); then close the executor (ending its process, if it has one)."""
        try:
            while self._next(block=True):
                pass
        finally:
            self.executor.close()

    def run_pending(self) -> None:
        """Run what is queued on the calling thread, then return (the CLI). Ctrl-C cancels the
        running job and propagates."""
        while self._next(block=False):
            pass

    def _next(self, block: bool) -> bool:
        with self._cond:
            while block and not (self._queue or self._stopping or self._warm_up_model or self._new_settings):
                self._cond.wait()
            if self._stopping:
                return False
            settings, self._new_settings = self._new_settings, None
            warm_up, self._warm_up_model = self._warm_up_model, None
            job = self._queue.popleft() if self._queue else None
            if job is not None:
                job.state = JobState.RUNNING
        if settings is not None:
            self.executor.reconfigure(settings)
        if job is None:
            if warm_up:
                self._warm_up(warm_up)
            return block or warm_up is not None
        self._run(job)
        return True

    def _warm_up(self, model: str) -> None:
        try:
            device, model = self.executor.prepare(model)
            self._on_event(EngineStatus(device, model))
        except Exception:  # the first job with this model says what is wrong, in the form
            log.info("warming up %s failed", model, exc_info=True)

    def _run(self, job: Job) -> None:
        self._emit_state(job)
        try:
            outcome = self.executor.run(job.request, lambda p: self._on_event(JobProgress(job, p)), job.cancel)
        except GenerationCancelled:
            self._end(job, JobState.CANCELLED, "Cancelled.")
        except ValidationError as exc:
            job.error_field = exc.field
            self._end(job, JobState.FAILED, str(exc))
        except EngineError as exc:
            self._end(job, JobState.FAILED, str(exc))
        except KeyboardInterrupt:
            self._end(job, JobState.CANCELLED, "Cancelled.")
            raise
        except Exception as exc:  # a bug of ours: keep the app alive, say it plainly
            log.exception("job %s failed", job.id)
            job.exception = exc
            self._end(job, JobState.FAILED, f"unexpected failure ({type(exc).__name__}); see the log.")
        else:
            job.outcome = outcome
            self._on_event(EngineStatus(outcome.device, outcome.loaded_model or ""))
            self._on_event(JobFinished(job, outcome))
            self._end(job, JobState.DONE, " ".join(outcome.notes))

    def _end(self, job: Job, state: JobState, message: str) -> None:
        job.state, job.message = state, message
        self._emit_state(job)
        job.ended.set()

    def _emit_state(self, job: Job) -> None:
        self._on_event(JobChanged(job, job.state, job.message))
