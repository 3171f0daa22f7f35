"""A loopback HTTP server that speaks the Hugging Face hub's file API, for driving the real huggingface_hub client.

What huggingface_hub (1.x/2.x) asks of a hub, and what is served here:

- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}` (HfApi.model_info, `blobs=True` for
  sizes): id, sha, siblings with rfilename, size, blobId and lfs {sha256, size, pointerSize}.
- `GET /api/models/{repo}/tree/{rev}?recursive=1` (list_repo_tree, used by snapshot_download): one page.
- `HEAD|GET /{repo}/resolve/{rev}/{path}` (get_hf_file_metadata, hf_hub_download, a streamed GET): ETag
  (the git blob id, or for weights the sha256 as LFS files have), X-Repo-Commit, Content-Length,
  Accept-Ranges; `Range: bytes=N-` answers 206 with Content-Range.
- Errors as the hub sends them: 404 + X-Error-Code RepoNotFound, 401 + GatedRepo, 404 + EntryNotFound,
  404 + RevisionNotFound.

Streaming can be slowed (`chunk_bytes` every `chunk_delay_s`) and held after `hold_after` bytes of a file
until `release()`; every request is kept in `requests` (method, path, Range header).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pth", ".msgpack", ".h5", ".onnx")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    gated: bool = False

    def etag(self, path: str) -> str:
        data = self.files[path]
        return hashlib.sha256(data).hexdigest() if path.endswith(LFS_SUFFIXES) else git_blob_id(data)

    def sibling(self, path: str) -> dict:
        data = self.files[path]
        entry = {"rfilename": path, "size": len(data), "blobId": git_blob_id(data)}
        if path.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    def tree_entry(self, path: str) -> dict:
        data = self.files[path]
        entry = {"type": "file", "path": path, "size": len(data), "oid": git_blob_id(data)}
        if path.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry


def repo_from_folder(folder: Path, **kwargs) -> Repo:
    """A repo serving every file under folder (a saved diffusers pipeline, say), by relative path."""
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    return Repo(files, **kwargs)


@dataclass
class _Hold:
    path: str
    after: int
    reached: threading.Event = field(default_factory=threading.Event)  # the bytes before the hold are sent
    released: threading.Event = field(default_factory=threading.Event)


class HubServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos: dict[str, Repo] = {}
        self.requests: list[dict] = []
        self.chunk_bytes = 64 * 1024
        self.chunk_delay_s = 0.0
        self.hold: _Hold | None = None
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.hold is not None:
            self.hold.released.set()
        self.shutdown()
        self.server_close()

    def hold_after(self, path: str, after: int) -> None:
        """Stream `after` bytes of path, then wait for release() (a stalled transfer, mid-file)."""
        self.hold = _Hold(path, after)

    def release(self) -> None:
        if self.hold is not None:
            self.hold.released.set()
        self.hold = None

    def gets(self, path_end: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == "GET" and r["path"].endswith(path_end)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        self.server.requests.append({"method": self.command, "path": path, "range": self.headers.get("Range")})
        api = re.fullmatch(r"/api/models/([^/]+/[^/]+?)(?:/(revision|tree)/([^/]+))?/?", path)
        if api:
            repo_id, kind, revision = api.groups()
            repo = self._repo(repo_id)
            if repo is None or not self._revision_ok(repo, revision):
                return
            if kind == "tree":
                return self._json([repo.tree_entry(p) for p in sorted(repo.files)])
            siblings = [repo.sibling(p) for p in sorted(repo.files)]
            return self._json({"id": repo_id, "sha": repo.commit, "siblings": siblings, "gated": repo.gated})
        resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if resolve:
            repo_id, revision, file_path = resolve.groups()
            repo = self._repo(repo_id)
            if repo is None or not self._revision_ok(repo, revision):
                return
            if file_path not in repo.files:
                return self._error(404, "EntryNotFound", "Entry not found", commit=repo.commit)
            return self._file(repo, file_path, head)
        self._error(404, "", "Not found")

    def _repo(self, repo_id: str) -> Repo | None:
        repo = self.server.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        if repo.gated:
            self._error(401, "GatedRepo", "Access to model is restricted. You must have access to it.")
            return None
        return repo

    def _revision_ok(self, repo: Repo, revision: str | None) -> bool:
        if revision in (None, "main", repo.commit):
            return True
        self._error(404, "RevisionNotFound", "Invalid rev id")
        return False

    def _json(self, data) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, commit: str | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _file(self, repo: Repo, path: str, head: bool) -> None:
        data = repo.files[path]
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "") or "")
        if ranged and not head:
            start = int(ranged.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(206 if start else 200)
        self.send_header("ETag", f'"{repo.etag(path)}"')
        self.send_header("X-Repo-Commit", repo.commit)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        self._stream(path, data, start)

    def _stream(self, path: str, data: bytes, start: int) -> None:
        server = self.server
        position = start
        try:
            while position < len(data) and not server.stopping.is_set():
                hold = server.hold
                end = min(len(data), position + server.chunk_bytes)
                if hold is not None and hold.path == path and position < hold.after:
                    end = min(end, hold.after)
                self.wfile.write(data[position:end])
                self.wfile.flush()
                position = end
                if hold is not None and hold.path == path and position >= hold.after and start < hold.after:
                    hold.reached.set()
                    hold.released.wait(30)
                    self.close_connection = True  # the rest never comes: the line drops, as a network's would
                    return
                if server.chunk_delay_s:
                    time.sleep(server.chunk_delay_s)
        except (BrokenPipeError, ConnectionResetError):
            pass
