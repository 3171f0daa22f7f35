"""Making a campaign on the job runner, on the calling thread (the CLI; the window's tab may call it
on its runner's thread too): what is missing, in plan order, each image recorded as it is made.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.engine.errors import EngineError
from desktop.jobs.campaign import PlannedImage
from desktop.jobs.campaign_session import Batch, CampaignSession, ImageResult

if TYPE_CHECKING:
    from desktop.jobs.executor import Executor

# Jobs failing one after another with nothing made between: the cause is not the row (a model that
# cannot load, a key refused); stop rather than fail every remaining image the same way.
MAX_FAILURES_IN_A_ROW = 3


@dataclass(frozen=True)
class CampaignProgress:
    done: int  # images this run has finished making
    total: int  # images this run has to make
    step: int  # within the job that reported
    steps: int
    elapsed_s: float
    running: float = 0.0  # how much of the running jobs is done, in jobs (two halfway: 1.0)

    @property
    def eta_s(self) -> float | None:
        fraction = (self.done + self.running) / self.total if self.total else 0
        return self.elapsed_s / fraction * (1 - fraction) if fraction > 0 else None


@dataclass
class RunSummary:
    made: int = 0
    already_done: int = 0
    failed: list[tuple[PlannedImage, str]] = field(default_factory=list)
    not_made: int = 0  # left pending: cancelled, or their master failed
    cancelled: bool = False
    stopped: str = ""  # why the run stopped early after failures in a row
    notes: list[str] = field(default_factory=list)  # what the jobs said (words a model ignores), once each
    manifest: Path | None = None
    contact_sheet: Path | None = None


def run_campaign(
    session: CampaignSession,
    executor: Executor | Sequence[Executor],
    on_image: Callable[[ImageResult], None] | None = None,
    on_progress: Callable[[CampaignProgress], None] | None = None,
    cancel: threading.Event | None = None,
    contact_sheet: bool = False,
) -> RunSummary:
    """Make what is missing on this thread; on_image hears of every image, made earlier (first, in plan
    order) or now. Several executors run as many jobs at once (a team server's replicas make them side
    by side); the journal is only touched from this thread. cancel stops the running images at their
    next step (what is made stays made); Ctrl-C does the same and propagates KeyboardInterrupt. The
    manifest (and contact sheet) are rewritten at the end either way. CampaignBusy when another
    process runs the campaign."""
    executors = [executor] if not isinstance(executor, Sequence) else list(executor)
    cancel = cancel or threading.Event()
    summary = RunSummary()
    with session.journal.run_lock():
        try:
            session.recover()
            for result in session.existing():
                summary.already_done += 1
                if on_image is not None:
                    on_image(result)
            _Run(session, executors, summary, on_image, on_progress, cancel).make(session.pending_batches())
        finally:
            summary.manifest = session.write_manifest()
        if contact_sheet:
            summary.contact_sheet = session.write_contact_sheet()
    return summary


class _Run:
    """Hands batches to free runners (one thread each) and records what they finish on the caller's thread."""

    def __init__(self, session, executors, summary: RunSummary, on_image, on_progress, cancel) -> None:
        from desktop.jobs.runner import JobProgress, JobRunner

        self.session, self.summary, self.cancel = session, summary, cancel
        self.on_image, self.on_progress = on_image or (lambda result: None), on_progress
        self.started = time.perf_counter()
        self.total = 0
        self._progress_lock = threading.Lock()
        self._fractions: dict[int, float] = {}  # id(job) -> share of its batch done (jobs in flight)
        self._finished: queue.Queue = queue.Queue()

        def on_event(event) -> None:  # on a runner's thread
            if isinstance(event, JobProgress):
                if cancel.is_set():
                    event.job.cancel.set()
                p = event.progress
                with self._progress_lock:
                    self._fractions[id(event.job)] = p.step / p.total if p.total else 0.0
                self._report(p.step, p.total)

        self.runners = [JobRunner(executor, on_event) for executor in executors]
        self.free = list(self.runners)  # runners without a job (touched on the caller's thread only)

    def make(self, batches: list[Batch]) -> None:
        summary = self.summary
        self.total = _images(batches)
        pending = deque(batches)
        # By id(job): each runner numbers its own jobs from 1.
        in_flight: dict[int, tuple[Batch, threading.Thread]] = {}
        waiting: list[Batch] = []  # outpainted from a master still being made
        failures_in_a_row = 0
        try:
            while pending or in_flight:
                while self.free and pending and not (self.cancel.is_set() or summary.cancelled or summary.stopped):
                    batch = pending.popleft()
                    try:
                        request = self.session.request_for(batch)
                    except (EngineError, OSError) as exc:
                        text = str(exc) if isinstance(exc, EngineError) else f"its input can't be read ({exc})."
                        _failed(self.session, summary, batch, text)
                        continue
                    if request is None:  # its master is not made: in flight, or failed (the next run)
                        masters = {(item.row, item.master_format) for item in batch.items}
                        if any((i.row, i.format) in masters for b, _t in in_flight.values() for i in b.items):
                            waiting.append(batch)
                        else:
                            summary.not_made += len(batch.items)
                        continue
                    runner = self.free.pop()
                    job = runner.submit(request)
                    thread = threading.Thread(target=self._run, args=(runner, job), name=f"campaign-job-{job.id}")
                    in_flight[id(job)] = (batch, thread)
                    thread.start()
                if not in_flight:
                    break
                runner, job = self._next_finished()
                batch, thread = in_flight.pop(id(job))
                thread.join()
                self.free.append(runner)
                with self._progress_lock:
                    self._fractions.pop(id(job), None)
                pending.extendleft(reversed(waiting))  # their master may be made now: try them again
                waiting.clear()
                failures_in_a_row = self._record(job, batch, failures_in_a_row)
            summary.cancelled = summary.cancelled or self.cancel.is_set()
            if summary.cancelled or summary.stopped:
                summary.not_made += _images(list(pending)) + _images(waiting)
        except BaseException:
            # Ctrl-C (or a bug of ours): every running image stops at its next step; what finished is
            # recorded, and no thread is left making images after this returns.
            self.cancel.set()
            for job_runner in self.runners:
                job_runner.cancel_all()
            for _batch, thread in in_flight.values():
                thread.join()
            while not self._finished.empty():
                _runner, job = self._finished.get()
                if id(job) in in_flight:
                    self._record(job, in_flight.pop(id(job))[0], 0)
            raise

    def _run(self, runner, job) -> None:
        try:
            runner.run_pending()
        finally:
            self._finished.put((runner, job))

    def _next_finished(self):
        # A timeout keeps Ctrl-C deliverable to this thread while it waits.
        while True:
            try:
                return self._finished.get(timeout=0.2)
            except queue.Empty:
                if self.cancel.is_set():
                    for runner in self.runners:
                        runner.cancel_all()

    def _record(self, job, batch: Batch, failures_in_a_row: int) -> int:
        from desktop.jobs.runner import JobState

        summary = self.summary
        if job.state is JobState.DONE:
            for result in self.session.record_saved(batch, job.outcome.row_ids):
                summary.made += 1
                self.on_image(result)
            summary.notes.extend(n for n in job.outcome.notes if n not in summary.notes)
            self._report(0, 0)  # the bar reaches its end with the last picture
            return 0
        if job.state is JobState.CANCELLED:
            summary.cancelled = True
            summary.not_made += len(batch.items)
            return failures_in_a_row
        if job.exception is not None:
            raise job.exception  # a bug of ours, not the row's: the caller reports it
        _failed(self.session, summary, batch, job.message)
        failures_in_a_row += 1
        if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            summary.stopped = job.message
        return failures_in_a_row

    def _report(self, step: int, steps: int) -> None:
        if self.on_progress is None:
            return
        with self._progress_lock:
            running = sum(self._fractions.values())
        self.on_progress(
            CampaignProgress(self.summary.made, self.total, step, steps, time.perf_counter() - self.started, running)
        )


def _images(batches: list[Batch]) -> int:
    return sum(len(batch.items) for batch in batches)


def _failed(session: CampaignSession, summary: RunSummary, batch: Batch, message: str) -> None:
    session.record_failed(batch, message)
    summary.failed.extend((item, message) for item in batch.items)
