"""Tiny random-weight video pipelines of today's families, built on this machine (no hub): Wan 2.1
text-to-video and image-to-video, Wan 2.2 TI2V and A14B, LTX-Video text-to-video and image-to-video,
and CogVideoX.

Each is saved like a real model (safetensors, model_index.json, a README.md whose front matter names
a licence) and loaded by the app's own loading code. Tokenizers are built here too: a small Unigram
vocabulary in transformers' T5Tokenizer (what Wan's UMT5 and LTX's T5 use).
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "a an the woman man smart watch for health monitoring product shot sneaker bottle perfume red blue "
    "green white black on of with and in at is wearing slowly turns camera light studio background"
).split()
# Pieces for everything else: a word outside WORDS is spelled out letter by letter (unknown
# characters, such as the Chinese of Wan's own negative prompt, become <unk>).
CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'-▁"
TEXT_DIM = 32


def _tokenizer():
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("▁" + word, -2.0) for word in WORDS] + [(c, -5.0) for c in CHARACTERS]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=512)


def _text_encoder(tokenizer, family: str):
    """As many embeddings as the tokenizer has tokens: an id past the table would fail on any prompt."""
    import torch

    torch.manual_seed(0)
    if family == "wan":
        from transformers import UMT5Config, UMT5EncoderModel

        config, model = UMT5Config, UMT5EncoderModel
    else:
        from transformers import T5Config, T5EncoderModel

        config, model = T5Config, T5EncoderModel
    return model(
        config(
            vocab_size=len(tokenizer),
            d_model=TEXT_DIM,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )


def _card(folder: Path, licence: str, title: str) -> None:
    (folder / "README.md").write_text(
        f"---\nlicense: {licence}\nlibrary_name: diffusers\ntags:\n- video\n---\n\n# {title}\n\nA tiny test model.\n",
        encoding="utf-8",
    )


def _wan_vae():
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )


def _wan_scheduler():
    from diffusers import UniPCMultistepScheduler

    # What the released Wan 2.1 folders ship (flow_shift 3.0 for 480p).
    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)


def _wan_transformer(in_channels: int, image_dim: int | None = None):
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=in_channels,
        out_channels=16,
        text_dim=TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        image_dim=image_dim,
    )


def build_wan_text_to_video(folder: Path, licence: str = "apache-2.0", two_experts: bool = False) -> Path:
    """A WanPipeline (Wan 2.1 T2V's architecture) in miniature; with two_experts, Wan 2.2 A14B's: a
    second transformer for the steps below the boundary."""
    import torch
    from diffusers import WanPipeline

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    experts = {"transformer_2": _wan_transformer(16), "boundary_ratio": 0.875} if two_experts else {}
    pipe = WanPipeline(
        tokenizer=tokenizer,
        text_encoder=_text_encoder(tokenizer, "wan"),
        vae=_wan_vae(),
        scheduler=_wan_scheduler(),
        transformer=_wan_transformer(16),
        **experts,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _card(Path(folder), licence, "Tiny Wan 2.2 A14B" if two_experts else "Tiny Wan text-to-video")
    return Path(folder)


def build_wan_image_to_video(folder: Path, licence: str = "apache-2.0") -> Path:
    """A WanImageToVideoPipeline (Wan 2.1 I2V: a CLIP image encoder beside the text encoder)."""
    import torch
    from diffusers import WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=4,
            projection_dim=4,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            intermediate_size=16,
            patch_size=1,
        )
    )
    pipe = WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=_text_encoder(tokenizer, "wan"),
        vae=_wan_vae(),
        scheduler=_wan_scheduler(),
        # 16 noise channels + 16 of the encoded first frame + 4 of its mask
        transformer=_wan_transformer(36, image_dim=4),
        image_encoder=image_encoder,
        image_processor=CLIPImageProcessor(crop_size=32, size=32),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _card(Path(folder), licence, "Tiny Wan image-to-video")
    return Path(folder)


def _ltx_components() -> dict:
    import torch
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=TEXT_DIM,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    return {
        "transformer": transformer,
        "vae": vae,
        "scheduler": FlowMatchEulerDiscreteScheduler(),
        "text_encoder": _text_encoder(tokenizer, "ltx"),
        "tokenizer": tokenizer,
    }


def build_ltx_text_to_video(folder: Path, licence: str = "other") -> Path:
    """An LTXPipeline (LTX-Video) in miniature."""
    from diffusers import LTXPipeline

    LTXPipeline(**_ltx_components()).save_pretrained(folder, safe_serialization=True)
    _card(Path(folder), licence, "Tiny LTX-Video")
    return Path(folder)


def build_ltx_image_to_video(folder: Path, licence: str = "other") -> Path:
    """An LTXImageToVideoPipeline: the same components, the picture conditions the first frame."""
    from diffusers import LTXImageToVideoPipeline

    LTXImageToVideoPipeline(**_ltx_components()).save_pretrained(folder, safe_serialization=True)
    _card(Path(folder), licence, "Tiny LTX-Video image-to-video")
    return Path(folder)


def build_wan_ti2v(folder: Path, licence: str = "apache-2.0") -> Path:
    """A WanPipeline with expand_timesteps, as Wan 2.2 TI2V 5B ships: one model for text and pictures."""
    import torch
    from diffusers import WanPipeline

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    pipe = WanPipeline(
        tokenizer=tokenizer,
        text_encoder=_text_encoder(tokenizer, "wan"),
        vae=_wan_vae(),
        scheduler=_wan_scheduler(),
        transformer=_wan_transformer(16),
        expand_timesteps=True,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _card(Path(folder), licence, "Tiny Wan 2.2 TI2V")
    return Path(folder)


def build_cogvideox_text_to_video(folder: Path, licence: str = "apache-2.0") -> Path:
    """A CogVideoXPipeline (CogVideoX 2B's layout) in miniature: a 3D causal VAE that packs 4 frames
    into one latent frame, 2x2 patches, a T5 text encoder read to 226 tokens as the real ones."""
    import torch
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4,
        attention_head_dim=8,
        in_channels=4,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=TEXT_DIM,
        num_layers=1,
        sample_width=8,
        sample_height=8,
        sample_frames=9,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=226,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    pipe = CogVideoXPipeline(
        tokenizer=tokenizer,
        text_encoder=_text_encoder(tokenizer, "cogvideox"),
        vae=vae,
        transformer=transformer,
        scheduler=CogVideoXDDIMScheduler(timestep_spacing="trailing"),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _card(Path(folder), licence, "Tiny CogVideoX")
    return Path(folder)
