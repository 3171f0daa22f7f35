"""The wire format: OpenAI Images API bodies in, GenerationRequests out; errors as the API's error JSON;
server-sent events as the API's streaming events. Nothing here trusts the client: every field is
type-checked, every size bounded, and a model is only ever an id from the server's own list.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from desktop.engine.edit_inputs import MAX_SIDE, png_bytes
from desktop.engine.request import SIZE_MAX, SIZE_MIN, GenerationRequest
from desktop.engine.tasks import Task

# What the Images API's two endpoints can ask for: generations make text-to-image; edits inpaint
# (with a mask) or restyle (without); outpainting is an inpaint of the extended canvas the client sends.
API_TASKS = (Task.TEXT_TO_IMAGE, Task.IMAGE_TO_IMAGE, Task.INPAINT, Task.OUTPAINT)

MAX_JSON_BYTES = 1 * 2**20
MAX_UPLOAD_BYTES = 25 * 2**20  # per picture, as the Images API's own limit
MAX_MULTIPART_BYTES = 2 * MAX_UPLOAD_BYTES + 2**20
MAX_PROMPT_CHARS = 10_000
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")

# The error types the OpenAI API uses, by status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    """An answer other than success: status, one sentence, and the API's error fields."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None, headers=None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = dict(headers or {})

    def body(self) -> dict:
        return error_body(self.status, self.message, self.param, self.code)


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    return {
        "error": {"message": message, "type": ERROR_TYPES.get(status, "server_error"), "param": param, "code": code}
    }


@dataclass
class Job:
    """One request, parsed: what the engine will run, and how to answer."""

    request: GenerationRequest  # model is the server's reference (folder, hub id, demo)
    model_id: str  # what the client called it, and what answers say
    edit: bool = False
    stream: bool = False
    # Previews to send while streaming: None every step, 0 none, N at most N spread over the steps.
    partial_images: int | None = None
    image: bytes | None = None  # PNG of the picture to edit
    mask: bytes | None = None  # PNG of its mask (OpenAI's transparent-repaints or white-repaints)

    def worker_job(self) -> dict:
        """What a replica gets: plain data only."""
        return {
            "request": self.request.to_dict(),
            "image": self.image,
            "mask": self.mask,
            "partial_images": self.partial_images,
        }


@dataclass(frozen=True)
class Catalog:
    """The models a server offers: id -> reference, and each one's defaults (width, height, steps, guidance)."""

    models: dict[str, str]
    defaults: dict[str, dict]

    @property
    def default_model(self) -> str:
        return next(iter(self.models))


def parse_generation(body, catalog: Catalog) -> Job:
    """POST /v1/images/generations, from its JSON body."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object with at least a prompt.")
    return _job(body, catalog, edit=False)


def parse_edit(fields: dict, files: dict, catalog: Catalog) -> Job:
    """POST /v1/images/edits, from its multipart form: image (and mask) as uploads, the rest as text."""
    pictures = [files[name] for name in ("image", "image[]") if name in files]
    if not pictures:
        raise ApiError(400, "an edit needs the picture to edit: send it as the 'image' file.", param="image")
    if len(pictures) > 1 or isinstance(pictures[0], list):
        raise ApiError(400, "this server edits one picture at a time: send a single 'image' file.", param="image")
    body = {key: _form_value(key, value) for key, value in fields.items()}
    job = _job(body, catalog, edit=True)
    image = _picture(pictures[0], "image")
    mask = _picture(files["mask"], "mask") if "mask" in files else None
    size = body.get("size")
    if size not in (None, "auto"):
        # The Images API answers at the size asked: bring the picture (and mask) to it first.
        width, height = job.request.width, job.request.height
        for name, value in (("width", width), ("height", height)):
            if not SIZE_MIN <= value <= SIZE_MAX:
                raise ApiError(400, f"{name} must be between {SIZE_MIN} and {SIZE_MAX} (got {value}).", param="size")
        image = image.resize((width, height), Image.Resampling.LANCZOS)
        mask = mask.resize((width, height), Image.Resampling.NEAREST) if mask is not None else None
    task = Task.INPAINT if mask is not None else Task.IMAGE_TO_IMAGE
    # Edits work at the picture's size (the validator sets it): the client's size was applied above.
    job.request = GenerationRequest.from_dict(
        {**job.request.to_dict(), "task": task.value, "width": None, "height": None}
    )
    job.image = png_bytes(image)
    job.mask = png_bytes(mask) if mask is not None else None
    return job


def _job(body: dict, catalog: Catalog, edit: bool) -> Job:
    models = catalog.models
    model_id = _field(body, "model", str, catalog.default_model) or catalog.default_model
    if model_id not in models:
        raise ApiError(
            404,
            f"model '{model_id[:100]}' is not served here; choose one of: {', '.join(models)}.",
            param="model",
            code="model_not_found",
        )
    prompt = _field(body, "prompt", str, None)
    if prompt is None:
        raise ApiError(400, "prompt is missing: describe the image you want.", param="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(400, f"prompt is longer than {MAX_PROMPT_CHARS} characters: shorten it.", param="prompt")
    if _field(body, "response_format", str, "b64_json") != "b64_json":
        raise ApiError(
            400,
            "this server sends images as b64_json only: leave response_format out or set it to b64_json.",
            param="response_format",
        )
    if _field(body, "output_format", str, "png") != "png":
        raise ApiError(
            400, "this server sends PNG only: leave output_format out or set it to png.", param="output_format"
        )
    width = height = None
    size = _field(body, "size", str, "auto")
    if size != "auto":
        match = _SIZE.match(size)
        if not match:
            raise ApiError(
                400, f"size must be WIDTHxHEIGHT, such as 512x512, or auto (got '{size[:40]}').", param="size"
            )
        width, height = int(match[1]), int(match[2])
    # Sampling the client leaves out takes the model's own defaults (its preset), as in the app's form.
    defaults = catalog.defaults.get(model_id, {})
    values = {
        "prompt": prompt,
        "backend": "diffusers",
        "model": models[model_id],
        "width": width,
        "height": height,
        "count": _field(body, "n", int, 1),
        "negative_prompt": _field(body, "negative_prompt", str, ""),
        "seed": _field(body, "seed", int, None),
        "steps": _field(body, "num_inference_steps", int, _int_or_none(defaults.get("steps"))),
        "guidance": _field(body, "guidance_scale", float, defaults.get("guidance")),
        "scheduler": _field(body, "scheduler", str, None),
        "strength": _field(body, "strength", float, None) if edit else None,
    }
    if len(values["negative_prompt"]) > MAX_PROMPT_CHARS:
        raise ApiError(400, f"negative_prompt is longer than {MAX_PROMPT_CHARS} characters.", param="negative_prompt")
    partial = _field(body, "partial_images", int, None)
    if partial is not None and partial < 0:
        raise ApiError(400, f"partial_images must be 0 or more (got {partial}).", param="partial_images")
    request = GenerationRequest(**{k: v for k, v in values.items() if v is not None})
    return Job(
        request=request,
        model_id=model_id,
        edit=edit,
        stream=bool(_field(body, "stream", bool, False)),
        partial_images=partial,
    )


def _int_or_none(value) -> int | None:
    return None if value is None else int(value)


def _field(body: dict, name: str, kind: type, default):
    value = body.get(name, default)
    if value is None:
        return default
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        expected = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}[kind]
        raise ApiError(400, f"{name} must be {expected}.", param=name)
    return value


def _form_value(name: str, value: str):
    """Multipart fields arrive as text: turn the numeric and boolean ones back into numbers and booleans."""
    if name in ("n", "seed", "num_inference_steps", "partial_images"):
        try:
            return int(value)
        except ValueError:
            raise ApiError(400, f"{name} must be a whole number (got '{value[:20]}').", param=name) from None
    if name in ("guidance_scale", "strength"):
        try:
            return float(value)
        except ValueError:
            raise ApiError(400, f"{name} must be a number (got '{value[:20]}').", param=name) from None
    if name == "stream":
        return value.strip().lower() in ("true", "1", "yes")
    return value


def _picture(upload, field: str) -> Image.Image:
    """An uploaded picture, fully decoded and bounded; never a path."""
    data = upload.get("data", b"") if isinstance(upload, dict) else b""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError(400, f"the {field} is larger than {MAX_UPLOAD_BYTES // 2**20} MB: send it smaller.", param=field)
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if max(picture.size) > MAX_SIDE:
                w, h = picture.size
                raise ApiError(
                    400,
                    f"the {field} is {w}x{h}; at most {MAX_SIDE} px a side can be edited: scale it down.",
                    param=field,
                )
            picture.load()
            return picture.copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ApiError(
            400, f"the {field} is not a picture this server can read: send a PNG, JPEG or WebP.", param=field
        ) from None


def parse_multipart(content_type: str, raw: bytes) -> tuple[dict, dict]:
    """(text fields, files) of a multipart/form-data body that was already read in full (and bounded)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise ApiError(400, "an edit must be sent as multipart/form-data with the picture as a file.")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    if not message.is_multipart():
        raise ApiError(400, "the multipart body could not be read: send the edit as multipart/form-data.")
    fields: dict = {}
    files: dict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = [files[name], {"data": data}] if name in files else {"data": data}
        else:
            try:
                fields[name] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, f"the form field {name[:40]} is not UTF-8 text.", param=name) from None
    return fields, files


def b64_png(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sse(data: dict) -> bytes:
    """One server-sent event, named by its type as the Images API's streams are."""
    return f"event: {data['type']}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


# An SSE comment: clients ignore it; it keeps proxies from closing a quiet stream, and it lets the
# server notice a client that left while its job waits for a turn.
HEARTBEAT = b": waiting\n\n"


def stream_event(kind: str, job: Job, **fields) -> dict:
    """An image_generation.* or image_edit.* event with the API's fields and ours (step, total, seed, ...)."""
    prefix = "image_edit" if job.edit else "image_generation"
    return {
        "type": f"{prefix}.{kind}",
        "created_at": int(time.time()),
        "size": f"{fields.pop('width')}x{fields.pop('height')}",
        "quality": "auto",
        "background": "opaque",
        "output_format": "png",
        **fields,
    }


EMPTY_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "output_tokens": 0,
    "total_tokens": 0,
}
