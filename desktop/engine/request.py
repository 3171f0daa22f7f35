"""The generation request and its validation.

Validation runs before anything is loaded, sent or written, and raises one ValidationError whose
message names the field and the values it accepts.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.engine.backend import SEED
from desktop.engine.errors import ValidationError
from desktop.engine.tasks import EXTEND, FPS, FRAMES, MASK, SCALE, Task, task_from

if TYPE_CHECKING:
    from desktop.engine.backend import Backend


SEED_MAX = 2**32 - 1
SIZE_MIN, SIZE_MAX, SIZE_MULTIPLE = 64, 2048, 8
STEPS_MIN, STEPS_MAX = 1, 150
GUIDANCE_MIN, GUIDANCE_MAX = 0.0, 30.0
COUNT_MIN, COUNT_MAX = 1, 8
# 257: LTX-Video's longest clip (8k+1); families' own rules (4k+1, 8k+1) are in video_models.py.
FRAMES_MIN, FRAMES_MAX = 2, 257
FPS_MIN, FPS_MAX = 1, 60
DEFAULT_BACKEND = "diffusers"


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    task: Task = Task.TEXT_TO_IMAGE
    negative_prompt: str = ""
    backend: str = DEFAULT_BACKEND  # a backend id from the registry
    model: str = ""
    # None means the backend's default: 512 for diffusers, the model's first size for OpenAI.
    width: int | None = None
    height: int | None = None
    steps: int = 25
    guidance: float = 7.5
    # None means draw one at random; validate() always fills it in so it can be recorded.
    seed: int | None = None
    count: int = 1
    # None keeps the scheduler the model ships with.
    scheduler: str | None = None
    # OpenAI only: quality and style where the model takes them.
    quality: str | None = None
    style: str | None = None
    # Text-to-video only. ModelScope's recipe: 16 frames shown at 8 frames per second.
    frames: int = 16
    fps: int = 8
    # Editing tasks: the picture (path), the mask for inpaint (path, white = repaint), how strongly
    # to redraw (0-1), and for outpaint how many pixels to add (left, top, right, bottom).
    image: str | None = None
    mask: str | None = None
    strength: float | None = None
    extend: tuple[int, int, int, int] = (0, 0, 0, 0)
    # Upscale only: how many times larger the result is (2, 3 or 4); None: the upscaler's own scale
    # (2 for the plain Lanczos resize). validate() fills it in.
    scale: int | None = None
    # The gallery item an edit started from, so results link back to it.
    source_id: int | None = None
    # The model's licence as its card (or its family's preset) names it ("Apache-2.0", "CC-BY-NC-4.0"),
    # filled in by the backend's validate() so that it is recorded with the results and the window can
    # warn before a non-commercial model runs; None where unknown. Not the user's to set.
    licence: str | None = None
    # Where the request came from, recorded with its results: a campaign's name, row, format and the
    # row's values ({"campaign": ..., "row": 3, "format": "9:16", "values": {...}}). Plain JSON only.
    origin: dict | None = None

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["task"] = self.task.value
        data["extend"] = list(self.extend)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GenerationRequest:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["task"] = task_from(values.get("task", Task.TEXT_TO_IMAGE.value))
        values["backend"] = str(values.get("backend") or DEFAULT_BACKEND)
        values["extend"] = tuple(values.get("extend", (0, 0, 0, 0)))
        return cls(**values)


def choices(values) -> str:
    return ", ".join(str(v) for v in values)


def check_range(field: str, value, low, high) -> None:
    if not low <= value <= high:
        raise ValidationError(field, f"{field} must be between {low} and {high} (got {value}).")


def check_sampling(request: GenerationRequest, width: int, height: int, edit: bool = False) -> None:
    """The rules every diffusion sampler shares (local diffusers, the team server): sizes in multiples
    of 8, steps, guidance, a known scheduler, no OpenAI-only fields, and for an edit a strength that
    runs at least one step."""
    from desktop.engine.schedulers import SCHEDULERS

    for field, value in (("width", width), ("height", height)):
        if not SIZE_MIN <= value <= SIZE_MAX or value % SIZE_MULTIPLE:
            raise ValidationError(
                field, f"{field} must be a multiple of {SIZE_MULTIPLE} between {SIZE_MIN} and {SIZE_MAX} (got {value})."
            )
    check_range("steps", request.steps, STEPS_MIN, STEPS_MAX)
    check_range("guidance", request.guidance, GUIDANCE_MIN, GUIDANCE_MAX)
    if request.scheduler is not None and request.scheduler not in SCHEDULERS:
        raise ValidationError(
            "scheduler", f"scheduler '{request.scheduler}' is unknown; choose one of: {choices(SCHEDULERS)}."
        )
    for field in ("quality", "style"):
        if getattr(request, field) is not None:
            raise ValidationError(field, f"{field} applies to the OpenAI backend only; leave it unset.")
    if edit and int(request.steps * request.strength) < 1:
        raise ValidationError(
            "strength",
            f"strength {request.strength} of {request.steps} steps runs no step at all: "
            "raise the strength or the steps.",
        )


def validate(request: GenerationRequest, backend: Backend | None = None) -> GenerationRequest:
    """Check every field and return the request with its defaults and seed filled in.

    The checks every task shares run here; the task's own inputs next; then the backend's own
    rules (sizes, sampling, models), and last what the model can do.
    """
    if backend is None:
        from desktop.engine.registry import create_backend

        backend = create_backend(request.backend)
    spec = request.task.spec
    if not isinstance(request.prompt, str) or (spec.needs_prompt and not request.prompt.strip()):
        raise ValidationError("prompt", "prompt is empty: describe the image you want.")
    check_range("count", request.count, COUNT_MIN, COUNT_MAX)
    if spec.uses(FRAMES):
        check_range("frames", request.frames, FRAMES_MIN, FRAMES_MAX)
    if spec.uses(FPS):
        check_range("fps", request.fps, FPS_MIN, FPS_MAX)
    canvas = None
    if spec.uses(SCALE):
        from desktop.engine.upscalers.checks import check_upscale_inputs

        request, canvas = check_upscale_inputs(request)
    elif spec.edits:
        request, canvas = _validate_edit(request)
    if request.scale is not None and not spec.uses(SCALE):
        raise ValidationError("scale", f"scale applies to upscale only, not {request.task.value}; leave it out.")
    capabilities = backend.capabilities(request.model)
    if request.task not in capabilities.tasks:
        reason = capabilities.why_not.get(request.task) or (
            f"{backend.label} cannot do {request.task.spec.label.lower()} with {request.model or 'this model'}"
        )
        raise ValidationError("task", f"{reason}.")
    resolved = backend.validate(request, canvas)
    seed = resolved.seed
    if not capabilities.takes(SEED):
        # The Images API takes no seed: recording one would promise a reproducibility it lacks.
        seed = None
    elif seed is None:
        seed = secrets.randbelow(SEED_MAX + 1)
    else:
        check_range("seed", seed, 0, SEED_MAX)
    return dataclasses.replace(resolved, prompt=request.prompt.strip(), seed=seed)


def _validate_edit(request: GenerationRequest) -> tuple[GenerationRequest, tuple[int, int]]:
    """Check the picture, mask, strength and extension; returns the request with its strength filled in
    and the size of the canvas the result will have (the picture's, plus any extension)."""
    from desktop.engine import edit_inputs

    spec = request.task.spec
    if not request.image:
        raise ValidationError("image", f"{request.task.value} needs a picture to edit: choose one.")
    source = edit_inputs.open_picture(request.image)
    width, height = source.size
    strength = spec.default_strength if request.strength is None else request.strength
    if not 0 < strength <= 1:
        raise ValidationError("strength", f"strength must be more than 0 and at most 1 (got {strength}).")
    if spec.uses(MASK):
        if not request.mask:
            raise ValidationError("mask", "inpaint needs a mask (white where to repaint): paint or choose one.")
        mask = edit_inputs.open_picture(request.mask, "mask")
        if mask.size != source.size:
            raise ValidationError(
                "mask", f"the mask is {mask.width}x{mask.height} but the image is {width}x{height}: they must match."
            )
        if edit_inputs.as_mask(mask).getextrema()[1] == 0:
            raise ValidationError("mask", "the mask is empty: paint over the area to repaint (white in a mask file).")
    elif request.mask:
        raise ValidationError("mask", f"a mask applies to inpaint only, not {request.task.value}; leave it out.")
    if spec.uses(EXTEND):
        extend = tuple(request.extend)
        if len(extend) != 4 or any(not isinstance(v, int) for v in extend):
            raise ValidationError("extend", "extend takes four whole numbers of pixels: left, top, right, bottom.")
        for side, value in zip(("left", "top", "right", "bottom"), extend, strict=True):
            if not 0 <= value <= edit_inputs.EXTEND_MAX or value % edit_inputs.EXTEND_MULTIPLE:
                raise ValidationError(
                    "extend",
                    f"extend {side} must be a multiple of {edit_inputs.EXTEND_MULTIPLE} between 0 and "
                    f"{edit_inputs.EXTEND_MAX} (got {value}).",
                )
        if not any(extend):
            raise ValidationError("extend", "outpaint needs at least one side to extend (left, top, right, bottom).")
        width, height = width + extend[0] + extend[2], height + extend[1] + extend[3]
        if max(width, height) > SIZE_MAX:
            raise ValidationError(
                "extend", f"the extended image would be {width}x{height}; at most {SIZE_MAX} px a side: extend less."
            )
    elif any(request.extend):
        raise ValidationError("extend", f"extend applies to outpaint only, not {request.task.value}; leave it out.")
    if min(width, height) < SIZE_MIN:
        raise ValidationError("image", f"the image is {width}x{height}; it must be at least {SIZE_MIN} px a side.")
    return dataclasses.replace(request, strength=strength), (width, height)
