"""Speed options for a loaded diffusers pipeline, each a setting (RuntimeOptions).

- channels_last: the denoiser's convolutions in NHWC memory layout (UNets; nothing for a DiT).
- compile_denoiser: torch.compile of the denoiser's repeated blocks only (regional compilation:
  diffusers' compile_repeated_blocks where the model names its blocks, the transformer blocks of
  the others), so the first generation compiles one block in seconds instead of the whole model
  in minutes; the blocks' output is the same to within float rounding.
- first_block_cache: diffusers' First Block Cache for transformer (DiT) denoisers: when the first
  block's output barely changes from one step to the next, the other blocks' change is reused.
  Faster, not identical: quality holds at small thresholds (see benchmarks/README.md).

Only compile is ever on by default, and only where benchmarks/gpu.py measured it to win on a GPU
(compiles_by_default); channels_last and the first-block cache stay off (benchmarks/README.md has
the figures). Torch-free at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktop.engine import lazy_imports

if TYPE_CHECKING:
    from desktop.engine.devices import RuntimeOptions

# The pipeline attributes that hold the denoiser, in the order looked for.
DENOISERS = ("transformer", "unet", "prior")
# Compiled where a model names no _repeated_blocks of its own (UNet3DConditionModel, PriorTransformer).
REPEATED_BLOCKS = ("BasicTransformerBlock", "TransformerTemporalModel")
# Recompiles allowed per block before torch falls back to eager (a UNet's blocks come in a few widths).
RECOMPILE_LIMIT = 64


def denoiser_of(pipe):
    for name in DENOISERS:
        model = getattr(pipe, name, None)
        if model is not None:
            return model
    return None


def apply_speed_options(pipe, options: RuntimeOptions) -> dict[str, str]:
    """Apply the options that are on to a loaded pipeline. Returns, per option that is on, what was
    done or why it does not apply to this model (an option that does not apply is skipped, not an
    error: the same settings serve every model)."""
    done: dict[str, str] = {}
    denoiser = denoiser_of(pipe)
    compile_it = options.compile_denoiser
    if compile_it is None:  # the default: where it was measured to win
        compile_it = denoiser is not None and compiles_by_default(denoiser)
    if not (options.channels_last or compile_it or options.first_block_cache):
        return done
    if denoiser is None:
        return {"speed": "this pipeline has no denoiser the speed options know"}
    if options.channels_last:
        done["channels_last"] = _channels_last(denoiser)
    if options.first_block_cache:  # before compiling: the cache's hooks are part of the compiled blocks
        done["first_block_cache"] = _first_block_cache(denoiser, options.first_block_cache_threshold)
    if compile_it:
        done["compile_denoiser"] = _compile(denoiser)
    return done


def compiles_by_default(denoiser) -> bool:
    """Whether compile pays for this denoiser where it sits now: only on a CUDA GPU (not under CPU
    offload, which leaves it on the CPU), and only for the models whose compiled run measured faster
    by more than its compile costs soon pays back, with the picture unchanged to the eye.

    Measured (benchmarks/gpu.py on an H200, fp16, PSNR against the uncompiled run): SDXL's UNet
    1.30x (compile 9 s, 72 dB) and Wan's transformer 1.16x (8 s, 64 dB) win; SD 1.5 (1.05x for a
    26 s compile) and ModelScope (1.03x, 32 s) do not pay back in a session; Shap-E's prior 1.35x
    but its output moved (35 dB). The SDXL family is the UNet with SDXL's "text_time" conditioning."""
    parameter = next(denoiser.parameters(), None)
    return parameter is not None and parameter.device.type == "cuda" and compile_wins(denoiser)


def compile_wins(denoiser) -> bool:
    """The measured winners (see compiles_by_default), wherever the model sits."""
    name = type(denoiser).__name__
    if name == "WanTransformer3DModel":
        return True
    return name == "UNet2DConditionModel" and denoiser.config.get("addition_embed_type") == "text_time"


def _channels_last(denoiser) -> str:
    torch = lazy_imports.torch()
    convolutions = [m for m in denoiser.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convolutions:
        return "skipped: the denoiser has no 2D convolutions"
    for convolution in convolutions:  # not the whole model: a video UNet's 3D convolutions have 5D weights
        convolution.to(memory_format=torch.channels_last)
    return f"on ({len(convolutions)} convolutions)"


def _first_block_cache(denoiser, threshold: float) -> str:
    if not hasattr(denoiser, "enable_cache"):
        return f"skipped: {type(denoiser).__name__} has no caching hooks (first-block cache is for DiT models)"
    from diffusers.hooks import FirstBlockCacheConfig

    try:
        denoiser.enable_cache(FirstBlockCacheConfig(threshold=threshold))
    except Exception as exc:  # a model diffusers' cache does not know its blocks of
        return f"skipped: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
    return f"on (threshold {threshold})"


def _compile(denoiser) -> str:
    torch = lazy_imports.torch()
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
    if getattr(denoiser, "_repeated_blocks", None) and hasattr(denoiser, "compile_repeated_blocks"):
        denoiser.compile_repeated_blocks()  # diffusers' own regional compilation (UNet2D, Wan, ...)
        return f"on (diffusers' compile_repeated_blocks: {', '.join(denoiser._repeated_blocks)})"
    blocks = [m for m in denoiser.modules() if type(m).__name__ in REPEATED_BLOCKS]
    # Only the outermost matches: a block inside a compiled block is compiled with it.
    inner = {id(child) for block in blocks for child in block.modules() if child is not block}
    blocks = [block for block in blocks if id(block) not in inner]
    if not blocks:
        denoiser.compile()
        return "on (the whole denoiser: it has no repeated blocks)"
    for block in blocks:
        block.compile()
    return f"on ({len(blocks)} {'/'.join(sorted({type(b).__name__ for b in blocks}))} blocks)"
