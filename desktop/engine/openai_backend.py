"""Text-to-image through the OpenAI Images API, or any server that speaks it (OPENAI_BASE_URL).

Every failure becomes one EngineError sentence; the API key never appears in one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import math
import os
import re
import threading
import time
import urllib.parse
import warnings
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

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024  # one image, as a download or as decoded base64
CONNECT_TIMEOUT_S = 10.0
STALL_TIMEOUT_S = 30.0  # the longest a server may send nothing, mid-request or mid-download
MAX_REDIRECTS = 5
# Pixels any answer may have when the size asked is unknown (PIL's own bound is global; this is ours).
MAX_IMAGE_PIXELS = 8192 * 8192
_MALFORMED = "the image server sent an answer that is not a valid Images API response: check the base URL."
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{6,})")
# user:password@ (or token@) after a URL's scheme: never shown, wherever a URL is printed.
_USERINFO_PATTERN = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s?#@]*@")


@dataclass(frozen=True)
class OpenAISettings:
    api_key: str | None = None  # falls back to OPENAI_API_KEY
    base_url: str | None = None  # falls back to OPENAI_BASE_URL, then api.openai.com
    # gpt-image-1 at high quality can take a minute or two; the client's default is 600 s.
    # The whole request, retries and image downloads included, must finish within timeout_s; and
    # the server may send nothing for at most stall_s (httpx's read timeout is per read, not per request).
    timeout_s: float = 180.0
    max_retries: int = 2
    stall_s: float = STALL_TIMEOUT_S

    def __repr__(self) -> str:  # never print the key or URL credentials, even in a debugger or a log line
        key = "set" if self.api_key else "unset"
        base_url = shown_url(self.base_url) if self.base_url else None
        return f"OpenAISettings(base_url={base_url!r}, timeout_s={self.timeout_s}, key={key})"

    def resolved_key(self) -> str | None:
        return self.api_key or os.environ.get("OPENAI_API_KEY") or None

    def resolved_base_url(self) -> str | None:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None


def redact(text: str, secret: str | None, *more: str | None) -> str:
    """Remove the key (and any other secret given), anything shaped like an OpenAI key, and the
    credentials of any URL from text meant for users or logs."""
    text = _USERINFO_PATTERN.sub(r"\1", text)
    for value in (secret, *more):
        if value:
            text = text.replace(value, "[key hidden]")
    return _KEY_PATTERN.sub("[key hidden]", text)


def shown_url(url: str) -> str:
    """A URL as messages may print it: without user:password@."""
    return _USERINFO_PATTERN.sub(r"\1", url.strip())


def _url_secrets(url: str | None) -> tuple[str, ...]:
    """The user name and password in a URL, raw and percent-decoded, to scrub from any text."""
    if not url:
        return ()
    try:
        parts = urllib.parse.urlsplit(url.strip())
        found = [parts.username, parts.password]
    except ValueError:
        return ()
    return tuple(v for value in found if value for v in {value, urllib.parse.unquote(value)} if len(v) >= 3)


class _AnswerTooLarge(Exception):
    """Raised from inside the HTTP client when an answer outgrows what the request could need."""


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
        model = OPENAI_MODELS[request.model]
        # dall-e-3 makes one image per call: ask as often as the user wants images.
        per_call = min(request.count, model.max_images_per_call)
        # A whole answer: per_call images at most their cap each as base64, and room for the JSON around.
        client = self._client(key, per_call * math.ceil(_image_cap(request.width, request.height) * 4 / 3) + 2**20)
        calls = -(-request.count // per_call)
        started = time.perf_counter()
        images: list[Image.Image] = []
        notes: list[str] = []
        for call in range(calls):
            if on_progress is not None:
                on_progress(Progress(step=call, total=calls, elapsed_s=time.perf_counter() - started))
            if cancel.is_set():
                raise GenerationCancelled()
            n = min(per_call, request.count - call * per_call)
            got, said = _cancellable(
                lambda n=n: self._call(client, request, n, key),
                cancel,
                deadline_s=self.settings.timeout_s,
                on_deadline=lambda: EngineError(
                    f"the image server at {self._where()} did not finish answering within "
                    f"{self.settings.timeout_s:g} s: try again later, or raise the timeout in Settings."
                ),
            )
            images.extend(got)
            notes.extend(said)
        if cancel.is_set():
            raise GenerationCancelled()
        if on_progress is not None:
            on_progress(Progress(step=calls, total=calls, elapsed_s=time.perf_counter() - started))
        return GenerationResult(
            request=request,
            images=[GeneratedImage(image=img, seed=None, index=i) for i, img in enumerate(images)],
            device="openai",
            timings={"load_s": 0.0, "generate_s": round(time.perf_counter() - started, 4)},
            notes=notes,
        )

    def _where(self) -> str:
        base_url = self.settings.resolved_base_url()
        return shown_url(base_url) if base_url else "api.openai.com"

    def _too_large(self) -> str:
        return (
            f"the image server at {self._where()} sent an answer larger than the images asked could be: "
            "check the server (its model or size setting)."
        )

    def _stall_s(self) -> float:
        return min(self.settings.stall_s, self.settings.timeout_s)

    def _client(self, key: str, answer_cap: int):
        import openai

        timeout_s = self.settings.timeout_s
        return openai.OpenAI(
            api_key=key,
            base_url=self.settings.resolved_base_url(),
            # read: the longest silence; the whole request is bounded by _cancellable's deadline.
            timeout=openai.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s), read=self._stall_s()),
            max_retries=self.settings.max_retries,
            http_client=openai.DefaultHttpxClient(event_hooks={"response": [_answer_capper(answer_cap)]}),
        )

    def _call(self, client, request: GenerationRequest, n: int, key: str) -> tuple[list[Image.Image], list[str]]:
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
        size = (request.width, request.height)
        cap = _image_cap(*size)
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
            raise EngineError(
                redact(self._explain(exc), key, *_url_secrets(self.settings.resolved_base_url()))
            ) from None
        except _AnswerTooLarge:  # from the response hook, when the client lets it through unwrapped
            raise EngineError(self._too_large()) from None
        except ValueError:  # a body that is not JSON (json.JSONDecodeError) or not the expected shape
            raise EngineError(_MALFORMED) from None
        data = getattr(response, "data", None)
        if not isinstance(data, list) or not data:
            raise EngineError("the image server sent an answer with no images in it: try again, or check the base URL.")
        notes = []
        if len(data) > n:
            notes.append(
                f"the image server sent {len(data)} images where {n} {'was' if n == 1 else 'were'} asked; "
                f"the extra {len(data) - n} were dropped."
            )
            data = data[:n]
        elif len(data) < n:
            notes.append(f"the image server sent {len(data)} of the {n} images asked.")
        images = [self._decode(item, size, cap) for item in data]
        # Edits come back at the API's size: bring them to the picture's and keep its unmasked pixels.
        return ([paste_back(img, inputs) for img in images] if inputs is not None else images), notes

    def _explain(self, exc) -> str:
        import openai

        retries = self.settings.max_retries
        where = self._where()
        if isinstance(exc, openai.APITimeoutError):
            return (
                f"the image server at {where} sent nothing within {self._stall_s():g} s "
                f"(on {retries + 1} tries): try again later."
            )
        if _caused_by(exc, _AnswerTooLarge):
            return self._too_large()
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

    def _decode(self, item, size: tuple[int, int], cap: int) -> Image.Image:
        b64 = getattr(item, "b64_json", None)
        url = getattr(item, "url", None)
        if b64:
            # Checked on the encoded length, before a byte is decoded.
            if not isinstance(b64, str) or len(b64) > math.ceil(cap * 4 / 3) + 4:
                raise EngineError(
                    f"the image server sent image data over {_mb(cap)} for a {size[0]}x{size[1]} picture: "
                    "check the server."
                )
            try:
                payload = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise EngineError("the image server sent image data that is not valid base64.") from None
        elif url:
            payload = download_image(url, self.settings.timeout_s, stall_s=self._stall_s(), cap=cap)
        else:
            raise EngineError("the image server sent an image entry with neither data nor a URL.")
        return open_image_bytes(payload, size)


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


def _image_cap(width: int | None, height: int | None) -> int:
    """The most bytes one encoded image of this size can need: 16-bit RGBA uncompressed, plus 1 MB of
    metadata; never over MAX_DOWNLOAD_BYTES."""
    if not width or not height:
        return MAX_DOWNLOAD_BYTES
    return min(MAX_DOWNLOAD_BYTES, 8 * width * height + 2**20)


def _mb(size: int) -> str:
    return f"{size / 2**20:.3g} MB"


def _caused_by(exc: BaseException, kind: type) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _answer_capper(cap: int):
    """An httpx response hook that makes the body's stream stop at cap bytes (the client reads the
    whole body into memory otherwise, whatever its size)."""

    def hook(response) -> None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _AnswerTooLarge()
        inner = response.stream
        base = type(inner).__mro__  # httpx's SyncByteStream, whichever httpx the openai client uses
        sync_stream = next((c for c in base if c.__name__ == "SyncByteStream"), object)

        class Capped(sync_stream):  # type: ignore[misc, valid-type]
            def __iter__(self):
                size = 0
                for chunk in inner:
                    size += len(chunk)
                    if size > cap:
                        raise _AnswerTooLarge()
                    yield chunk

            def close(self) -> None:
                inner.close()

        response.stream = Capped()

    return hook


def _cancellable(
    call, cancel: threading.Event, deadline_s: float | None = None, on_deadline=lambda: EngineError("timed out.")
):
    """Run a blocking API call so that cancel answers within 0.1 s, and give up at deadline_s.

    An HTTP request cannot be interrupted from another thread (closing the client does not
    stop a read in progress), so the call runs on a daemon thread; on cancel or past the deadline
    it is abandoned and its answer, when it comes, is dropped. Daemon: it never holds up the app's exit.
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
    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    while not done.wait(0.1):
        if cancel.is_set():
            raise GenerationCancelled()
        if deadline is not None and time.monotonic() > deadline:
            raise on_deadline()
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


def open_image_bytes(payload: bytes, size: tuple[int, int] | None = None) -> Image.Image:
    """An image from a server's answer, refused from its header (before any pixel is decoded) when it is
    larger than the size asked, or than MAX_IMAGE_PIXELS when no size is given."""
    try:
        with warnings.catch_warnings():  # our own bound below decides; PIL's warning would only repeat it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(payload))
        width, height = image.size
        too_large = (width > size[0] or height > size[1]) if size is not None else width * height > MAX_IMAGE_PIXELS
        if too_large:
            asked = f"{size[0]}x{size[1]}" if size is not None else f"at most {MAX_IMAGE_PIXELS:,} pixels"
            raise EngineError(
                f"the image server sent a {width}x{height} image where {asked} was asked: "
                "check the server (its model or size setting)."
            )
        image.load()
    except Image.DecompressionBombError:  # PIL's own, global bound caught it first: far too large
        asked = f" where {size[0]}x{size[1]} was asked" if size is not None else ""
        raise EngineError(
            f"the image server sent an image far larger{asked}: check the server (its model or size setting)."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise EngineError("the image server sent data that is not an image.") from None
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    return image


def _origin(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(url)
    return scheme, parts.hostname.lower(), parts.port or (443 if scheme == "https" else 80)


def download_image(
    url: str, timeout_s: float, stall_s: float = STALL_TIMEOUT_S, cap: int = MAX_DOWNLOAD_BYTES
) -> bytes:
    """Fetch an image URL from an answer: http(s) only, redirects only within the same host (and
    never from https to http), at most cap bytes, nothing for at most stall_s, all within timeout_s."""
    import requests

    deadline = time.monotonic() + timeout_s
    try:
        scheme, host, port = _origin(url)
    except ValueError:
        raise EngineError("the image server sent an image URL that is not http(s); not downloaded.") from None
    late = EngineError(f"downloading the image took longer than {timeout_s:g} s: try again later.")
    try:
        with requests.Session() as session:
            for _ in range(MAX_REDIRECTS + 1):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise late
                stall = min(stall_s, left)
                with session.get(
                    url, timeout=(min(CONNECT_TIMEOUT_S, stall), stall), stream=True, allow_redirects=False
                ) as response:
                    if response.is_redirect:
                        target = urllib.parse.urljoin(url, response.headers.get("location", ""))
                        try:
                            to = _origin(target)
                        except ValueError:
                            to = None
                        same = to is not None and to[1] == host and (to == (scheme, host, port) or to[0] == "https")
                        if not same:
                            raise EngineError(
                                "the image URL the server sent redirects to another host; not downloaded: "
                                "check the server."
                            )
                        url, scheme, port = target, to[0], to[2]
                        continue
                    response.raise_for_status()
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > cap:
                        raise EngineError(f"the image at the server's URL is over {_mb(cap)}; not downloaded.")
                    chunks, size = [], 0
                    for chunk in response.iter_content(64 * 1024):
                        size += len(chunk)
                        if size > cap:
                            raise EngineError(f"the image at the server's URL is over {_mb(cap)}; not downloaded.")
                        if time.monotonic() > deadline:
                            raise late
                        chunks.append(chunk)
                    return b"".join(chunks)
            raise EngineError(
                f"the image URL the server sent redirects more than {MAX_REDIRECTS} times: check the server."
            )
    except requests.Timeout:
        raise EngineError(f"downloading the image stalled (nothing for {stall_s:g} s): try again later.") from None
    except requests.HTTPError as exc:
        raise EngineError(f"downloading the image failed ({exc.response.status_code}): try again.") from None
    except requests.RequestException:
        raise EngineError("could not download the image from the URL the server sent: check the network.") from None


def _ratio(size: str) -> float:
    w, h = (int(v) for v in size.split("x"))
    return w / h
