"""The one interface every backend implements, and what a model can do (its capabilities).

The form, the validator and the details pane read capabilities instead of asking which backend
they are talking to; the engine finds backends in its registry (registry.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from desktop.engine.tasks import Task

if TYPE_CHECKING:
    from desktop.engine.request import GenerationRequest
    from desktop.engine.result import GenerationResult, ProgressCallback

# Controls a model may take (besides prompt, size and count, which every model takes).
STEPS, GUIDANCE, SEED, SCHEDULER, NEGATIVE_PROMPT, QUALITY, STYLE = (
    "steps",
    "guidance",
    "seed",
    "scheduler",
    "negative_prompt",
    "quality",
    "style",
)
SAMPLING_CONTROLS = frozenset({STEPS, GUIDANCE, SEED, SCHEDULER, NEGATIVE_PROMPT})


@dataclass(frozen=True)
class Capabilities:
    """What one model of one backend takes and makes."""

    tasks: frozenset[Task]
    controls: frozenset[str]
    # Fixed sizes ("1024x1024", ...) where the backend takes only those; empty: any size within
    # size_min..size_max in steps of size_multiple.
    sizes: tuple[str, ...] = ()
    size_min: int = 64
    size_max: int = 2048
    size_multiple: int = 8
    qualities: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    # The settings the model was made for: width, height, steps, guidance, frames, fps.
    defaults: dict[str, float] = field(default_factory=dict)
    # Why a task is missing, for the form's tooltip ("makes videos: choose Video").
    why_not: dict[Task, str] = field(default_factory=dict)
    # A word-level tokenizer.json (desktop.engine.vocabulary): the form names the words the model
    # does not know as they are typed. None: the model knows (pieces of) every word.
    vocabulary_file: str | None = None

    def takes(self, control: str) -> bool:
        return control in self.controls


@dataclass(frozen=True)
class BackendStatus:
    device: str  # "cpu", "cuda", "openai", ... ("" before the first load)
    loaded_model: str | None = None


class Backend(Protocol):
    id: str  # what requests, history rows and --backend say
    label: str  # what the form's backend list says
    # True where a model is a folder or hub id the user may type; False for a fixed list.
    models_are_paths: bool
    # Optional: `models_are_remote = True` where models() is a network call (the team server), and
    # `configured` False where the backend has nothing to talk to yet; the window reads both.

    def models(self) -> list[str]:
        """The models this backend offers without being told a path (may be empty)."""

    def default_model(self) -> str:
        """The model a request with none names ("" where the user must choose)."""

    def capabilities(self, model: str) -> Capabilities:
        """What model takes and makes; cheap (no torch, no network): the form calls it on every change."""

    def validate(self, request: GenerationRequest) -> GenerationRequest:
        """This backend's own rules (diffusers keeps check_inputs beside its pipeline the same way):
        raise ValidationError, or return the request with the backend's defaults filled in."""

    def generate(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult: ...

    def prepare(self, model: str) -> str:
        """Load model ahead of its first request; returns the device it is on."""

    def release(self) -> None:
        """Free what is loaded (GPU memory)."""

    def status(self) -> BackendStatus: ...
