"""Progress, previews and cancel for a running diffusers pipeline, from its step callbacks.

New pipelines call callback_on_step_end and stop once _interrupt is set; deprecated ones
(TextToVideoSDPipeline) have only the legacy callback(step, timestep, latents) and stop when it raises.

On a GPU a preview must not make the host wait for the GPU every step (that would idle it between
steps): it is computed on the GPU, copied to pinned memory without blocking, and handed over at a
later step once its copy is done; at most one is in flight, and at most PREVIEWS_PER_S are made.
"""

from __future__ import annotations

import inspect
import threading
import time

from desktop.engine.preview import pixels_to_image, preview_pixels
from desktop.engine.request import GenerationRequest
from desktop.engine.result import Progress
from desktop.engine.tasks import MediaKind

# On a GPU: the window shows about this many a second; more would be computed for nothing.
PREVIEWS_PER_S = 10


class Interrupted(Exception):
    """Raised from a legacy step callback: the only way to stop pipelines without _interrupt."""


class StepReporter:
    """Turns a pipeline's step callbacks (new or legacy style) into Progress reports and cancels."""

    def __init__(
        self,
        request: GenerationRequest,
        cancel: threading.Event,
        on_progress,
        started: float,
        projection=None,
        cache: dict | None = None,
    ) -> None:
        self.request, self.cancel, self.on_progress, self.started = request, cancel, on_progress, started
        self.projection = projection  # the loaded model's latent -> RGB preview
        self.video_index = 0
        self.latents_view = None  # latents as the preview takes them, where a pipeline packs its own
        # The projection's tensors on the device and the pinned buffer previews are copied into, kept
        # with the loaded model (the caller's cache) so that no generation makes them again: putting
        # the constants on a GPU makes the host wait for it, and a pinned allocation may too.
        self._cache: dict = {} if cache is None else cache
        self._in_flight = None  # (pinned host tensor, CUDA event) of a preview being copied
        self._last_preview_at = float("-inf")

    def callback_kwargs(self, pipe) -> dict:
        parameters = inspect.signature(pipe.__call__).parameters
        if "callback_on_step_end" in parameters:
            return {"callback_on_step_end": self._on_step_end, "callback_on_step_end_tensor_inputs": ["latents"]}
        # Deprecated pipelines (TextToVideoSDPipeline) have only callback(step, timestep, latents)
        # and ignore _interrupt.
        return {"callback": self._legacy_callback, "callback_steps": 1}

    def _on_step_end(self, pipeline, step: int, timestep, tensors: dict) -> dict:
        if self.cancel.is_set():
            # diffusers skips the remaining steps once _interrupt is set.
            pipeline._interrupt = True
        else:
            self._report(step, tensors["latents"])
        return tensors

    def _legacy_callback(self, step: int, timestep, latents) -> None:
        if self.cancel.is_set():
            raise Interrupted()
        self._report(step, latents)

    def _report(self, step: int, latents) -> None:
        if self.on_progress is None:
            return
        per_item = self.request.steps
        video = self.request.task.spec.media is MediaKind.VIDEO
        if self.request.task.spec.edits:
            # Only the last `strength` part of the schedule runs (diffusers' get_timesteps).
            per_item = max(1, min(int(self.request.steps * self.request.strength), self.request.steps))
        # Videos run one after another: progress counts over all of them.
        done = self.video_index * per_item + step + 1 if video else step + 1
        total = per_item * (self.request.count if video else 1)
        self.on_progress(
            Progress(
                step=min(done, total),
                total=total,
                elapsed_s=time.perf_counter() - self.started,
                preview=self._preview(latents),
            )
        )

    def _preview(self, latents):
        """This step's preview (a CPU run), or on a GPU an earlier step's whose copy is done, or None."""
        view = self.latents_view(latents) if self.latents_view else latents
        if view.device.type != "cuda":
            rgb = preview_pixels(view, self.projection, self._cache)
            return None if rgb is None else pixels_to_image(rgb)
        ready = None
        if self._in_flight is not None and self._in_flight[1].query():
            ready, self._in_flight = pixels_to_image(self._in_flight[0]), None
        now = time.perf_counter()
        if self._in_flight is not None or now - self._last_preview_at < 1 / PREVIEWS_PER_S:
            return ready
        self._last_preview_at = now
        rgb = preview_pixels(view, self.projection, self._cache)
        if rgb is not None:
            import torch

            key = ("pinned", tuple(rgb.shape))  # one buffer: at most one preview is in flight
            if key not in self._cache:
                self._cache[key] = torch.empty(rgb.shape, dtype=rgb.dtype, pin_memory=True)
            host = self._cache[key]
            host.copy_(rgb, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            self._in_flight = (host, event)
        return ready
