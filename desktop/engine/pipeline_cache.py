"""Keeps the one loaded pipeline between generations; a different model or option set replaces it.

Only one pipeline lives at a time: two SD models at fp16 would not fit most consumer GPUs.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Hashable
from typing import Any


class PipelineCache:
    def __init__(self) -> None:
        self._key: Hashable | None = None
        self._pipeline: Any = None

    @property
    def key(self) -> Hashable | None:
        return self._key

    def get(self, key: Hashable, load: Callable[[], Any]) -> tuple[Any, float]:
        """Return (pipeline, seconds spent loading); 0.0 when it was already loaded."""
        if self._pipeline is not None and key == self._key:
            return self._pipeline, 0.0
        self.release()
        started = time.perf_counter()
        self._pipeline = load()
        self._key = key
        return self._pipeline, time.perf_counter() - started

    def release(self) -> None:
        if self._pipeline is None:
            return
        self._pipeline = None
        self._key = None
        gc.collect()
        # Only touch torch if something already imported it.
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
