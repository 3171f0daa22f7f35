"""The one module where worker threads meet the UI thread.

- GenerationBridge: a long-lived QThread owns the engine (and so the loaded pipeline) and a job
  queue; everything it reports reaches the UI thread as queued signals.
- ThumbnailLoader: gallery thumbnails made and read on a thread pool, delivered as QImages.

Rules kept here: only the generation thread touches the engine; widgets are never touched off
the UI thread; what crosses is plain data (ints, strings, HistoryRows) and QImages, which are
safe to build in any thread (QPixmaps are not).
"""

from __future__ import annotations

import collections
import enum
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThread, QThreadPool, Signal
from PySide6.QtGui import QImage

from desktop.engine.errors import EngineError, GenerationCancelled
from desktop.engine.request import GenerationRequest

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
    request: GenerationRequest
    state: JobState = JobState.QUEUED
    message: str = ""
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)


def pil_to_qimage(image) -> QImage:
    """A QImage that owns a copy of the PIL image's pixels (safe to send to another thread)."""
    rgba = image.convert("RGBA")
    data = rgba.tobytes("raw", "RGBA")
    return QImage(data, rgba.width, rgba.height, rgba.width * 4, QImage.Format.Format_RGBA8888).copy()


class GenerationBridge(QThread):
    """Owned by the UI thread; run() is the generation thread's loop."""

    # Only plain values and QImages cross threads: Python objects sent through queued
    # connections crashed PySide 6.12 now and then.
    job_added = Signal(int)  # job id (emitted on the UI thread by submit())
    job_changed = Signal(int, str, str)  # job id, JobState value, message (for failures)
    progress = Signal(int, int, int, float, QImage)  # job id, step, total, seconds left (-1: unknown), preview
    finished_job = Signal(int, list)  # job id, ids of the history rows saved
    engine_status = Signal(str, str)  # device, loaded model ("" when none)

    def __init__(self, engine_factory: Callable[[], object], library_factory: Callable[[], object], parent=None):
        super().__init__(parent)
        self.setObjectName("generation")
        self._engine_factory = engine_factory
        self._library_factory = library_factory
        self._engine_stale = False
        self._queue: collections.deque[Job] = collections.deque()
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._stopping = False
        self._warm_up_model: str | None = None

    # --- UI thread -------------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> Job:
        job = Job(next(self._ids), request)
        with self._cond:
            self._jobs[job.id] = job
            self._queue.append(job)
            self._cond.notify()
        self.job_added.emit(job.id)
        if not self.isRunning():
            self.start()
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
            if job.state is JobState.QUEUED:
                self._queue.remove(job)
                job.state = JobState.CANCELLED
                dropped = True
            else:
                dropped = False
        if dropped:
            self._emit_state(job)

    def cancel_all(self) -> None:
        for job in self.jobs():
            self.cancel(job.id)

    def forget_finished(self) -> None:
        with self._cond:
            self._jobs = {i: j for i, j in self._jobs.items() if j.active}

    def warm_up(self, model: str) -> None:
        """Import torch and diffusers and load model while the queue is idle, so that the first
        generation starts at once. Failures are left for that generation to report."""
        with self._cond:
            if self._stopping:  # the window closed before its warm-up timer fired
                return
            self._warm_up_model = model
            self._cond.notify()
        if not self.isRunning():
            self.start()

    def reset_engine(self, engine_factory: Callable[[], object]) -> None:
        """New settings: the next job builds a fresh engine (the old pipeline is released first)."""
        with self._cond:
            self._engine_factory = engine_factory
            self._engine_stale = True

    def shutdown(self) -> None:
        """Cancel everything and wait for the thread: nothing is left running or half-written."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.cancel_all()
        if self.isRunning():
            self.wait()

    # --- generation thread -----------------------------------------------------------------

    def run(self) -> None:
        engine = library = None
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._stopping and self._warm_up_model is None:
                        self._cond.wait()
                    if self._stopping:
                        return
                    job = self._queue.popleft() if self._queue else None
                    warm_up, self._warm_up_model = self._warm_up_model, None
                    if job is not None:
                        job.state = JobState.RUNNING
                    if self._engine_stale and engine is not None:
                        engine.release()
                        engine = None
                    self._engine_stale = False
                    factory = self._engine_factory
                if job is None:
                    engine = self._warm_up(engine, factory, warm_up)
                    continue
                self._emit_state(job)
                try:
                    # Built here, on first use: torch and diffusers are imported off the UI thread.
                    engine = engine or factory()
                    library = library or self._library_factory()
                    self._run_job(job, engine, library)
                except GenerationCancelled:
                    self._end(job, JobState.CANCELLED, "Cancelled.")
                except EngineError as exc:
                    self._end(job, JobState.FAILED, str(exc))
                except Exception as exc:  # a bug of ours: keep the app alive, say it plainly
                    log.exception("generation job %s failed", job.id)
                    self._end(job, JobState.FAILED, f"unexpected failure ({type(exc).__name__}); see the log.")
        finally:
            if engine is not None:
                engine.release()
            if library is not None:
                library.close()

    def _warm_up(self, engine, factory, model: str):
        try:
            engine = engine or factory()
            self.engine_status.emit(engine.prepare(model), model)
        except Exception:  # the first generation with this model says what is wrong, in the form
            log.info("warming up %s failed", model, exc_info=True)
        return engine

    def _run_job(self, job: Job, engine, library) -> None:
        def on_progress(p) -> None:
            preview = pil_to_qimage(p.preview) if p.preview is not None else QImage()
            eta = p.eta_s if p.eta_s is not None else -1.0
            self.progress.emit(job.id, p.step, p.total, eta, preview)

        result = engine.generate(job.request, on_progress=on_progress, cancel=job.cancel)
        if job.cancel.is_set():
            raise GenerationCancelled()
        saved = library.save(result)
        self.engine_status.emit(result.device, engine.diffusers.loaded_model or "")
        job.state, job.message = JobState.DONE, " ".join(result.notes)
        self.finished_job.emit(job.id, [item.row.id for item in saved])
        self._emit_state(job)

    def _end(self, job: Job, state: JobState, message: str) -> None:
        job.state, job.message = state, message
        self._emit_state(job)

    def _emit_state(self, job: Job) -> None:
        self.job_changed.emit(job.id, job.state.value, job.message)


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
