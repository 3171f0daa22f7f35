"""The built-in demo model on this machine: what a new user waits for.

- engine: one 64x64 picture at the demo's defaults (20 steps, guidance 5), pipeline already loaded;
- cli: `diffusion-studio generate --prompt ...` with no model given, a fresh process (imports, load,
  generation, save);
- window: a fresh app process on a fresh install — first paint, the demo model warmed up on the
  worker thread (torch imported there), then Generate clicked; the longest UI stall in each part.

    python benchmarks/demo_model.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from common import ROOT, Heartbeat, scratch, wait_until

PROMPT = "a red circle on a blue background"


def engine_figures(runs: int) -> dict:
    from desktop.engine.engine import Engine
    from desktop.engine.request import GenerationRequest
    from desktop.training.demo.shapes import classify

    engine = Engine()
    request = GenerationRequest(prompt=PROMPT, model="demo", width=64, height=64, steps=20, guidance=5.0, seed=1)
    first = engine.generate(request)
    times = [engine.generate(request).timings["generate_s"] for _ in range(runs)]
    return {
        "part": "engine: 64x64, 20 steps, loaded",
        "load_s": first.timings["load_s"],
        "generate_s_median": round(statistics.median(times), 3),
        "generate_s_max": round(max(times), 3),
        "seen": classify(first.images[0].image),
    }


def cli_figures(runs: int) -> dict:
    times = []
    for i in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "desktop", "generate", "--prompt", PROMPT, "--seed", str(i)],
            check=True,
            capture_output=True,
            cwd=ROOT,
            env={**os.environ, "DIFFUSION_STUDIO_HOME": str(scratch(f"cli-{i}"))},
        )
        times.append(time.perf_counter() - started)
    return {"part": "cli: fresh process, no --model", "wall_s_median": round(statistics.median(times), 2)}


def window_figures() -> dict:
    """Runs in a fresh process (--window), so that torch is not imported yet."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["DIFFUSION_STUDIO_CONFIG"] = str(scratch("fresh-config"))
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    started = time.perf_counter()
    from desktop.library.settings import Settings
    from desktop.ui.application import create_window

    window = create_window(Settings())
    beat = Heartbeat()
    beat.start()
    window.show()
    wait_until(app, window.isVisible)
    shown_s = time.perf_counter() - started
    wait_until(app, lambda: window.device_label.text().endswith("· demo"), timeout_s=120)
    ready_s = time.perf_counter() - started
    warm_up = beat.stop()
    window.form.prompt.setPlainText(PROMPT)
    done = []
    window.bridge.finished_job.connect(lambda *a: done.append(time.perf_counter()))
    beat.start()
    clicked = time.perf_counter()
    window.generate()
    wait_until(app, lambda: done)
    click = beat.stop()
    window.close()
    return {
        "part": "window: fresh install, demo selected",
        "shown_s": round(shown_s, 2),
        "demo_ready_s": round(ready_s, 2),
        "warm_up_longest_stall_ms": warm_up["longest_ms"],
        "warm_up_p99_ms": warm_up["p99_ms"],
        "click_to_picture_s": round(done[0] - clicked, 2),
        "generate_longest_stall_ms": click["longest_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--window", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.window:
        print(json.dumps(window_figures()), flush=True)
        return
    child = subprocess.run([sys.executable, __file__, "--window"], capture_output=True, text=True, check=True, cwd=ROOT)
    print(child.stdout.strip().splitlines()[-1], flush=True)
    print(json.dumps(cli_figures(3)), flush=True)
    print(json.dumps(engine_figures(args.runs)), flush=True)


if __name__ == "__main__":
    main()
