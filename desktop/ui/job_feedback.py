"""What the window shows as jobs go: the queue's rows, the form's busy state and errors, the status
bar, and a finished job's results in the gallery and the preview."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QImage

from desktop.jobs.runner import JobState
from desktop.library.store import Library
from desktop.ui.bridge import GenerationBridge
from desktop.ui.gallery_model import GalleryModel
from desktop.ui.gallery_view import GalleryView
from desktop.ui.progress_panel import ProgressPanel
from desktop.ui.prompt_form import PromptForm


class JobFeedback(QObject):
    def __init__(
        self,
        bridge: GenerationBridge,
        library: Library,
        form: PromptForm,
        progress: ProgressPanel,
        gallery: GalleryView,
        gallery_model: GalleryModel,
        show_status: Callable[[str, int], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge, self.library, self.form, self.progress = bridge, library, form, progress
        self.gallery, self.gallery_model, self.show_status = gallery, gallery_model, show_status
        progress.cancel_job.connect(bridge.cancel)
        progress.cancel_all.connect(bridge.cancel_all)
        bridge.job_added.connect(self._added)
        bridge.job_changed.connect(self._changed)
        bridge.progress.connect(progress.show_progress)
        bridge.finished_job.connect(self._finished)

    def cancel_running(self) -> None:
        for job in self.bridge.jobs():
            if job.state is JobState.RUNNING:
                self.bridge.cancel(job.id)

    def clear_finished(self) -> None:
        self.bridge.forget_finished()
        self.progress.clear_finished()

    def _added(self, job_id: int) -> None:
        job = self.bridge.job(job_id)
        if job is not None:
            self.progress.add_job(job)
        self._update_busy()

    def _changed(self, job_id: int, state_value: str, message: str) -> None:
        state = JobState(state_value)
        self.progress.update_job(job_id, state, message)
        if state is JobState.FAILED:
            job = self.bridge.job(job_id)
            self.form.show_error(message, job.error_field if job is not None else None)
            self.show_status(f"Job #{job_id} failed.", 8000)
        elif state is JobState.DONE and message:
            self.show_status(f"Note: {message[:1].upper()}{message[1:]}", 15000)
        elif state is JobState.CANCELLED:
            self.show_status(f"Job #{job_id} cancelled; nothing was saved.", 5000)
        self._update_busy()

    def _finished(self, job_id: int, row_ids: list[int]) -> None:
        rows = [row for row in map(self.library.db.get, row_ids) if row is not None]
        self.gallery_model.add_new(rows)
        self.gallery.refresh_filters()
        if not rows:
            return
        first = rows[0]
        self.form.set_last_seed(first.seed)
        self.progress.show_result(QImage(str(self.library.still(first))))
        self.gallery.select_id(first.id)
        hidden = "" if self.gallery_model.shows(first.id) else " The search or filters hide it: clear them to see it."
        self.show_status(
            f"Job #{job_id}: {len(rows)} {first.media}{'s' if len(rows) != 1 else ''} saved "
            f"in {first.timings.get('generate_s', 0):.1f} s.{hidden}",
            8000,
        )

    def _update_busy(self) -> None:
        self.form.set_busy(any(job.active for job in self.bridge.jobs()))
