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

    @property
    def makes_video(self) -> bool:
        return self is Task.TEXT_TO_VIDEO


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

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["task"] = self.task.value
        data["backend"] = self.backend.value
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GenerationRequest:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["task"] = Task(values.get("task", Task.TEXT_TO_IMAGE.value))
        values["backend"] = Backend(values.get("backend", Backend.DIFFUSERS.value))
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


def _validate_diffusers(request: GenerationRequest) -> GenerationRequest:
    if not request.model.strip():
        raise ValidationError(
            "model", "model is not set: give a diffusers model folder or a Hugging Face id (org/name)."
        )
    width = DEFAULT_DIFFUSERS_SIZE if request.width is None else request.width
    height = DEFAULT_DIFFUSERS_SIZE if request.height is None else request.height
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
