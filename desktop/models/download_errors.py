"""What can go wrong in a download, as one sentence a user can act on (DownloadError.kind says which)."""

from __future__ import annotations

import errno
from pathlib import Path


class DownloadError(Exception):
    """One sentence a user can act on; kind says which (missing, gated, offline, network, disk, busy,
    damaged, unusable, failed, cancelled)."""

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind


class DownloadCancelled(DownloadError):
    def __init__(self, message: str = "the download was cancelled; what was downloaded is kept and resumes.") -> None:
        super().__init__(message, "cancelled")


def host_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc.lower()


def is_network_error(exc: BaseException) -> bool:
    """A connection refused, reset, timed out or cut mid-answer (httpx and httpx2 name them alike)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names & {"ConnectError", "TimeoutException", "NetworkError", "RemoteProtocolError", "TransportError"}
    ) or isinstance(exc, (ConnectionError, TimeoutError))


def explain(exc: BaseException, repo_id: str, endpoint: str, cache_dir: Path) -> DownloadError:
    """The one sentence for what went wrong."""
    from huggingface_hub import errors

    host = host_of(endpoint) or endpoint
    if isinstance(exc, errors.GatedRepoError):
        return DownloadError(
            f"{repo_id} is gated: accept its licence on its page at {endpoint}/{repo_id} while logged in, then log "
            "in here with `hf auth login` (or set HF_TOKEN) and download again.",
            "gated",
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        return DownloadError(f"{repo_id} has no revision by that name on {host}.", "missing")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return DownloadError(
            f"{repo_id} was not found on {host}: check the id (org/name), or log in with `hf auth login` if it "
            "is private.",
            "missing",
        )
    if isinstance(exc, errors.RemoteEntryNotFoundError if hasattr(errors, "RemoteEntryNotFoundError") else ()):
        return DownloadError(f"a file of {repo_id} is missing on {host}: try again later.", "missing")
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return DownloadError(
            "downloads are turned off on this computer (HF_HUB_OFFLINE is set): unset it and try again.", "offline"
        )
    if is_network_error(exc):
        return DownloadError(
            f"{host} could not be reached: check the network connection and try again (what was downloaded is "
            "kept and resumes).",
            "network",
        )
    if isinstance(exc, errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", "an error")
        return DownloadError(f"{host} answered {status} for {repo_id}: try again later.", "failed")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DownloadError(
            f"the disk filled up while downloading {repo_id} into {cache_dir}: free some space and download again "
            "(what was downloaded is kept and resumes).",
            "disk",
        )
    if isinstance(exc, OSError):
        return DownloadError(
            f"{repo_id} could not be written to {cache_dir}: {exc.strerror or exc}.",
            "disk" if exc.errno in (errno.EACCES, errno.EROFS) else "failed",
        )
    return DownloadError(f"downloading {repo_id} failed: {str(exc).strip().splitlines()[0] or type(exc).__name__}.")
