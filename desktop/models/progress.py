"""A download's progress as lists and bars show it: bytes done of the total, speed, time left."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

PROGRESS_EVERY_S = 0.1


@dataclass(frozen=True)
class DownloadProgress:
    repo_id: str
    stage: str  # "listing", "downloading", "checking", "done"
    file: str  # the file being downloaded ("" while listing)
    files_done: int
    files_total: int
    done_bytes: int  # including what was already here (earlier runs, partial files)
    total_bytes: int
    speed_bps: float  # over the last few seconds of this run
    eta_s: float | None  # None: not known yet

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_bytes / self.total_bytes) if self.total_bytes else 0.0


ProgressCallback = Callable[[DownloadProgress], None]


class Tracker:
    """Bytes done across the files, speed over the last seconds, reported at most every PROGRESS_EVERY_S."""

    def __init__(self, repo_id: str, files: int, total: int, resumed: int, callback: ProgressCallback | None):
        self.repo_id, self.files_total, self.total, self.callback = repo_id, files, total, callback
        self.done = resumed
        self.session_bytes = 0
        self.file = ""
        self.files_done = 0
        self._file_have = 0
        self._window: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])
        self._last_report = 0.0

    def start_file(self, path: str, index: int, have: int) -> None:
        self.file, self.files_done, self._file_have = path, index, have
        self._report(force=True)

    def add(self, count: int) -> None:
        self.done += count
        self.session_bytes += count
        self._report()

    def restart_file(self, discarded: int) -> None:
        self.done -= discarded

    def end_file(self, size: int) -> None:
        # A file filed from a blob another repo or run left here counts as done without bytes moving.
        self.files_done += 1
        self._report(force=True)

    def finish(self) -> None:
        self.done = self.total
        self._emit("done", force=True)

    def _report(self, force: bool = False) -> None:
        self._emit("downloading", force)

    def _emit(self, stage: str, force: bool) -> None:
        now = time.monotonic()
        if self.callback is None or (not force and now - self._last_report < PROGRESS_EVERY_S):
            return
        self._last_report = now
        self._window.append((now, self.session_bytes))
        while len(self._window) > 2 and now - self._window[0][0] > 5.0:
            self._window.popleft()
        span = now - self._window[0][0]
        speed = (self.session_bytes - self._window[0][1]) / span if span > 0.2 else 0.0
        left = max(0, self.total - self.done)
        eta = left / speed if speed > 0 else (0.0 if left == 0 else None)
        self.callback(
            DownloadProgress(
                self.repo_id,
                stage,
                self.file,
                self.files_done,
                self.files_total,
                min(self.done, self.total),
                self.total,
                speed,
                eta,
            )
        )
