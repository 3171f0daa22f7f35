"""The HTTP API: the OpenAI Images API's endpoints over our engine, with tokens, a fair bounded queue
and streaming. Ray-free: deploy.py gives it a `dispatch` that runs a job on some replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from desktop.engine.backend import SAMPLING_CONTROLS
from desktop.engine.engine import Engine
from desktop.engine.errors import ValidationError
from desktop.engine.registry import EngineConfig
from desktop.server.config import ServerConfig
from desktop.server.fair_queue import FairQueue, QueueFull, Ticket
from desktop.server.protocol import (
    API_TASKS,
    EMPTY_USAGE,
    HEARTBEAT,
    MAX_JSON_BYTES,
    MAX_MULTIPART_BYTES,
    ApiError,
    Catalog,
    Job,
    b64_png,
    error_body,
    parse_edit,
    parse_generation,
    parse_multipart,
    sse,
    stream_event,
)
from desktop.server.tokens import AuthError, authenticate, read_tokens
from desktop.server.worker import validate_job

# A child of Serve's logger: its lines land in the replica's Serve log with the request id.
log = logging.getLogger("ray.serve.diffusion_studio")

# A quiet stream gets a comment this often: it keeps proxies from timing out, and a write to a client
# that left is how the server notices (and frees the job's place) while the job waits for its turn.
HEARTBEAT_S = 5.0


class WorkerLost(Exception):
    """The replica running a job died (a crash, the out-of-memory killer); Ray starts another."""


Dispatch = Callable[[dict], AsyncIterator[dict]]


class ImagesService:
    """Everything the endpoints do, apart from HTTP itself."""

    def __init__(self, config: ServerConfig, dispatch: Dispatch) -> None:
        self.config = config
        self.dispatch = dispatch
        # Tokens are read here where the ingress was given a file (KubeRay's mounted Secret).
        self.users = dict(config.users) or (read_tokens(config.tokens_file) if config.tokens_file else {})
        # Validation only: this engine never loads a pipeline, so the ingress never imports torch.
        self.engine = Engine(EngineConfig(runtime=config.runtime))
        self.catalog = Catalog(
            models=dict(config.models),
            defaults={
                mid: dict(self.engine.capabilities("diffusers", ref).defaults) for mid, ref in config.models.items()
            },
        )
        self.queue = FairQueue(slots=config.replicas, capacity=config.capacity, per_user=config.user_limit)

    def user(self, request: Request) -> str:
        try:
            return authenticate(request.headers.get("authorization"), self.users)
        except AuthError as exc:
            raise ApiError(401, str(exc), code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}) from None

    def models(self) -> dict:
        data = []
        for model_id, reference in self.catalog.models.items():
            capabilities = self.engine.capabilities("diffusers", reference)
            data.append(
                {
                    "id": model_id,
                    "object": "model",
                    "created": 0,
                    "owned_by": "diffusion-studio",
                    # Ours: what the app's form needs to offer this model's controls.
                    "tasks": [t.value for t in API_TASKS if t in capabilities.tasks],
                    "controls": sorted(SAMPLING_CONTROLS),
                    "defaults": self.catalog.defaults[model_id],
                }
            )
        # Ours: how many jobs the server runs side by side (a campaign keeps that many in flight).
        return {"object": "list", "data": data, "replicas": self.config.replicas}

    async def validate(self, job: Job) -> Job:
        """The engine's validation (400 with its sentence); seed and defaults filled in."""
        try:
            job.request = await asyncio.to_thread(validate_job, self.engine, job.worker_job())
        except ValidationError as exc:
            raise ApiError(400, self.public(str(exc), job), param=exc.field) from None
        return job

    def public(self, message: str, job: Job) -> str:
        """A message with the server's model folder named by the model's id instead."""
        reference = self.catalog.models.get(job.model_id, "")
        return message.replace(reference, f"'{job.model_id}'") if reference and reference != job.model_id else message

    def admit(self, user: str) -> Ticket:
        try:
            return self.queue.admit(user)
        except QueueFull as exc:
            raise ApiError(429, str(exc), code="queue_full", headers={"Retry-After": str(exc.retry_after_s)}) from None

    async def events(self, job: Job, ticket: Ticket, heartbeats: bool) -> AsyncIterator[dict | None]:
        """The job's events from its replica once it has its turn; None now and then while it waits
        (heartbeats). Frees the job's place however it ends, the client leaving included."""
        started = None
        stream = None
        pending: asyncio.Future | None = None
        try:
            pending = asyncio.ensure_future(self.queue.wait_turn(ticket))
            while not (await asyncio.wait({pending}, timeout=HEARTBEAT_S))[0]:
                if heartbeats:
                    yield None
            started = time.perf_counter()
            stream = self.dispatch(job.worker_job())
            first = True
            while True:
                pending = asyncio.ensure_future(anext(stream, None))
                waited = 0.0
                while not (await asyncio.wait({pending}, timeout=HEARTBEAT_S))[0]:
                    waited += HEARTBEAT_S
                    if first and waited >= self.config.start_timeout_s:
                        raise ApiError(
                            503,
                            f"no worker took the job within {self.config.start_timeout_s:g} s: the server's workers "
                            "are down or still starting; try again in a minute.",
                            code="no_worker",
                            headers={"Retry-After": "30"},
                        )
                    if heartbeats:
                        yield None
                try:
                    event = pending.result()
                except WorkerLost:
                    raise ApiError(
                        503,
                        "the worker running this job stopped unexpectedly (Ray is restarting it): "
                        "send the request again.",
                        code="worker_lost",
                        headers={"Retry-After": "5"},
                    ) from None
                pending = None
                if event is None:
                    return
                first = False
                yield event
        finally:
            self.queue.done(ticket, None if started is None else time.perf_counter() - started)
            if pending is not None and not pending.done():
                pending.cancel()
                # The stream must be still before it can be closed.
                with contextlib.suppress(BaseException):
                    await pending
            if stream is not None:
                await stream.aclose()

    async def collect(self, job: Job, user: str, ticket: Ticket) -> dict:
        """A whole answer (no streaming): the images, each with its seed, and who asked."""
        images, done = [], {}
        async for event in self.events(job, ticket, heartbeats=False):
            kind = event["event"]
            if kind == "image":
                images.append(event)
            elif kind == "done":
                done = event
            elif kind == "error":
                raise ApiError(event["status"], self.public(event["message"], job), param=event.get("param"))
        if not done or len(images) != job.request.count:
            raise ApiError(500, "the worker ended the job without its images: send the request again.")
        first = images[0]
        return {
            "created": int(time.time()),
            "data": [
                {"b64_json": b64_png(item["png"]), "revised_prompt": None, "seed": item["seed"], "index": item["index"]}
                for item in images
            ],
            "background": "opaque",
            "output_format": "png",
            "quality": "auto",
            "size": f"{first['width']}x{first['height']}",
            "usage": EMPTY_USAGE,
            **self.about(job, user, done),
        }

    def about(self, job: Job, user: str, done: dict) -> dict:
        """Our fields on every answer: who asked (from the token), on which model, device and replica."""
        return {
            "model": job.model_id,
            "user": user,
            "device": done.get("device", ""),
            "replica": done.get("replica", ""),
            "notes": done.get("notes", []),
            "timings": done.get("timings", {}),
        }

    async def stream(self, job: Job, user: str, ticket: Ticket) -> AsyncIterator[bytes]:
        """Server-sent events: partial images with step and total, then one completed event per image."""
        images: list[dict] = []
        previews = 0
        replica = ""
        width, height = job.request.width, job.request.height
        # A first comment at once, so that the answer's headers leave now even if the job must wait.
        yield HEARTBEAT
        try:
            async for event in self.events(job, ticket, heartbeats=True):
                if event is None:
                    yield HEARTBEAT
                    continue
                kind = event["event"]
                if kind == "accepted":
                    replica = event.get("replica", "")
                elif kind == "progress" and event.get("preview") is not None:
                    yield sse(
                        stream_event(
                            "partial_image",
                            job,
                            width=width,
                            height=height,
                            b64_json=b64_png(event["preview"]),
                            partial_image_index=previews,
                            step=event["step"],
                            total=event["total"],
                            elapsed_s=event["elapsed_s"],
                            replica=replica,
                        )
                    )
                    previews += 1
                elif kind == "image":
                    images.append(event)
                elif kind == "done":
                    for item in images:
                        yield sse(
                            stream_event(
                                "completed",
                                job,
                                width=item["width"],
                                height=item["height"],
                                b64_json=b64_png(item["png"]),
                                usage=EMPTY_USAGE,
                                seed=item["seed"],
                                index=item["index"],
                                **self.about(job, user, event),
                            )
                        )
                elif kind == "error":
                    error = ApiError(event["status"], self.public(event["message"], job), param=event.get("param"))
                    yield sse({"type": "error", **error.body()})
        except ApiError as exc:
            yield sse({"type": "error", **exc.body()})


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused past limit bytes without reading the rest."""
    too_large = ApiError(413, f"the request body is larger than {limit // 2**20} MB: send smaller pictures.")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(service: ImagesService) -> FastAPI:
    app = FastAPI(title="Diffusion Studio team server", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = dict(exc.headers)
        if exc.status >= 500 and exc.status != 503:
            headers["x-should-retry"] = "false"  # the openai client would repeat a job that failed for a reason
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "no such endpoint here" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(
            error_body(exc.status_code, f"{message}: {request.method} {request.url.path}."), exc.status_code
        )

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> JSONResponse:
        # A bug must still answer in the API's error JSON, without a traceback for the client.
        log.exception("request %s %s failed", request.method, request.url.path)
        message = f"the server failed on this request ({type(exc).__name__}): tell the server's admin."
        return JSONResponse(error_body(500, message), 500, headers={"x-should-retry": "false"})

    @app.get("/health")
    async def health() -> dict:
        # No token: load balancers and Kubernetes probes ask it. It says nothing about users or models.
        return {
            "status": "ok",
            "jobs_running": service.queue.in_flight - service.queue.waiting,
            "jobs_waiting": service.queue.waiting,
        }

    @app.get("/v1/models")
    async def models(request: Request) -> dict:
        service.user(request)
        return service.models()

    @app.post("/v1/images/generations")
    async def generations(request: Request) -> Response:
        user = service.user(request)
        raw = await read_body(request, MAX_JSON_BYTES)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise ApiError(400, "the request body is not valid JSON.") from None
        job = await service.validate(parse_generation(body, service.catalog))
        return await answer(job, user)

    @app.post("/v1/images/edits")
    async def edits(request: Request) -> Response:
        user = service.user(request)
        raw = await read_body(request, MAX_MULTIPART_BYTES)
        content_type = request.headers.get("content-type", "")
        job = await asyncio.to_thread(lambda: parse_edit(*parse_multipart(content_type, raw), service.catalog))
        job = await service.validate(job)
        return await answer(job, user)

    async def answer(job: Job, user: str) -> Response:
        ticket = service.admit(user)
        request = job.request
        log.info(
            "job for %s: %s, %d image(s) %sx%s, %d steps%s",
            user, job.model_id, request.count, request.width, request.height, request.steps,
            " (streamed)" if job.stream else "",
        )  # fmt: skip
        if job.stream:
            body = service.stream(job, user, ticket)
            # The stream frees the job's place when it ends; a stream that never started (the client left
            # before the first byte) runs no finally, so its place is freed when it is collected.
            loop = asyncio.get_running_loop()
            weakref.finalize(body, loop.call_soon_threadsafe, service.queue.done, ticket)
            return StreamingResponse(
                body,
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return JSONResponse(await service.collect(job, user, ticket))

    return app
