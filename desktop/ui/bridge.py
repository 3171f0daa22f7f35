"""The one module where worker threads meet the UI thread.

- GenerationBridge: a long-lived QThread drives the Qt-free job runner, whose executor runs each
  job in the engine's worker process; every runner event reaches the UI thread as a queued signal.
- ThumbnailLoader: gallery thumbnails made and read on a thread pool, delivered as QImages.

Rules kept here: widgets are never touched off the UI thread; what crosses is plain data (ints,
strings, lists) and QImages, which are safe to build in any thread (QPixmaps are not).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThread, QThreadPool, Signal
from PySide6.QtGui import QImage

from desktop.engine.errors import EngineError
from desktop.jobs.runner import EngineStatus, Job, JobChanged, JobFinished, JobProgress, JobRunner

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from desktop.engine.request import GenerationRequest
    from desktop.jobs.executor import Executor
    from desktop.library.settings import Settings


def pil_to_qimage(image) -> QImage:
    """A QImage that owns a copy of the PIL image's pixels (safe to send to another thread)."""
    rgba = image.convert("RGBA")
    data = rgba.tobytes("raw", "RGBA")
    return QImage(data, rgba.width, rgba.height, rgba.width * 4, QImage.Format.Format_RGBA8888).copy()


class GenerationBridge(QThread):
    """Owned by the UI thread; run() is the runner's loop, on this thread."""

    # Only plain values and QImages cross threads: Python objects sent through queued
    # connections crashed PySide 6.12 now and then.
    job_added = Signal(int)  # job id (emitted on the UI thread by submit())
    job_changed = Signal(int, str, str)  # job id, JobState value, message (for failures)
    progress = Signal(int, int, int, float, QImage)  # job id, step, total, seconds left (-1: unknown), preview
    finished_job = Signal(int, list)  # job id, ids of the history rows saved
    engine_status = Signal(str, str)  # device, loaded model ("" when none)

    def __init__(self, executor_factory: Callable[[], Executor], parent=None):
        super().__init__(parent)
        self.setObjectName("generation")
        self.runner = JobRunner(executor_factory(), self._relay)
        self._stopped = False

    # --- UI thread -------------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> Job:
        """Queue a validated request."""
        job = self.runner.submit(request)
        self.job_added.emit(job.id)
        self._ensure_running()
        return job

    def jobs(self) -> list[Job]:
        return self.runner.jobs()

    def job(self, job_id: int) -> Job | None:
        return self.runner.job(job_id)

    def cancel(self, job_id: int) -> None:
        self.runner.cancel(job_id)

    def cancel_all(self) -> None:
        self.runner.cancel_all()

    def forget_finished(self) -> None:
        self.runner.forget_finished()

    def warm_up(self, model: str) -> None:
        """Start the engine and load model while the queue is idle, so that the first job starts at once."""
        if self._stopped:  # the window closed before its warm-up timer fired
            return
        self.runner.warm_up(model)
        self._ensure_running()

    def reset_engine(self, settings: Settings) -> None:
        """New settings: the next job uses an engine built from them (the old pipeline is freed first)."""
        self.runner.reconfigure(settings)

    def shutdown(self) -> None:
        """Cancel everything and wait: the running job stops at its next step, the engine ends."""
        self._stopped = True
        self.runner.stop()
        # Closing the executor from here too ends a model load in progress (it cannot be cancelled
        # at a step) within the executor's grace period instead of whenever the load finishes.
        self.runner.executor.close()
        if self.isRunning():
            self.wait()

    def _ensure_running(self) -> None:
        if not self.isRunning() and not self._stopped:
            self.start()

    # --- the runner's thread -----------------------------------------------------------------

    def run(self) -> None:
        self.runner.run_loop()

    def _relay(self, event) -> None:
        if isinstance(event, JobProgress):
            p = event.progress
            preview = pil_to_qimage(p.preview) if p.preview is not None else QImage()
            self.progress.emit(event.job.id, p.step, p.total, p.eta_s if p.eta_s is not None else -1.0, preview)
        elif isinstance(event, JobChanged):
            self.job_changed.emit(event.job.id, event.state.value, event.message)
        elif isinstance(event, JobFinished):
            self.finished_job.emit(event.job.id, list(event.outcome.row_ids))
        elif isinstance(event, EngineStatus):
            self.engine_status.emit(event.device, event.model)


class _ThumbnailSignals(QObject):
    ready = Signal(str, QImage)  # source path, thumbnail
    failed = Signal(str)


class _ThumbnailTask(QRunnable):
    def __init__(self, source: Path, cache_dir: Path, size: QSize, signals: _ThumbnailSignals) -> None:
        super().__init__()
        self._source, self._cache_dir, self._size, self._signals = source, cache_dir, size, signals

    def run(self) -> None:
        from desktop.library.thumbnails import ensure_thumbnail

        try:
            image = QImage(str(ensure_thumbnail(self._source, self._cache_dir)))
            # Scaled here, not on the UI thread: a burst of thumbnails must not stall scrolling.
            image = image.scaled(
                self._size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        except Exception:  # unreadable or vanished file: the gallery shows a placeholder
            image = QImage()
        if image.isNull():
            self._signals.failed.emit(str(self._source))
        else:
            self._signals.ready.emit(str(self._source), image)


class ThumbnailLoader(QObject):
    """Makes thumbnails on a small thread pool; each source is requested at most once at a time."""

    ready = Signal(str, QImage)
    failed = Signal(str)

    def __init__(self, cache_dir: Path, size: QSize, parent=None) -> None:
        super().__init__(parent)
        self._cache_dir = cache_dir
        self._size = size
        self._pending: set[str] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._signals = _ThumbnailSignals(self)
        self._signals.ready.connect(self._on_ready)
        self._signals.failed.connect(self._on_failed)

    def request(self, source: Path) -> None:
        key = str(source)
        if key in self._pending:
            return
        self._pending.add(key)
        self._pool.start(_ThumbnailTask(source, self._cache_dir, self._size, self._signals))

    def wait(self) -> None:
        self._pool.clear()
        self._pool.waitForDone()

    def _on_ready(self, key: str, image: QImage) -> None:
        self._pending.discard(key)
        self.ready.emit(key, image)

    def _on_failed(self, key: str) -> None:
        self._pending.discard(key)
        self.failed.emit(key)


class _TaskSignals(QObject):
    done = Signal(list)  # the function's result: plain strings (see GenerationBridge on what crosses)
    failed = Signal(str)


class _Task(QRunnable):
    def __init__(self, work: Callable[[], list[str]], signals: _TaskSignals) -> None:
        super().__init__()
        self._work, self._signals = work, signals

    def run(self) -> None:
        try:
            result = self._work()
        except (OSError, ValueError, EngineError) as exc:  # a full disk, a server away: one sentence
            self._signals.failed.emit(str(exc))
        except Exception as exc:  # a bug of ours: the window stays up and says so
            log.exception("background task failed")
            self._signals.failed.emit(f"unexpected failure ({type(exc).__name__}); see the log.")
        else:
            self._signals.done.emit(result)


def run_in_background(
    owner: QObject, work: Callable[[], list[str]], on_done: Callable[[list], None], on_failed: Callable[[str], None]
) -> None:
    """Run work (file copies, a PDF) on the global thread pool; on_done(its list of strings) or
    on_failed(message) runs on the UI thread. work must not touch widgets, nor a SQLite connection
    the UI thread uses (sqlite3 objects belong to the thread that made them)."""
    signals = _TaskSignals(owner)  # parented: lives until the owner goes, so a late result is not lost
    signals.done.connect(on_done)
    signals.failed.connect(on_failed)
    signals.done.connect(signals.deleteLater)
    signals.failed.connect(signals.deleteLater)
    QThreadPool.globalInstance().start(_Task(work, signals))
