"""A loopback HTTP server that speaks the OpenAI Images protocol, for driving the real openai client.

Set `server.mode` to choose the answer: b64 (default), url, 401, 403, 400-policy, 400, 404, 429,
500, slow, malformed-json, bad-b64, not-image, empty. Every request is kept in `server.requests`.

Hostile modes, each bounded (no loop outlives `stop()` or a fixed count): trickle (one byte of the
answer every `trickle_s`), stall (the headers, then silence), extra (`extra` images whatever was
asked), larger (a real image twice the size asked), huge-header (a PNG whose header claims
`huge`x`huge`, with no pixels to speak of), big-b64 (base64 of `big_bytes` bytes), big-answer (a
body of `big_bytes` bytes; big-answer-unsized: the same without a Content-Length), and for image
URLs: url-redirect-same, url-redirect-away (to another host name for this same server), url-ftp,
url-big (`big_bytes` without a length), url-trickle.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

API_KEY = "sk-test-LOOPBACK-0123456789abcdefSECRET"


def png_bytes(width: int, height: int, color=(200, 30, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height in its header, with one tiny IDAT: a bomb by its header alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


class ImagesServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "b64"
        self.slow_s = 3.0
        self.trickle_s = 2.0
        self.extra = 1000
        self.huge = 13000
        self.big_bytes = 4 * 2**20
        self.stopping = threading.Event()  # ends every trickle and stall at once
        self.requests: list[dict] = []
        self.downloads: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> ImagesServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
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
        self.server.downloads.append(self.path)
        port = self.server.server_address[1]
        if self.path.startswith("/files/"):
            width, height = (int(v) for v in self.path.rsplit("/", 1)[1].split(".")[0].split("x"))
            self._send(200, png_bytes(width, height, (20, 160, 60)), "image/png")
        elif self.path.startswith("/redirect-same/"):
            self._redirect(f"http://127.0.0.1:{port}/files/{self.path.rsplit('/', 1)[1]}")
        elif self.path.startswith("/redirect-away/"):
            self._redirect(f"http://localhost:{port}/files/{self.path.rsplit('/', 1)[1]}")
        elif self.path.startswith("/big/"):
            # No Content-Length: the client learns the size only by reading it (HTTP/1.0, ends at close).
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            block = b"\0" * 2**16
            for _ in range(self.server.big_bytes // len(block)):
                try:
                    self.wfile.write(block)
                except OSError:  # the client gave up: that is the point
                    return
        elif self.path.startswith("/trickle/"):
            self._trickle(png_bytes(256, 256), "image/png")
        else:
            self._send(404, b"not found", "text/plain")

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _trickle(self, data: bytes, content_type: str) -> None:
        """Headers at once, then one byte every trickle_s: never silent for long, never finished."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for byte in data[:60]:  # bounded: at most 60 bytes, whatever the client does
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
            if self.server.stopping.wait(self.server.trickle_s):
                return

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
        if mode == "trickle":
            self._trickle(json.dumps({"created": 1, "data": [{"b64_json": "A" * 200}]}).encode(), "application/json")
            return
        if mode == "stall":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            self.server.stopping.wait(30)
            return
        if mode in ("big-answer", "big-answer-unsized"):
            filler = "A" * self.server.big_bytes
            data = json.dumps({"created": 1, "data": [], "filler": filler}).encode()
            if mode == "big-answer":
                self._send(200, data, "application/json")
                return
            self.send_response(200)  # no Content-Length: HTTP/1.0, the body ends when the connection does
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:
                pass
            return
        if mode == "malformed-json":
            self._send(200, b'{"created": 1, "data": [{"b64_json": ', "application/json")
            return
        size = body.get("size", "1024x1024") if isinstance(body, dict) else "1024x1024"
        width, height = (int(v) for v in size.split("x"))
        n = int(body.get("n", 1)) if isinstance(body, dict) else 1
        if mode == "extra":
            n = self.server.extra
        port = self.server.server_address[1]
        url_paths = {
            "url-redirect-same": "redirect-same",
            "url-redirect-away": "redirect-away",
            "url-big": "big",
            "url-trickle": "trickle",
        }
        items = []
        for _ in range(n):
            if mode == "url":
                items.append({"url": f"http://127.0.0.1:{port}/files/{width}x{height}.png"})
            elif mode in url_paths:
                items.append({"url": f"http://127.0.0.1:{port}/{url_paths[mode]}/{width}x{height}.png"})
            elif mode == "url-ftp":
                items.append({"url": f"ftp://127.0.0.1:{port}/files/{width}x{height}.png"})
            elif mode == "larger":
                items.append({"b64_json": base64.b64encode(png_bytes(width * 2, height * 2)).decode()})
            elif mode == "huge-header":
                bomb = png_header_only(self.server.huge, self.server.huge)
                items.append({"b64_json": base64.b64encode(bomb).decode()})
            elif mode == "big-b64":
                items.append({"b64_json": "A" * (self.server.big_bytes // 3 * 4)})
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
