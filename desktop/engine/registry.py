"""The backends the engine knows: one line each. A new backend is one module plus one line here.

Each entry names the backend's class by import path, so that listing backends imports nothing
heavy; a backend class takes the engine's configuration (EngineConfig) and nothing else.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.engine.errors import ValidationError

if TYPE_CHECKING:
    from desktop.engine.backend import Backend
    from desktop.engine.devices import RuntimeOptions
    from desktop.engine.openai_backend import OpenAISettings

BACKENDS: dict[str, str] = {
    "diffusers": "desktop.engine.diffusers_backend:DiffusersBackend",
    "openai": "desktop.engine.openai_backend:OpenAIBackend",
    "upscale": "desktop.engine.upscalers.backend:UpscaleBackend",
    "server": "desktop.engine.server_backend:ServerBackend",
}


@dataclass(frozen=True)
class EngineConfig:
    """Everything backends are configured with; each reads its own part."""

    runtime: RuntimeOptions | None = None
    openai: OpenAISettings | None = None
    hf_cache_dir: str | Path | None = None
    # Model folders the user added (Settings → Models), offered first.
    model_folders: tuple[str, ...] = field(default_factory=tuple)
    # The team server (backend "server"): its root URL without /v1, and this user's token (never printed).
    server_url: str | None = None
    server_token: str | None = field(default=None, repr=False)


def backend_ids() -> list[str]:
    return list(BACKENDS)


def create_backend(backend_id: str, config: EngineConfig | None = None) -> Backend:
    if backend_id not in BACKENDS:
        raise ValidationError("backend", f"backend '{backend_id}' is unknown; choose one of: {', '.join(BACKENDS)}.")
    module, name = BACKENDS[backend_id].split(":")
    return getattr(importlib.import_module(module), name)(config or EngineConfig())
