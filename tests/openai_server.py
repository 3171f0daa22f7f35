"""A loopback HTTP server that speaks the OpenAI Images protocol, for driving the real openai client.

Set `server.mode` to choose the answer: b64 (default), url, 401, 403, 400-policy, 400, 404, 429,
500, slow, malformed-json, bad-b64, not-image, empty. Every request is kept in `server.requests`.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

API_KEY = "sk-test-LOOPBACK-0123456789abcdefSECRET"


def png_bytes(width: int, height: int, color=(200, 30, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


class ImagesServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "b64"
        self.slow_s = 3.0
        self.requests: list[dict] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> ImagesServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _multipart(content_type: str, raw: bytes) -> dict:
    """Form fields as strings, files as {'filename', 'content_type', 'data'} (what images.edit sends)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if part.get_filename():
            fields[name] = {"filename": part.get_filename(), "content_type": part.get_content_type(), "data": data}
        else:
            fields[name] = data.decode()
    return fields


def _error(code: int, message: str, err_type: str, err_code: str | None = None) -> dict:
    return {"error": {"message": message, "type": err_type, "param": None, "code": err_code}}


class _Handler(BaseHTTPRequestHandler):
    server: ImagesServer

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/files/"):
            width, height = (int(v) for v in self.path.rsplit("/", 1)[1].split(".")[0].split("x"))
            self._send(200, png_bytes(width, height, (20, 160, 60)), "image/png")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            body = json.loads(raw)
        elif content_type.startswith("multipart/form-data"):
            body = _multipart(content_type, raw)
        else:
            body = {"raw": raw}
        self.server.requests.append(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        )
        mode = self.server.mode
        errors = {
            "401": (
                401,
                _error(
                    401,
                    "Incorrect API key provided: sk-test-***********CRET.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            ),
            "403": (403, _error(403, "You are not allowed to use this model.", "invalid_request_error")),
            "400-policy": (
                400,
                _error(
                    400,
                    "Your request was rejected as a result of our safety system.",
                    "invalid_request_error",
                    "content_policy_violation",
                ),
            ),
            "400": (400, _error(400, "Invalid value for 'n': must be at most 10.", "invalid_request_error")),
            "404": (
                404,
                _error(404, "The model 'x' does not exist.", "invalid_request_error", "model_not_found"),
            ),
            "429": (
                429,
                _error(429, "Rate limit reached for images per minute.", "requests", "rate_limit_exceeded"),
            ),
            "500": (
                500,
                _error(500, "The server had an error while processing your request.", "server_error"),
            ),
        }
        if mode in errors:
            status, payload = errors[mode]
            # Real servers say when to retry; a millisecond keeps the client's retries fast here.
            self._send(status, json.dumps(payload).encode(), "application/json", {"retry-after-ms": "1"})
            return
        if mode == "slow":
            time.sleep(self.server.slow_s)
        if mode == "malformed-json":
            self._send(200, b'{"created": 1, "data": [{"b64_json": ', "application/json")
            return
        size = body.get("size", "1024x1024") if isinstance(body, dict) else "1024x1024"
        width, height = (int(v) for v in size.split("x"))
        n = int(body.get("n", 1)) if isinstance(body, dict) else 1
        items = []
        for _ in range(n):
            if mode == "url":
                items.append({"url": f"http://127.0.0.1:{self.server.server_address[1]}/files/{width}x{height}.png"})
            elif mode == "bad-b64":
                items.append({"b64_json": "!!not base64!!"})
            elif mode == "not-image":
                items.append({"b64_json": base64.b64encode(b"GIF89a but not really").decode()})
            else:
                items.append({"b64_json": base64.b64encode(png_bytes(width, height)).decode()})
        payload = {"created": int(time.time()), "data": [] if mode == "empty" else items}
        self._send(200, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
