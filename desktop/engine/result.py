"""What a generation reports while it runs (Progress) and what it returns (GenerationResult)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from desktop.engine.request import GenerationRequest


@dataclass(frozen=True)
class Progress:
    step: int  # steps done so far
    total: int
    elapsed_s: float
    # A small RGB picture of the current latents; None where the backend has none (OpenAI).
    preview: Image.Image | None = None

    @property
    def eta_s(self) -> float | None:
        if self.step <= 0 or self.total <= 0:
            return None
        return self.elapsed_s / self.step * (self.total - self.step)


ProgressCallback = Callable[[Progress], None]


@dataclass
class GeneratedImage:
    """One result: an image, or a video whose `image` is its poster (first) frame."""

    image: Image.Image
    # The seed that reproduces this result alone (count=1); None where the backend takes no seed.
    seed: int | None
    index: int
    frames: list[Image.Image] | None = None  # videos only
    fps: int | None = None

    @property
    def is_video(self) -> bool:
        return self.frames is not None


@dataclass
class GenerationResult:
    request: GenerationRequest  # validated: defaults and seed filled in
    images: list[GeneratedImage]
    device: str
    timings: dict[str, float] = field(default_factory=dict)  # load_s, generate_s
    # Things the user should know that did not stop the run (words a model does not know, ...).
    notes: list[str] = field(default_factory=list)
