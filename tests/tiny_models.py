"""Tiny random-weight diffusers pipelines built on this machine (no hub), saved like real models.

The tests and benchmarks load them with the app's real loading code.
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "a red green blue circle square on the of background product photo sneaker woman concert "
    "with and in at shirt watch ocean plastic"
).split()


def _tokenizer():
    from transformers import CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    vocab = {
        tok: i for i, tok in enumerate(specials + [w + "</w>" for w in WORDS] + list("abcdefghijklmnopqrstuvwxyz"))
    }
    letters = [c + "</w>" for c in "abcdefghijklmnopqrstuvwxyz"]
    for tok in letters:
        vocab.setdefault(tok, len(vocab))
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp, "vocab.json")
        merges_file = Path(tmp, "merges.txt")
        vocab_file.write_text(json.dumps(vocab))
        merges_file.write_text("#version: 0.2\n")
        return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=77)


def _text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=1000,
            max_position_embeddings=77,
        )
    )


def _vae(block_out_channels=(4, 8)):
    """A 2D VAE of that many blocks (2x smaller per block after the first). Two by default: a
    one-block VAE makes video decoding several times slower; four is Stable Diffusion's 8x."""
    from diffusers import AutoencoderKL

    blocks = len(block_out_channels)
    return AutoencoderKL(
        block_out_channels=block_out_channels,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        latent_channels=4,
        norm_num_groups=2,
    )


def _scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def build_text_to_video(folder: Path) -> Path:
    """A TextToVideoSDPipeline (ModelScope's architecture) in miniature: 8 frames at 64x64 in ~1 s."""
    import torch
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel

    torch.manual_seed(0)
    unet = UNet3DConditionModel(
        block_out_channels=(8, 8),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=2,
    )
    pipe = TextToVideoSDPipeline(
        unet=unet, vae=_vae(), text_encoder=_text_encoder(), tokenizer=_tokenizer(), scheduler=_scheduler()
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    # Random weights made here, not ModelScope's CC-BY-NC ones: the card says so, so the window does not
    # stop the tests with its non-commercial warning (a card-less folder gets the preset's CC-BY-NC).
    Path(folder, "README.md").write_text("---\nlicense: mit\n---\n# Tiny random ModelScope-layout model\n")
    return Path(folder)


def _image_pipeline(pipeline_class, unet_in_channels: int):
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=8,
        in_channels=unet_in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=2,
    )
    return pipeline_class(
        unet=unet,
        vae=_vae(),
        text_encoder=_text_encoder(),
        tokenizer=_tokenizer(),
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )


def build_inpainting(folder: Path) -> Path:
    """A StableDiffusionInpaintPipeline with a 9-channel UNet (latents, mask, masked image)."""
    from diffusers import StableDiffusionInpaintPipeline

    _image_pipeline(StableDiffusionInpaintPipeline, 9).save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_text_to_image(folder: Path) -> Path:
    """A StableDiffusionPipeline of a few hundred thousand parameters: 64x64 in ~0.2 s on a CPU."""
    from diffusers import StableDiffusionPipeline

    _image_pipeline(StableDiffusionPipeline, 4).save_pretrained(folder, safe_serialization=True)
    return Path(folder)
