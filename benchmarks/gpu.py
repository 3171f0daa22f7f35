"""GPU figures without downloads: each architecture is built full size from the published configs in
benchmarks/architectures/ with random weights (speed depends on the architecture, not on the values
of the weights), saved as a model folder, and timed through the app's engine and through plain
diffusers on the same seed, size and steps.

    python benchmarks/gpu.py --architecture all            # on a GPU: every row of the GPU table
    python benchmarks/gpu.py --architecture sd15 --tiny    # on a CPU: the same code at CI size
    python benchmarks/gpu.py --model /models/stable-diffusion-v1-5   # a real model folder

Per architecture it reports: plain diffusers it/s and peak memory (the reference), the engine
without and with per-step previews and its ratio to diffusers, each speed option of
desktop/engine/speed.py applied to the diffusers pipeline (its gain and the PSNR of its output
against the plain run), classic attention (no SDPA) for UNets, model CPU offload and VAE tiling
(through the engine where it runs the model), and fp32 on a GPU. Shap-E is timed in seconds per
object. On a GPU each engine row also says where the host waited for the GPU in one more run
(host_waits). Output: one JSON report on stdout and in --out, which is rewritten after every part
(so a run stopped at a time limit keeps what it measured); progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

from common import scratch
from gpu_architectures import ARCHITECTURES, architecture, build, parameter_counts

PROMPTS = {
    "text-to-image": "Sleek, minimalist sneaker crafted from ocean plastic with vibrant coral reef-inspired patterns",
    "text-to-video": "A woman is wearing a smart watch for health monitoring.",
    "text-to-3d": "a shark",
}
# model_index.json's pipeline class -> the architecture whose recipe a real model folder runs with.
RECIPE_BY_CLASS = {
    "StableDiffusionPipeline": "sd15",
    "StableDiffusionXLPipeline": "sdxl",
    "WanPipeline": "wan-1.3b",
    "TextToVideoSDPipeline": "modelscope",
    "ShapEPipeline": "shap-e",
}
SPEED_OPTIONS = ("channels_last", "first_block_cache", "compile_denoiser")
IDENTICAL_DB = 100.0  # the PSNR reported for identical outputs


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--architecture", default=None, help=f"comma-separated, or all: {', '.join(ARCHITECTURES)} (default sd15)"
    )
    parser.add_argument("--tiny", action="store_true", help="scaled-down configs: the same code at CPU/CI size")
    parser.add_argument("--model", type=Path, action="append", default=[], help="a real diffusers model folder")
    parser.add_argument("--video-model", type=Path, action="append", default=[], help="the same as --model")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the architecture's recipe)")
    parser.add_argument("--repeats", type=int, help="timed runs after the warm-up, best kept (default 2, tiny 1)")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: " + ", ".join(PARTS))
    parser.add_argument("--threshold", type=float, default=0.05, help="first-block cache threshold")
    parser.add_argument("--keep", action="store_true", help="keep the built model folders (in the scratch folder)")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)

    import torch

    from desktop.engine import lazy_imports
    from desktop.engine.devices import pick_device

    lazy_imports.diffusers().utils.logging.set_verbosity_error()
    device, dtype = pick_device("auto")
    names = (
        list(ARCHITECTURES)
        if args.architecture == "all"
        else [n.strip() for n in (args.architecture or "").split(",") if n.strip()]
    )
    folders = args.model + args.video_model
    if not names and not folders:
        names = ["sd15"]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(PARTS)
    if unknown:
        parser.error(f"--skip: unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    report = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "diffusers": lazy_imports.diffusers().__version__,
        "threads": torch.get_num_threads(),
        "runs": [],
    }

    def save() -> None:
        # After every part, so a run stopped at a time limit still leaves what it measured.
        if args.out:
            args.out.write_text(json.dumps(report, indent=2) + "\n")

    for name in names:
        spec = architecture(name)
        recipe = {**spec["recipe"], **(spec["tiny_recipe"] if args.tiny else {})}
        if args.steps:
            recipe["steps"] = args.steps
        folder = scratch("architectures") / f"{name}{'-tiny' if args.tiny else ''}"
        started = time.perf_counter()
        build(name, folder, args.tiny, device, dtype)
        run = {
            "architecture": name,
            "name": spec["name"],
            "tiny": args.tiny,
            "source": spec["source"],
            "parameters": parameter_counts(name, args.tiny),
            "build_s": round(time.perf_counter() - started, 2),
        }
        report["runs"].append(run)
        log(f"{name}: built in {run['build_s']} s")
        try:
            measure_folder(folder, recipe, device, dtype, args, skip, into=run, save=save)
        finally:
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    for folder in folders:
        class_name = json.loads((folder / "model_index.json").read_text()).get("_class_name", "")
        recipe = dict(architecture(RECIPE_BY_CLASS.get(class_name, "sd15"))["recipe"])
        if args.steps:
            recipe["steps"] = args.steps
        run = {"model": str(folder), "pipeline": class_name}
        report["runs"].append(run)
        measure_folder(folder, recipe, device, dtype, args, skip, into=run, save=save)
    print(json.dumps(report, indent=2))
    save()
    return report


def log(line: str) -> None:
    print(f"[gpu.py {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- measuring


PARTS = ("engine", "previews", "classic_attention", *SPEED_OPTIONS, "cpu_offload", "vae_tiling", "fp32")


class Timer:
    """Runs a callable once to warm up (and compile), then `repeats` times; keeps the best."""

    def __init__(self, torch, device: str, steps: int, repeats: int) -> None:
        self.torch, self.device, self.steps, self.repeats = torch, device, steps, repeats

    def sync(self) -> None:
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def __call__(self, run) -> tuple[dict, object]:
        torch = self.torch
        self.sync()
        started = time.perf_counter()
        output = run()
        self.sync()
        first = time.perf_counter() - started
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(self.repeats):
            started = time.perf_counter()
            output = run()
            self.sync()
            times.append(time.perf_counter() - started)
        best = min(times)
        return {
            "seconds": round(best, 4),
            "it_per_s": round(self.steps / best, 3),
            "first_run_s": round(first, 3),
            "peak_mb": round(peak_memory_mb(torch, self.device)),
        }, output


def peak_memory_mb(torch, device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's high-water mark


def measure_folder(folder: Path, recipe: dict, device: str, dtype, args, skip: set[str], into: dict, save) -> dict:
    """Every part measured on one model folder, each written into `into` (and saved) as it is done."""
    import torch

    tiny = args.tiny
    repeats = args.repeats or (1 if tiny else 2)
    timer = Timer(torch, device, recipe["steps"], repeats)
    kind = recipe["task"]
    result = into

    def done(part: str) -> None:
        figures = result.get(part, {})
        log(f"{part}: {figures.get('seconds', figures.get('error', figures.get('skipped', '')))}")
        save()

    result.update({"recipe": recipe, "repeats": repeats})

    # Plain diffusers: the reference every other row is compared with.
    pipe = load_diffusers(folder, device, dtype)
    call = diffusers_call(pipe, kind, recipe)
    result["diffusers"], reference = timer(call)
    done("diffusers")
    if kind == "text-to-3d":
        result.update(shap_e_extras(pipe, recipe, timer))
    denoiser = speed().denoiser_of(pipe)
    conv_unet = type(denoiser).__name__.startswith("UNet")
    if "classic_attention" not in skip and conv_unet:
        result["classic_attention"] = with_classic_attention(
            pipe, denoiser, call, timer, result["diffusers"], reference
        )
        done("classic_attention")
    options = result["options"] = {}
    for option in SPEED_OPTIONS:  # compile last: it is not undone
        if option not in skip:
            options[option] = with_speed_option(
                pipe, option, args.threshold, call, timer, result["diffusers"], reference
            )
            log(f"{option}: {options[option].get('seconds', options[option].get('skipped'))}")
            save()
    del pipe, call, denoiser
    free(torch, device)

    # The app's engine on the same folder, seed, size and steps.
    engine_runs = engine_available = None
    if "engine" not in skip:
        engine_runs = run_engine(folder, recipe, device, timer, reference, previews="previews" not in skip)
        result.update(engine_runs)
        engine_available = "error" not in engine_runs.get("engine", {})
        done("engine")
    for part, option in (("cpu_offload", {"cpu_offload": True}), ("vae_tiling", {"vae_tiling": True})):
        if part in skip:
            continue
        if part == "cpu_offload" and device != "cuda":
            result[part] = {"skipped": "model CPU offload needs a CUDA GPU"}
        elif kind == "text-to-3d" and part == "vae_tiling":
            result[part] = {"skipped": "Shap-E has no VAE"}
        elif engine_available:
            result[part] = run_engine(folder, recipe, device, timer, reference, previews=False, **option)["engine"]
            result[part]["via"] = "engine"
        else:
            result[part] = diffusers_with(folder, device, dtype, kind, recipe, timer, reference, **option)
        done(part)
    if "fp32" not in skip and device == "cuda" and conv_unet and kind == "text-to-image":
        result["fp32"] = diffusers_with(folder, device, torch.float32, kind, recipe, timer, reference)
        done("fp32")
    baseline = result["diffusers"]["seconds"]
    if kind == "text-to-3d":
        # The engine makes the object (sampling, mesh, turntable): against diffusers doing the same work,
        # its mesh decode plus its turntable render, each after its own sampling.
        mesh, pil = result["diffusers_mesh"]["seconds"], result["diffusers_pil"].get("seconds")
        baseline = mesh + pil - baseline if pil else mesh
        result["diffusers_object_s"] = round(baseline, 4)
        result["diffusers_object_is"] = "sampling + mesh + turntable" if pil else "sampling + mesh (no turntable)"
    for name in ("engine", "engine_previews"):
        seconds = result.get(name, {}).get("seconds")
        if seconds:
            result[f"{name}_over_diffusers"] = round(seconds / baseline, 3)
    save()
    return result


def speed():
    from desktop.engine import speed

    return speed


def free(torch, device: str) -> None:
    import gc

    torch._dynamo.reset()
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def load_diffusers(folder: Path, device: str, dtype, offload: bool = False):
    """The folder as a plain diffusers script loads it, with the model card's scheduler where the
    engine's preset swaps it in (ModelScope: DPM-Solver++) and the precision the engine picks on a
    GPU (the video transformers in bfloat16), so both run the same sampler on the same numbers."""
    from desktop.engine import lazy_imports
    from desktop.engine.presets import preset_for

    diffusers = lazy_imports.diffusers()
    class_name = json.loads((folder / "model_index.json").read_text()).get("_class_name", "")
    preset = preset_for(str(folder), class_name)
    if device == "cuda" and dtype == lazy_imports.torch().float16:
        dtype = getattr(lazy_imports.torch(), preset.cuda_dtype)  # as the engine: Wan's family in bfloat16
    pipe = diffusers.DiffusionPipeline.from_pretrained(folder, dtype=dtype, local_files_only=True)
    if preset.scheduler_class:
        pipe.scheduler = getattr(diffusers, preset.scheduler_class).from_config(pipe.scheduler.config)
    if getattr(preset, "flow_shift", None) and "flow_shift" in pipe.scheduler.config:
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, flow_shift=preset.flow_shift)
    if getattr(preset, "vae_tiling", False) and getattr(pipe, "vae", None) is not None:
        pipe.vae.enable_tiling()  # the engine's preset tiles this family's video decode
    # The negative prompt the engine uses when the user gives none (Wan's model card has one).
    pipe._benchmark_negative_prompt = getattr(preset, "negative_prompt", "") or None
    pipe.set_progress_bar_config(disable=True)
    if offload:
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    return pipe


def diffusers_call(pipe, kind: str, recipe: dict):
    import torch

    def generator():
        return torch.Generator("cpu").manual_seed(0)

    if kind == "text-to-image":
        return lambda: (
            pipe(
                PROMPTS[kind],
                negative_prompt=pipe._benchmark_negative_prompt,
                width=recipe["width"],
                height=recipe["height"],
                num_inference_steps=recipe["steps"],
                guidance_scale=recipe["guidance"],
                generator=[generator()],
                output_type="np",
            ).images
        )
    if kind == "text-to-video":
        return lambda: (
            pipe(
                PROMPTS[kind],
                negative_prompt=pipe._benchmark_negative_prompt,
                width=recipe["width"],
                height=recipe["height"],
                num_frames=recipe["frames"],
                num_inference_steps=recipe["steps"],
                guidance_scale=recipe["guidance"],
                generator=generator(),
                output_type="np",
            ).frames
        )
    return lambda: (
        pipe(
            PROMPTS[kind],
            num_inference_steps=recipe["steps"],
            guidance_scale=recipe["guidance"],
            generator=generator(),
            output_type="latent",
        ).images
    )


def shap_e_extras(pipe, recipe: dict, timer: Timer) -> dict:
    """Shap-E's own decoders after sampling, as a diffusers script would call them: the mesh
    (decode_to_mesh) and the turntable views (decode_to_image), each with its sampling."""
    import torch

    extras = {}
    for output_type in ("mesh", "pil"):
        if output_type == "pil" and (recipe["width"] ** 2 * 20) % 4096:
            extras["diffusers_pil"] = {
                "skipped": "diffusers' decode_to_image drops the rays past its last full batch of 4,096 and "
                "fails at this frame size (20 views x size^2 must be a multiple of 4,096)"
            }
            continue
        figures, _ = timer(
            lambda output_type=output_type: pipe(
                PROMPTS["text-to-3d"],
                num_inference_steps=recipe["steps"],
                guidance_scale=recipe["guidance"],
                frame_size=recipe["width"],
                generator=torch.Generator("cpu").manual_seed(0),
                output_type=output_type,
            )
        )
        extras[f"diffusers_{output_type}"] = figures
    return extras


def compare(figures: dict, baseline: dict, output, reference) -> dict:
    figures["gain"] = round(figures["it_per_s"] / baseline["it_per_s"], 3)
    figures["psnr_db"] = psnr(output, reference)
    return figures


def psnr(output, reference) -> float | None:
    """PSNR of output against reference (both in 0..1, or latents: then against their peak), in dB;
    IDENTICAL_DB where they are the same, None where either is not finite (random fp16 weights can
    overflow; the timing still holds)."""
    import numpy as np

    a, b = as_array(output), as_array(reference)
    if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return IDENTICAL_DB
    peak = max(1.0, float(np.abs(b).max()))
    return round(min(IDENTICAL_DB, 10 * math.log10(peak**2 / mse)), 2)


def as_array(value):
    import numpy as np

    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def to_uint8(array):
    import numpy as np

    return (np.clip(as_array(array), 0, 1) * 255).round()


def with_classic_attention(pipe, denoiser, call, timer: Timer, baseline: dict, reference) -> dict:
    """The pre-SDPA attention kernel, to show what PyTorch's SDPA (the default) buys."""
    from diffusers.models.attention_processor import AttnProcessor

    processors = denoiser.attn_processors
    denoiser.set_attn_processor(AttnProcessor())
    try:
        figures, output = timer(call)
    finally:
        denoiser.set_attn_processor(processors)
    return compare(figures, baseline, output, reference)


def with_speed_option(pipe, option: str, threshold: float, call, timer: Timer, baseline: dict, reference) -> dict:
    """One speed option applied by the engine's own function (desktop/engine/speed.py), timed on the
    plain pipeline, then undone (compile is not: it runs last)."""
    import torch

    from desktop.engine.devices import RuntimeOptions

    options = RuntimeOptions(**{option: True, "first_block_cache_threshold": threshold})
    applied = speed().apply_speed_options(pipe, options)[option]
    if applied.startswith("skipped"):
        return {"skipped": applied.removeprefix("skipped: ")}
    denoiser = speed().denoiser_of(pipe)
    try:
        figures, output = timer(call)
    finally:
        if option == "channels_last":
            denoiser.to(memory_format=torch.contiguous_format)
        elif option == "first_block_cache":
            denoiser.disable_cache()
    figures["applied"] = applied
    if option == "compile_denoiser":
        figures["compile_s"] = round(figures["first_run_s"] - figures["seconds"], 2)
    return compare(figures, baseline, output, reference)


def diffusers_with(folder: Path, device: str, dtype, kind: str, recipe: dict, timer: Timer, reference, **options):
    """Model CPU offload, VAE tiling or another dtype on plain diffusers (where the engine cannot run the model)."""
    import torch

    pipe = load_diffusers(folder, device, dtype, offload=options.get("cpu_offload", False))
    if options.get("vae_tiling"):
        pipe.vae.enable_tiling()
    figures, output = timer(diffusers_call(pipe, kind, recipe))
    figures["via"] = "diffusers"
    figures["psnr_db"] = psnr(output, reference)
    del pipe
    free(torch, device)
    return figures


def host_waits(torch, run) -> dict:
    """Where one more run makes the host wait for the GPU (torch's sync debug mode warns at each
    such call): the count, and the busiest places as file:line. A wait every step idles the GPU
    while the host queues the next step's kernels: what previews must not add."""
    import collections
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    places = collections.Counter(
        f"{Path(w.filename).name}:{w.lineno}" for w in caught if "synchroniz" in str(w.message).lower()
    )
    return {"count": sum(places.values()), "places": dict(places.most_common(5))}


def run_engine(folder: Path, recipe: dict, device: str, timer: Timer, reference, previews: bool, **options) -> dict:
    """The engine on the folder with the given RuntimeOptions: without previews, then (previews=True)
    with a progress callback that takes the per-step preview, as the window does."""
    import numpy as np
    import torch

    from desktop.engine.devices import RuntimeOptions
    from desktop.engine.engine import Engine
    from desktop.engine.request import GenerationRequest
    from desktop.engine.tasks import Task

    kind = recipe["task"]
    task = {"text-to-image": Task.TEXT_TO_IMAGE, "text-to-video": Task.TEXT_TO_VIDEO, "text-to-3d": Task.TEXT_TO_3D}
    extra = {"frames": recipe["frames"], "fps": recipe["fps"]} if "frames" in recipe else {}
    request = GenerationRequest(
        prompt=PROMPTS[kind],
        task=task[kind],
        model=str(folder),
        width=recipe["width"],
        height=recipe["height"],
        steps=recipe["steps"],
        guidance=recipe["guidance"],
        seed=0,
        **extra,
    )
    # Compile off (unless asked): its gain is measured on its own row; this one is the engine's overhead.
    engine = Engine(runtime=RuntimeOptions(**{"compile_denoiser": False, **options}))
    previews_seen = []

    def on_progress(progress) -> None:
        if progress.preview is not None:
            previews_seen.append(progress.step)

    runs = {}
    try:
        for name, callback in (("engine", None), ("engine_previews", on_progress))[: 2 if previews else 1]:
            figures, result = timer(lambda callback=callback: engine.generate(request, on_progress=callback))
            figures["load_s"] = result.timings.get("load_s")
            if kind != "text-to-3d":  # the engine's 8-bit pictures against diffusers' own, rounded the same way
                item = result.images[0]
                pictures = item.frames if kind == "text-to-video" else [item.image]
                output = [np.asarray([np.asarray(picture.convert("RGB")) for picture in pictures]) / 255]
                expected = to_uint8(reference) / 255
                figures["psnr_db"] = psnr(output if kind == "text-to-video" else output[0], expected)
            if callback is not None:
                figures["previews"] = len(previews_seen) // (timer.repeats + 1)  # per generation
            if device == "cuda":
                figures["host_waits"] = host_waits(torch, lambda callback=callback: engine.generate(request, callback))
            runs[name] = figures
    except Exception as exc:  # the engine cannot run this model (yet): say why, time the rest
        runs["engine"] = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"}
    finally:
        engine.release()
        free(torch, device)
    return runs


if __name__ == "__main__":
    main(sys.argv[1:])
