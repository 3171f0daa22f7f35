"""Images from the team's server (`diffusion-studio serve`): the same engine on the team's GPUs, over the
OpenAI Images API with our extensions, streamed so that previews, progress and cancel work as locally.

A batch is split over a few requests at once, so that a server with several replicas makes its images
side by side. Nothing the server sends is trusted: every read is bounded in time and bytes, each
request must bring back exactly its images at the size asked, and the token is never written into an
error, a log line or a result (nor are credentials in the URL).
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import queue
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass

from PIL import Image

from desktop.engine.backend import SAMPLING_CONTROLS, BackendStatus, Capabilities
from desktop.engine.edit_inputs import edit_inputs_for, model_size, openai_mask, paste_back, png_bytes
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.presets import preset_for
from desktop.engine.registry import EngineConfig
from desktop.engine.request import (
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    SIZE_MAX,
    SIZE_MIN,
    SIZE_MULTIPLE,
    STEPS_MAX,
    GenerationRequest,
    check_sampling,
    choices,
)
from desktop.engine.result import GeneratedImage, GenerationResult, Progress, ProgressCallback
from desktop.engine.server_stream import BUSY_WAIT_S, CONNECT_TIMEOUT_S, MAX_SMALL_BYTES, ServerStream, whole
from desktop.engine.tasks import Task

TOKEN_ENV, URL_ENV = "DIFFUSION_STUDIO_SERVER_TOKEN", "DIFFUSION_STUDIO_SERVER_URL"
# What the Images API's endpoints carry (outpainting goes as an inpaint of the extended canvas).
SERVER_TASKS = frozenset({Task.TEXT_TO_IMAGE, Task.IMAGE_TO_IMAGE, Task.INPAINT, Task.OUTPAINT})
JOB_TIMEOUT_S = 3600.0
MODELS_CACHE_S, MODELS_RETRY_S = 30.0, 10.0
MAX_UPLOAD_BYTES = 25 * 2**20  # the server's limit per picture
# Requests one batch is split into: its images run side by side on as many replicas, and stay within
# the server's default share per user even on one replica.
FANOUT = 4
MAX_PARALLEL_JOBS = 16  # what a server may ask a client to keep in flight at most
_WHY_NOT_HERE = "the team server makes and edits images only: choose the local backend for this"


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    prefix: str  # a path the server sits under behind a reverse proxy ("" normally)
    shown: str  # the URL as errors say it: never with credentials
    url_password: str | None


def _target(url: str | None) -> _Target | None:
    if not url or not url.strip():
        return None
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("server", "the team server's URL must start with http:// or https:// and name a host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError("server", "the team server's URL has a port that is not a number.") from None
    prefix = parts.path.rstrip("/")
    prefix = prefix[: -len("/v1")] if prefix.endswith("/v1") else prefix  # the root was asked; forgive /v1
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{prefix}"
    return _Target(parts.scheme, parts.hostname, port, prefix, shown, parts.password)


class ServerBackend:
    id = "server"
    label = "Team server"
    models_are_paths = False
    # Its model list is a network call: the window never asks for it on the UI thread (the model is
    # typed, or chosen from a list fetched elsewhere).
    models_are_remote = True

    def __init__(self, config: EngineConfig | None = None) -> None:
        url = getattr(config, "server_url", None) or os.environ.get(URL_ENV)
        # A bad URL is said when the backend is used, not when it is made: the form lists every backend.
        try:
            self._target, self._url_problem = _target(url), None
        except ValidationError as exc:
            self._target, self._url_problem = None, str(exc)
        # The environment (set for this run) wins over the token kept in Settings; a password in the
        # URL (http://user:TOKEN@host) stands in where neither is set.
        self._token = (
            os.environ.get(TOKEN_ENV)
            or getattr(config, "server_token", None)
            or (self._target.url_password if self._target else None)
            or None
        )
        self._catalog: list[dict] | None = None
        self._replicas = 1  # jobs the server runs side by side, as its model list says
        self._catalog_at = 0.0
        self._failure: tuple[float, str] | None = None
        self._device = ""

    @property
    def configured(self) -> bool:
        """False where no server URL is set: the window leaves the backend out of its list."""
        return self._target is not None or self._url_problem is not None

    def __repr__(self) -> str:  # never the token, even in a debugger or a log line
        where = self._target.shown if self._target else "no server"
        return f"ServerBackend({where}, token={'set' if self._token else 'unset'})"

    # -- what the form reads ------------------------------------------------------------------------

    def models(self) -> list[str]:
        """The server's models (GET /v1/models, cached); EngineError (one sentence) when it cannot be asked."""
        return [entry["id"] for entry in self._models()]

    def model_list_json(self) -> list[str]:
        """The server's model list as JSON text, one entry each (a network call): the window asks on a
        background thread with a backend of its own, and hands the text to adopt_model_list."""
        return [
            json.dumps({**entry, "tasks": None if entry["tasks"] is None else [t.value for t in entry["tasks"]]})
            for entry in self._models()
        ]

    def adopt_model_list(self, items: list[str]) -> None:
        """Take a model list fetched elsewhere (checked again: it came from the network)."""
        entries = []
        for text in items[:500]:
            try:
                entry = _model_entry(json.loads(text))
            except ValueError:
                continue
            if entry is not None:
                entries.append(entry)
        self._catalog, self._catalog_at, self._failure = entries, time.monotonic(), None

    def parallel_jobs(self) -> int:
        """Jobs worth keeping in flight at once: one per replica (a campaign spreads over them)."""
        try:
            self._models()
        except EngineError:
            return 1
        return self._replicas

    def default_model(self) -> str:
        try:
            models = self.models()
        except EngineError:
            return ""
        return models[0] if models else ""

    def capabilities(self, model: str) -> Capabilities:
        """From the last model list (no network: the form asks on every change); every diffusers control."""
        entry = self._entry(model)
        tasks = SERVER_TASKS if entry is None or entry["tasks"] is None else frozenset(entry["tasks"])
        why = f"{model or 'this model'} on the team server cannot do that"
        why_not = {t: why for t in SERVER_TASKS - tasks}
        why_not.update({t: _WHY_NOT_HERE for t in Task if t not in SERVER_TASKS})
        defaults = dict(preset_for(model).defaults)
        if entry is not None:
            defaults.update(entry["defaults"])
        return Capabilities(
            tasks=tasks,
            controls=SAMPLING_CONTROLS,
            size_min=SIZE_MIN,
            size_max=SIZE_MAX,
            size_multiple=SIZE_MULTIPLE,
            defaults=defaults,
            why_not=why_not,
        )

    def validate(self, request: GenerationRequest, canvas: tuple[int, int] | None = None) -> GenerationRequest:
        if self._target is None:
            raise ValidationError("server", self._no_target())
        model = request.model.strip()
        known = [entry["id"] for entry in self._catalog] if self._catalog is not None else None
        if not model:
            hint = f": choose one of: {choices(known)}" if known else ""
            raise ValidationError("model", f"model is not set{hint}.")
        if known is not None and model not in known:
            raise ValidationError(
                "model", f"the team server does not serve '{model}'; choose one of: {choices(known)}."
            )
        defaults = self.capabilities(model).defaults
        if canvas is not None:
            width, height = model_size(*canvas)
        else:
            width = int(defaults.get("width", 512)) if request.width is None else request.width
            height = int(defaults.get("height", 512)) if request.height is None else request.height
        check_sampling(request, width, height, edit=canvas is not None)
        return dataclasses.replace(request, model=model, width=width, height=height)

    def prepare(self, model: str) -> str:
        return "server"  # the server loads its models itself

    def release(self) -> None:
        self._catalog, self._failure = None, None

    def status(self) -> BackendStatus:
        return BackendStatus(device=self._device or "server")

    # -- generating ---------------------------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        cancel = cancel or threading.Event()
        target = self._need_target()
        inputs = edit_inputs_for(request) if request.task.spec.edits else None
        size = inputs.canvas.size if inputs is not None else (request.width, request.height)
        uploads = self._uploads(inputs)
        steps_each = request.steps
        if inputs is not None:
            steps_each = max(1, min(int(request.steps * request.strength), request.steps))
        # Contiguous parts of the batch: part k's images are seed + first .. seed + first + n - 1, exactly
        # the seeds of the same images in one local batch.
        each, extra = divmod(request.count, min(FANOUT, request.count))
        parts, first = [], 0
        for k in range(min(FANOUT, request.count)):
            parts.append((first, each + (k < extra)))
            first += parts[-1][1]
        events: queue.Queue = queue.Queue()
        streams = [
            ServerStream(self, target, request, first, n, uploads, size, events, k)
            for k, (first, n) in enumerate(parts)
        ]
        started = time.perf_counter()
        for stream in streams:
            stream.start()
        images: dict[int, tuple[Image.Image, int | None]] = {}
        steps = {k: (0, steps_each) for k in range(len(streams))}
        about: dict = {}
        previews: dict[int, Image.Image] = {}
        ended: set[int] = set()
        try:
            while len(ended) < len(streams):
                if cancel.is_set():
                    raise GenerationCancelled()
                if time.perf_counter() - started > JOB_TIMEOUT_S:
                    raise EngineError(f"the team server did not finish within {JOB_TIMEOUT_S:g} s: try fewer steps.")
                try:
                    k, kind, payload = events.get(timeout=0.1)
                except queue.Empty:
                    continue
                if kind == "progress":
                    steps[k] = payload[:2]
                    if payload[2] is not None:
                        previews[k] = payload[2]
                    if on_progress is not None:
                        done = sum(s for s, _ in steps.values())
                        total = sum(t for _, t in steps.values())
                        # The first running part's picture, so the preview does not hop between parts.
                        shown = next((previews[p] for p in sorted(previews) if p not in ended), payload[2])
                        on_progress(Progress(done, total, time.perf_counter() - started, shown))
                elif kind == "image":
                    index, image, seed, info = payload
                    images[index] = (image, seed)
                    about = about or info
                elif kind == "error":
                    raise EngineError(payload)
                else:  # "end"
                    ended.add(k)
        finally:
            for stream in streams:
                stream.close()
        if cancel.is_set():
            raise GenerationCancelled()
        if sorted(images) != list(range(request.count)):
            raise EngineError("the team server ended the job without all of its images: try again.")
        items = []
        for index in range(request.count):
            image, seed = images[index]
            if inputs is not None:
                image = paste_back(image, inputs)  # the kept pixels exactly, and outpainting's blend
            items.append(GeneratedImage(image=image, seed=seed, index=index))
        self._device = about.get("device", "")
        origin = {**(request.origin or {}), "server": {"url": target.shown, "user": about.get("user", "")}}
        return GenerationResult(
            request=dataclasses.replace(request, origin=origin),
            images=items,
            device=f"{self._device or 'server'} on {target.shown.split('://', 1)[1]}",
            timings={"load_s": 0.0, "generate_s": round(time.perf_counter() - started, 4)},
            notes=about.get("notes", []),
        )

    # -- HTTP ---------------------------------------------------------------------------------------

    def _need_target(self) -> _Target:
        if self._target is None:
            raise EngineError(self._no_target())
        return self._target

    def _no_target(self) -> str:
        return self._url_problem or "no team server is set: add its URL in Settings → Servers (or --server URL)."

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        target = self._need_target()
        if target.scheme == "https":
            return http.client.HTTPSConnection(
                target.host, target.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    def headers(self, content_type: str | None = None) -> dict:
        headers = {"Accept": "application/json, text/event-stream", "User-Agent": "diffusion-studio"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def redact(self, text: str) -> str:
        """Text as users and logs may see it: one line, bounded, without the token or URL credentials."""
        for secret in (self._token, self._target.url_password if self._target else None):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "[token hidden]")
        text = re.sub(r"//[^/\s@]+@", "//", text)
        return " ".join(text.split())[:300]

    def unreachable(self, exc: BaseException) -> EngineError:
        shown = self._need_target().shown
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return EngineError(f"the team server at {shown} did not answer in time: check that it is running.")
        if isinstance(exc, ssl.SSLError):
            return EngineError(f"the secure connection to the team server at {shown} failed: check its certificate.")
        return EngineError(f"could not reach the team server at {shown}: check the URL and that the server is running.")

    def refusal(self, status: int, body: bytes) -> EngineError:
        """One sentence for an error answer, with the server's own reason where it gave one."""
        try:
            reason = json.loads(body)["error"]["message"]
            reason = self.redact(reason) if isinstance(reason, str) else ""
        except (ValueError, KeyError, TypeError):
            reason = ""
        if status == 401:
            if not self._token:
                return EngineError(f"the team server needs a token: add it in Settings → Servers or set {TOKEN_ENV}.")
            return EngineError(
                f"the team server did not accept the token (401): check it in Settings → Servers or {TOKEN_ENV}."
            )
        reason = reason or "it gave no reason."
        if status == 429:
            return EngineError(f"the team server stayed busy for {BUSY_WAIT_S / 60:g} minutes: {reason}")
        if status >= 500:
            return EngineError(f"the team server failed ({status}): {reason}")
        return EngineError(f"the team server rejected the request ({status}): {reason}")

    def _models(self) -> list[dict]:
        now = time.monotonic()
        if self._catalog is not None and now - self._catalog_at < MODELS_CACHE_S:
            return self._catalog
        if self._failure is not None and now - self._failure[0] < MODELS_RETRY_S:
            if self._catalog is not None:
                return self._catalog
            raise EngineError(self._failure[1])
        try:
            catalog = self._fetch_models()
        except EngineError as exc:
            self._failure = (now, str(exc))
            if self._catalog is not None:
                return self._catalog  # the last list is better than none while the server is away
            raise
        self._catalog, self._catalog_at, self._failure = catalog, now, None
        return catalog

    def _fetch_models(self) -> list[dict]:
        target = self._need_target()
        connection = self.connect(CONNECT_TIMEOUT_S)
        try:
            connection.request("GET", f"{target.prefix}/v1/models", headers=self.headers())
            response = connection.getresponse()
            body = response.read(MAX_SMALL_BYTES + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise self.unreachable(exc) from None
        finally:
            connection.close()
        if response.status != 200:
            raise self.refusal(response.status, body[:MAX_SMALL_BYTES])
        try:
            payload = json.loads(body[:MAX_SMALL_BYTES])
            data = payload["data"]
            replicas = payload.get("replicas")
            self._replicas = replicas if whole(replicas) and 1 <= replicas <= MAX_PARALLEL_JOBS else 1
            return [entry for entry in (_model_entry(item) for item in data[:500]) if entry is not None]
        except (ValueError, KeyError, TypeError):
            raise EngineError(
                f"the team server at {target.shown} sent a model list that is not the Images API's: check the URL."
            ) from None

    def _entry(self, model: str) -> dict | None:
        for entry in self._catalog or []:
            if entry["id"] == model:
                return entry
        return None

    def _uploads(self, inputs) -> dict:
        if inputs is None:
            return {}
        files = {"image": png_bytes(inputs.canvas)}
        if inputs.mask is not None:
            files["mask"] = png_bytes(openai_mask(inputs.mask))
        if any(len(data) > MAX_UPLOAD_BYTES for data in files.values()):
            raise EngineError(
                f"the team server takes pictures up to {MAX_UPLOAD_BYTES // 2**20} MB as PNG: use a smaller one."
            )
        return files


def _model_entry(item) -> dict | None:
    """A model of the list, checked: an id of plain text, known tasks, defaults within range."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return None
    model_id = item["id"]
    if not 0 < len(model_id) <= 200 or not model_id.isprintable():
        return None
    known = {t.value: t for t in SERVER_TASKS}
    listed = item.get("tasks")
    # None: the server did not say (any image task); a list: what it said, video and unknown tasks left out.
    tasks = [known[t] for t in listed if isinstance(t, str) and t in known] if isinstance(listed, list) else None
    limits = {"width": (SIZE_MIN, SIZE_MAX), "height": (SIZE_MIN, SIZE_MAX), "steps": (1, STEPS_MAX)}
    limits["guidance"] = (GUIDANCE_MIN, GUIDANCE_MAX)
    raw = item.get("defaults") if isinstance(item.get("defaults"), dict) else {}
    defaults = {
        key: value
        for key, (low, high) in limits.items()
        if isinstance(value := raw.get(key), (int, float)) and not isinstance(value, bool) and low <= value <= high
    }
    return {"id": model_id, "tasks": tasks, "defaults": defaults}
