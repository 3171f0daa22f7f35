"""Makes a campaign through the window's job queue, one request at a time, on the UI thread.

The same steps as campaign_run.run_campaign (the CLI's loop), driven by the bridge's signals instead
of a blocking runner: recover the journal, hand out the images earlier runs made, then submit what
is missing one batch at a time, recording each result as its job finishes. One batch at a time keeps
the window's queue short (a job the user starts goes next) and makes Pause immediate. Each step here
is small (a journal row, one file copy); the generating happens in the engine's worker process.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop.engine.errors import EngineError
from desktop.jobs.campaign_run import MAX_FAILURES_IN_A_ROW
from desktop.jobs.runner import JobState
from desktop.library.errors import LibraryError

if TYPE_CHECKING:
    from desktop.jobs.campaign_session import Batch, CampaignSession, ImageResult
    from desktop.ui.bridge import GenerationBridge

IDLE, RUNNING, PAUSING, PAUSED, FINISHED = "idle", "running", "pausing", "paused", "finished"


class CampaignDriver(QObject):
    image_ready = Signal(int, str, int, str)  # row, format, image index, path in the output folder
    progress = Signal(int, int, float)  # images made this run, images to make, seconds left (-1: unknown)
    state_changed = Signal(str)
    message = Signal(str, bool)  # text, is an error

    def __init__(self, bridge: GenerationBridge, parent=None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.session: CampaignSession | None = None
        self.state = IDLE
        self._lock = contextlib.ExitStack()
        self._batches: list[Batch] = []
        self._job: tuple[int, Batch] | None = None
        self._made = self._total = self._failures_in_a_row = 0
        self._failed: list[str] = []
        self._started = 0.0
        bridge.finished_job.connect(self._job_finished)
        bridge.job_changed.connect(self._job_changed)
        bridge.progress.connect(self._job_progress)

    # --- commands (UI thread) -----------------------------------------------------------------

    def start(self, session: CampaignSession) -> None:
        """Make what session is missing. The driver closes it when a new one starts or on close()."""
        if self.session is not session:
            self.close()
            self.session = session
        try:
            self._lock.enter_context(session.journal.run_lock())
            session.recover()
            for result in session.existing():
                self._announce(result)
        except (LibraryError, OSError) as exc:
            self._lock.close()
            self._set_state(IDLE)
            self.message.emit(str(exc), True)
            return
        self._batches = session.pending_batches()
        self._made, self._failures_in_a_row, self._failed = 0, 0, []
        self._total = sum(len(batch.items) for batch in self._batches)
        self._started = time.perf_counter()
        self._set_state(RUNNING)
        self.progress.emit(0, self._total, -1.0)
        self._submit_next()

    def pause(self) -> None:
        """Stop at the running image's next step; what is made stays made, Resume makes the rest."""
        if self.state != RUNNING:
            return
        if self._job is None:
            self._end(PAUSED)
            return
        self._set_state(PAUSING)
        self.bridge.cancel(self._job[0])

    def resume(self) -> None:
        if self.session is not None and self.state in (PAUSED, FINISHED, IDLE):
            self.start(self.session)

    def close(self) -> None:
        """Stop (cancelling the running image) and let the session go."""
        if self._job is not None:
            self.bridge.cancel(self._job[0])
            self._job = None
        self._lock.close()
        if self.session is not None:
            self.session.close()
            self.session = None
        self._set_state(IDLE)

    # --- the queue's events -------------------------------------------------------------------

    def _submit_next(self) -> None:
        while self._batches and self.state == RUNNING:
            batch = self._batches.pop(0)
            try:
                request = self.session.request_for(batch)
            except (EngineError, OSError) as exc:
                text = str(exc) if isinstance(exc, EngineError) else f"its input picture cannot be read ({exc})."
                self._record_failure(batch, text)
                continue
            if request is None:  # its master picture failed: it waits for the next run
                continue
            job = self.bridge.submit(request)
            self._job = (job.id, batch)
            return
        if self.state == RUNNING:
            self._end(FINISHED)

    def _job_finished(self, job_id: int, row_ids: list) -> None:
        if self._job is None or self._job[0] != job_id:
            return
        batch = self._job[1]
        self._job = None
        try:
            results = self.session.record_saved(batch, row_ids)
        except (LibraryError, OSError) as exc:
            self._failed.append(str(exc))
            self.message.emit(f"An image was saved in the library but could not be copied out: {exc}", True)
            results = []
        for result in results:
            self._made += 1
            self._announce(result)
        self._failures_in_a_row = 0
        self.progress.emit(self._made, self._total, self._seconds_left(0.0))
        if self.state == PAUSING:
            self._end(PAUSED)
        else:
            self._submit_next()

    def _job_changed(self, job_id: int, state_value: str, message: str) -> None:
        if self._job is None or self._job[0] != job_id:
            return
        state = JobState(state_value)
        if state is JobState.CANCELLED:
            self._job = None
            self._end(PAUSED)  # cancelled here (Pause) or in the queue: the rest waits for Resume
        elif state is JobState.FAILED:
            batch = self._job[1]
            self._job = None
            self._record_failure(batch, message)
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                # The cause is not the row (a model that cannot load): stop rather than fail them all.
                self._end(PAUSED, f"Stopped after {MAX_FAILURES_IN_A_ROW} failures in a row: {message}")
            elif self.state == PAUSING:
                self._end(PAUSED)
            else:
                self._submit_next()

    def _job_progress(self, job_id: int, step: int, total: int, *_rest) -> None:
        if self._job is not None and self._job[0] == job_id and total:
            fraction = step / total * len(self._job[1].items)
            self.progress.emit(self._made, self._total, self._seconds_left(fraction))

    # --- helpers ------------------------------------------------------------------------------

    def _record_failure(self, batch: Batch, text: str) -> None:
        self.session.record_failed(batch, text)
        first = batch.items[0]
        self._failed.append(f"row {first.row}, {first.format}: {text}")

    def _announce(self, result: ImageResult) -> None:
        planned = result.planned
        self.image_ready.emit(planned.row, planned.format, planned.image, str(result.path))

    def _seconds_left(self, running_fraction: float) -> float:
        done = self._made + running_fraction
        if not self._total or done <= 0:
            return -1.0
        elapsed = time.perf_counter() - self._started
        return elapsed / done * (self._total - done)

    def _end(self, state: str, why: str = "") -> None:
        """The run stops (paused or finished): the manifest is rewritten and the lock let go."""
        try:
            self.session.write_manifest()
        except (LibraryError, OSError) as exc:
            self.message.emit(f"The manifest could not be written: {exc}", True)
        self._lock.close()
        self._set_state(state)
        left = self._total - self._made
        text = f"{self._made} made" + (f", {left} still to make" if left else "")
        if self._failed:
            text += f"; {len(self._failed)} failed — the first: {self._failed[0]}"
        self.message.emit(why or f"{text}.", bool(why or self._failed))

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
