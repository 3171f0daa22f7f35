"""The live side of a generation: the preview of the latents at every step, the progress bar with
step n/N and time left, and the visible job queue (cancel one, cancel all)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.jobs.runner import Job, JobState

STATE_LABELS = {
    JobState.QUEUED: "Queued",
    JobState.RUNNING: "Running",
    JobState.DONE: "Done",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}


STATE_ROLE = Qt.ItemDataRole.UserRole + 1
LABEL_ROLE = Qt.ItemDataRole.UserRole + 2


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class ProgressPanel(QWidget):
    cancel_job = Signal(int)
    cancel_all = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setWordWrap(True)
        self.preview.setMinimumSize(256, 256)
        self.preview.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.preview.setStyleSheet("QLabel { background: #20232a; color: #d8dbe2; border-radius: 6px; padding: 12px; }")
        self.preview.setOpenExternalLinks(False)
        self._preview_image = QImage()

        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.setFormat("Idle")
        self.bar.setValue(0)
        self.time_left = QLabel()

        self.queue = QListWidget()
        self.queue.setMaximumHeight(90)
        self.cancel_selected = QPushButton("Cancel selected")
        self.cancel_everything = QPushButton("Cancel all")
        self.cancel_selected.clicked.connect(self._cancel_selected)
        self.cancel_everything.clicked.connect(self.cancel_all)

        status = QHBoxLayout()
        status.addWidget(self.bar, 1)
        status.addWidget(self.time_left)
        queue_buttons = QVBoxLayout()
        queue_buttons.addWidget(self.cancel_selected)
        queue_buttons.addWidget(self.cancel_everything)
        queue_buttons.addStretch()
        queue_row = QHBoxLayout()
        queue_row.addWidget(self.queue, 1)
        queue_row.addLayout(queue_buttons)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.preview, 1)
        layout.addLayout(status)
        layout.addLayout(queue_row)
        self._items: dict[int, QListWidgetItem] = {}
        self._update_buttons()

    def show_message(self, text: str) -> None:
        """Text in place of the preview (first run, what to do next)."""
        self._preview_image = QImage()
        self.preview.setPixmap(QPixmap())
        self.preview.setText(text)

    # --- jobs ------------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        item = QListWidgetItem()
        item.setData(Qt.ItemDataRole.UserRole, job.id)
        prompt = job.request.prompt.strip().replace("\n", " ")
        item.setData(LABEL_ROLE, f"{job.request.count}× {prompt if len(prompt) <= 50 else prompt[:48] + '…'}")
        self.queue.addItem(item)
        self._items[job.id] = item
        self.update_job(job.id, job.state, job.message or job.request.prompt)

    def update_job(self, job_id: int, state: JobState, message: str = "") -> None:
        item = self._items.get(job_id)
        if item is None:
            return
        item.setText(f"#{job_id} {STATE_LABELS[state]} · {item.data(LABEL_ROLE)}")
        if message:
            item.setToolTip(message)
        item.setData(STATE_ROLE, state)
        if state is JobState.RUNNING:
            self.bar.setRange(0, 0)  # busy until the first step reports (model loading)
            self.bar.setFormat(f"Job #{job_id}: loading…")
            self.time_left.setText("")
        elif state not in (JobState.QUEUED, JobState.RUNNING):
            self._finished_bar(job_id, state)
        self._update_buttons()

    def _finished_bar(self, job_id: int, state: JobState) -> None:
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)
            self.bar.setValue(1 if state is JobState.DONE else 0)
        self.bar.setFormat(f"Job #{job_id}: {STATE_LABELS[state].lower()}")
        self.time_left.setText("")

    def clear_finished(self) -> None:
        for job_id, item in list(self._items.items()):
            if item.data(STATE_ROLE) not in (JobState.QUEUED, JobState.RUNNING):
                self.queue.takeItem(self.queue.row(item))
                del self._items[job_id]
        self._update_buttons()

    def show_progress(self, job_id: int, step: int, total: int, seconds_left: float, preview: QImage) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(step)
        unit = "Step" if not preview.isNull() else "Request"
        self.bar.setFormat(f"Job #{job_id}: {unit} {step}/{total}")
        if step >= total:
            # The steps are done but decoding, writing and saving are not: "0 s left" would be wrong.
            self.time_left.setText("finishing…")
        else:
            self.time_left.setText(f"{format_seconds(seconds_left)} left" if seconds_left >= 0 else "")
        if not preview.isNull():
            self._preview_image = preview
            self._show_preview()

    def _show_preview(self) -> None:
        pixmap = QPixmap.fromImage(self._preview_image)
        target = self.preview.contentsRect().size()
        self.preview.setPixmap(
            pixmap.scaled(target, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        )

    def show_result(self, image: QImage) -> None:
        if not image.isNull():
            self._preview_image = image
            self._show_preview()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self._preview_image.isNull():
            self._show_preview()

    def _cancel_selected(self) -> None:
        for item in self.queue.selectedItems():
            self.cancel_job.emit(item.data(Qt.ItemDataRole.UserRole))

    def _update_buttons(self) -> None:
        active = any(i.data(STATE_ROLE) in (JobState.QUEUED, JobState.RUNNING) for i in self._items.values())
        self.cancel_everything.setEnabled(active)
        self.cancel_selected.setEnabled(active)
