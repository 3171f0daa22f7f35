"""The speed options (desktop/engine/speed.py) through the engine on tiny pipelines: each is applied
when its setting is on, and the picture stays the same as the plain run's (the first-block cache,
which skips work, stays close at a small threshold)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop.engine import speed
from desktop.engine.devices import RuntimeOptions
from desktop.engine.engine import Engine
from desktop.engine.request import GenerationRequest
from desktop.library.settings import Settings

sys.path.append(str(Path(__file__).resolve().parents[2] / "benchmarks"))


def request_for(model) -> GenerationRequest:
    return GenerationRequest(prompt="a red circle", model=str(model), width=64, height=64, steps=4, seed=7)


def generate(model, **options):
    """(pixels, the engine's loaded pipeline) for the tiny model with these RuntimeOptions."""
    engine = Engine(runtime=RuntimeOptions(**options))
    result = engine.generate(request_for(model))
    pipe = engine.backend("diffusers")._cache._pipeline
    return np.asarray(result.images[0].image).astype(int), pipe, engine


@pytest.fixture(scope="module")
def plain(tiny_model):
    pixels, _, engine = generate(tiny_model)
    engine.release()
    return pixels


def test_by_default_nothing_is_applied_off_a_gpu(tiny_model, plain):
    options = RuntimeOptions()
    assert options.compile_denoiser is None  # "where measured to win": on a GPU, for SDXL and Wan
    assert not (options.channels_last or options.first_block_cache)
    assert speed.apply_speed_options(object(), options) == {}
    pixels, pipe, engine = generate(tiny_model)
    assert not [m for m in pipe.unet.modules() if getattr(m, "_compiled_call_impl", None) is not None]
    engine.release()


def test_compile_by_default_only_for_the_models_measured_to_win_and_only_on_a_gpu():
    import torch
    from diffusers import UNet2DConditionModel, WanTransformer3DModel

    small = {"block_out_channels": (32, 64), "layers_per_block": 1, "cross_attention_dim": 32, "sample_size": 8}
    small |= {"down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D")}
    small |= {"up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"), "attention_head_dim": 8}
    with torch.device("meta"):
        sd15 = UNet2DConditionModel(**small)
        sdxl = UNet2DConditionModel(
            **small,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=32 + 6 * 8,
        )
        wan = WanTransformer3DModel(
            num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4, text_dim=16, freq_dim=16
        )
    assert [speed.compile_wins(model) for model in (sd15, sdxl, wan)] == [False, True, True]
    # Off a GPU (here the meta device; the CPU, or a GPU's model under CPU offload, alike) never by default.
    assert not any(speed.compiles_by_default(model) for model in (sd15, sdxl, wan))


def test_channels_last_puts_the_unet_convolutions_in_nhwc_and_keeps_the_picture(tiny_model, plain):
    import torch

    pixels, pipe, engine = generate(tiny_model, channels_last=True)
    assert pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert np.abs(pixels - plain).max() <= 1
    engine.release()


def test_compile_compiles_the_repeated_blocks_only_and_keeps_the_picture(tiny_model, plain):
    pixels, pipe, engine = generate(tiny_model, compile_denoiser=True)
    compiled = [m for m in pipe.unet.modules() if getattr(m, "_compiled_call_impl", None) is not None]
    assert compiled and {type(m).__name__ for m in compiled} == {"BasicTransformerBlock"}
    assert pipe.unet._compiled_call_impl is None  # regional: not the whole UNet
    assert np.abs(pixels - plain).max() <= 1
    engine.release()


def test_first_block_cache_leaves_unet_models_alone(tiny_model, plain):
    pixels, pipe, engine = generate(tiny_model, first_block_cache=True)
    assert np.array_equal(pixels, plain)
    engine.release()
    done = speed.apply_speed_options(pipe, RuntimeOptions(first_block_cache=True))
    assert done["first_block_cache"].startswith("skipped") and "DiT" in done["first_block_cache"]


@pytest.fixture(scope="module")
def tiny_wan(tmp_path_factory):
    import torch
    from gpu_architectures import build

    return build(
        "wan-1.3b", tmp_path_factory.mktemp("models") / "tiny-wan", tiny=True, device="cpu", dtype=torch.float32
    )


def test_first_block_cache_on_a_dit_reuses_blocks_and_stays_close(tiny_wan):
    import torch
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(tiny_wan, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)

    def run():
        return pipe(
            "a red circle",
            width=64,
            height=64,
            num_frames=5,
            num_inference_steps=6,
            output_type="np",
            generator=torch.Generator("cpu").manual_seed(0),
        ).frames

    reference = run()
    done = speed.apply_speed_options(pipe, RuntimeOptions(first_block_cache=True, first_block_cache_threshold=1e-6))
    assert done == {"first_block_cache": "on (threshold 1e-06)"}
    assert np.allclose(run(), reference, atol=1e-5)  # a threshold nothing passes under: every block runs
    pipe.transformer.disable_cache()

    speed.apply_speed_options(pipe, RuntimeOptions(first_block_cache=True, first_block_cache_threshold=10.0))
    skipping = run()  # every step after the first reuses the cached blocks
    assert np.isfinite(skipping).all() and skipping.shape == reference.shape
    assert not np.allclose(skipping, reference, atol=1e-5)


def test_the_settings_carry_the_speed_options():
    settings = Settings.from_dict({"compile_denoiser": "on", "channels_last": True, "first_block_cache": "yes"})
    options = settings.runtime_options()
    assert options.compile_denoiser is True and options.channels_last
    assert not options.first_block_cache  # a value of the wrong type falls back to the default
    assert dataclasses.replace(options, first_block_cache=True) != options  # part of the loaded pipeline's key


def test_compile_setting_is_auto_on_or_off_and_reads_the_old_true_false():
    assert Settings().runtime_options().compile_denoiser is None
    assert Settings.from_dict({"compile_denoiser": "off"}).runtime_options().compile_denoiser is False
    assert Settings.from_dict({"compile_denoiser": True}).compile_denoiser == "on"  # chosen before "auto" existed
    assert Settings.from_dict({"compile_denoiser": False}).compile_denoiser == "auto"  # the old default
    assert Settings.from_dict({"compile_denoiser": "fast"}).compile_denoiser == "auto"
