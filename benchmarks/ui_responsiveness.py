"""UI responsiveness: the longest gap between ticks of a 5 ms QTimer on the UI thread while the app
works — generating (tiny pipeline; and steps slowed to GPU-step length), loading and scrolling a
gallery of 1,000 items, and playing a video.

    python benchmarks/ui_responsiveness.py [--scenario all|generate|gpu-like|gallery|video]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import Heartbeat, fill_library, scratch, tiny_text_to_image, tiny_text_to_video, wait_until

GPU_STEP_S = 0.075  # one SD-1.5 512x512 step on a mid-range GPU


def open_window(app, settings):
    from desktop.ui.application import create_window

    window = create_window(settings)
    window.show()
    wait_until(app, window.isVisible)
    return window


def generate(app, window, steps: int, size: int) -> dict:
    form = window.form
    form.prompt.setPlainText("Sleek, minimalist sneaker crafted from ocean plastic")
    form.set_size(size, size)
    form.steps.setValue(2)
    done = []
    window.bridge.finished_job.connect(lambda *a: done.append(a))
    window.generate()  # a first run loads the pipeline (and imports torch) off the UI thread
    wait_until(app, lambda: len(done) == 1)
    form.steps.setValue(steps)
    beat = Heartbeat()
    beat.start()
    started = time.perf_counter()
    window.generate()
    wait_until(app, lambda: len(done) == 2)
    result = beat.stop()
    result["generation_s"] = round(time.perf_counter() - started, 2)
    return result


def scenario_generate(app, settings) -> dict:
    window = open_window(app, settings)
    try:
        return {
            "scenario": "generate (tiny pipeline, 40 steps, 256x256, preview every step)",
            **generate(app, window, 40, 256),
        }
    finally:
        window.close()


def scenario_gpu_like(app, settings) -> dict:
    """Each UNet call sleeps as long as a GPU step: the engine waits, as it does on CUDA. The engine
    runs in the worker process, so the slowdown is installed there (gpu_like/sitecustomize.py)."""
    import os

    site = str(Path(__file__).parent / "gpu_like")
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "BENCHMARK_GPU_STEP_S")}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (site, saved["PYTHONPATH"]) if p)
    os.environ["BENCHMARK_GPU_STEP_S"] = str(GPU_STEP_S)
    window = open_window(app, settings)
    try:
        return {
            "scenario": f"generate, steps padded to {GPU_STEP_S * 1000:.0f} ms (GPU-like), 25 steps",
            **generate(app, window, 25, 256),
        }
    finally:
        window.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def scenario_gallery(app, settings, count: int = 1000) -> dict:
    import os

    home = scratch(f"gallery-{count}")
    fill_library(home, count, size=256)
    os.environ["DIFFUSION_STUDIO_HOME"] = str(home)
    started = time.perf_counter()
    window = open_window(app, settings)
    opened_s = time.perf_counter() - started  # opening has its own row (startup.py --gallery)
    beat = Heartbeat()
    beat.start()
    view = window.gallery.list
    bar = view.verticalScrollBar()
    # Scroll to the end a page at a time, as a user flicking through; new pages load as we go.
    deadline = time.perf_counter() + 60
    while window.gallery_model.rowCount() < count or bar.value() < bar.maximum():
        bar.setValue(bar.value() + view.viewport().height())
        for _ in range(10):
            app.processEvents()
            time.sleep(0.002)
        if time.perf_counter() > deadline:
            break
    # Let the thumbnails that were asked for arrive.
    wait_until(app, lambda: not window.thumbnails._pending, timeout_s=120)
    result = beat.stop()
    window.close()
    return {
        "scenario": f"open and scroll a gallery of {count} items (thumbnails made on the way)",
        "window_open_s": round(opened_s, 3),
        "rows_loaded": count,
        **result,
    }


def scenario_video(app, settings) -> dict:
    import os

    from PIL import Image

    from desktop.engine.request import GenerationRequest, Task, validate
    from desktop.engine.result import GeneratedImage, GenerationResult
    from desktop.library.store import Library

    home = scratch("video-home")
    os.environ["DIFFUSION_STUDIO_HOME"] = str(home)
    library = Library(home)
    request = validate(
        GenerationRequest(
            task=Task.TEXT_TO_VIDEO,
            prompt="a smart watch",
            model="/m",
            width=256,
            height=256,
            frames=48,
            fps=12,
            seed=1,
        )
    )
    frames = [Image.new("RGB", (256, 256), (i * 5 % 256, 100, 255 - i * 5 % 256)) for i in range(48)]
    library.save(GenerationResult(request, [GeneratedImage(frames[0], 1, 0, frames=frames, fps=12)], "cpu", {}))
    library.close()
    window = open_window(app, settings)
    beat = Heartbeat()
    beat.start()
    window.gallery.list.setCurrentIndex(window.gallery_model.index(0))
    wait_until(app, lambda: window.details.player is not None)
    player = window.details.player
    if player.player is None:
        return {"scenario": "play a video", "skipped": player.unavailable_reason}
    player.loop.setChecked(False)
    from PySide6.QtMultimedia import QMediaPlayer

    wait_until(app, lambda: player.player.mediaStatus() == QMediaPlayer.MediaStatus.EndOfMedia, timeout_s=30)
    result = beat.stop()
    window.close()
    return {"scenario": "play a 4 s video (48 frames, 256x256) in the details pane", **result}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="all", choices=["all", "generate", "gpu-like", "gallery", "video"])
    args = parser.parse_args()
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from desktop.library.settings import Settings

    app = QApplication([])
    settings = Settings(model_folders=[str(tiny_text_to_image())])
    tiny_text_to_video()
    scenarios = {
        "generate": scenario_generate,
        "gpu-like": scenario_gpu_like,
        "gallery": scenario_gallery,
        "video": scenario_video,
    }
    for name, run in scenarios.items():
        if args.scenario in ("all", name):
            print(json.dumps(run(app, settings)), flush=True)


if __name__ == "__main__":
    main()
