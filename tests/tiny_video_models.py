"""Tiny random-weight video pipelines of today's families, built on this machine (no hub): Wan 2.1
text-to-video and image-to-video, Wan 2.2 TI2V and A14B, LTX-Video text-to-video and image-to-video,
CogVideoX, HunyuanVideo and Latte.

Each is saved like a real model (safetensors, model_index.json, a README.md whose front matter names
a licence) and loaded by the app's own loading code. Tokenizers are built here too: a small Unigram
vocabulary in transformers' T5Tokenizer (what Wan's UMT5 and LTX's T5 use), and a byte-level BPE
laid out as Llama 3's (HunyuanVideo's LLaVA-Llama-3 text encoder).
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


def _card(folder: Path, licence: str, title: str, licence_name: str = "") -> None:
    name = f"license_name: {licence_name}\n" if licence_name else ""
    (folder / "README.md").write_text(
        f"---\nlicense: {licence}\n{name}library_name: diffusers\ntags:\n- video\n---\n\n# {title}\n\n"
        "A tiny test model.\n",
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


def build_latte_text_to_video(folder: Path, licence: str = "apache-2.0") -> Path:
    """A LattePipeline (Latte-1's layout) in miniature: a T5 text encoder read to 120 tokens, a 2D VAE
    frame by frame (8x smaller), 2x2 patches, spatial and temporal blocks taking turns."""
    import torch
    from diffusers import DDIMScheduler, LattePipeline, LatteTransformer3DModel
    from tiny_models import _vae

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    transformer = LatteTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=8,
        num_layers=1,
        cross_attention_dim=16,
        sample_size=8,
        patch_size=2,
        activation_fn="gelu-approximate",
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
        caption_channels=TEXT_DIM,
        video_length=16,
    )
    pipe = LattePipeline(
        tokenizer=tokenizer,
        text_encoder=_text_encoder(tokenizer, "latte"),
        vae=_vae((4, 8, 8, 8)),
        transformer=transformer,
        scheduler=DDIMScheduler(beta_schedule="linear", clip_sample=False),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _card(Path(folder), licence, "Tiny Latte")
    return Path(folder)


# Llama 3's pre-tokenizer split and the special tokens HunyuanVideo's prompt template uses.
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")


def _llama3_tokenizer():
    """A byte-level BPE laid out as Llama 3's tokenizer.json: every byte is a token (any prompt encodes,
    nothing is unknown), and the words of HunyuanVideo's prompt template and of WORDS are one token
    each, as in Llama 3. So the template before the prompt is the 95 tokens the pipeline crops off
    (DEFAULT_PROMPT_TEMPLATE's crop_start): the text encoder's output starts at the prompt."""
    import re

    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    template = DEFAULT_PROMPT_TEMPLATE["template"]
    text = re.split("|".join(map(re.escape, LLAMA3_SPECIALS)), template.format(""))
    words = {word for part in text for word, _ in pre_tokenizer.pre_tokenize_str(part)}
    words |= {"Ġ" + word for word in WORDS}
    # Each word is built left to right; the merges of words after a space come first, so that a merge
    # inside one (us+e of "user") never splits another ("Ġused").
    vocab = {byte: i for i, byte in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    merges = []
    for word in sorted(words, key=lambda w: (not w.startswith("Ġ"), w)):
        for end in range(2, len(word) + 1):
            if word[:end] not in vocab:
                vocab[word[:end]] = len(vocab)
                merges.append((word[: end - 1], word[end - 1]))
    core = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    core.pre_tokenizer = pre_tokenizer
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(list(LLAMA3_SPECIALS))
    bos = core.token_to_id("<|begin_of_text|>")
    core.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|end_of_text|>",
        padding_side="right",
        model_max_length=1024,
    )
    crop = DEFAULT_PROMPT_TEMPLATE["crop_start"]
    assert len(tokenizer(template.split("{}")[0]).input_ids) == crop, "the template is not the 95 tokens cropped"
    return tokenizer


def build_hunyuan_text_to_video(
    folder: Path, licence: str = "other", licence_name: str = "tencent-hunyuan-community"
) -> Path:
    """A HunyuanVideoPipeline in miniature, laid out as the released folder (hunyuanvideo-community/
    HunyuanVideo): a Llama text encoder whose Llama 3 byte-level tokenizer.json is declared as
    LlamaTokenizerFast, a CLIP text encoder for the pooled prompt, a causal 3D VAE that packs 4 frames
    into one latent frame (8x spatially), and flow matching with shift 7."""
    import json

    import torch
    from diffusers import (
        AutoencoderKLHunyuanVideo,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoPipeline,
        HunyuanVideoTransformer3DModel,
    )
    from tiny_models import _tokenizer as _clip_tokenizer
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

    tokenizer, tokenizer_2 = _llama3_tokenizer(), _clip_tokenizer()
    torch.manual_seed(0)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=10,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        patch_size=1,
        patch_size_t=1,
        guidance_embeds=True,
        text_embed_dim=16,
        pooled_projection_dim=8,
        rope_axes_dim=(2, 4, 4),
    )
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(
        latent_channels=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
    )
    torch.manual_seed(0)
    # Three layers: the pipeline reads the hidden states two layers before the last.
    text_encoder = LlamaModel(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=37,
            num_attention_heads=4,
            num_key_value_heads=4,
            num_hidden_layers=3,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer_2),
            hidden_size=8,  # its pooled output is the transformer's pooled projection
            intermediate_size=37,
            num_attention_heads=2,
            num_hidden_layers=2,
            max_position_embeddings=77,
            bos_token_id=tokenizer_2.bos_token_id,
            eos_token_id=tokenizer_2.eos_token_id,
            pad_token_id=tokenizer_2.pad_token_id,
        )
    )
    pipe = HunyuanVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        tokenizer_2=tokenizer_2,
        text_encoder_2=text_encoder_2,
        vae=vae,
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
    )
    folder = Path(folder)
    pipe.save_pretrained(folder, safe_serialization=True)
    # The released folder names its Llama 3 tokenizer LlamaTokenizerFast, as the one saved here now.
    index = json.loads((folder / "model_index.json").read_text())
    index["tokenizer"] = ["transformers", "LlamaTokenizerFast"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    config_file = folder / "tokenizer" / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config["tokenizer_class"] = "LlamaTokenizerFast"
    config_file.write_text(json.dumps(config, indent=2))
    _card(folder, licence, "Tiny HunyuanVideo", licence_name)
    return folder
