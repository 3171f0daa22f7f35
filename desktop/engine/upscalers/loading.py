"""Loading an upscaler and running it on one tile (torch; the engine's process only).

Every upscaler here takes an (h, w, 3) uint8 tile and returns it `scale` times larger as floats in 0..1;
desktop.engine.tiling cuts the picture and blends the tiles.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from desktop.engine import lazy_imports
from desktop.engine.devices import RuntimeOptions
from desktop.engine.errors import EngineError
from desktop.engine.models import has_safetensors, has_variant
from desktop.engine.rrdbnet import RRDBNet
from desktop.engine.upscalers.catalog import UpscalerInfo

# Tile sides (input pixels) and overlaps. A 288 px tile of a 64-feature x4 RRDBNet holds about 1.2 GB of
# feature maps in fp32; a GPU in fp16 takes about twice the side. Both are a little over 256 / 512 so
# that the common 512 / 1024 px pictures split into 2x2 tiles, not 3x3 (which would run twice the area).
NETWORK_TILE = {"cpu": 288, "cuda": 544}
NETWORK_OVERLAP = 32
# SD's x4 upscaler was trained on 128 px pictures (512 px results), its x2 latent upscaler on 512 px ones.
PIPELINE_TILE = {4: 128, 2: 512}
PIPELINE_OVERLAP = {4: 32, 2: 64}
# Wrappers training code saves state dicts in (BasicSR's params_ema first: the averaged weights).
_WRAPPERS = ("params_ema", "params", "state_dict", "model", "net")

StepCallback = Callable[[int], None]


class NetworkUpscaler:
    """A single-pass network: our RRDBNet, or a model spandrel loaded."""

    takes_prompt = False

    def __init__(self, net, architecture: str, scale: int, multiple: int, device: str, dtype) -> None:
        self.net, self.architecture, self.scale, self.multiple = net, architecture, scale, multiple
        self.device, self.dtype = device, dtype
        self.tile = NETWORK_TILE.get(device, NETWORK_TILE["cpu"])
        self.overlap = NETWORK_OVERLAP

    def steps_per_tile(self, request) -> int:
        return 1

    def upscale_tile(self, pixels: np.ndarray, request, seed: int | None, on_step: StepCallback) -> np.ndarray:
        torch = lazy_imports.torch()
        batch = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None]  # a copy: tiles are read-only views
        with torch.inference_mode():
            out = self.net(batch.to(self.device, self.dtype) / 255.0)
            out = out.clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
        on_step(0)
        return out


class PipelineUpscaler:
    """A diffusers upscaler pipeline, run on each tile with the same seed (so the tiles' grain matches)."""

    takes_prompt = True

    def __init__(self, pipe, architecture: str, scale: int, device: str) -> None:
        self.pipe, self.architecture, self.scale, self.device = pipe, architecture, scale, device
        # SD x4 denoises at the picture's size and its UNet halves it three times; the x2 latent
        # upscaler encodes the picture 8 times smaller, doubles that, and its UNet halves it three times.
        self.multiple = 64 if scale == 2 else max(8, getattr(pipe, "vae_scale_factor", 4))
        self.tile = PIPELINE_TILE.get(scale, 128)
        self.overlap = PIPELINE_OVERLAP.get(scale, 32)

    def steps_per_tile(self, request) -> int:
        return request.steps

    def upscale_tile(self, pixels: np.ndarray, request, seed: int | None, on_step: StepCallback) -> np.ndarray:
        torch = lazy_imports.torch()

        def callback(step: int, timestep, latents) -> None:
            on_step(step)  # raises to stop: these pipelines have no callback_on_step_end nor _interrupt

        output = self.pipe(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt or None,
            image=Image.fromarray(pixels, "RGB"),
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            generator=torch.Generator("cpu").manual_seed(seed or 0),
            output_type="np",
            callback=callback,
            callback_steps=1,
        )
        return np.asarray(output.images[0], dtype=np.float32)


def load(info: UpscalerInfo, device: str, dtype, options: RuntimeOptions):
    """The upscaler a catalog entry names, on device; EngineError (one sentence) when it cannot be."""
    if info.kind == "diffusers":
        return _load_pipeline(info, device, dtype, options)
    path = Path(info.model).expanduser()
    state = _read_state_dict(path, options)
    net = RRDBNet.from_state_dict(state)
    if net is not None:
        if net.config.scale < 2:
            raise EngineError(f"{path.name} is a x{net.config.scale} restoration model, not an upscaler.")
        return NetworkUpscaler(
            net.to(device, dtype), net.config.describe(), net.config.scale, net.config.multiple, device, dtype
        )
    upscaler = _load_with_spandrel(path, state, device, dtype)
    if upscaler is None:
        raise EngineError(
            f"{path.name} is not an upscaler this app can load: its layers are not an ESRGAN or Real-ESRGAN "
            "network, and spandrel (for other architectures) is not usable here."
        )
    return upscaler


def _read_state_dict(path: Path, options: RuntimeOptions) -> dict:
    torch = lazy_imports.torch()
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (OSError, SafetensorError) as exc:
            raise EngineError(f"{path.name} could not be read: {_first_line(exc)}.") from exc
    if not options.allow_pickle_weights:
        raise EngineError(
            f"{path.name} is a pickle file, which can run code when loaded: convert it to .safetensors, "
            "or allow pickle weights in the settings if you trust it."
        )
    try:
        # Even when pickles are allowed, only tensors and plain containers are unpickled: no code runs.
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise EngineError(f"{path.name} could not be read as PyTorch weights: {_first_line(exc)}.") from exc
    while isinstance(state, dict) and not _all_tensors(state, torch):
        inner = next((state[key] for key in _WRAPPERS if isinstance(state.get(key), dict)), None)
        if inner is None:
            break
        state = inner
    if not isinstance(state, dict) or not state or not _all_tensors(state, torch):
        raise EngineError(f"{path.name} holds no network weights, so it is not an upscaler.")
    return state


def _all_tensors(state: dict, torch) -> bool:
    return all(isinstance(value, torch.Tensor) for value in state.values())


def _spandrel():
    """spandrel where it imports: it is missing without the `upscale` extra, and raises RuntimeError or
    OSError where torchvision's build does not match torch (the CUDA wheels beside a CPU torch)."""
    try:
        import spandrel
    except Exception:  # noqa: BLE001 - any failure to import means "not usable here"
        return None
    return spandrel


def _load_with_spandrel(path: Path, state: dict, device: str, dtype):
    spandrel = _spandrel()
    if spandrel is None:
        return None
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        return None
    name = descriptor.architecture.name
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale < 2:
        raise EngineError(f"{path.name} is a {name} model that does not enlarge pictures, not an upscaler.")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise EngineError(f"{path.name} works on {descriptor.input_channels}-channel pictures, not RGB ones.")
    descriptor.to(device).eval()
    torch = lazy_imports.torch()
    if dtype == torch.float16 and descriptor.supports_half:
        descriptor.half()
    else:
        dtype = torch.float32
        descriptor.float()
    multiple = max(1, descriptor.size_requirements.multiple_of)
    return NetworkUpscaler(
        descriptor, f"{name} ×{descriptor.scale} (spandrel)", descriptor.scale, multiple, device, dtype
    )


def _load_pipeline(info: UpscalerInfo, device: str, dtype, options: RuntimeOptions) -> PipelineUpscaler:
    diffusers = lazy_imports.diffusers()
    torch = lazy_imports.torch()
    folder = Path(info.folder or info.model)
    if not options.allow_pickle_weights and not has_safetensors(folder):
        raise EngineError(
            f"upscaler {folder} has no .safetensors weights, only pickle files that can run code when loaded: "
            "convert it to safetensors, or allow pickle weights in the settings if you trust it."
        )
    variant = "fp16" if dtype == torch.float16 and has_variant(folder, "fp16") else None
    try:
        # model_index.json names the class; the catalog checked that it is one of the upscalers.
        pipe = diffusers.DiffusionPipeline.from_pretrained(
            folder,
            dtype=dtype,
            variant=variant,
            use_safetensors=None if options.allow_pickle_weights else True,
            local_files_only=True,
        )
    except Exception as exc:  # any failure to load means the folder is broken or incomplete
        raise EngineError(f"upscaler folder {folder} could not be loaded: {_first_line(exc)}") from exc
    pipe.set_progress_bar_config(disable=True)
    if options.cpu_offload and device == "cuda":
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    if options.attention_slicing:
        pipe.enable_attention_slicing()
    return PipelineUpscaler(pipe, info.architecture, info.scale or 4, device)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
