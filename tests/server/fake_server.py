"""A loopback server that answers like the team server, or misbehaves on purpose (`mode`), to check
that the client backend trusts nothing it is sent."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def b64_png(width: int, height: int, color=(10, 200, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "ok"
        self.requests: list[dict] = []
        self.closed_early = threading.Event()  # the client hung up mid-stream
        self.busy_answers = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append({"path": self.path, "headers": dict(self.headers)})
        if self.server.mode == "401":
            token = self.headers.get("Authorization", "")
            self._json(401, {"error": {"message": f"the token in '{token}' was not accepted."}})
            return
        models = {
            "object": "list",
            "data": [
                {"id": "demo", "tasks": ["text-to-image", "inpaint"], "defaults": {"width": 64, "steps": 20}},
                {"id": "sd15", "defaults": {"width": 99999, "guidance": "high"}},
                {"id": "t2v", "tasks": ["text-to-video"]},
                {"id": 42},
                "junk",
            ],
        }
        self._json(200, models)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        fields = json.loads(body) if self.headers.get("Content-Type") == "application/json" else {}
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": fields})
        mode = self.server.mode
        if mode == "401":
            token = self.headers.get("Authorization", "")
            self._json(401, {"error": {"message": f"the token in '{token}' was not accepted."}})
            return
        if mode == "busy-once" and self.server.busy_answers == 0:
            self.server.busy_answers += 1
            self._json(429, {"error": {"message": "the server is full."}}, {"Retry-After": "1"})
            return
        if mode == "html":
            self._send(200, b"<html>a proxy's page</html>", "text/html")
            return
        width, height = (int(v) for v in fields.get("size", "64x64").split("x"))
        seed = fields.get("seed")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            self._event({"type": "image_generation.partial_image", "step": 1, "total": 2, "b64_json": b64_png(8, 8)})
            if mode == "stall":
                while True:  # heartbeats for ever: only the client's hanging up ends it
                    self.wfile.write(b": waiting\n\n")
                    self.wfile.flush()
                    time.sleep(0.05)
            if mode == "huge":
                self.wfile.write(b"data: " + b"A" * (4 * width * height * 2 + 4 * 2**20) + b"\n\n")
                return
            size = (32, 32) if mode == "wrong-size" else (width, height)
            completed = {"type": "image_generation.completed", "b64_json": b64_png(*size), "seed": seed, "index": 0}
            completed.update(user="alice", device="cuda", notes=["a note\nwith lines", 5])
            if mode == "wrong-seed":
                completed["seed"] = seed + 1
            for _ in range(2 if mode == "too-many" else 1):
                self._event(completed)
            if mode == "error-event":
                self._event({"type": "error", "error": {"message": "the worker stopped unexpectedly."}})
        except (BrokenPipeError, ConnectionResetError):
            self.server.closed_early.set()

    def _event(self, data: dict) -> None:
        self.wfile.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _json(self, status: int, data: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
