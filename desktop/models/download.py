"""Download a model from the hub on request: progress, speed and time left, cancel, and resume.

huggingface_hub does the talking (model info, file metadata, its HTTP session with the user's token and
offline switch, the cache layout): the files land in the Hugging Face cache, where the engine already
looks. Each file's bytes go to a partial file of ours beside the cache's blobs, which survives a cancel,
a lost connection or a crash; the next download asks only for the rest (an HTTP Range), checks the whole
file against the hub's checksum, and hands it to hf_hub_download, which files it into the snapshot.
(huggingface_hub itself deletes a partial file on any failure, so it cannot resume across runs.)

Only what the pipeline needs is fetched (hub_files.py), model_index.json last: a pipeline without it is
never offered as a model, so nothing half-installed ever is. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from desktop.engine.models import is_hub_id
from desktop.models.download_errors import (
    DownloadCancelled,
    DownloadError,
    explain,
    host_of,
    is_network_error,
)
from desktop.models.hub_files import MODEL_INDEX, NothingToDownload, RepoFile, choose_files
from desktop.models.installed import default_cache_dir, repo_folder
from desktop.models.progress import DownloadProgress, ProgressCallback, Tracker
from desktop.models.sizes import format_bytes

PARTIAL_SUFFIX = ".partial"
RETRIES = 3  # a dropped connection mid-file is resumed this many times before giving up
MODEL_INDEX_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class DownloadResult:
    repo_id: str
    folder: Path  # the snapshot folder: what a model list names by the hub id
    files: int
    total_bytes: int
    downloaded_bytes: int  # fetched by this run
    resumed_bytes: int  # already here when it started (earlier runs)
    variant: str | None


class Download:
    """One download; run() blocks (call it on a worker thread), cancel() may be called from any thread."""

    def __init__(
        self,
        repo_id: str,
        *,
        variant: str | None = None,
        files: tuple[str, ...] = (),
        revision: str = "main",
        cache_dir: str | Path | None = None,
        endpoint: str | None = None,
        token: str | bool | None = None,
        on_progress: ProgressCallback | None = None,
        free_bytes: int | None = None,
    ) -> None:
        """files: exactly these (a single-file model), else what the pipeline needs; free_bytes: the disk's
        free space as the caller knows it (tests), else asked of the disk."""
        self.repo_id = repo_id.strip()
        self.variant = variant
        self.only = tuple(files)
        self.revision = revision or "main"
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
        self.token = token
        self.on_progress = on_progress
        self.free_bytes = free_bytes
        self._cancel = threading.Event()
        self._response = None  # the transfer in flight, closed by cancel()
        self._tracker: Tracker | None = None

    def cancel(self) -> None:
        self._cancel.set()
        response = self._response
        if response is None:
            return
        # A read waiting on a stalled connection ends only when its socket is shut (closing the response
        # from another thread waits for the read timeout); best effort: the loop checks the flag anyway.
        try:
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except Exception:  # noqa: BLE001
            pass

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> DownloadResult:
        if not is_hub_id(self.repo_id):
            raise DownloadError(f"'{self.repo_id}' is not a Hugging Face id: give one as org/name.", "missing")
        if _offline():
            raise DownloadError(
                "downloads are turned off on this computer (HF_HUB_OFFLINE is set): unset it and try again.",
                "offline",
            )
        try:
            from filelock import FileLock, Timeout

            lock_path = self.cache_dir / ".locks" / repo_folder(self.repo_id) / "diffusion-studio-download.lock"
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(lock_path), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                raise DownloadError(
                    f"{self.repo_id} is already being downloaded (by this app or another of its windows or "
                    "commands): wait for that download to finish.",
                    "busy",
                ) from None
            try:
                return self._run()
            finally:
                lock.release()
        except DownloadError:
            raise
        except NothingToDownload as exc:
            raise DownloadError(f"{self.repo_id} cannot be used: {exc}.", "unusable") from None
        except Exception as exc:
            if self._cancel.is_set():
                raise DownloadCancelled() from None
            raise explain(exc, self.repo_id, self.endpoint, self.cache_dir) from exc

    # --- the steps ---------------------------------------------------------------------------------

    def _run(self) -> DownloadResult:
        from huggingface_hub import HfApi

        self._report_listing()
        info = HfApi(endpoint=self.endpoint, library_name="diffusion-studio").model_info(
            self.repo_id, revision=self.revision, files_metadata=True, token=self.token
        )
        commit = str(info.sha)
        siblings = list(info.siblings or [])
        repo_files = [RepoFile(s.rfilename, int(s.size or 0)) for s in siblings]
        expected_etag = {s.rfilename: _sibling_etag(s) for s in siblings}
        paths = {f.path for f in repo_files}
        model_index = None
        if not self.only and MODEL_INDEX in paths:
            model_index = self._model_index(commit)
        chosen = choose_files(repo_files, model_index, self.variant, self.only)
        storage = self.cache_dir / repo_folder(self.repo_id)
        snapshot = storage / "snapshots" / commit
        have = {f.path: self._bytes_here(storage, snapshot, f, expected_etag.get(f.path)) for f in chosen}
        total = sum(f.size for f in chosen)
        resumed = sum(have.values())
        self._check_free_space(total - resumed)
        tracker = Tracker(self.repo_id, len(chosen), total, resumed, self.on_progress)
        self._tracker = tracker
        etags = set()
        for index, repo_file in enumerate(chosen):
            if self._cancel.is_set():
                raise DownloadCancelled()
            tracker.start_file(repo_file.path, index, have[repo_file.path])
            etags.add(self._fetch(repo_file, commit, storage, snapshot))
            tracker.end_file(repo_file.size)
        _sweep_partials(storage / "blobs", keep=etags)
        tracker.finish()
        return DownloadResult(
            self.repo_id, snapshot, len(chosen), total, tracker.session_bytes, resumed, self.variant if chosen else None
        )

    def _report_listing(self) -> None:
        if self.on_progress is not None:
            self.on_progress(DownloadProgress(self.repo_id, "listing", "", 0, 0, 0, 0, 0.0, None))

    def _headers(self, url: str) -> dict[str, str]:
        from huggingface_hub.utils import build_hf_headers

        from desktop import __version__

        headers = build_hf_headers(token=self.token, library_name="diffusion-studio", library_version=__version__)
        headers["Accept-Encoding"] = "identity"  # byte offsets must be the file's, for resuming
        if host_of(url) != host_of(self.endpoint):
            headers.pop("authorization", None)  # a CDN's signed URL: the token stays with the hub
        return headers

    def _url(self, path: str, commit: str) -> str:
        from huggingface_hub import hf_hub_url

        return hf_hub_url(self.repo_id, path, revision=commit, endpoint=self.endpoint)

    def _model_index(self, commit: str) -> dict:
        """The pipeline's model_index.json, read to know its components (it is filed last, see above)."""
        import json

        from huggingface_hub.utils import hf_raise_for_status, http_backoff

        url = self._url(MODEL_INDEX, commit)
        response = http_backoff("GET", url, headers=self._headers(url), follow_redirects=True, max_retries=2)
        hf_raise_for_status(response)
        try:
            data = json.loads(response.content[:MODEL_INDEX_MAX_BYTES])
        except ValueError:
            raise NothingToDownload("its model_index.json is not valid JSON") from None
        if not isinstance(data, dict):
            raise NothingToDownload("its model_index.json is not a diffusers pipeline's")
        return data

    def _bytes_here(self, storage: Path, snapshot: Path, repo_file: RepoFile, etag: str | None) -> int:
        """What of a file is already on this disk: all of it (filed, or a whole blob), or a partial's bytes."""
        if (snapshot / repo_file.path).exists():
            return repo_file.size
        if etag is None:
            return 0
        blob = storage / "blobs" / etag
        if blob.is_file():
            return repo_file.size
        partial = blob.with_name(etag + PARTIAL_SUFFIX)
        return min(partial.stat().st_size, repo_file.size) if partial.is_file() else 0

    def _check_free_space(self, needed: int) -> None:
        free = self.free_bytes if self.free_bytes is not None else _free_space(self.cache_dir)
        if needed > free:
            raise DownloadError(
                f"{self.repo_id} needs {format_bytes(needed)} more on the disk but only {format_bytes(free)} "
                f"are free where the Hugging Face cache is ({self.cache_dir}): free some space, or set "
                "HF_HUB_CACHE to a folder on a larger disk.",
                "disk",
            )

    def _fetch(self, repo_file: RepoFile, commit: str, storage: Path, snapshot: Path) -> str:
        """Download one file into the cache (resuming a partial one) and file it in the snapshot; its etag."""
        from huggingface_hub import get_hf_file_metadata, hf_hub_download

        pointer = snapshot / repo_file.path
        url = self._url(repo_file.path, commit)
        metadata = get_hf_file_metadata(url, token=self.token)
        etag = str(metadata.etag)
        if pointer.exists():
            return etag
        blob = storage / "blobs" / etag
        if not blob.is_file():
            blob.parent.mkdir(parents=True, exist_ok=True)
            partial = blob.with_name(etag + PARTIAL_SUFFIX)
            size = metadata.size if metadata.size is not None else repo_file.size
            self._transfer(metadata.location or url, partial, size, etag, repo_file.path)
            os.replace(partial, blob)
        filed = Path(
            hf_hub_download(
                self.repo_id,
                repo_file.path,
                revision=self.revision,
                cache_dir=str(self.cache_dir),
                endpoint=self.endpoint,
                token=self.token,
            )
        )
        if filed.resolve() != pointer.resolve() and not pointer.exists():
            raise DownloadError(
                f"{self.repo_id} changed on the hub while it was being downloaded: download it again.", "failed"
            )
        return etag

    def _transfer(self, url: str, partial: Path, size: int, etag: str, name: str) -> None:
        """Append the rest of the file to partial, resuming after dropped connections; check its checksum."""
        from huggingface_hub import constants
        from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

        tracker = self._tracker
        attempts = 0
        while True:
            have = partial.stat().st_size if partial.is_file() else 0
            if have > size:
                partial.unlink()
                have = 0
            hasher = _Checksum(etag, size, partial if have else None)
            if have < size or size == 0:
                headers = self._headers(url)
                if have:
                    headers["Range"] = f"bytes={have}-"
                try:
                    with http_stream_backoff(
                        "GET",
                        url,
                        headers=headers,
                        follow_redirects=True,
                        timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT,
                        max_retries=2,
                        retry_on_exceptions=(),
                    ) as response:
                        self._response = response
                        if have and response.status_code == 416:  # nothing left to send: start over
                            partial.unlink()
                            continue
                        hf_raise_for_status(response)
                        if have and response.status_code != 206:  # the server ignored the Range
                            tracker.restart_file(have)
                            have = 0
                            hasher = _Checksum(etag, size, None)
                        # Unbuffered: what arrived is on disk even if this process is killed next.
                        with partial.open("ab" if have else "wb", buffering=0) as out:
                            for chunk in response.iter_bytes():
                                if self._cancel.is_set():
                                    raise DownloadCancelled()
                                _write(out, chunk)
                                hasher.update(chunk)
                                tracker.add(len(chunk))
                except DownloadError:
                    raise
                except Exception as exc:
                    if self._cancel.is_set():
                        raise DownloadCancelled() from None
                    if not is_network_error(exc) or attempts >= RETRIES:
                        raise
                    attempts += 1
                    if self._cancel.wait(min(2**attempts, 8)):
                        raise DownloadCancelled() from None
                    continue
                finally:
                    self._response = None
            if self._cancel.is_set():
                raise DownloadCancelled()
            got = partial.stat().st_size if partial.is_file() else 0
            if got < size and attempts < RETRIES:  # the line dropped without an error: ask for the rest
                attempts += 1
                continue
            if got != size or not hasher.matches():
                partial.unlink(missing_ok=True)
                raise DownloadError(
                    f"{name} of {self.repo_id} arrived damaged (its size or checksum does not match the hub's): "
                    "download it again.",
                    "damaged",
                )
            return


class _Checksum:
    """The hub's etag is the file's sha256 (LFS files) or its git blob id (sha1 of "blob SIZE\\0" and the bytes)."""

    def __init__(self, etag: str, size: int, existing: Path | None) -> None:
        self.etag = etag.lower()
        if re.fullmatch(r"[0-9a-f]{64}", self.etag):
            self._hash = hashlib.sha256()
        elif re.fullmatch(r"[0-9a-f]{40}", self.etag):
            self._hash = hashlib.sha1(b"blob %d\0" % size)  # noqa: S324 - git's object id, not security
        else:
            self._hash = None  # another server's etag: the size alone is checked
        if existing is not None and self._hash is not None:
            with existing.open("rb") as file:
                while block := file.read(1 << 20):
                    self._hash.update(block)

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)

    def matches(self) -> bool:
        return self._hash is None or self._hash.hexdigest() == self.etag


def download(repo_id: str, **kwargs) -> DownloadResult:
    """Download repo_id now (see Download); kwargs as Download takes them."""
    return Download(repo_id, **kwargs).run()


def _write(out, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:  # an unbuffered file may take part of a chunk
        view = view[out.write(view) :]


def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _sibling_etag(sibling) -> str | None:
    """What the hub's etag for a file will be, from the model info: an LFS file's sha256, else its git blob id."""
    lfs = getattr(sibling, "lfs", None)
    if lfs is not None and getattr(lfs, "sha256", None):
        return str(lfs.sha256)
    blob_id = getattr(sibling, "blob_id", None)
    return str(blob_id) if blob_id else None


def _sweep_partials(blobs: Path, keep: set[str]) -> None:
    """Partial files of this repo that no file of the finished download needs (the hub's file changed)."""
    try:
        for partial in blobs.glob(f"*{PARTIAL_SUFFIX}"):
            if partial.name.removesuffix(PARTIAL_SUFFIX) not in keep:
                partial.unlink(missing_ok=True)
    except OSError:
        pass


def _free_space(folder: Path) -> int:
    for candidate in (folder, *folder.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return 0
