"""The upscale backend: one backend for every way of enlarging a picture.

Why a backend of its own rather than a task of the diffusers backend: its models are not diffusers
folders (a weights file, or no model at all for the Lanczos resize, which needs no torch and so
works on any install), and the diffusers backend keeps one pipeline loaded at a time: a campaign
that generates and then upscales each row would reload its generator every row. Here the upscaler
stays loaded beside the generator; a diffusers upscaler folder is loaded by this backend too, so
`--model` may name any of the three kinds.

Scales: 2, 3 or 4; by default the model's own (2 for Lanczos). A model asked for less than its own
scale runs at its scale and each tile is resized down with Lanczos (a x4 model asked for x2 gives
sharper detail than a x2 resize would); more than its own scale is refused with a sentence.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from desktop.engine import lazy_imports, tiling
from desktop.engine.backend import GUIDANCE, NEGATIVE_PROMPT, SEED, STEPS, BackendStatus, Capabilities
from desktop.engine.devices import RuntimeOptions, pick_device
from desktop.engine.edit_inputs import as_rgb, open_picture
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.models import cached_pipelines, cached_weight_repos
from desktop.engine.pipeline_cache import PipelineCache
from desktop.engine.registry import EngineConfig
from desktop.engine.request import (
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    SEED_MAX,
    STEPS_MAX,
    STEPS_MIN,
    GenerationRequest,
    check_range,
)
from desktop.engine.result import GeneratedImage, GenerationResult, Progress, ProgressCallback
from desktop.engine.tasks import Task
from desktop.engine.upscalers.catalog import LANCZOS_INFO, Catalog, UpscalerInfo
from desktop.engine.upscalers.checks import (
    LANCZOS,
    OUTPUT_MAX_SIDE,
    check_output_size,
    check_upscale_inputs,
    with_scale,
)

# Below this tile side a network that still runs out of GPU memory will not fit at all.
MIN_TILE = 64
# The settings Stable Diffusion's x4 upscaler was published with (75 steps is its pipeline's default,
# 25 keep a tiled 2048 px result within minutes on a GPU).
PIPELINE_DEFAULTS = {"steps": 25.0, "guidance": 9.0}
_WHY_ONLY_UPSCALE = "upscalers only enlarge pictures: choose Upscale, or another backend"


class _Stopped(Exception):
    """Raised from a step callback to stop a diffusers upscaler mid-tile (they have no _interrupt)."""


class UpscaleBackend:
    id = "upscale"
    label = "Upscalers (local)"
    models_are_paths = True

    def __init__(self, config: EngineConfig | None = None) -> None:
        config = config or EngineConfig()
        self.config = config
        self.options = config.runtime or RuntimeOptions()
        self.catalog = Catalog(self.options.allow_pickle_weights, config.hf_cache_dir)
        self._cache = PipelineCache()

    # -- models ------------------------------------------------------------------------------

    def upscalers(self) -> list[UpscalerInfo]:
        """The plain resize, the upscalers in the user's model folders, then those in the Hugging Face
        cache (diffusers upscalers, and weights files Models → Manage downloaded), with what lists show."""
        try:
            cached, weight_repos = (
                cached_pipelines(self.config.hf_cache_dir),
                cached_weight_repos(self.config.hf_cache_dir),
            )
        except OSError:
            cached, weight_repos = [], []
        hub = [info for info in map(self.catalog.inspect, cached) if info.usable]
        return [LANCZOS_INFO, *self.catalog.find(self.config.model_folders), *hub, *self.catalog.find(weight_repos)]

    def models(self) -> list[str]:
        return [info.model for info in self.upscalers()]

    def describe(self, model: str) -> str:
        """A model's line in a list ("4x-UltraSharp.safetensors (ESRGAN ×4, 23 blocks, 64 features)"), or why
        it cannot be used."""
        info = self.catalog.inspect(model)
        return info.label if info.usable else str(info.error)

    def default_model(self) -> str:
        return LANCZOS

    def capabilities(self, model: str) -> Capabilities:
        info = self.catalog.inspect(model)
        defaults = {"scale": float(info.scale)} if info.scale else {}
        if info.takes_prompt:
            defaults |= PIPELINE_DEFAULTS
        return Capabilities(
            tasks=frozenset({Task.UPSCALE}),
            controls=frozenset({STEPS, GUIDANCE, SEED, NEGATIVE_PROMPT}) if info.takes_prompt else frozenset(),
            size_max=OUTPUT_MAX_SIDE,
            defaults=defaults,
            why_not={task: _WHY_ONLY_UPSCALE for task in Task if task is not Task.UPSCALE},
        )

    # -- checking ----------------------------------------------------------------------------

    def validate(self, request: GenerationRequest, canvas: tuple[int, int] | None = None) -> GenerationRequest:
        if canvas is None:  # called directly, not through request.validate()
            request, canvas = check_upscale_inputs(request)
        model = request.model.strip() or LANCZOS
        info = self.catalog.inspect(model)
        if not info.usable:
            raise ValidationError("model", str(info.error))
        request = dataclasses.replace(request, model=model)
        if info.takes_prompt:
            check_range("steps", request.steps, STEPS_MIN, STEPS_MAX)
            check_range("guidance", request.guidance, GUIDANCE_MIN, GUIDANCE_MAX)
        elif request.count != 1:
            raise ValidationError("count", "an upscaler gives the same picture every time: count must be 1.")
        for field in ("scheduler", "quality", "style"):
            if getattr(request, field) is not None:
                raise ValidationError(field, f"{field} does not apply to upscale; leave it unset.")
        scale = request.scale or info.scale
        if scale is None:  # spandrel and pickle files tell their scale when loaded: generate() checks it
            return request
        if info.kind != LANCZOS and scale > info.scale:
            raise ValidationError("scale", _too_large(info.label, info.scale, scale))
        return with_scale(request, scale, canvas)

    # -- running -----------------------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        cancel = cancel or threading.Event()
        started = time.perf_counter()
        info = self.catalog.inspect(request.model)
        if not info.usable:
            raise EngineError(str(info.error))
        picture = as_rgb(open_picture(request.image))
        if info.kind == LANCZOS:
            return self._resize(request, picture, on_progress, cancel, started)
        upscaler, device, load_s = self._loaded(info)
        scale = request.scale or upscaler.scale
        if scale > upscaler.scale:
            raise EngineError(_too_large(f"{Path(info.model).name} ({upscaler.architecture})", upscaler.scale, scale))
        width, height = check_output_size(*picture.size, scale)
        request = dataclasses.replace(request, scale=scale, width=width, height=height)
        if upscaler.takes_prompt:
            seeds = [(request.seed or 0) + i for i in range(request.count)]
            seeds = [seed % (SEED_MAX + 1) for seed in seeds]
        else:
            seeds = [None]
        pixels = np.asarray(picture)
        reporter = _Reporter(on_progress, cancel, started, upscaler.steps_per_tile(request), len(seeds))
        images = []
        for index, seed in enumerate(seeds):
            reporter.item = index
            out = self._tiled(upscaler, pixels, request, scale, seed, reporter, cancel)
            images.append(GeneratedImage(image=Image.fromarray(out, "RGB"), seed=seed, index=index))
        if cancel.is_set():
            raise GenerationCancelled()
        notes = []
        if scale < upscaler.scale:
            notes.append(f"this upscaler makes x{upscaler.scale}: its result was resized to x{scale} with Lanczos.")
        return GenerationResult(
            request=request,
            images=images,
            device=device,
            timings={
                "load_s": round(load_s, 4),
                "generate_s": round(time.perf_counter() - started - load_s, 4),
                "tiles": float(reporter.tiles),
            },
            notes=notes,
        )

    def _resize(self, request, picture: Image.Image, on_progress, cancel: threading.Event, started: float):
        """The plain resize: no model, no torch; one step."""
        scale = request.scale or LANCZOS_INFO.scale
        width, height = check_output_size(*picture.size, scale)
        if cancel.is_set():
            raise GenerationCancelled()
        image = picture.resize((width, height), Image.Resampling.LANCZOS)
        if on_progress is not None:
            on_progress(Progress(step=1, total=1, elapsed_s=time.perf_counter() - started))
        return GenerationResult(
            request=dataclasses.replace(request, scale=scale, width=width, height=height),
            images=[GeneratedImage(image=image, seed=None, index=0)],
            device="cpu",
            timings={"load_s": 0.0, "generate_s": round(time.perf_counter() - started, 4), "tiles": 1.0},
        )

    def _tiled(self, upscaler, pixels: np.ndarray, request, scale: int, seed, reporter: _Reporter, cancel):
        """Upscale in tiles; out of GPU memory, try again with tiles half as large (networks only)."""

        def one_tile(tile_pixels: np.ndarray) -> np.ndarray:
            out = upscaler.upscale_tile(tile_pixels, request, seed, reporter.step)
            if upscaler.scale != scale:
                height, width = tile_pixels.shape[:2]
                out = _resized(out, width * scale, height * scale)
            return out

        tile = upscaler.tile
        while True:
            reporter.tiles = tiling.count(*pixels.shape[1::-1], tile, upscaler.overlap, upscaler.multiple)
            try:
                return tiling.upscale_tiled(
                    pixels,
                    one_tile,
                    scale,
                    tile,
                    upscaler.overlap,
                    multiple=upscaler.multiple,
                    on_tile=reporter.tile,
                    cancel=cancel,
                )
            except _Stopped:
                raise GenerationCancelled() from None
            except Exception as exc:
                if not _is_out_of_memory(exc):
                    raise
                _free_gpu_memory()
                # Halve what actually ran: a tile larger than the picture ran at the picture's size.
                tile = min(tile, max(pixels.shape[:2])) // 2
                if upscaler.takes_prompt or tile < MIN_TILE:
                    raise EngineError(
                        f"out of GPU memory upscaling to {request.width}x{request.height}: close other programs "
                        "using the GPU, or choose the CPU device."
                    ) from None

    def _loaded(self, info: UpscalerInfo):
        """(upscaler, device, seconds spent loading it: 0 when it already was)."""
        from desktop.engine.upscalers.loading import load

        device, dtype = pick_device(self.options.device)
        key = (info, device, str(dtype), self.options)
        upscaler, load_s = self._cache.get(key, lambda: load(info, device, dtype, self.options))
        return upscaler, device, load_s

    def prepare(self, model: str) -> str:
        info = self.catalog.inspect(model)
        if not info.usable:
            raise EngineError(str(info.error))
        return "cpu" if info.kind == LANCZOS else self._loaded(info)[1]

    def release(self) -> None:
        self._cache.release()

    def status(self) -> BackendStatus:
        key = self._cache.key
        return BackendStatus(device=key[1] if key else "", loaded_model=key[0].model if key else None)


class _Reporter:
    """Progress over all tiles (times steps, for diffusers upscalers) of all results; stops on cancel."""

    def __init__(self, on_progress, cancel: threading.Event, started: float, steps_per_tile: int, items: int) -> None:
        self.on_progress, self.cancel, self.started = on_progress, cancel, started
        self.steps_per_tile, self.items = steps_per_tile, items
        self.item = 0
        self.tiles = 1
        self.done_tiles = 0

    def step(self, step: int) -> None:
        if self.cancel.is_set():
            raise _Stopped()
        if self.steps_per_tile > 1:
            self._report((self.item * self.tiles + self.done_tiles) * self.steps_per_tile + step + 1)

    def tile(self, done: int, total: int) -> None:
        self.done_tiles = done
        if self.steps_per_tile == 1:
            self._report(self.item * total + done)

    def _report(self, done: int) -> None:
        if self.on_progress is None:
            return
        total = self.items * self.tiles * self.steps_per_tile
        elapsed = time.perf_counter() - self.started
        self.on_progress(Progress(step=min(done, total), total=total, elapsed_s=elapsed))


def _too_large(label: str, own: int, asked: int) -> str:
    return f"{label} upscales x{own}: choose x{own} or less, or an upscaler made for x{asked}."


def _resized(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """A tile at another scale, through Lanczos (the tile's border band is blended away)."""
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0


def _is_out_of_memory(exc: BaseException) -> bool:
    torch = lazy_imports.torch()
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _free_gpu_memory() -> None:
    torch = lazy_imports.torch()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
