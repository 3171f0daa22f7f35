"""The engine: validates a request and hands it to the backend that serves it.

One Engine lives as long as the app (or one CLI run) and keeps each backend, so the diffusers
backend's loaded pipeline is reused across generations.
"""

from __future__ import annotations

import threading
from pathlib import Path

from desktop.engine.devices import RuntimeOptions
from desktop.engine.diffusers_backend import DiffusersBackend
from desktop.engine.openai_backend import OpenAIBackend, OpenAISettings
from desktop.engine.request import Backend, GenerationRequest, validate
from desktop.engine.result import GenerationResult, ProgressCallback


class Engine:
    def __init__(
        self,
        runtime: RuntimeOptions | None = None,
        openai: OpenAISettings | None = None,
        hf_cache_dir: str | Path | None = None,
    ) -> None:
        self.diffusers = DiffusersBackend(runtime, hf_cache_dir)
        self.openai = OpenAIBackend(openai)

    def generate(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        request = validate(request)
        backend = self.openai if request.backend is Backend.OPENAI else self.diffusers
        return backend.generate(request, on_progress, cancel)

    def prepare(self, model: str) -> str:
        """Load a diffusers model ahead of its first request; returns its device."""
        return self.diffusers.prepare(model)

    def release(self) -> None:
        """Free the loaded pipeline and its GPU memory."""
        self.diffusers.release()
