"""The one place that builds an engine from the settings, and the in-process executor."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.jobs.executor import JobOutcome

if TYPE_CHECKING:
    from desktop.engine.engine import Engine
    from desktop.engine.registry import EngineConfig
    from desktop.engine.request import GenerationRequest
    from desktop.engine.result import ProgressCallback
    from desktop.library.settings import Settings
    from desktop.library.store import Library


def build_engine(settings: Settings, runtime=None, server_url: str | None = None) -> Engine:
    """The engine for these settings (runtime overrides the settings' device/memory options).

    Reads the OpenAI key and the team server's token here, in the process that will use them, so
    they never travel.
    """
    from desktop.engine.engine import Engine
    from desktop.library.key_store import load_api_key, load_server_token

    config = engine_config(settings, runtime, api_key=load_api_key() or None)
    config = dataclasses.replace(config, server_token=load_server_token() or None)
    if server_url:
        config = dataclasses.replace(config, server_url=server_url)
    return Engine(config)


def server_model_list(settings: Settings) -> list[str]:
    """The team server's models as JSON text (a network call, bounded by the backend's timeouts): for
    the window's background thread. EngineError (one sentence) when the server cannot be asked."""
    from desktop.engine.registry import EngineConfig
    from desktop.engine.server_backend import ServerBackend
    from desktop.library.key_store import load_server_token

    config = EngineConfig(server_url=settings.server_url or None, server_token=load_server_token() or None)
    return ServerBackend(config).model_list_json()


def engine_config(settings: Settings, runtime=None, api_key: str | None = None) -> EngineConfig:
    """The engine's configuration from the settings; the window's own engine (it only validates and
    reads capabilities) gets no key."""
    from desktop.engine.openai_backend import OpenAISettings
    from desktop.engine.registry import EngineConfig

    openai = OpenAISettings(
        api_key=api_key, base_url=settings.openai_base_url or None, timeout_s=settings.openai_timeout_s
    )
    return EngineConfig(
        runtime=runtime or settings.runtime_options(),
        openai=openai,
        model_folders=tuple(settings.model_folders),
        server_url=settings.server_url or None,
    )


class LocalExecutor:
    """Runs jobs in this process: the engine is built on first use and kept (its pipeline cache)."""

    def __init__(
        self,
        settings: Settings | None = None,
        library_root: str | Path | None = None,
        runtime=None,
        engine: Engine | None = None,
        library: Library | None = None,
    ) -> None:
        """Give settings to build the engine from on first use, or an engine already built; a library
        given is the caller's to close."""
        self._settings, self._runtime, self._library_root = settings, runtime, library_root
        self._engine = engine
        self._library = library
        self._owns_library = library is None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = build_engine(self._settings, self._runtime)
        return self._engine

    def run(
        self, request: GenerationRequest, on_progress: ProgressCallback | None, cancel: threading.Event
    ) -> JobOutcome:
        from desktop.engine.errors import GenerationCancelled
        from desktop.library.store import Library

        result = self.engine.run(request, on_progress=on_progress, cancel=cancel)
        if cancel.is_set():
            raise GenerationCancelled()
        if self._library is None:
            self._library = Library(self._library_root)
        saved = self._library.save(result)
        return JobOutcome(
            row_ids=[item.row.id for item in saved],
            device=result.device,
            loaded_model=self.engine.loaded_model(request.backend),
            notes=list(result.notes),
        )

    def prepare(self, model: str) -> tuple[str, str]:
        return self.engine.prepare(model), model

    def reconfigure(self, settings: Settings) -> None:
        self.close()
        self._settings = settings

    def close(self) -> None:
        if self._engine is not None:
            self._engine.release()
            self._engine = None
        if self._library is not None and self._owns_library:
            self._library.close()
            self._library = None
