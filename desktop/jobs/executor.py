"""What runs one job: validated request in, saved history rows out.

Two implementations: LocalExecutor (this process: the CLI, tests) and the worker's
WorkerExecutor (a separate process: the window, which must never import torch).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from desktop.engine.request import GenerationRequest
    from desktop.engine.result import ProgressCallback
    from desktop.library.settings import Settings


@dataclass(frozen=True)
class JobOutcome:
    """A finished job: the history rows its results were saved as, and what the user should know."""

    row_ids: list[int]
    device: str
    loaded_model: str | None = None
    notes: list[str] = field(default_factory=list)


class Executor(Protocol):
    def run(
        self, request: GenerationRequest, on_progress: ProgressCallback | None, cancel: threading.Event
    ) -> JobOutcome:
        """Generate a validated request and save its results; raises EngineError (one sentence),
        GenerationCancelled, or WorkerDied where the engine's process ended."""

    def prepare(self, model: str) -> tuple[str, str]:
        """Load a model ahead of its first job; returns (device, model)."""

    def reconfigure(self, settings: Settings) -> None:
        """New settings: the next job uses an engine built from them (the loaded pipeline is freed)."""

    def close(self) -> None:
        """Free the engine (and end its process, where it has one)."""
