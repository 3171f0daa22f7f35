"""Upscaling on this machine: seconds per megapixel of output, and peak memory for a 2048x2048 result.

Each case runs in a fresh process (its peak RSS is its own) through the app's engine: a 512x512
picture made 2048x2048 (x4) by
- the plain Lanczos resize (no torch),
- a tiny RRDBNet (Real-ESRGAN layout, 1 block, 8 features) in the default CPU tiles, and untiled,
- the published Real-ESRGAN x4plus network (23 blocks, 64 features; random weights: speed does not
  depend on their values) on one 256 px tile, whose time gives seconds per megapixel; `--full` runs
  the whole 2048x2048 result tiled (minutes on a CPU).

    python benchmarks/upscale.py [--full]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import scratch

CASES = ("lanczos", "tiny-tiled", "tiny-untiled", "realesrgan-tile", "realesrgan-tiled")


def picture(side: int) -> Path:
    """A smooth picture with a disc: what a generated product shot looks like to an upscaler."""
    import numpy as np
    from PIL import Image, ImageDraw

    path = scratch("pictures") / f"picture-{side}.png"
    if not path.exists():
        ramp = np.linspace(60, 220, side, dtype=np.float32)
        pixels = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], np.full((side, side), 128.0)), -1)
        image = Image.fromarray(pixels.astype(np.uint8), "RGB")
        ImageDraw.Draw(image).ellipse((side // 4, side // 4, 3 * side // 4, 3 * side // 4), fill=(200, 30, 30))
        image.save(path)
    return path


def upscaler(name: str) -> str:
    from tiny_upscalers import build_realesrgan

    path = scratch("models") / f"{name}.safetensors"
    if name == "lanczos":
        return "lanczos"
    if not path.exists():
        options = {"features": 64, "growth": 32, "blocks": 23} if name == "realesrgan" else {}
        build_realesrgan(path, scale=4, **options)
    return str(path)


def run_case(case: str, model: str, image: str, tile: int | None) -> dict:
    import psutil

    from desktop.engine.devices import RuntimeOptions
    from desktop.engine.engine import Engine
    from desktop.engine.request import GenerationRequest, Task
    from desktop.engine.upscalers import loading

    if tile is not None:
        loading.NETWORK_TILE["cpu"] = tile
    engine = Engine(runtime=RuntimeOptions(device="cpu"))
    request = GenerationRequest(prompt="", task=Task.UPSCALE, backend="upscale", model=model, image=image, scale=4)
    if model != "lanczos":
        engine.prepare(model, "upscale")
    baseline_mb = psutil.Process().memory_info().rss / 2**20
    started = time.perf_counter()
    result = engine.generate(request)
    seconds = time.perf_counter() - started
    width, height = result.images[0].image.size
    return {
        "case": case,
        "model": Path(model).name,
        "output": f"{width}x{height}",
        "tiles": int(result.timings["tiles"]),
        "seconds": round(seconds, 3),
        "seconds_per_megapixel": round(seconds / (width * height / 1e6), 3),
        "rss_before_mb": round(baseline_mb),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec; ru_maxrss would carry
    the parent's peak over into a child started from it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="also upscale 512 -> 2048 with the full-size network")
    # One case in this process (the full run starts one process per case).
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--image", help=argparse.SUPPRESS)
    parser.add_argument("--tile", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.model, args.image, args.tile)))
        return
    import torch

    # Models and pictures are made here, outside the measured processes.
    tiny, full = upscaler("tiny"), upscaler("realesrgan")
    small, large = str(picture(256)), str(picture(512))
    cases = {
        "lanczos": ("lanczos", large, None),
        "tiny-tiled": (tiny, large, None),
        "tiny-untiled": (tiny, large, 4096),
        "realesrgan-tile": (full, small, None),
    }
    if args.full:
        cases["realesrgan-tiled"] = (full, large, None)
    results = []
    for case, (model, image, tile) in cases.items():
        command = [sys.executable, __file__, "--case", case, "--model", model, "--image", image]
        command += ["--tile", str(tile)] if tile else []
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    print(json.dumps({"cpu_threads": torch.get_num_threads(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
