"""Text-to-image with Hugging Face diffusers, from a local folder or the HF cache, fully offline."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from desktop.engine import lazy_imports
from desktop.engine.devices import RuntimeOptions, pick_device
from desktop.engine.errors import EngineError, GenerationCancelled
from desktop.engine.models import has_safetensors, has_variant, resolve_model
from desktop.engine.pipeline_cache import PipelineCache
from desktop.engine.preview import latents_to_preview
from desktop.engine.request import SEED_MAX, GenerationRequest
from desktop.engine.result import GeneratedImage, GenerationResult, Progress, ProgressCallback
from desktop.engine.schedulers import make_scheduler


class DiffusersBackend:
    def __init__(self, options: RuntimeOptions | None = None, hf_cache_dir: str | Path | None = None) -> None:
        self.options = options or RuntimeOptions()
        self.hf_cache_dir = hf_cache_dir
        self._cache = PipelineCache()
        # The scheduler each loaded pipeline shipped with, restored when a request names none.
        self._original_scheduler = None

    @property
    def loaded_model(self) -> str | None:
        return None if self._cache.key is None else str(self._cache.key[0])

    def release(self) -> None:
        self._original_scheduler = None
        self._cache.release()

    def generate(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        torch = lazy_imports.torch()
        cancel = cancel or threading.Event()
        folder = resolve_model(request.model, self.hf_cache_dir)
        device, dtype = pick_device(self.options.device)
        key = (folder, device, str(dtype), self.options)
        pipe, load_s = self._cache.get(key, lambda: self._load(folder, device, dtype))
        if load_s:
            self._original_scheduler = pipe.scheduler
        pipe.scheduler = (
            make_scheduler(request.scheduler, self._original_scheduler.config)
            if request.scheduler
            else self._original_scheduler
        )

        started = time.perf_counter()

        def on_step_end(pipeline, step: int, timestep, tensors: dict) -> dict:
            if cancel.is_set():
                # diffusers skips the remaining steps once _interrupt is set.
                pipeline._interrupt = True
            elif on_progress is not None:
                on_progress(
                    Progress(
                        step=step + 1,
                        total=request.steps,
                        elapsed_s=time.perf_counter() - started,
                        preview=latents_to_preview(tensors["latents"]),
                    )
                )
            return tensors

        seeds = [(request.seed + i) % (SEED_MAX + 1) for i in range(request.count)]
        # CPU generators: the same seed gives the same noise whatever the device.
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        try:
            output = pipe(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt or None,
                width=request.width,
                height=request.height,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                num_images_per_prompt=request.count,
                generator=generators,
                callback_on_step_end=on_step_end,
                callback_on_step_end_tensor_inputs=["latents"],
            )
        except torch.cuda.OutOfMemoryError:
            raise self._out_of_memory(request) from None
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise self._out_of_memory(request) from None
            raise
        if cancel.is_set():
            raise GenerationCancelled()
        images = [
            GeneratedImage(image=img, seed=seed, index=i)
            for i, (img, seed) in enumerate(zip(output.images, seeds, strict=True))
        ]
        return GenerationResult(
            request=request,
            images=images,
            device=device,
            timings={"load_s": round(load_s, 4), "generate_s": round(time.perf_counter() - started, 4)},
        )

    def _out_of_memory(self, request: GenerationRequest) -> EngineError:
        torch = lazy_imports.torch()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        hint = "" if self.options.cpu_offload else " or turn on CPU offload"
        return EngineError(
            f"out of GPU memory at {request.width}x{request.height} with {request.count} image(s): "
            f"try a smaller size, fewer images{hint}."
        )

    def _load(self, folder: Path, device: str, dtype):
        diffusers = lazy_imports.diffusers()
        torch = lazy_imports.torch()
        options = self.options
        if not options.allow_pickle_weights and not has_safetensors(folder):
            raise EngineError(
                f"model {folder} has no .safetensors weights, only pickle files that can run code when "
                "loaded: convert it to safetensors, or allow pickle weights in the settings if you trust it."
            )
        variant = "fp16" if dtype == torch.float16 and has_variant(folder, "fp16") else None
        try:
            pipe = diffusers.AutoPipelineForText2Image.from_pretrained(
                folder,
                dtype=dtype,
                variant=variant,
                use_safetensors=None if options.allow_pickle_weights else True,
                local_files_only=True,
            )
        except Exception as exc:  # any failure to load means the folder is broken or incomplete
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EngineError(f"model folder {folder} could not be loaded: {reason}") from exc
        pipe.set_progress_bar_config(disable=True)
        if options.cpu_offload and device == "cuda":
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        if options.attention_slicing:
            pipe.enable_attention_slicing()
        if options.vae_tiling:
            pipe.vae.enable_tiling()
        return pipe
