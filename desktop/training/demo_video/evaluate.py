"""Evaluate the demo video model through the app's engine: the 48 colour x motion prompts (the shape
and the background take turns), two seeds each, read back by the clip classifier.

    python -m desktop.training.demo_video.evaluate [--model demo-video|FOLDER] [--steps 12] [--guidance 2] [--record]

--record writes the figures into the model folder's training.json, where the tests read them.
--direct runs the saved pipeline folder with diffusers itself, with the arguments the engine passes
(for a folder the engine does not list as a video model yet).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from desktop.engine.presets import DEMO_VIDEO, DEMO_VIDEO_MODEL, DEMO_VIDEO_MODEL_DIR
from desktop.training.demo.shapes import BACKGROUNDS, PALETTE, SHAPES
from desktop.training.demo_video.clips import MOTIONS, classify

TARGETS = {"color": 0.85, "background": 0.95, "motion": 0.75, "differ": 0.95}
# A clip whose first and last frames differ by less than this (mean absolute, 0-255) is a still.
STILL = 2.0


def prompts() -> list[dict]:
    """Every colour with every motion; the shape and the background (never the shape's colour) take turns."""
    names = list(BACKGROUNDS)
    rows = []
    for c, color in enumerate(PALETTE):
        for m, motion in enumerate(MOTIONS):
            shape = SHAPES[(c + m) % len(SHAPES)]
            background = names[(names.index(color) + 1 + m) % len(names)]
            rows.append({"color": color, "shape": shape, "motion": motion, "background": background})
    return rows


def caption(row: dict) -> str:
    return f"a {row['color']} {row['shape']} {row['motion']} on a {row['background']} background"


def _settings(steps, guidance, frames):
    return (
        steps or int(DEMO_VIDEO.defaults["steps"]),
        DEMO_VIDEO.defaults["guidance"] if guidance is None else guidance,
        frames or int(DEMO_VIDEO.defaults["frames"]),
    )


def engine_runner(model: str, engine=None):
    """prompt, seed, count, steps, guidance, frames -> [(seed, frames)] through the app's engine."""
    from desktop.engine.engine import Engine
    from desktop.engine.request import GenerationRequest
    from desktop.engine.tasks import Task

    engine = engine or Engine()

    def run(prompt: str, seed: int, count: int, steps: int, guidance: float, frames: int):
        request = GenerationRequest(
            prompt=prompt,
            task=Task.TEXT_TO_VIDEO,
            model=model,
            steps=steps,
            width=int(DEMO_VIDEO.defaults["width"]),
            height=int(DEMO_VIDEO.defaults["height"]),
            guidance=guidance,
            seed=seed,
            count=count,
            frames=frames,
            fps=int(DEMO_VIDEO.defaults["fps"]),
        )
        return [(item.seed, item.frames) for item in engine.generate(request).images]

    return run


def direct_runner(folder: str, device: str = "cpu"):
    """The same, with diffusers alone: what the engine's _video does (CPU generator per seed, so a
    GPU starts from the same noise)."""
    import torch
    from diffusers import DiffusionPipeline

    from desktop.engine.video_models import video_pipeline

    pipe = DiffusionPipeline.from_pretrained(folder, local_files_only=True, use_safetensors=True).to(device)
    pipe.set_progress_bar_config(disable=True)
    frames_argument = video_pipeline(Path(folder)).family.frames_argument  # Latte: video_length

    def run(prompt: str, seed: int, count: int, steps: int, guidance: float, frames: int):
        out = []
        for s in range(seed, seed + count):
            video = pipe(
                prompt=prompt,
                **{frames_argument: frames},
                width=int(DEMO_VIDEO.defaults["width"]),
                height=int(DEMO_VIDEO.defaults["height"]),
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=torch.Generator("cpu").manual_seed(s),
            ).frames[0]
            out.append((s, video))
        return out

    return run


def evaluate(
    model: str = DEMO_VIDEO_MODEL,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int = 0,
    engine=None,
    direct: bool = False,
    frames: int | None = None,
    rows: list[dict] | None = None,
    seeds: int = 2,
    device: str = "cpu",
) -> dict:
    """device: with direct, where the folder runs (the engine picks its own)."""
    steps, guidance, frames = _settings(steps, guidance, frames)
    run = direct_runner(_folder(model), device) if direct else engine_runner(model, engine)
    seen_rows = []
    started = time.perf_counter()
    for row in rows or prompts():
        for clip_seed, video in run(caption(row), seed, seeds, steps, guidance, frames):
            seen_rows.append({**row, "seed": clip_seed, "seen": classify(video)})
    n = len(seen_rows)

    def share(test) -> float:
        return round(sum(bool(test(r)) for r in seen_rows) / n, 3)

    return {
        "steps": steps,
        "guidance": guidance,
        "frames": frames,
        "clips": n,
        "seconds_per_clip": round((time.perf_counter() - started) / n, 2),
        "color": share(lambda r: r["seen"]["color"] == r["color"]),
        "background": share(lambda r: r["seen"]["background"] == r["background"]),
        "motion": share(lambda r: r["seen"]["motion"] == r["motion"]),
        "differ": share(lambda r: r["seen"]["differ"] >= STILL),
        "motions": seen_motions(seen_rows),
        "misses": [
            f"{caption(r)} (seed {r['seed']}) -> {r['seen']}"
            for r in seen_rows
            if (r["seen"]["color"], r["seen"]["background"], r["seen"]["motion"])
            != (r["color"], r["background"], r["motion"])
        ],
    }


def seen_motions(seen_rows: list[dict]) -> dict:
    """What each asked motion came out as, counted ("moving left": {"moving right": 9, ...}): whether
    a miss is the opposite direction, another axis or a still."""
    table: dict = {}
    for r in seen_rows:
        row = table.setdefault(r["motion"], {})
        row[r["seen"]["motion"]] = row.get(r["seen"]["motion"], 0) + 1
    return {asked: dict(sorted(seen.items(), key=lambda kv: -kv[1])) for asked, seen in table.items()}


def _folder(model: str) -> str:
    return str(DEMO_VIDEO_MODEL_DIR) if model == DEMO_VIDEO_MODEL else model


def record(folder: Path, result: dict) -> None:
    """Keep the figures (not the list of misses) beside the model, in training.json."""
    path = folder / "training.json"
    figures = json.loads(path.read_text()) if path.is_file() else {}
    figures["evaluation"] = {k: v for k, v in result.items() if k != "misses"}
    path.write_text(json.dumps(figures, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEMO_VIDEO_MODEL)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--guidance", type=float)
    parser.add_argument("--direct", action="store_true", help="run the folder with diffusers, not the engine")
    parser.add_argument("--record", action="store_true", help="write the figures into the model's training.json")
    parser.add_argument("--limit", type=int, help="only the first N prompts (a quick look)")
    args = parser.parse_args()
    rows = prompts()[: args.limit] if args.limit else None
    result = evaluate(args.model, args.steps, args.guidance, direct=args.direct, rows=rows)
    if args.record:
        record(Path(_folder(args.model)), result)
    result["targets"] = TARGETS
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
