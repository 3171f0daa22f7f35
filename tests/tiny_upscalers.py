"""Tiny upscalers built on this machine (no hub), saved the way real ones are shipped.

- RRDBNet weights in the Real-ESRGAN layout and in the original ESRGAN layout, as .safetensors (or a
  .pth pickle). The weights are an identity path plus small random noise: the network enlarges a
  picture like a nearest-neighbour resize with a deterministic random texture on top, so results are
  pictures (not noise clipped to black) and tile borders would show if blending were wrong.
- A StableDiffusionUpscalePipeline x4 folder: 7-channel UNet (4 latents + the 3-channel picture), a
  three-block VAE (it decodes 4 times larger), the local CLIP tokenizer of tiny_models.
- A StableDiffusionLatentUpscalePipeline x2 folder: the K-diffusion UNet of diffusers' own tests (its
  blocks need 32 channels at least), a four-block VAE (latents 8 times smaller, as SD's).

The tests and the benchmark load them with the app's real loading code.
"""

from __future__ import annotations

from pathlib import Path

from tiny_models import _text_encoder, _tokenizer, _vae


def rrdb_state_dict(
    *,
    upsamples: int = 2,
    unshuffle: int = 1,
    features: int = 8,
    growth: int = 4,
    blocks: int = 1,
    noise: float = 0.01,
    seed: int = 0,
) -> dict:
    """Real-ESRGAN-named weights of an RRDBNet of scale 2**upsamples / unshuffle."""
    import torch

    from desktop.engine.rrdbnet import RRDBConfig, expected_shapes

    config = RRDBConfig("Real-ESRGAN", 3, features, growth, blocks, upsamples, unshuffle)
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in expected_shapes(config).items():
        state[name] = torch.randn(shape, generator=generator) * noise
    # The identity path: RGB into the first three features (from the top-left pixel of each unshuffled
    # square), through every upsampling and the HR conv, and back out as RGB.
    first_input = [channel * unshuffle**2 for channel in range(3)]
    for channel in range(3):
        state["conv_first.weight"][channel, first_input[channel], 1, 1] += 1.0
        for stage in range(1, upsamples + 1):
            state[f"conv_up{stage}.weight"][channel, channel, 1, 1] += 1.0
        state["conv_hr.weight"][channel, channel, 1, 1] += 1.0
        state["conv_last.weight"][channel, channel, 1, 1] += 1.0
    return state


def to_esrgan_names(state: dict, upsamples: int, blocks: int) -> dict:
    """The same weights under the original ESRGAN names (model.0, model.1.sub.N.RDBr.convc.0, ...)."""
    top = {"conv_first": "model.0", "conv_body": f"model.1.sub.{blocks}"}
    top |= {f"conv_up{k}": f"model.{3 * k}" for k in range(1, upsamples + 1)}
    top |= {"conv_hr": f"model.{3 * upsamples + 2}", "conv_last": f"model.{3 * upsamples + 4}"}
    renamed = {}
    for name, tensor in state.items():
        stem, kind = name.rsplit(".", 1)
        if stem.startswith("body."):
            _, block, rdb, conv = stem.split(".")
            renamed[f"model.1.sub.{block}.RDB{rdb[3:]}.{conv}.0.{kind}"] = tensor
        else:
            renamed[f"{top[stem]}.{kind}"] = tensor
    return renamed


def build_realesrgan(path: Path, scale: int = 4, **options) -> Path:
    """A Real-ESRGAN-layout upscaler: x4 as RealESRGAN_x4plus, x2 as RealESRGAN_x2plus (pixel-unshuffle)."""
    from safetensors.torch import save_file

    unshuffle = 2 if scale == 2 else 1
    save_file(rrdb_state_dict(upsamples=2, unshuffle=unshuffle, **options), str(path))
    return Path(path)


def build_esrgan(path: Path, scale: int = 4, blocks: int = 1, **options) -> Path:
    """An original-ESRGAN-layout upscaler (one upsampling stage per x2)."""
    from safetensors.torch import save_file

    upsamples = {2: 1, 4: 2}[scale]
    state = rrdb_state_dict(upsamples=upsamples, blocks=blocks, **options)
    save_file(to_esrgan_names(state, upsamples, blocks), str(path))
    return Path(path)


def build_pickled_realesrgan(path: Path) -> Path:
    """A .pth the way BasicSR saves one: the weights under "params_ema"."""
    import torch

    torch.save({"params_ema": rrdb_state_dict()}, str(path))
    return Path(path)


def build_sd_x4_upscaler(folder: Path) -> Path:
    """A StableDiffusionUpscalePipeline in miniature: a 64x64 picture to 256x256 in well under a second."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=16,
        in_channels=7,  # 4 latent channels + the noised low-resolution picture
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=2,
        num_class_embeds=351,  # the noise level (0..max_noise_level) is the class label
    )
    vae = AutoencoderKL(
        block_out_channels=(4, 8, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        norm_num_groups=2,
        scaling_factor=0.08333,
    )
    pipe = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=_text_encoder(),
        tokenizer=_tokenizer(),
        unet=unet,
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_sd_x2_latent_upscaler(folder: Path) -> Path:
    """A StableDiffusionLatentUpscalePipeline in miniature: 128x96 to 256x192 in under half a second."""
    import torch
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionLatentUpscalePipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        act_fn="gelu",
        attention_head_dim=8,
        norm_num_groups=None,
        block_out_channels=(32, 32, 64, 64),
        time_cond_proj_dim=160,  # 128 for the noise level + the text encoder's 32-wide pooled output
        conv_in_kernel=1,
        conv_out_kernel=1,
        cross_attention_dim=32,
        down_block_types=("KDownBlock2D",) + ("KCrossAttnDownBlock2D",) * 3,
        in_channels=8,  # 4 latent channels + the picture's 4 latent channels
        mid_block_type=None,
        only_cross_attention=False,
        out_channels=5,
        resnet_time_scale_shift="scale_shift",
        time_embedding_type="fourier",
        timestep_post_act="gelu",
        up_block_types=("KCrossAttnUpBlock2D",) * 3 + ("KUpBlock2D",),
    )
    pipe = StableDiffusionLatentUpscalePipeline(
        vae=_vae((4, 8, 8, 8)),
        text_encoder=_text_encoder(),
        tokenizer=_tokenizer(),
        unet=unet,
        scheduler=EulerDiscreteScheduler(prediction_type="sample"),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)
