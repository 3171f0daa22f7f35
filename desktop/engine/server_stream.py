"""One request to the team server, streamed: sent (waiting while the server is full), its server-sent
events read within bounds, and what it brings back (progress with previews, images, an error) put on
the batch's queue. Nothing the server sends is trusted: every line, image and preview is bounded in
bytes, and each image must be the size asked for.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import io
import json
import math
import secrets
import socket
import threading

from PIL import Image, UnidentifiedImageError

from desktop.engine.errors import EngineError
from desktop.engine.request import SEED_MAX

CONNECT_TIMEOUT_S = 10.0
# The server writes at least a heartbeat every few seconds while a job waits or loads its model.
QUIET_TIMEOUT_S = 120.0
BUSY_WAIT_S = 600.0  # how long a job keeps retrying a full server (429) before giving up
MAX_SMALL_BYTES = 1 * 2**20  # /v1/models and error bodies
MAX_PREVIEW_BYTES = 2 * 2**20


class ServerStream(threading.Thread):
    """One request of a batch: sends it (retrying a full server), reads its events, and puts
    (part, kind, payload) on the queue: progress, image, error, and always end."""

    def __init__(self, backend, target, request, first: int, n: int, uploads, size, events, k):
        super().__init__(name=f"server-stream-{k}", daemon=True)
        self.backend, self.target, self.request = backend, target, request
        self.first, self.n, self.uploads, self.size, self.events, self.k = first, n, uploads, size, events, k
        self._closed = threading.Event()
        self._connection: http.client.HTTPConnection | None = None
        # The socket itself: http.client lets go of it once a response is read to its end or close.
        self._sock: socket.socket | None = None

    def close(self) -> None:
        """Stop reading: closing the connection is what tells the server to cancel the job."""
        self._closed.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked in this stream's thread
            except OSError:
                pass

    def run(self) -> None:
        try:
            self._run()
        except EngineError as exc:
            if not self._closed.is_set():
                self.events.put((self.k, "error", self.backend.redact(str(exc))))
        except (OSError, http.client.HTTPException) as exc:
            if not self._closed.is_set():
                self.events.put((self.k, "error", str(self.backend.unreachable(exc))))
        except Exception as exc:  # a bug here must not leave the job waiting for ever
            if not self._closed.is_set():
                self.events.put((self.k, "error", f"reading the team server's answer failed: {type(exc).__name__}."))
        finally:
            if self._connection is not None:
                self._connection.close()
            self.events.put((self.k, "end", None))

    def _body(self) -> tuple[str, str, bytes]:
        request = self.request
        fields = {
            "model": request.model,
            "prompt": request.prompt,
            "n": self.n,
            "response_format": "b64_json",
            "stream": True,
            "negative_prompt": request.negative_prompt,
            "seed": (request.seed + self.first) % (SEED_MAX + 1) if request.seed is not None else None,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
            "scheduler": request.scheduler,
        }
        fields = {key: value for key, value in fields.items() if value is not None}
        if not self.uploads:
            fields["size"] = f"{request.width}x{request.height}"
            return "/v1/images/generations", "application/json", json.dumps(fields).encode()
        fields["strength"] = request.strength
        boundary = secrets.token_hex(16)
        chunks = []
        for key, value in fields.items():
            text = json.dumps(value) if isinstance(value, bool) else str(value)
            chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{text}\r\n'.encode())
        for key, data in self.uploads.items():
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{key}.png"\r\n'
            chunks.append(f"{head}Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
        chunks.append(f"--{boundary}--\r\n".encode())
        return "/v1/images/edits", f"multipart/form-data; boundary={boundary}", b"".join(chunks)

    def _run(self) -> None:
        path, content_type, body = self._body()
        waited_busy = 0.0
        while True:
            connection = self.backend.connect(CONNECT_TIMEOUT_S)
            self._connection = connection
            connection.connect()
            self._sock = connection.sock
            if self._closed.is_set():  # closed while connecting: close() may have missed this socket
                return
            connection.request(
                "POST", f"{self.target.prefix}{path}", body=body, headers=self.backend.headers(content_type)
            )
            self._sock.settimeout(QUIET_TIMEOUT_S)
            response = connection.getresponse()
            if response.status == 200:
                break
            error = response.read(MAX_SMALL_BYTES)
            if response.status != 429 or waited_busy >= BUSY_WAIT_S:
                raise self.backend.refusal(response.status, error)
            # Full (or this user's share is): wait as the server says, then ask again.
            retry = response.getheader("Retry-After", "5")
            delay = min(30.0, max(1.0, float(retry) if retry.strip().isdigit() else 5.0))
            connection.close()
            waited_busy += delay
            if self._closed.wait(delay):
                return
        if not response.getheader("Content-Type", "").startswith("text/event-stream"):
            raise EngineError(f"the team server at {self.target.shown} did not stream its answer: check the URL.")
        self._read(response)

    def _read(self, response) -> None:
        width, height = self.size
        # A PNG is never larger than its raw RGBA pixels plus its chunks' overhead.
        image_cap = 4 * width * height + 2**20
        line_cap = math.ceil(image_cap * 4 / 3) + 64 * 2**10
        received = 0
        for kind, data in _events(response, line_cap, self._closed):
            if kind.endswith(".partial_image"):
                step, total = data.get("step"), data.get("total")
                if whole(step) and whole(total) and 0 <= step <= total <= 100_000:
                    preview = _preview(data.get("b64_json"), width, height)
                    self.events.put((self.k, "progress", (step, total, preview)))
            elif kind.endswith(".completed"):
                index = data.get("index", received)
                if not whole(index) or not 0 <= index < self.n or received >= self.n:
                    raise EngineError("the team server sent more images than were asked for: check the server.")
                image = _decode(data.get("b64_json"), image_cap, (width, height))
                seed = data.get("seed") if whole(data.get("seed")) else None
                if self.request.seed is not None:
                    expected = (self.request.seed + self.first + index) % (SEED_MAX + 1)
                    if seed != expected:
                        # A server that ignores seeds would make every recorded seed a lie.
                        raise EngineError(
                            f"the team server used seed {seed} where {expected} was asked: check the server."
                        )
                info = {
                    "user": _text(data.get("user"), 64),
                    "device": _text(data.get("device"), 32),
                    "notes": [_text(n, 300) for n in data.get("notes", [])[:5] if isinstance(n, str)]
                    if isinstance(data.get("notes"), list)
                    else [],
                }
                self.events.put((self.k, "image", (self.first + index, image, seed, info)))
                received += 1
            elif kind == "error" or "error" in data:
                error = data.get("error") if isinstance(data.get("error"), dict) else {}
                message = error.get("message") if isinstance(error.get("message"), str) else "it gave no reason."
                raise EngineError(f"the team server could not finish the job: {self.backend.redact(message)}")


def _events(response, line_cap: int, closed: threading.Event):
    """(type, JSON object) of each server-sent event until the stream ends or is closed; comments
    (heartbeats) are skipped."""
    kind, data, size = "", [], 0
    while True:
        line = response.readline(line_cap + 1)
        if not line or closed.is_set():
            return
        if len(line) > line_cap:
            raise EngineError("the team server sent an event larger than any image asked for: check the server.")
        line = line.rstrip(b"\r\n")
        if not line:
            if data:
                try:
                    payload = json.loads(b"\n".join(data))
                except ValueError:
                    raise EngineError("the team server sent an event that is not JSON: check the URL.") from None
                if not isinstance(payload, dict):
                    raise EngineError("the team server sent an event that is not a JSON object: check the URL.")
                yield str(payload.get("type") or kind), payload
            kind, data, size = "", [], 0
            continue
        if line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if name == b"event":
            kind = value.decode("utf-8", "replace")
        elif name == b"data":
            size += len(value)
            if size > line_cap:
                raise EngineError("the team server sent an event larger than any image asked for: check the server.")
            data.append(value)


def whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value, limit: int) -> str:
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


def _decode(b64, cap: int, size: tuple[int, int]) -> Image.Image:
    """A result image: valid base64 within cap bytes, a picture, of exactly the size asked."""
    if not isinstance(b64, str) or len(b64) > math.ceil(cap * 4 / 3) + 4:
        raise EngineError("the team server sent an image entry without data, or too large for the size asked.")
    try:
        data = base64.b64decode(b64, validate=True)
        image = Image.open(io.BytesIO(data))
        if image.size != size:  # checked from the header, before any pixel is decoded
            raise EngineError(
                f"the team server sent a {image.width}x{image.height} image where {size[0]}x{size[1]} was asked."
            )
        image.load()
    except (binascii.Error, ValueError):
        raise EngineError("the team server sent image data that is not valid base64.") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise EngineError("the team server sent data that is not an image.") from None
    return image.convert("RGB")


def _preview(b64, width: int, height: int) -> Image.Image | None:
    """A partial image, or None where it is missing or not a small picture (progress goes on without it)."""
    if not isinstance(b64, str) or len(b64) > MAX_PREVIEW_BYTES:
        return None
    try:
        image = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
        if image.width > width or image.height > height:
            return None
        image.load()
        return image.convert("RGB")
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return None
