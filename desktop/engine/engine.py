"""The engine: validates a request and hands it to the backend that serves it.

One Engine lives as long as the app (or one CLI run, or one worker process) and keeps its
backends, so the diffusers backend's loaded pipeline is reused across generations. Backends are
made on first use: the window's engine only validates and reads capabilities, and never imports
torch.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.engine.backend import Backend, BackendStatus, Capabilities
from desktop.engine.registry import EngineConfig, backend_ids, create_backend
from desktop.engine.request import GenerationRequest, validate
from desktop.engine.result import GenerationResult, ProgressCallback

if TYPE_CHECKING:
    from desktop.engine.devices import RuntimeOptions
    from desktop.engine.openai_backend import OpenAISettings


class Engine:
    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        runtime: RuntimeOptions | None = None,
        openai: OpenAISettings | None = None,
        hf_cache_dir: str | Path | None = None,
    ) -> None:
        """Give a config, or its parts by name (scripts and tests)."""
        self.config = config or EngineConfig(runtime=runtime, openai=openai, hf_cache_dir=hf_cache_dir)
        self._backends: dict[str, Backend] = {}

    def backend(self, backend_id: str) -> Backend:
        if backend_id not in self._backends:
            self._backends[backend_id] = create_backend(backend_id, self.config)
        return self._backends[backend_id]

    def backends(self) -> list[Backend]:
        return [self.backend(backend_id) for backend_id in backend_ids()]

    def capabilities(self, backend_id: str, model: str) -> Capabilities:
        return self.backend(backend_id).capabilities(model)

    def validate(self, request: GenerationRequest) -> GenerationRequest:
        return validate(request, self.backend(request.backend))

    def generate(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        return self.run(self.validate(request), on_progress, cancel)

    def run(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        """Generate a request that validate() already returned (defaults and seed filled in)."""
        return self.backend(request.backend).generate(request, on_progress, cancel)

    def parallel_jobs(self, backend_id: str) -> int:
        """How many jobs this backend makes side by side (a team server: one per replica); 1 elsewhere,
        where jobs share one device."""
        return max(1, int(getattr(self.backend(backend_id), "parallel_jobs", lambda: 1)()))

    def prepare(self, model: str, backend_id: str = "diffusers") -> str:
        """Load a model ahead of its first request; returns its device."""
        return self.backend(backend_id).prepare(model)

    def loaded_model(self, backend_id: str) -> str | None:
        return self.backend(backend_id).status().loaded_model if backend_id in self._backends else None

    def status(self, backend_id: str) -> BackendStatus:
        return self.backend(backend_id).status()

    def release(self) -> None:
        """Free every loaded pipeline and its GPU memory."""
        for backend in self._backends.values():
            backend.release()
