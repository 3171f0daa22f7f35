"""What each task is: one spec per task, read by the validator, the backends, the library and the UI.

Adding a task means one member of Task and one TaskSpec here, its mapping in the backends that can
run it, a writer for its media kind (library) and a viewer (ui) when the media kind is new.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Task(str, enum.Enum):
    TEXT_TO_IMAGE = "text-to-image"
    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    IMAGE_TO_IMAGE = "image-to-image"
    INPAINT = "inpaint"
    OUTPAINT = "outpaint"
    UPSCALE = "upscale"
    TEXT_TO_3D = "text-to-3d"
    IMAGE_TO_3D = "image-to-3d"

    @property
    def spec(self) -> TaskSpec:
        return TASKS[self]


class MediaKind(str, enum.Enum):
    """What a result is, and so how the library writes it and the window shows it."""

    IMAGE = "image"
    VIDEO = "video"
    MESH = "mesh"  # a 3D object: GLB, with a turntable video and a poster


# Request fields a task uses beyond those every task has (prompt, negative prompt, model, size,
# sampling, seed, count). The form shows a task's rows from these; the validator checks them.
FRAMES, FPS, IMAGE, MASK, STRENGTH, EXTEND = "frames", "fps", "image", "mask", "strength", "extend"
# Upscale: how many times larger the result is than its picture (2, 3 or 4).
SCALE = "scale"


@dataclass(frozen=True)
class TaskSpec:
    task: Task
    label: str  # what the form's "Make" list says
    media: MediaKind
    fields: frozenset[str] = frozenset()
    # How much of the picture is redrawn when the user says nothing (editing tasks).
    default_strength: float | None = None
    # A local edit works at its picture's size: the form hides the size rows.
    sized_by_picture: bool = False
    # What a result is called in counts ("3 videos").
    noun: str = "image"
    # Upscaling a picture needs no words: its prompt may be empty.
    needs_prompt: bool = True

    @property
    def edits(self) -> bool:
        """True for tasks that start from a picture."""
        return IMAGE in self.fields

    def uses(self, field: str) -> bool:
        return field in self.fields


TASKS: dict[Task, TaskSpec] = {
    spec.task: spec
    for spec in (
        TaskSpec(Task.TEXT_TO_IMAGE, "Image", MediaKind.IMAGE),
        # ModelScope's recipe is 16 frames at 8 fps; a model's preset may say otherwise.
        TaskSpec(Task.TEXT_TO_VIDEO, "Video", MediaKind.VIDEO, frozenset({FRAMES, FPS}), noun="video"),
        # The picture is the first frame. The clip has the model's size (its recipe's, or the form's):
        # the picture is centre-cropped to that shape and scaled to it, so a product shot of any size
        # animates at the size the model was made for. The whole schedule runs (strength 1).
        TaskSpec(
            Task.IMAGE_TO_VIDEO,
            "Video from a picture (animate)",
            MediaKind.VIDEO,
            frozenset({IMAGE, FRAMES, FPS}),
            default_strength=1.0,
            noun="video",
        ),
        # A restyle keeps the composition; inpainting and outpainting redraw their masked area fully.
        TaskSpec(
            Task.IMAGE_TO_IMAGE,
            "Image to image (restyle)",
            MediaKind.IMAGE,
            frozenset({IMAGE, STRENGTH}),
            default_strength=0.75,
            sized_by_picture=True,
        ),
        TaskSpec(
            Task.INPAINT,
            "Inpaint (repaint a region)",
            MediaKind.IMAGE,
            frozenset({IMAGE, MASK, STRENGTH}),
            default_strength=1.0,
            sized_by_picture=True,
        ),
        TaskSpec(
            Task.OUTPAINT,
            "Outpaint (extend the canvas)",
            MediaKind.IMAGE,
            frozenset({IMAGE, EXTEND, STRENGTH}),
            default_strength=1.0,
            sized_by_picture=True,
        ),
        # The result is the picture's size times the scale; desktop/engine/upscalers runs it.
        TaskSpec(
            Task.UPSCALE,
            "Upscale (enlarge a picture)",
            MediaKind.IMAGE,
            frozenset({IMAGE, SCALE}),
            sized_by_picture=True,
            needs_prompt=False,
        ),
        # Shap-E: a mesh, plus a turntable of `frames` views played at `fps`; the size is the
        # turntable's (square) frame size. Its defaults (64 steps, guidance 15 or 3) are in presets.py.
        TaskSpec(Task.TEXT_TO_3D, "3D object (text to 3D)", MediaKind.MESH, frozenset({FRAMES, FPS}), noun="object"),
        # The whole schedule runs (strength 1): the picture conditions the object, it is not redrawn.
        TaskSpec(
            Task.IMAGE_TO_3D,
            "3D object from a picture",
            MediaKind.MESH,
            frozenset({IMAGE, FRAMES, FPS}),
            default_strength=1.0,
            noun="object",
            needs_prompt=False,
        ),
    )
}


def task_from(value: str | Task) -> Task:
    """The Task for a stored or typed value; ValueError names the known ones."""
    try:
        return Task(value)
    except ValueError:
        raise ValueError(f"task '{value}' is unknown; choose one of: {', '.join(t.value for t in Task)}.") from None
