"""Evaluate the demo model through the app's engine: the 24 colour x shape prompts on a gray
background, two seeds each, read back by the shape classifier.

    python -m desktop.training.demo.evaluate [--model demo] [--steps 20] [--guidance 2] [--record]

--record writes the figures into the model folder's training.json, where the tests read them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from desktop.engine.presets import DEMO, DEMO_MODEL
from desktop.training.demo.shapes import PALETTE, SHAPES, classify

TARGETS = {"color": 0.85, "background": 0.95, "shape": 0.70}


def evaluate(
    model: str = DEMO_MODEL, steps: int | None = None, guidance: float | None = None, seed: int = 0, engine=None
) -> dict:
    from desktop.engine.engine import Engine
    from desktop.engine.request import GenerationRequest

    engine = engine or Engine()
    rows = []
    for color in PALETTE:
        for shape in SHAPES:
            request = GenerationRequest(
                prompt=f"a {color} {shape} on a gray background",
                model=model,
                steps=steps or DEMO.defaults["steps"],
                width=DEMO.defaults["width"],
                height=DEMO.defaults["height"],
                guidance=DEMO.defaults["guidance"] if guidance is None else guidance,
                seed=seed,
                count=2,
            )
            for image in engine.generate(request).images:
                seen = classify(image.image)
                rows.append({"color": color, "shape": shape, "seed": image.seed, "seen": seen})
    n = len(rows)
    return {
        "steps": request.steps,
        "guidance": request.guidance,
        "pictures": n,
        "color": round(sum(r["seen"]["color"] == r["color"] for r in rows) / n, 3),
        "background": round(sum(r["seen"]["background"] == "gray" for r in rows) / n, 3),
        "shape": round(sum(r["seen"]["shape"] == r["shape"] for r in rows) / n, 3),
        "misses": [
            f"{r['color']} {r['shape']} (seed {r['seed']}) -> {r['seen']}"
            for r in rows
            if (r["seen"]["color"], r["seen"]["shape"], r["seen"]["background"]) != (r["color"], r["shape"], "gray")
        ],
    }


def record(folder: Path, result: dict) -> None:
    """Keep the figures (not the list of misses) beside the model, in training.json."""
    path = folder / "training.json"
    figures = json.loads(path.read_text()) if path.is_file() else {}
    figures["evaluation"] = {k: v for k, v in result.items() if k != "misses"}
    path.write_text(json.dumps(figures, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEMO_MODEL)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--guidance", type=float)
    parser.add_argument("--record", action="store_true", help="write the figures into the model's training.json")
    args = parser.parse_args()
    result = evaluate(args.model, args.steps, args.guidance)
    if args.record:
        from desktop.resources import DEMO_MODEL_DIR

        record(DEMO_MODEL_DIR if args.model == DEMO_MODEL else Path(args.model), result)
    result["targets"] = TARGETS
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
