"""Making a campaign on the job runner, on the calling thread (the CLI; the window's tab may call it
on its runner's thread too): what is missing, in plan order, each image recorded as it is made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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
    step: int  # within the running job
    steps: int
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        fraction = (self.done + (self.step / self.steps if self.steps else 0)) / self.total if self.total else 0
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
    executor: Executor,
    on_image: Callable[[ImageResult], None] | None = None,
    on_progress: Callable[[CampaignProgress], None] | None = None,
    cancel: threading.Event | None = None,
    contact_sheet: bool = False,
) -> RunSummary:
    """Make what is missing on a JobRunner on this thread; on_image hears of every image, made earlier
    (first, in plan order) or now. cancel stops at the running image's next step (what is made stays
    made); Ctrl-C does the same and propagates KeyboardInterrupt. The manifest (and contact sheet)
    are rewritten at the end either way. CampaignBusy when another process runs the campaign."""
    from desktop.jobs.runner import JobProgress, JobRunner, JobState

    cancel = cancel or threading.Event()
    on_image = on_image or (lambda result: None)
    summary = RunSummary()
    started = time.perf_counter()
    with session.journal.run_lock():
        try:
            session.recover()
            for result in session.existing():
                summary.already_done += 1
                on_image(result)
            batches = session.pending_batches()
            total = sum(len(b.items) for b in batches)

            def on_event(event) -> None:
                if not isinstance(event, JobProgress):
                    return
                if cancel.is_set():
                    runner.cancel(event.job.id)
                if on_progress is not None:
                    p = event.progress
                    on_progress(CampaignProgress(summary.made, total, p.step, p.total, time.perf_counter() - started))

            runner = JobRunner(executor, on_event)
            failures_in_a_row = 0
            for index, batch in enumerate(batches):
                if cancel.is_set():
                    summary.cancelled = True
                    summary.not_made += _images(batches[index:])
                    break
                try:
                    request = session.request_for(batch)
                except (EngineError, OSError) as exc:
                    message = str(exc) if isinstance(exc, EngineError) else f"its input picture cannot be read ({exc})."
                    _failed(session, summary, batch, message)
                    continue
                if request is None:  # its master picture failed: it waits for the next run
                    summary.not_made += len(batch.items)
                    continue
                job = runner.submit(request)
                runner.run_pending()
                if job.state is JobState.DONE:
                    for result in session.record_saved(batch, job.outcome.row_ids):
                        summary.made += 1
                        on_image(result)
                    failures_in_a_row = 0
                    summary.notes.extend(n for n in job.outcome.notes if n not in summary.notes)
                    if on_progress is not None:  # the bar reaches its end with the last picture
                        on_progress(CampaignProgress(summary.made, total, 0, 0, time.perf_counter() - started))
                elif job.state is JobState.CANCELLED:
                    summary.cancelled = True
                    summary.not_made += _images(batches[index:])
                    break
                else:
                    if job.exception is not None:
                        raise job.exception  # a bug of ours, not the row's: the caller reports it
                    _failed(session, summary, batch, job.message)
                    failures_in_a_row += 1
                    if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                        summary.stopped = job.message
                        summary.not_made += _images(batches[index + 1 :])
                        break
        finally:
            summary.manifest = session.write_manifest()
        if contact_sheet:
            summary.contact_sheet = session.write_contact_sheet()
    return summary


def _images(batches: list[Batch]) -> int:
    return sum(len(batch.items) for batch in batches)


def _failed(session: CampaignSession, summary: RunSummary, batch: Batch, message: str) -> None:
    session.record_failed(batch, message)
    summary.failed.extend((item, message) for item in batch.items)
