"""Start-up: process start to the main window's first paint, and peak memory then; `--version`.

python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from common import ROOT, fill_library, scratch

PROBE = r"""
import os, resource, sys, time
started = float(os.environ["BENCH_LAUNCHED_AT"])  # the parent's clock just before it started us
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from desktop.ui.application import create_window
window = create_window()

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            heavy = sorted(m for m in ("torch", "diffusers", "transformers", "openai") if m in sys.modules)
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print({"first_paint_s": time.time() - started, "peak_rss_mb": rss_mb, "heavy_imports": heavy}, flush=True)
            os._exit(0)
        return False

window.installEventFilter(FirstPaint(window))
window.show()
app.exec()
"""


def first_paint(env: dict) -> dict:
    # psutil's create_time() is off by most of a second inside this VM (boot-time drift), so the
    # parent stamps the wall clock itself right before starting the process.
    env = dict(env, BENCH_LAUNCHED_AT=repr(time.time()))
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    ).stdout
    return eval(out.strip().splitlines()[-1], {})  # our own probe's dict literal


def version_s() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "desktop", "--version"], capture_output=True, check=True, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gallery", type=int, default=0, help="open over a library with this many records")
    args = parser.parse_args()
    import os

    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    if args.gallery:
        home = scratch(f"startup-{args.gallery}")
        fill_library(home, args.gallery)
        env["DIFFUSION_STUDIO_HOME"] = str(home)
    first_paint(env)  # warm the OS file cache once
    paints = [first_paint(env) for _ in range(args.runs)]
    versions = [version_s() for _ in range(args.runs)]
    result = {
        "first_paint_s_median": round(statistics.median(p["first_paint_s"] for p in paints), 3),
        "first_paint_s_max": round(max(p["first_paint_s"] for p in paints), 3),
        "peak_rss_mb": round(max(p["peak_rss_mb"] for p in paints), 1),
        "heavy_imports_at_first_paint": paints[0]["heavy_imports"],
        "version_s_median": round(statistics.median(versions), 3),
        "gallery_records": args.gallery,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
