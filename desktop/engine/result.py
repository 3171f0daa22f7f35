"""What a generation reports while it runs (Progress) and what it returns (GenerationResult)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
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
class MeshData:
    """A triangle mesh as plain arrays, y up (glTF's convention), in about -1..1."""

    vertices: np.ndarray  # (n, 3) float32
    faces: np.ndarray  # (m, 3) uint32 indices into vertices, counter-clockwise seen from outside
    colors: np.ndarray  # (n, 3) float32 linear RGB in 0..1, one per vertex

    @property
    def vertex_count(self) -> int:
        return len(self.vertices)

    @property
    def face_count(self) -> int:
        return len(self.faces)


@dataclass
class GeneratedImage:
    """One result: an image, or a video whose `image` is its poster (first) frame."""

    image: Image.Image
    # The seed that reproduces this result alone (count=1); None where the backend takes no seed.
    seed: int | None
    index: int
    frames: list[Image.Image] | None = None  # videos, and a 3D object's turntable
    fps: int | None = None
    mesh: MeshData | None = None  # 3D objects only: `image` is the poster, `frames` the turntable

    @property
    def is_video(self) -> bool:
        return self.frames is not None and self.mesh is None

    @property
    def is_mesh(self) -> bool:
        return self.mesh is not None


@dataclass
class GenerationResult:
    request: GenerationRequest  # validated: defaults and seed filled in
    images: list[GeneratedImage]
    device: str
    timings: dict[str, float] = field(default_factory=dict)  # load_s, generate_s
    # Things the user should know that did not stop the run (words a model does not know, ...).
    notes: list[str] = field(default_factory=list)
