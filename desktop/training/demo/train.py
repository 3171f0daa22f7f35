"""Train the built-in demo model from scratch on this machine's CPU, and save it as a standard
diffusers StableDiffusionPipeline folder (safetensors).

    python -m desktop.training.demo.train --out resources/models/demo [--vae-minutes 15 --unet-minutes 70]

Two stages: an autoencoder (64x64 RGB <-> 16x16x4 latents) trained until it reconstructs flat
shapes well, then a text-conditioned UNet (and a small CLIP text encoder, jointly) on the frozen
autoencoder's latents. Figures reached are printed and saved next to the weights in training.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np

from desktop.training.demo.evaluate import TARGETS, evaluate, record
from desktop.training.demo.shapes import SYNONYMS, VOCABULARY, dataset

MAX_TOKENS = 77


def build_tokenizer(vocabulary=VOCABULARY, synonyms=SYNONYMS, max_tokens: int = MAX_TOKENS):
    """A word-level tokenizer of vocabulary (the demo video model's has motions too), CLIP's specials."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "[UNK]": 2}
    for word in vocabulary:
        if word not in synonyms:
            vocab[word] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    # Synonyms are rewritten before lookup ("grey" -> "gray"): a WordLevel vocabulary in which two
    # words share an id silently drops one of them to [UNK].
    core.normalizer = normalizers.Sequence(
        [normalizers.Lowercase()]
        + [normalizers.Replace(Regex(rf"\b{word}\b"), same) for word, same in synonyms.items()]
    )
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="[UNK]",
        model_max_length=max_tokens,
    )


def build_models(vocab_size: int):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=32,
        block_out_channels=(32, 64, 64),
        mid_block_add_attention=False,  # flat shapes need no attention
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=MAX_TOKENS,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        norm_num_groups=32,
        block_out_channels=(32, 64, 64),
        cross_attention_dim=64,
        attention_head_dim=8,
        # The pooled caption is also added to the timestep embedding (the GLIDE/IF design): colours and
        # shapes are global, and this path lets every ResNet block see them, not only the attention layers.
        addition_embed_type="text",
        addition_embed_type_num_heads=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    )
    return vae, text_encoder, unet


def to_tensor(pictures: np.ndarray):
    import torch

    return torch.from_numpy(pictures).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def psnr(a, b) -> float:
    mse = float(((a - b) ** 2).mean())
    return 10 * math.log10(4.0 / max(mse, 1e-12))  # values span [-1, 1]: peak-to-peak 2


def train_vae(vae, pictures, minutes: float, batch: int, log) -> dict:
    import torch

    images = to_tensor(pictures)
    held_out, images = images[:256], images[256:]
    optimizer = torch.optim.Adam(vae.parameters(), lr=2e-3)
    deadline, step, started = time.time() + minutes * 60, 0, time.time()
    generator = torch.Generator().manual_seed(0)
    vae.train()
    while time.time() < deadline:
        index = torch.randint(0, len(images), (batch,), generator=generator)
        x = images[index]
        posterior = vae.encode(x).latent_dist
        # Decoding the mean, not a sample, trains a sharper decoder; the UNet is trained on the mean too.
        recon = vae.decode(posterior.mode()).sample
        loss = torch.nn.functional.mse_loss(recon, x) + 0.1 * torch.nn.functional.l1_loss(recon, x)
        loss = loss + 1e-7 * posterior.kl().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        for group in optimizer.param_groups:  # cosine decay over the time budget
            group["lr"] = 2e-3 * (
                0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (time.time() - started) / (minutes * 60))))
            )
        if step % 200 == 0:
            log(f"vae step {step}: loss {loss.item():.5f}")
    vae.eval()
    with torch.no_grad():
        recon = vae.decode(vae.encode(held_out).latent_dist.mode()).sample.clamp(-1, 1)
    return {
        "vae_steps": step,
        "vae_minutes": round((time.time() - started) / 60, 1),
        "vae_psnr_db": round(psnr(recon, held_out), 2),
    }


@np.errstate(all="ignore")
def encode_latents(vae, pictures, batch: int = 256):
    import torch

    chunks = []
    with torch.no_grad():
        for start in range(0, len(pictures), batch):
            chunks.append(vae.encode(to_tensor(pictures[start : start + batch])).latent_dist.mode())
    latents = torch.cat(chunks)
    scale = float(1.0 / latents.std())
    return latents * scale, scale


def train_unet(unet, text_encoder, tokenizer, latents, captions, minutes: float, batch: int, log) -> dict:
    import torch
    from diffusers import DDPMScheduler

    # v-prediction: at high noise the target is close to the clean latents, which only the caption can
    # tell; with epsilon prediction that loss is near zero and the text conditioning was never learned.
    scheduler = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction"
    )
    tokens = tokenizer(
        captions, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt"
    ).input_ids
    empty = tokenizer([""], padding="max_length", max_length=MAX_TOKENS, return_tensors="pt").input_ids[0]
    parameters = list(unet.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=4e-4, weight_decay=1e-2)
    ema = copy.deepcopy(unet).requires_grad_(False)
    ema_text = copy.deepcopy(text_encoder).requires_grad_(False)
    generator = torch.Generator().manual_seed(1)
    deadline, step, started = time.time() + minutes * 60, 0, time.time()
    unet.train()
    text_encoder.train()
    losses = []
    while time.time() < deadline:
        index = torch.randint(0, len(latents), (batch,), generator=generator)
        x0, ids = latents[index], tokens[index].clone()
        drop = torch.rand(batch, generator=generator) < 0.1  # empty captions teach the unconditional half of CFG
        ids[drop] = empty
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, 1000, (batch,), generator=generator)
        noisy = scheduler.add_noise(x0, noise, t)
        context = text_encoder(ids)[0]
        prediction = unet(noisy, t, encoder_hidden_states=context).sample
        loss = torch.nn.functional.mse_loss(prediction, scheduler.get_velocity(x0, noise, t))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        step += 1
        progress = min(1.0, (time.time() - started) / (minutes * 60))
        for group in optimizer.param_groups:
            group["lr"] = 4e-4 * min(1.0, step / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for model, average in ((unet, ema), (text_encoder, ema_text)):
                for p, q in zip(model.parameters(), average.parameters(), strict=True):
                    q.mul_(decay).add_(p.detach(), alpha=1 - decay)
        losses.append(loss.item())
        if step % 200 == 0:
            log(f"unet step {step}: loss {np.mean(losses[-200:]):.4f}")
    return {
        "unet": ema,
        "text_encoder": ema_text,
        "unet_steps": step,
        "unet_minutes": round((time.time() - started) / 60, 1),
        "unet_final_loss": round(float(np.mean(losses[-200:])), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("resources/models/demo"))
    parser.add_argument("--pictures", type=int, default=30000)
    parser.add_argument("--vae-minutes", type=float, default=15)
    parser.add_argument("--unet-minutes", type=float, default=70)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    started = time.time()

    def log(message: str) -> None:
        print(f"[{(time.time() - started) / 60:5.1f} min] {message}", flush=True)

    pictures, captions = dataset(args.pictures, seed=0)
    log(f"{len(pictures)} pictures drawn")
    tokenizer = build_tokenizer()
    vae, text_encoder, unet = build_models(len(set(tokenizer.get_vocab().values())))
    log(
        f"parameters: vae {sum(p.numel() for p in vae.parameters()):,}, unet "
        f"{sum(p.numel() for p in unet.parameters()):,}, text {sum(p.numel() for p in text_encoder.parameters()):,}"
    )
    figures = train_vae(vae, pictures, args.vae_minutes, 16, log)
    log(f"autoencoder: {figures}")
    latents, scale = encode_latents(vae, pictures)
    vae.register_to_config(scaling_factor=scale)
    figures["latent_scaling_factor"] = round(scale, 5)
    trained = train_unet(unet, text_encoder, tokenizer, latents, captions, args.unet_minutes, args.batch, log)
    figures.update({k: v for k, v in trained.items() if k not in ("unet", "text_encoder")})
    save(args.out, vae, trained["text_encoder"], tokenizer, trained["unet"])
    figures["total_minutes"] = round((time.time() - started) / 60, 1)
    (args.out / "training.json").write_text(json.dumps(figures, indent=2) + "\n")
    log(f"saved to {args.out}: {figures}")
    evaluation = evaluate(str(args.out.resolve()))  # through the app's engine, like any local model
    record(args.out, evaluation)
    log(f"evaluation: { ({k: v for k, v in evaluation.items() if k != 'misses'}) }, targets {TARGETS}")


def save(folder: Path, vae, text_encoder, tokenizer, unet) -> None:
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="v_prediction",
        clip_sample=False,
        set_alpha_to_one=False,
        timestep_spacing="trailing",  # start at the last timestep, where the picture comes from the caption alone
        steps_offset=1,  # unused with trailing spacing; StableDiffusionPipeline warns without it
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


if __name__ == "__main__":
    main()
