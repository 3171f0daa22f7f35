"""One replica's engine: runs a job and reports it as events (plain dicts Ray can carry).

The engine is the app's own (the same validation, pipeline cache and backends); it runs on a thread
so that the replica's event loop stays free to stream progress and to hear a cancel, which stops
the job at its next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from desktop.engine.devices import RuntimeOptions
from desktop.engine.edit_inputs import png_bytes
from desktop.engine.engine import Engine
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.registry import EngineConfig
from desktop.engine.request import GenerationRequest
from desktop.engine.result import Progress

log = logging.getLogger("ray.serve.diffusion_studio")  # into the replica's Serve log


@contextlib.contextmanager
def uploads(job: dict) -> Iterator[tuple[dict, str]]:
    """The job's request with its uploaded picture and mask written to a private temporary folder (the
    engine reads edits from files); the folder, so messages can leave it out. Removed afterwards."""
    data = dict(job["request"])
    with tempfile.TemporaryDirectory(prefix="diffusion-studio-upload-") as folder:
        for name in ("image", "mask"):
            data[name] = None
            if job.get(name):
                path = Path(folder, f"uploaded-{name}.png")
                path.write_bytes(job[name])
                data[name] = str(path)
        yield data, folder


def clean(message: str, folder: str) -> str:
    """A message without the server's temporary paths (they mean nothing to a client)."""
    return message.replace(f"{folder}/", "").replace(folder, "the upload")


def validate_job(engine: Engine, job: dict) -> GenerationRequest:
    """The engine's validation of a job (ValidationError with a clean message); seed and defaults filled in."""
    with uploads(job) as (data, folder):
        try:
            return engine.validate(GenerationRequest.from_dict(data))
        except ValidationError as exc:
            raise ValidationError(exc.field, clean(str(exc), folder)) from None


def preview_steps(total: int, wanted: int | None) -> Callable[[int], bool]:
    """Which steps send a preview: every step (None), none (0), or `wanted` spread over the run."""
    if wanted is None:
        return lambda step: True
    chosen = {math.ceil(total * (k + 1) / (wanted + 1)) for k in range(wanted)} if wanted else set()
    return lambda step: step in chosen


class EngineWorker:
    def __init__(self, runtime: RuntimeOptions | None = None, replica: str = "", warm_model: str | None = None) -> None:
        self.engine = Engine(EngineConfig(runtime=runtime or RuntimeOptions()))
        self.replica = replica
        self.device = ""
        if warm_model:
            # Pay the imports and the first load now, before the replica takes requests.
            self.device = self.engine.prepare(warm_model)

    async def run(self, job: dict) -> AsyncIterator[dict]:
        """Events: accepted, progress (with a PNG preview where asked), image (one per result), then
        done; or error (status, message). Cancelling the iteration stops the job at its next step."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def emit(event: dict) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        yield {"event": "accepted", "replica": self.replica}
        thread = loop.run_in_executor(None, self._generate, job, cancel, emit)
        try:
            while True:
                event = await events.get()
                if event is None:
                    break
                yield event
        finally:
            # Cancelled (the client left) or closed early: stop the job and wait for it, so that this
            # replica takes its next job only once the engine is free.
            cancel.set()
            await asyncio.shield(thread)

    def _generate(self, job: dict, cancel: threading.Event, emit: Callable[[dict | None], None]) -> None:
        started = time.perf_counter()
        try:
            with uploads(job) as (data, folder):
                try:
                    self._run(data, job.get("partial_images"), cancel, emit)
                except ValidationError as exc:
                    emit({"event": "error", "status": 400, "message": clean(str(exc), folder), "param": exc.field})
                except GenerationCancelled:
                    emit({"event": "cancelled"})
                except EngineError as exc:
                    emit({"event": "error", "status": 500, "message": clean(str(exc), folder)})
        except Exception as exc:  # a bug or a library failure: the replica lives on, the job fails
            log.exception("job failed on replica %s", self.replica)
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            emit(
                {"event": "error", "status": 500, "message": f"the server failed: {type(exc).__name__} {first}".strip()}
            )
        finally:
            log.info("job ended on replica %s after %.2f s", self.replica, time.perf_counter() - started)
            emit(None)

    def _run(self, data: dict, partial_images: int | None, cancel: threading.Event, emit) -> None:
        request = self.engine.validate(GenerationRequest.from_dict(data))
        wants_preview: Callable[[int], bool] | None = None

        def on_progress(progress: Progress) -> None:
            nonlocal wants_preview
            if wants_preview is None:
                wants_preview = preview_steps(progress.total, partial_images)
            preview = progress.preview if progress.preview is not None and wants_preview(progress.step) else None
            emit(
                {
                    "event": "progress",
                    "step": progress.step,
                    "total": progress.total,
                    "elapsed_s": round(progress.elapsed_s, 3),
                    "preview": png_bytes(preview) if preview is not None else None,
                }
            )

        result = self.engine.run(request, on_progress=on_progress, cancel=cancel)
        if cancel.is_set():
            raise GenerationCancelled()
        self.device = result.device
        for item in result.images:
            emit(
                {
                    "event": "image",
                    "index": item.index,
                    "seed": item.seed,
                    "width": item.image.width,
                    "height": item.image.height,
                    "png": png_bytes(item.image),
                }
            )
        emit(
            {
                "event": "done",
                "device": result.device,
                "timings": result.timings,
                "notes": list(result.notes),
                "seed": request.seed,
                "replica": self.replica,
            }
        )
