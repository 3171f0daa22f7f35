"""Which device and precision to run on, and the memory options a user can turn on."""

from __future__ import annotations

from dataclasses import dataclass

from desktop.engine import lazy_imports
from desktop.engine.errors import EngineError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


@dataclass(frozen=True)
class RuntimeOptions:
    device: str = "auto"
    # Keep only the active sub-model on the GPU: fits large models in little VRAM, costs speed.
    cpu_offload: bool = False
    attention_slicing: bool = False
    vae_tiling: bool = False
    # Pickle weights (.bin, .ckpt) can run code when loaded; safetensors only unless opted in.
    allow_pickle_weights: bool = False
    # Speed options (desktop/engine/speed.py), on only where a GPU measurement showed a win
    # (benchmarks/gpu.py, figures in benchmarks/README.md): torch.compile of the denoiser's repeated
    # blocks (None: on a GPU for the models it was measured to speed up, speed.compiles_by_default),
    # NHWC convolutions, and diffusers' first-block cache for DiT models (skips the other blocks on
    # steps whose first block barely changed: faster, not identical; a higher threshold skips more).
    compile_denoiser: bool | None = None
    channels_last: bool = False
    first_block_cache: bool = False
    first_block_cache_threshold: float = 0.05


def pick_device(preference: str = "auto"):
    """Return (device name, torch dtype): CUDA in fp16, then MPS, then the CPU in fp32."""
    if preference not in DEVICE_CHOICES:
        raise EngineError(f"device '{preference}' is unknown; choose one of: {', '.join(DEVICE_CHOICES)}.")
    torch = lazy_imports.torch()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if preference == "cuda" and not cuda:
        raise EngineError("device cuda was chosen but no CUDA GPU is available: choose auto or cpu.")
    if preference == "mps" and not mps:
        raise EngineError("device mps was chosen but Apple's Metal backend is not available: choose auto or cpu.")
    if preference in ("auto", "cuda") and cuda:
        return "cuda", torch.float16
    if preference in ("auto", "mps") and mps:
        # fp16 on MPS gives black images with several SD checkpoints; fp32 is the safe default.
        return "mps", torch.float32
    return "cpu", torch.float32
