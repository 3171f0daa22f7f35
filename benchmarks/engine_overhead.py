"""Engine overhead: the app engine's text-to-image against a plain diffusers script on the same tiny
pipeline, steps and seed, interleaved in one run; and the first generation against the second.

    python benchmarks/engine_overhead.py [--size 256] [--steps 25] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from common import tiny_text_to_image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    folder = tiny_text_to_image()

    from desktop.engine.engine import Engine
    from desktop.engine.request import GenerationRequest

    request = GenerationRequest(
        prompt="a red circle on a blue background",
        model=str(folder),
        width=args.size,
        height=args.size,
        steps=args.steps,
        seed=42,
    )

    # First against second generation: a fresh engine pays for loading once (torch and diffusers are
    # already imported here, by building the tiny model).
    engine = Engine()
    started = time.perf_counter()
    first = engine.generate(request)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    second = engine.generate(request)
    second_s = time.perf_counter() - started

    import torch
    from diffusers import StableDiffusionPipeline

    plain = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    plain.set_progress_bar_config(disable=True)

    def run_plain() -> float:
        started = time.perf_counter()
        plain(
            prompt=request.prompt,
            width=args.size,
            height=args.size,
            num_inference_steps=args.steps,
            guidance_scale=7.5,
            generator=torch.Generator("cpu").manual_seed(42),
        )
        return time.perf_counter() - started

    def run_engine() -> float:
        started = time.perf_counter()
        # With a progress callback, as the app runs it: a preview is made at every step.
        engine.generate(request, on_progress=lambda progress: None)
        return time.perf_counter() - started

    run_plain()
    plain_s, engine_s = [], []
    for _ in range(args.runs):  # interleaved, so drift on the machine hits both alike
        plain_s.append(run_plain())
        engine_s.append(run_engine())
    print(
        json.dumps(
            {
                "size": args.size,
                "steps": args.steps,
                "runs": args.runs,
                "plain_diffusers_s_median": round(statistics.median(plain_s), 4),
                "engine_s_median": round(statistics.median(engine_s), 4),
                "ratio": round(statistics.median(engine_s) / statistics.median(plain_s), 3),
                "first_generation_s": round(first_s, 3),
                "first_load_s": first.timings["load_s"],
                "second_generation_s": round(second_s, 3),
                "second_load_s": second.timings["load_s"],
                "torch_threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
