"""The generation request and its validation.

Validation runs before anything is loaded, sent or written, and raises one ValidationError whose
message names the field and the values it accepts.
"""

from __future__ import annotations

import dataclasses
import enum
import secrets
from dataclasses import dataclass

from desktop.engine.errors import ValidationError
from desktop.engine.openai_models import DEFAULT_OPENAI_MODEL, OPENAI_MODELS
from desktop.engine.schedulers import SCHEDULERS


class Task(str, enum.Enum):
    TEXT_TO_IMAGE = "text-to-image"
    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_IMAGE = "image-to-image"
    INPAINT = "inpaint"
    OUTPAINT = "outpaint"

    @property
    def makes_video(self) -> bool:
        return self is Task.TEXT_TO_VIDEO

    @property
    def edits_image(self) -> bool:
        return self in (Task.IMAGE_TO_IMAGE, Task.INPAINT, Task.OUTPAINT)


# How much of the picture is redrawn when the user says nothing: a restyle keeps the composition;
# inpainting and outpainting redraw their masked area fully.
DEFAULT_STRENGTH = {Task.IMAGE_TO_IMAGE: 0.75, Task.INPAINT: 1.0, Task.OUTPAINT: 1.0}


class Backend(str, enum.Enum):
    DIFFUSERS = "diffusers"
    OPENAI = "openai"


SEED_MAX = 2**32 - 1
SIZE_MIN, SIZE_MAX, SIZE_MULTIPLE = 64, 2048, 8
STEPS_MIN, STEPS_MAX = 1, 150
GUIDANCE_MIN, GUIDANCE_MAX = 0.0, 30.0
COUNT_MIN, COUNT_MAX = 1, 8
FRAMES_MIN, FRAMES_MAX = 2, 128
FPS_MIN, FPS_MAX = 1, 60
DEFAULT_DIFFUSERS_SIZE = 512


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    task: Task = Task.TEXT_TO_IMAGE
    negative_prompt: str = ""
    backend: Backend = Backend.DIFFUSERS
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
    # The gallery item an edit started from, so results link back to it.
    source_id: int | None = None

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["task"] = self.task.value
        data["backend"] = self.backend.value
        data["extend"] = list(self.extend)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GenerationRequest:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["task"] = Task(values.get("task", Task.TEXT_TO_IMAGE.value))
        values["backend"] = Backend(values.get("backend", Backend.DIFFUSERS.value))
        values["extend"] = tuple(values.get("extend", (0, 0, 0, 0)))
        return cls(**values)


def _choices(values) -> str:
    return ", ".join(str(v) for v in values)


def _check_range(field: str, value, low, high) -> None:
    if not low <= value <= high:
        raise ValidationError(field, f"{field} must be between {low} and {high} (got {value}).")


def validate(request: GenerationRequest) -> GenerationRequest:
    """Check every field and return the request with its defaults and seed filled in."""
    if not isinstance(request.prompt, str) or not request.prompt.strip():
        raise ValidationError("prompt", "prompt is empty: describe the image you want.")
    _check_range("count", request.count, COUNT_MIN, COUNT_MAX)
    if request.task.makes_video:
        if request.backend is not Backend.DIFFUSERS:
            raise ValidationError("backend", f"{request.task.value} runs on the diffusers backend only; choose it.")
        _check_range("frames", request.frames, FRAMES_MIN, FRAMES_MAX)
        _check_range("fps", request.fps, FPS_MIN, FPS_MAX)
    if request.task.edits_image:
        request = _validate_edit(request)
    if request.backend is Backend.OPENAI:
        resolved = _validate_openai(request)
    else:
        resolved = _validate_diffusers(request)
    seed = resolved.seed
    if seed is not None:
        _check_range("seed", seed, 0, SEED_MAX)
    if request.backend is Backend.OPENAI:
        # The Images API takes no seed: recording one would promise a reproducibility it lacks.
        seed = None
    elif seed is None:
        seed = secrets.randbelow(SEED_MAX + 1)
    return dataclasses.replace(resolved, prompt=request.prompt.strip(), seed=seed)


def _validate_edit(request: GenerationRequest) -> GenerationRequest:
    """Check the picture, mask, strength and extension; for diffusers, size the output from the picture."""
    from desktop.engine import edit_inputs

    if not request.image:
        raise ValidationError("image", f"{request.task.value} needs a picture to edit: give its path (--image PATH).")
    source = edit_inputs.open_picture(request.image)
    width, height = source.size
    strength = DEFAULT_STRENGTH[request.task] if request.strength is None else request.strength
    if not 0 < strength <= 1:
        raise ValidationError("strength", f"strength must be more than 0 and at most 1 (got {strength}).")
    if request.task is Task.INPAINT:
        if not request.mask:
            raise ValidationError("mask", "inpaint needs a mask (white where to repaint): give its path (--mask PATH).")
        mask = edit_inputs.open_picture(request.mask, "mask")
        if mask.size != source.size:
            raise ValidationError(
                "mask", f"the mask is {mask.width}x{mask.height} but the image is {width}x{height}: they must match."
            )
        if edit_inputs.as_mask(mask).getextrema()[1] == 0:
            raise ValidationError("mask", "the mask is empty: paint over the area to repaint (white in a mask file).")
    elif request.mask:
        raise ValidationError("mask", f"a mask applies to inpaint only, not {request.task.value}; leave it out.")
    if request.task is Task.OUTPAINT:
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
    if request.backend is Backend.DIFFUSERS:
        from desktop.engine.edit_inputs import model_size

        if int(request.steps * strength) < 1:
            raise ValidationError(
                "strength",
                f"strength {strength} of {request.steps} steps runs no step at all: raise the strength or the steps.",
            )

        # The model works at the nearest multiple of 8; the result comes back at the picture's size.
        width, height = model_size(width, height)
        return dataclasses.replace(request, width=width, height=height, strength=strength)
    model = OPENAI_MODELS.get(request.model.strip() or DEFAULT_OPENAI_MODEL)
    if model is not None and not model.edits:
        editors = ", ".join(name for name, m in OPENAI_MODELS.items() if m.edits)
        raise ValidationError("model", f"{model.name} cannot edit images; choose one of: {editors}.")
    if model is not None and request.task is Task.IMAGE_TO_IMAGE and not model.restyles:
        raise ValidationError("model", f"{model.name} edits only through a mask: use inpaint, or gpt-image-1.")
    if model is not None and model.name == "dall-e-2" and width != height:
        raise ValidationError(
            "image", f"dall-e-2 edits square pictures only (this one is {width}x{height}): crop it, or use gpt-image-1."
        )
    if model is not None and request.width is None and request.height is None:
        # The size whose shape is closest to the picture's, so nothing is squeezed.
        size = min(model.sizes, key=lambda s: abs(_ratio(s) - width / height))
        request = dataclasses.replace(request, width=int(size.split("x")[0]), height=int(size.split("x")[1]))
    return dataclasses.replace(request, strength=strength)


def _ratio(size: str) -> float:
    w, h = (int(v) for v in size.split("x"))
    return w / h


def _validate_diffusers(request: GenerationRequest) -> GenerationRequest:
    if not request.model.strip():
        raise ValidationError(
            "model", "model is not set: give a diffusers model folder or a Hugging Face id (org/name)."
        )
    from desktop.demo import DEMO_DEFAULTS, DEMO_MODEL

    default = DEMO_DEFAULTS["width"] if request.model.strip() == DEMO_MODEL else DEFAULT_DIFFUSERS_SIZE
    width = default if request.width is None else request.width
    height = default if request.height is None else request.height
    for field, value in (("width", width), ("height", height)):
        if not SIZE_MIN <= value <= SIZE_MAX or value % SIZE_MULTIPLE:
            raise ValidationError(
                field,
                f"{field} must be a multiple of {SIZE_MULTIPLE} between {SIZE_MIN} and {SIZE_MAX} (got {value}).",
            )
    _check_range("steps", request.steps, STEPS_MIN, STEPS_MAX)
    _check_range("guidance", request.guidance, GUIDANCE_MIN, GUIDANCE_MAX)
    if request.scheduler is not None and request.scheduler not in SCHEDULERS:
        raise ValidationError(
            "scheduler", f"scheduler '{request.scheduler}' is unknown; choose one of: {_choices(SCHEDULERS)}."
        )
    for field in ("quality", "style"):
        if getattr(request, field) is not None:
            raise ValidationError(field, f"{field} applies to the OpenAI backend only; leave it unset.")
    return dataclasses.replace(request, model=request.model.strip(), width=width, height=height)


def _validate_openai(request: GenerationRequest) -> GenerationRequest:
    model_name = request.model.strip() or DEFAULT_OPENAI_MODEL
    model = OPENAI_MODELS.get(model_name)
    if model is None:
        raise ValidationError(
            "model", f"OpenAI model '{model_name}' is unknown; choose one of: {_choices(OPENAI_MODELS)}."
        )
    if request.width is None and request.height is None:
        size = model.sizes[0]
    else:
        size = f"{request.width}x{request.height}"
    if size not in model.sizes:
        raise ValidationError(
            "size", f"{model_name} does not make {size} images; choose one of: {_choices(model.sizes)}."
        )
    for field, allowed in (("quality", model.qualities), ("style", model.styles)):
        value = getattr(request, field)
        if value is None:
            continue
        if not allowed:
            raise ValidationError(field, f"{model_name} takes no {field}; leave it unset.")
        if value not in allowed:
            raise ValidationError(
                field,
                f"{field} '{value}' is not offered by {model_name}; choose one of: {_choices(allowed)}.",
            )
    if request.scheduler is not None:
        raise ValidationError("scheduler", "scheduler applies to the diffusers backend only; leave it unset.")
    width, height = (int(v) for v in size.split("x"))
    return dataclasses.replace(request, model=model_name, width=width, height=height)
