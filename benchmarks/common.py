"""Shared by the benchmark scripts: a UI heartbeat, tiny local models, and synthetic libraries.

Run the scripts from the repository root, e.g. `python benchmarks/startup.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# Benchmarks never touch the user's library or settings.
_SCRATCH = Path(tempfile.mkdtemp(prefix="ds-bench-"))
os.environ.setdefault("DIFFUSION_STUDIO_HOME", str(_SCRATCH / "home"))
os.environ.setdefault("DIFFUSION_STUDIO_CONFIG", str(_SCRATCH / "config"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


def scratch(name: str) -> Path:
    path = _SCRATCH / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def tiny_text_to_image() -> Path:
    from tiny_models import build_text_to_image

    folder = scratch("models") / "tiny-sd"
    return folder if (folder / "model_index.json").exists() else build_text_to_image(folder)


def tiny_text_to_video() -> Path:
    from tiny_models import build_text_to_video

    folder = scratch("models") / "tiny-t2v"
    return folder if (folder / "model_index.json").exists() else build_text_to_video(folder)


class Heartbeat:
    """A QTimer on the UI thread; the gaps between its ticks show how long the UI was blocked."""

    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer

        self.interval_ms = interval_ms
        self.gaps_ms: list[float] = []
        self._last = None
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps_ms.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> dict:
        self._timer.stop()
        return self.summary()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1000)
        self._last = now

    def summary(self) -> dict:
        gaps = sorted(self.gaps_ms) or [0.0]
        p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
        return {
            "ticks": len(self.gaps_ms),
            "longest_ms": round(gaps[-1], 1),
            "p99_ms": round(p99, 1),
            "median_ms": round(statistics.median(gaps), 1),
        }


def wait_until(app, condition, timeout_s: float = 600.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step did not finish in time")
        app.processEvents()
        time.sleep(0.001)


def fill_library(root: Path, count: int, size: int = 64) -> None:
    """A history of `count` images (small PNGs, real rows) written through the library."""
    from PIL import Image

    from desktop.engine.request import GenerationRequest, validate
    from desktop.engine.result import GeneratedImage, GenerationResult
    from desktop.library.store import Library

    words = "red green blue sneaker watch concert poster banner ocean plastic coral product launch".split()
    library = Library(root)
    request = validate(GenerationRequest(prompt="x", model="/models/sd15", width=size, height=size, seed=1))
    for i in range(count):
        prompt = " ".join(words[(i * k) % len(words)] for k in (1, 3, 7)) + f" #{i}"
        image = Image.new("RGB", (size, size), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
        item = GeneratedImage(image, seed=i, index=0)
        library.save(
            GenerationResult(
                request.__class__(**{**request.__dict__, "prompt": prompt, "seed": i}),
                [item],
                "cpu",
                {"generate_s": 0.1},
            )
        )
    library.close()
