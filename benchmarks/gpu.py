"""GPU figures: SD-family text-to-image (512x512, 25 steps) and the ModelScope text-to-video recipe,
it/s and peak memory for each option, against plain diffusers in the same run.

    python benchmarks/gpu.py --model /models/stable-diffusion-v1-5 [--video-model /models/text-to-video-ms-1.7b]

Without --model it uses tiny locally built models, so the script can be checked on a CPU (the
figures then say nothing about a GPU).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import tiny_text_to_image, tiny_text_to_video


def peak_memory_mb(torch, device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(torch, device: str, run, steps: int, repeats: int = 2) -> dict:
    run()  # warm-up (and compilation, for torch.compile)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    best = min(times)
    return {
        "seconds": round(best, 3),
        "it_per_s": round(steps / best, 2),
        "peak_mb": round(peak_memory_mb(torch, device)),
    }


def image_variants(torch, diffusers, folder: Path, device: str, compile_unet: bool):
    """(name, build) pairs; each build returns a ready pipeline. fp16 only where there is CUDA."""
    dtype = torch.float16 if device == "cuda" else torch.float32

    def plain():
        pipe = diffusers.StableDiffusionPipeline.from_pretrained(folder, local_files_only=True).to(device)
        return pipe

    def typed():
        return diffusers.AutoPipelineForText2Image.from_pretrained(folder, dtype=dtype, local_files_only=True).to(
            device
        )

    def classic_attention():
        pipe = typed()
        from diffusers.models.attention_processor import AttnProcessor

        pipe.unet.set_attn_processor(AttnProcessor())  # the pre-SDPA kernel, to show what SDPA buys
        return pipe

    def channels_last():
        pipe = typed()
        pipe.unet.to(memory_format=torch.channels_last)
        return pipe

    def compiled():
        pipe = channels_last()
        pipe.unet = torch.compile(pipe.unet, mode="max-autotune-no-cudagraphs", fullgraph=False)
        return pipe

    def offload():
        pipe = diffusers.AutoPipelineForText2Image.from_pretrained(folder, dtype=dtype, local_files_only=True)
        pipe.enable_model_cpu_offload()
        return pipe

    variants = [
        ("plain diffusers (fp32)", plain),
        (f"{'fp16' if device == 'cuda' else 'fp32'} + SDPA (app default)", typed),
        ("classic attention (no SDPA)", classic_attention),
        ("channels_last", channels_last),
    ]
    if compile_unet:
        variants.append(("torch.compile + channels_last", compiled))
    if device == "cuda":
        variants.append(("model CPU offload", offload))
    return variants


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, help="a local SD-family diffusers folder")
    parser.add_argument("--video-model", type=Path, help="a local damo-vilab/text-to-video-ms-1.7b folder")
    parser.add_argument("--size", type=int)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (default on CUDA)")
    args = parser.parse_args()

    import torch

    from desktop.engine import lazy_imports

    diffusers = lazy_imports.diffusers()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tiny = args.model is None
    folder = args.model or tiny_text_to_image()
    size = args.size or (512 if not tiny else 128)
    prompt = "Sleek, minimalist sneaker crafted from ocean plastic with vibrant coral reef-inspired patterns"
    report = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "model": str(folder),
        "tiny_model": tiny,
        "size": size,
        "steps": args.steps,
        "text_to_image": {},
    }

    for name, build in image_variants(torch, diffusers, folder, device, args.compile or device == "cuda"):
        pipe = build()
        pipe.set_progress_bar_config(disable=True)

        def run(pipe=pipe):
            pipe(
                prompt,
                width=size,
                height=size,
                num_inference_steps=args.steps,
                generator=torch.Generator("cpu").manual_seed(0),
            )

        report["text_to_image"][name] = measure(torch, device, run, args.steps)
        del pipe
        if device == "cuda":
            torch.cuda.empty_cache()

    # The app's own engine, with its defaults, on the same model.
    from desktop.engine.engine import Engine
    from desktop.engine.request import GenerationRequest, Task

    engine = Engine()
    request = GenerationRequest(prompt=prompt, model=str(folder), width=size, height=size, steps=args.steps, seed=0)
    report["text_to_image"]["app engine (defaults)"] = measure(
        torch, device, lambda: engine.generate(request), args.steps
    )
    engine.release()

    video_folder = args.video_model or (tiny_text_to_video() if tiny else None)
    if video_folder is not None:
        frames, video_size = (16, 256) if not tiny else (8, 64)
        video = GenerationRequest(
            task=Task.TEXT_TO_VIDEO,
            prompt="A woman is wearing a smart watch for health monitoring.",
            model=str(video_folder),
            width=video_size,
            height=video_size,
            steps=args.steps,
            frames=frames,
            seed=0,
        )
        engine = Engine()
        report["text_to_video (ModelScope recipe, app engine)"] = {
            "frames": frames,
            "size": video_size,
            **measure(torch, device, lambda: engine.generate(video), args.steps, repeats=1),
        }
        engine.release()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
