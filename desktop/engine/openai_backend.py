"""Text-to-image through the OpenAI Images API, or any server that speaks it (OPENAI_BASE_URL).

Every failure becomes one EngineError sentence; the API key never appears in one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import os
import re
import threading
import time
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from desktop.engine.backend import QUALITY, STYLE, BackendStatus, Capabilities
from desktop.engine.edit_inputs import EditInputs, edit_inputs_for, openai_mask, paste_back, png_bytes
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.openai_models import DEFAULT_OPENAI_MODEL, OPENAI_MODELS
from desktop.engine.registry import EngineConfig
from desktop.engine.request import GenerationRequest, choices
from desktop.engine.result import GeneratedImage, GenerationResult, Progress, ProgressCallback
from desktop.engine.tasks import Task

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
_MALFORMED = "the image server sent an answer that is not a valid Images API response: check the base URL."
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{6,})")


@dataclass(frozen=True)
class OpenAISettings:
    api_key: str | None = None  # falls back to OPENAI_API_KEY
    base_url: str | None = None  # falls back to OPENAI_BASE_URL, then api.openai.com
    # gpt-image-1 at high quality can take a minute or two; the client's default is 600 s.
    timeout_s: float = 180.0
    max_retries: int = 2

    def __repr__(self) -> str:  # never print the key, even in a debugger or a log line
        key = "set" if self.api_key else "unset"
        return f"OpenAISettings(base_url={self.base_url!r}, timeout_s={self.timeout_s}, key={key})"

    def resolved_key(self) -> str | None:
        return self.api_key or os.environ.get("OPENAI_API_KEY") or None

    def resolved_base_url(self) -> str | None:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None


def redact(text: str, secret: str | None) -> str:
    """Remove the key, and anything shaped like an OpenAI key, from text meant for users or logs."""
    if secret:
        text = text.replace(secret, "[key hidden]")
    return _KEY_PATTERN.sub("[key hidden]", text)


class OpenAIBackend:
    id = "openai"
    label = "OpenAI Images API"
    models_are_paths = False

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.settings = (config.openai if config is not None else None) or OpenAISettings()

    def models(self) -> list[str]:
        return list(OPENAI_MODELS)

    def default_model(self) -> str:
        return DEFAULT_OPENAI_MODEL

    def status(self) -> BackendStatus:
        return BackendStatus(device="openai")

    def prepare(self, model: str) -> str:
        return "openai"  # nothing to load: the model runs on the provider's side

    def release(self) -> None:
        pass

    def capabilities(self, model: str) -> Capabilities:
        spec = OPENAI_MODELS.get(model.strip() or DEFAULT_OPENAI_MODEL)
        no_video = {Task.TEXT_TO_VIDEO: "the OpenAI Images API makes no videos: choose the local backend"}
        if spec is None:  # validate() names the known models
            return Capabilities(tasks=frozenset({Task.TEXT_TO_IMAGE}), controls=frozenset(), why_not=no_video)
        tasks = {Task.TEXT_TO_IMAGE}
        if spec.edits:
            tasks |= {Task.INPAINT, Task.OUTPAINT}
        if spec.restyles:
            tasks.add(Task.IMAGE_TO_IMAGE)
        editors = ", ".join(name for name, m in OPENAI_MODELS.items() if m.edits)
        why_not = {
            **no_video,
            Task.IMAGE_TO_IMAGE: f"{spec.name} edits only through a mask: use inpaint, or gpt-image-1"
            if spec.edits
            else f"{spec.name} cannot edit images; choose one of: {editors}",
        }
        for task in (Task.INPAINT, Task.OUTPAINT):
            why_not[task] = f"{spec.name} cannot edit images; choose one of: {editors}"
        controls = {c for c, values in ((QUALITY, spec.qualities), (STYLE, spec.styles)) if values}
        width, height = (int(v) for v in spec.sizes[0].split("x"))
        return Capabilities(
            tasks=frozenset(tasks),
            controls=frozenset(controls),
            sizes=spec.sizes,
            qualities=spec.qualities,
            styles=spec.styles,
            defaults={"width": width, "height": height},
            why_not={t: why for t, why in why_not.items() if t not in tasks},
        )

    def validate(self, request: GenerationRequest, canvas: tuple[int, int] | None = None) -> GenerationRequest:
        model_name = request.model.strip() or DEFAULT_OPENAI_MODEL
        model = OPENAI_MODELS.get(model_name)
        if model is None:
            raise ValidationError(
                "model", f"OpenAI model '{model_name}' is unknown; choose one of: {choices(OPENAI_MODELS)}."
            )
        if canvas is not None and model.edits:
            width, height = canvas
            if model.name == "dall-e-2" and width != height:
                raise ValidationError(
                    "image",
                    f"dall-e-2 edits square pictures only (this one is {width}x{height}): crop it, or use gpt-image-1.",
                )
            if request.width is None and request.height is None:
                # The size whose shape is closest to the picture's, so nothing is squeezed.
                size = min(model.sizes, key=lambda s: abs(_ratio(s) - width / height))
                request = dataclasses.replace(request, width=int(size.split("x")[0]), height=int(size.split("x")[1]))
        if request.width is None and request.height is None:
            size = model.sizes[0]
        else:
            size = f"{request.width}x{request.height}"
        if size not in model.sizes:
            raise ValidationError(
                "size", f"{model_name} does not make {size} images; choose one of: {choices(model.sizes)}."
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
                    f"{field} '{value}' is not offered by {model_name}; choose one of: {choices(allowed)}.",
                )
        if request.scheduler is not None:
            raise ValidationError("scheduler", "scheduler applies to the diffusers backend only; leave it unset.")
        width, height = (int(v) for v in size.split("x"))
        return dataclasses.replace(request, model=model_name, width=width, height=height)

    def generate(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        cancel = cancel or threading.Event()
        key = self.settings.resolved_key()
        if not key:
            raise EngineError(
                "no OpenAI API key is set: add it in Settings or set OPENAI_API_KEY "
                "(for a server that needs no key, any text will do)."
            )
        client = self._client(key)
        model = OPENAI_MODELS[request.model]
        # dall-e-3 makes one image per call: ask as often as the user wants images.
        per_call = min(request.count, model.max_images_per_call)
        calls = -(-request.count // per_call)
        started = time.perf_counter()
        images: list[Image.Image] = []
        for call in range(calls):
            if on_progress is not None:
                on_progress(Progress(step=call, total=calls, elapsed_s=time.perf_counter() - started))
            if cancel.is_set():
                raise GenerationCancelled()
            n = min(per_call, request.count - len(images))
            images.extend(_cancellable(lambda n=n: self._call(client, request, n, key), cancel))
        if cancel.is_set():
            raise GenerationCancelled()
        if on_progress is not None:
            on_progress(Progress(step=calls, total=calls, elapsed_s=time.perf_counter() - started))
        return GenerationResult(
            request=request,
            images=[GeneratedImage(image=img, seed=None, index=i) for i, img in enumerate(images)],
            device="openai",
            timings={"load_s": 0.0, "generate_s": round(time.perf_counter() - started, 4)},
        )

    def _client(self, key: str):
        from openai import OpenAI

        return OpenAI(
            api_key=key,
            base_url=self.settings.resolved_base_url(),
            timeout=self.settings.timeout_s,
            max_retries=self.settings.max_retries,
        )

    def _call(self, client, request: GenerationRequest, n: int, key: str) -> list[Image.Image]:
        import openai

        model = OPENAI_MODELS[request.model]
        params: dict = {
            "model": model.name,
            "prompt": request.prompt,
            "n": n,
            "size": f"{request.width}x{request.height}",
        }
        if request.quality:
            params["quality"] = request.quality
        if request.style:
            params["style"] = request.style
        if model.takes_response_format:
            params["response_format"] = "b64_json"
        try:
            if request.task.spec.edits:
                inputs, files = _edit_files(request, model)
                params.update(files)
                params.pop("style", None)
                response = client.images.edit(**params)
            else:
                inputs = None
                response = client.images.generate(**params)
        except openai.APIError as exc:
            raise EngineError(redact(self._explain(exc), key)) from None
        except ValueError:  # a body that is not JSON (json.JSONDecodeError) or not the expected shape
            raise EngineError(_MALFORMED) from None
        data = getattr(response, "data", None)
        if not isinstance(data, list) or not data:
            raise EngineError("the image server sent an answer with no images in it: try again, or check the base URL.")
        images = [self._decode(item) for item in data]
        # Edits come back at the API's size: bring them to the picture's and keep its unmasked pixels.
        return [paste_back(img, inputs) for img in images] if inputs is not None else images

    def _explain(self, exc) -> str:
        import openai

        retries = self.settings.max_retries
        where = self.settings.resolved_base_url() or "api.openai.com"
        if isinstance(exc, openai.APITimeoutError):
            return f"the image server at {where} did not answer within {self.settings.timeout_s:g} s: try again later."
        if isinstance(exc, openai.APIConnectionError):
            return f"could not reach the image server at {where}: check the network connection and the base URL."
        if isinstance(exc, openai.AuthenticationError):
            return "the OpenAI API key was rejected (401): check the key in Settings or OPENAI_API_KEY."
        if isinstance(exc, openai.PermissionDeniedError):
            return "the API refused access (403): this key or its organization may not have access to the model."
        if isinstance(exc, openai.RateLimitError):
            if _error_code(exc) == "insufficient_quota":
                return "the OpenAI account has run out of quota (429): check the plan and billing."
            return f"rate limited by the image server (429, after {retries} retries): wait a minute and try again."
        if isinstance(exc, openai.BadRequestError):
            if _error_code(exc) == "content_policy_violation" or "safety" in _error_message(exc).lower():
                return "the prompt was refused under the provider's content policy: rephrase it and try again."
            return f"the image server rejected the request (400): {_error_message(exc)}"
        if isinstance(exc, openai.NotFoundError):
            return f"the image server does not offer this model or endpoint (404): {_error_message(exc)}"
        if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
            return f"the image server failed ({exc.status_code}) on {retries + 1} tries: try again later."
        if isinstance(exc, openai.APIStatusError):
            return f"the image server answered with an error ({exc.status_code}): {_error_message(exc)}"
        return _MALFORMED

    def _decode(self, item) -> Image.Image:
        b64 = getattr(item, "b64_json", None)
        url = getattr(item, "url", None)
        if b64:
            try:
                payload = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise EngineError("the image server sent image data that is not valid base64.") from None
        elif url:
            payload = download_image(url, self.settings.timeout_s)
        else:
            raise EngineError("the image server sent an image entry with neither data nor a URL.")
        return open_image_bytes(payload)


# What the API takes as a source picture, in bytes of PNG.
MAX_EDIT_PNG_BYTES = {"dall-e-2": 4 * 2**20, "gpt-image-1": 25 * 2**20}


def _edit_files(request: GenerationRequest, model) -> tuple[EditInputs, dict]:
    """The multipart files for images.edit: the canvas as PNG at the requested size, and the mask."""
    inputs = edit_inputs_for(request)
    size = (request.width, request.height)
    picture = png_bytes(inputs.canvas.resize(size, Image.Resampling.LANCZOS))
    limit = MAX_EDIT_PNG_BYTES.get(model.name, 25 * 2**20)
    if len(picture) > limit:
        raise EngineError(f"{model.name} takes pictures under {limit // 2**20} MB; this one is larger as PNG.")
    files = {"image": ("image.png", picture, "image/png")}
    if inputs.mask is not None:
        mask = openai_mask(inputs.mask.resize(size, Image.Resampling.NEAREST))
        files["mask"] = ("mask.png", png_bytes(mask), "image/png")
    return inputs, files


def _cancellable(call, cancel: threading.Event):
    """Run a blocking API call so that cancel answers within 0.1 s.

    An HTTP request cannot be interrupted from another thread (closing the client does not
    stop a read in progress), so the call runs on a daemon thread; on cancel it is abandoned
    and its answer, when it comes, is dropped. Daemon: it never holds up the app's exit.
    """
    outcome: dict = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="openai-request", daemon=True).start()
    while not done.wait(0.1):
        if cancel.is_set():
            raise GenerationCancelled()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _error_code(exc) -> str | None:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner.get("code") or inner.get("type")
    return getattr(exc, "code", None)


def _error_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"].strip().rstrip(".") + "."
    return "no reason given."


def open_image_bytes(payload: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(payload))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise EngineError("the image server sent data that is not an image.") from None
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    return image


def download_image(url: str, timeout_s: float) -> bytes:
    """Fetch an image URL from an answer: bounded in time and size, and it must be an image."""
    import requests

    try:
        with requests.get(url, timeout=(10, timeout_s), stream=True) as response:
            response.raise_for_status()
            chunks, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise EngineError(
                        f"the image at the server's URL is over {MAX_DOWNLOAD_BYTES // 2**20} MB; not downloaded."
                    )
                chunks.append(chunk)
    except requests.Timeout:
        raise EngineError(f"downloading the image timed out after {timeout_s:g} s: try again.") from None
    except requests.HTTPError as exc:
        raise EngineError(f"downloading the image failed ({exc.response.status_code}): try again.") from None
    except requests.RequestException:
        raise EngineError("could not download the image from the URL the server sent: check the network.") from None
    return b"".join(chunks)


def _ratio(size: str) -> float:
    w, h = (int(v) for v in size.split("x"))
    return w / h
