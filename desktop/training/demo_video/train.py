"""Train the built-in demo video model on this machine's CPU, from the image demo model, and save it as
a standard diffusers AnimateDiffPipeline folder (safetensors).

    python -m desktop.training.demo_video.train --out resources/models/demo-video --clips 1500 --paths narrow \
        --minutes 95 --lr 1e-3 --threads 2 --local-attention 4 --frame-code 0.01 --canonical 0.75 \
        --high-first 1500 --checkpoint-minutes 15

(the shipped model's command; about 103 minutes on 2 cores with its evaluation, run alone.)

What it starts from: the image demo model (resources/models/demo). Its autoencoder is used as it is
(every frame is a 64x64 picture of a flat shape, which it already encodes), its UNet becomes the
spatial half of a UNetMotionModel with new motion modules (temporal attention, initialised to do
nothing, so training starts from the image model making 16 separate pictures), and its text encoder
gets the words for motion (moving, up, down, growing, shrinking) beside the colours and shapes it
knows. The clips are encoded once with the frozen autoencoder; then the UNet (spatial and motion
layers) and the text encoder train jointly on the latents, within a time budget, with a cosine
learning rate and an EMA of the weights, which is what is saved (also every --checkpoint-minutes, so
a partial model can be evaluated). Figures go to training.json beside the weights.

`--denoiser latte` trains a small Latte transformer from scratch instead (the same autoencoder and
text encoder, the latter reading LattePipeline's 120 tokens) and saves a standard LattePipeline
folder, which the app runs like the UNet's (see build_latte_transformer for why, and the README for
what it reached).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np

from desktop.training.demo.train import build_tokenizer as build_word_tokenizer
from desktop.training.demo_video.clips import FRAMES, REVERSED, SYNONYMS, VOCABULARY, Clip, dataset

# Captions are short ("a red circle moving to the right on a blue background" is 11 words): a
# 16-token context is a fifth of CLIP's 77 for the cross-attention to read.
MAX_TOKENS = 16
# LattePipeline pads every caption to this many tokens before its text encoder reads it.
LATTE_TOKENS = 120
# One of each pair of opposite motions (see backwards_chance).
CANONICAL = ("moving right", "moving down", "growing")


def image_demo_folder() -> Path:
    from desktop.resources import DEMO_MODEL_DIR

    return DEMO_MODEL_DIR


def build_tokenizer():
    return build_word_tokenizer(VOCABULARY, SYNONYMS, MAX_TOKENS)


def load_models(image_folder: Path, video_folder: Path):
    """Go on from a saved demo video model (its text encoder and UNet; the image demo's autoencoder)."""
    from diffusers import AutoencoderKL, UNetMotionModel
    from transformers import CLIPTextModel

    vae = AutoencoderKL.from_pretrained(image_folder / "vae").eval().requires_grad_(False)
    text_encoder = CLIPTextModel.from_pretrained(video_folder / "text_encoder")
    unet = UNetMotionModel.from_pretrained(video_folder / "unet")
    return vae, text_encoder, unet


def build_models(image_folder: Path, tokenizer, local_attention: float = 0.0, frame_code: float = 0.0):
    """The image demo's autoencoder; its text encoder with this vocabulary (the words both know keep
    their embeddings); a UNetMotionModel with its UNet's weights and new motion modules."""
    from diffusers import UNet2DConditionModel

    vae, text_encoder = build_autoencoder_and_text_encoder(image_folder, tokenizer)
    unet2d = UNet2DConditionModel.from_pretrained(image_folder / "unet")
    return vae, text_encoder, _build_unet_motion(unet2d, local_attention, frame_code)


def build_autoencoder_and_text_encoder(image_folder: Path, tokenizer):
    import torch
    from diffusers import AutoencoderKL
    from transformers import AutoTokenizer, CLIPTextModel

    vae = AutoencoderKL.from_pretrained(image_folder / "vae").eval().requires_grad_(False)
    image_text = CLIPTextModel.from_pretrained(image_folder / "text_encoder")
    image_vocab = AutoTokenizer.from_pretrained(image_folder / "tokenizer").get_vocab()
    vocab = tokenizer.get_vocab()
    config = copy.deepcopy(image_text.config)
    config.vocab_size = len(set(vocab.values()))
    text_encoder = CLIPTextModel(config)
    state = image_text.state_dict()
    old = image_text.get_input_embeddings().weight.detach()
    state = {k: v for k, v in state.items() if not k.endswith("token_embedding.weight")}
    missing, unexpected = text_encoder.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("token_embedding.weight") for k in missing), (missing, unexpected)
    with torch.no_grad():
        new = text_encoder.get_input_embeddings().weight
        new.copy_(old.mean(0) + 0.5 * old.std(0) * torch.randn(new.shape, generator=torch.Generator().manual_seed(0)))
        for word, index in vocab.items():
            if word in image_vocab:
                new[index] = old[image_vocab[word]]
    return vae, text_encoder


def _build_unet_motion(unet2d, local_attention: float, frame_code: float):
    import torch
    from diffusers import MotionAdapter, UNetMotionModel

    adapter = MotionAdapter(
        block_out_channels=tuple(unet2d.config.block_out_channels),
        motion_layers_per_block=unet2d.config.layers_per_block,
        motion_num_attention_heads=4,
        motion_norm_num_groups=unet2d.config.norm_num_groups,
        motion_max_seq_length=32,
        use_motion_mid_block=True,
    )
    converted = UNetMotionModel.from_unet2d(unet2d, adapter)
    # UNetMotionModel has no "text" addition embedding (the image UNet's pooled-caption path): its
    # config must not say it has one. The cross-attention carries the caption alone from here.
    unet = UNetMotionModel.from_config({**converted.config, "addition_embed_type": None})
    unet.load_state_dict(converted.state_dict())
    with torch.no_grad():  # motion modules start as the identity (AnimateDiff's zero-initialised output)
        for module in unet.modules():
            if type(module).__name__ == "AnimateDiffTransformer3D":
                module.proj_out.weight.zero_()
                module.proj_out.bias.zero_()
    if local_attention:
        attend_to_nearby_frames(unet, local_attention)
    if frame_code:
        pass_frame_code(unet, frame_code)
    return unet


def build_wan_transformer(text_dim: int, layers: int = 4, heads: int = 4, head_dim: int = 32):
    """A small Wan transformer from scratch (random weights), on the image demo's latents.

    Why try it: in a UNetMotionModel a frame learns its place in the clip only from attention along
    time at one spot, and the caption reaches only the spatial layers, so "left" against "right"
    (the same path, opposite order) needs the two to meet, which measured, never happened (direction
    gap ≈ 0). A Wan transformer attends over every (frame, row, column) at once with 3D rotary
    positions and reads the caption in every block: "one step to the left per frame" is a relative
    offset in space and time, which its attention can express directly."""
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        in_channels=4,
        out_channels=4,
        text_dim=text_dim,
        freq_dim=64,
        ffn_dim=4 * heads * head_dim,
        num_layers=layers,
        rope_max_seq_len=64,
    )


def build_latte_transformer(text_dim: int, layers: int = 4, heads: int = 4, head_dim: int = 32):
    """A small Latte transformer from scratch (random weights), on the image demo's latents: what
    LattePipeline runs.

    Why Latte: its tokens carry their absolute place in the frame (2D sine-cosine positions) and,
    from the first temporal block on, in the clip (1D sine-cosine frame positions), both added to
    the residual stream that its spatial blocks' cross-attention reads the caption from. So "where
    is the shape in frame 5 of a clip moving left" is a function of what one token holds, which an
    MLP computes. In a UNetMotionModel the caption reaches only the spatial layers and the frame's
    place only the motion modules (measured: the direction word was never tied to the frame order);
    a Wan transformer has rotary positions only, relative ones, so from pure noise no token knows
    which frame it is in (its direction gap stayed 0 too). Measured: from scratch it learns colours
    first and, after 76 minutes, had not yet read the motion words (README)."""
    from diffusers import LatteTransformer3DModel

    return LatteTransformer3DModel(
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        in_channels=4,
        out_channels=8,  # LattePipeline keeps the first half (the other is a learned variance it drops)
        num_layers=layers,
        cross_attention_dim=heads * head_dim,
        sample_size=16,
        patch_size=2,
        activation_fn="gelu-approximate",
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
        caption_channels=text_dim,
        video_length=FRAMES,
    )


def with_positions(text_encoder, positions: int):
    """The text encoder able to read `positions` tokens: LattePipeline pads every caption to 120 (a
    T5 length), past CLIP's 77. The new places copy the last one; they only ever hold padding,
    which the causal attention keeps away from the caption's own tokens."""
    import torch
    from transformers import CLIPTextModel

    config = copy.deepcopy(text_encoder.config)
    old = config.max_position_embeddings
    if positions <= old:
        return text_encoder
    config.max_position_embeddings = positions
    longer = CLIPTextModel(config)
    state = text_encoder.state_dict()
    key = next(k for k in state if k.endswith("position_embedding.weight"))
    state[key] = torch.cat([state[key], state[key][-1:].repeat(positions - old, 1)])
    missing, unexpected = longer.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("position_ids") for k in missing), (missing, unexpected)
    return longer


def is_motion_unet(model) -> bool:
    """An AnimateDiff UNetMotionModel, not a transformer."""
    return type(model).__name__ == "UNetMotionModel"


def is_latte(model) -> bool:
    return type(model).__name__ == "LatteTransformer3DModel"


def denoise(model, noisy, t, context, mask=None):
    """The denoiser's prediction for (clips, channels, frames, height, width) latents: a
    UNetMotionModel takes the caption once per frame (as AnimateDiffPipeline passes it), a Wan
    transformer once per clip. A Latte transformer reads only the caption's tokens where mask is 1
    (LattePipeline cuts a caption's padding off; a mask does the same to a batch of captions of
    different lengths), and of its output LattePipeline keeps the first four channels."""
    if is_motion_unet(model):
        return model(noisy, t, encoder_hidden_states=context.repeat_interleave(noisy.shape[2], dim=0)).sample
    if is_latte(model):
        # The spatial blocks see (clips x frames) rows: one additive bias row per frame, 0 = read.
        bias = (1 - mask.float()).mul(-10000.0)[:, None, :].repeat_interleave(noisy.shape[2], dim=0)
        out = model(noisy, t, encoder_hidden_states=context, encoder_attention_mask=bias, return_dict=False)[0]
        return out[:, : noisy.shape[1]]
    return model(noisy, t, encoder_hidden_states=context, return_dict=False)[0]


def pass_frame_code(unet, std: float) -> None:
    """Start the motion modules' output projections at small random weights instead of zero, so
    each frame's features carry a code of its place in the clip from the first step (with
    attend_to_nearby_frames, a frame's motion-module output is mostly its own position's values).

    Why: zero-initialised, the spatial layers see no frame index until the motion modules learn to
    pass one, and measured, they never do: the direction word ("left" against "right") needs the
    layers that read the caption to know early frames from late ones."""
    import torch

    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in unet.modules():
            if type(module).__name__ == "AnimateDiffTransformer3D":
                weight = module.proj_out.weight
                weight.copy_(torch.randn(weight.shape, generator=generator) * std)


def attend_to_nearby_frames(unet, scale: float) -> None:
    """Start the motion modules' attention on nearby frames: the query and key projections tied (so
    two frames' positions agree most with themselves) and the frame positions scaled up.

    Why: initialised as AnimateDiff's, a motion module attends to all 16 frames alike (measured: 6%
    of the weight on a frame itself, as uniform), so what it passes on is the same for every frame
    and the spatial layers cannot tell the first frame from the last, which "moving left" versus
    "moving right" needs. With scale 4, 22% of the weight is on the frame itself and most of the
    rest on its neighbours, so each frame's output carries its place in the clip from the first step."""
    import torch

    with torch.no_grad():
        for module in unet.modules():
            if type(module).__name__ == "BasicTransformerBlock" and module.pos_embed is not None:
                module.pos_embed.pe.mul_(scale)
                for attention in (module.attn1, module.attn2):
                    if attention is not None and not attention.is_cross_attention:
                        attention.to_k.weight.copy_(attention.to_q.weight)


def learn_positions(unet) -> list:
    """Make the motion modules' frame-position embeddings (AnimateDiff's fixed sinusoids) trainable.

    Why: a 16-frame clip reads only the fastest sinusoids, which wrap around; the slow ones that grow
    with the frame index barely change over 16 frames, so a frame's index is hard to read from them,
    and "moving left" against "moving right" (the same path, opposite order) needs it. They stay
    where a standard UNetMotionModel keeps them (its `pos_embed.pe` weights), so the saved folder
    loads as any AnimateDiff model; frames beyond the 16 trained keep their sinusoids."""
    import torch

    learned = []
    for module in unet.modules():
        if type(module).__name__ == "SinusoidalPositionalEmbedding" and "pe" in module._buffers:
            table = module._buffers.pop("pe")
            module.pe = torch.nn.Parameter(table.detach().clone())
            learned.append(module.pe)
    return learned


def direction_gap(
    unet, text_encoder, tokenizer, latents, clips: list[Clip], seed: int = 0, levels=(750, 850, 950)
) -> float:
    """How much worse the UNet predicts held-out clips when their caption names the opposite motion
    (left for right, shrinking for growing), at the noise levels where a clip's layout is decided:
    the mean loss with the opposite caption less that with the true one. Near 0: the model does not
    read the direction from the caption."""
    import torch

    scheduler = _training_scheduler()
    captions = ([c.caption for c in clips], [_backwards(c) for c in clips])
    generator = torch.Generator().manual_seed(seed)
    device = latents.device
    gaps = []
    with torch.no_grad():
        tokens = [(ids.to(device), mask.to(device)) for ids, mask in (_ids(tokenizer, c) for c in captions)]
        contexts = [(caption_context(text_encoder, unet, ids, mask), mask) for ids, mask in tokens]
        for level in levels:
            noise = torch.randn(latents.shape, generator=generator).to(device)
            t = torch.full((len(latents),), level, device=device)
            noisy, target = scheduler.add_noise(latents, noise, t), scheduler.get_velocity(latents, noise, t)
            true, opposite = (float(((denoise(unet, noisy, t, *c) - target) ** 2).mean()) for c in contexts)
            gaps.append(opposite - true)
    return round(float(np.mean(gaps)), 5)


def backwards_chance(clips: list[Clip], canonical: float = 0.5):
    """Each clip's chance to play backwards in a sample: a right, down or growing clip's 1 - canonical,
    the others' canonical, so right, down and growing are `canonical` of all samples (0.5: as drawn).

    Why other than 0.5: with every motion as common as its reverse, a model that ignores the caption
    learns no frame order at all (the mean of a clip and its reverse), and the direction word then has
    nothing to act on: it needs the word and the frame order together, a product neither factor of
    which lowers the loss alone. With right more common than left, the order of "right" is learnt
    first without the word, and the word needs only to turn it round."""
    import torch

    return torch.tensor([1 - canonical if c.motion in CANONICAL else canonical for c in clips])


def _backwards(clip: Clip) -> str:
    """The caption of the clip played backwards: the opposite motion."""
    return Clip(clip.shape, clip.color, clip.background, REVERSED[clip.motion], wording=clip.wording).caption


def _training_scheduler():
    from diffusers import DDPMScheduler

    # v-prediction, as the image demo (and its scheduler) was trained.
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")


def _ids(tokenizer, captions: list[str]):
    """The captions' token ids and padding masks (1: a word or BOS/EOS, 0: padding)."""
    padded = tokenizer(captions, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt")
    return padded.input_ids, padded.attention_mask


def caption_context(text_encoder, model, ids, mask):
    """The text encoder's output for the denoiser: LattePipeline passes it the padding mask,
    AnimateDiffPipeline does not (CLIP's causal attention keeps padding off the words either way;
    only the padding's own outputs differ, which an empty caption's cross-attention reads)."""
    return text_encoder(ids, attention_mask=mask if is_latte(model) else None)[0]


def to_tensor(frames: np.ndarray):
    import torch

    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def encode_clips(vae, videos: np.ndarray, log, batch: int = 128):
    """(clips, 4, frames, 16, 16) latents, scaled as the pipeline scales them."""
    import torch

    flat = videos.reshape(-1, *videos.shape[2:])
    chunks = []
    with torch.no_grad():
        for start in range(0, len(flat), batch):
            chunks.append(vae.encode(to_tensor(flat[start : start + batch]).to(vae.device)).latent_dist.mode())
            if (start // batch) % 50 == 49:
                log(f"encoded {start + batch} of {len(flat)} frames")
    latents = torch.cat(chunks) * vae.config.scaling_factor
    n, f = videos.shape[:2]
    return latents.reshape(n, f, *latents.shape[1:]).permute(0, 2, 1, 3, 4).contiguous()


def train(
    unet,
    text_encoder,
    tokenizer,
    latents,
    clips: list[Clip],
    minutes: float,
    batch: int,
    lr: float,
    log,
    checkpoint,
    high_noise: float = 0.5,
    high_from: int = 600,
    max_steps: int | None = None,
    paired: bool = False,
    pair_difference: float = 0.0,
    shared_input: bool = False,
    canonical: float = 0.5,
    freeze_text: bool = False,
    high_first: int = 0,
    first_from: int = 900,
) -> dict:
    """paired: half the batch is the other half played backwards with the same noise at the same
    noise level. At high noise the two inputs are nearly the same, so all that tells their targets
    apart is the caption's direction: the gradient that ties "left" to a clip's order, which with
    independent samples is a small part of the loss.

    pair_difference (with paired): also fit the difference between a pair's two predictions to the
    difference between their targets, at this weight, for the pairs at high noise. That difference
    is the direction's part of the target alone (a small object's place, a sliver of the plain
    loss), so here it is not outweighed by what both clips share.

    canonical: see backwards_chance.

    high_first: the first this many steps draw every sample at levels first_from-999, where the
    caption alone decides the layout; then high_noise and high_from take over. Why: measured (README,
    word_check), on a few clips at high noise only the direction word is tied to the frame order in
    minutes, while at the full mix, where 7% of samples are that high, it was not within an hour.

    The random draws are made on the CPU whatever the device (then moved), so a GPU run sees the
    same clips, captions, noise and levels as a CPU run of the same seed.

    freeze_text: the text encoder stays as built (or loaded). Measured on the shipped model: trained
    with the UNet, it pulled opposite directions together (the change from "left" to "right" in its
    output fell from 16.5% to 9.6% of its size, growing against shrinking from 10.6% to 3.3%, while
    right against up grew from 13.8% to 28.3%): while the UNet cannot use the direction, the loss
    is lower without it, and once gone the UNet has nothing to learn it from.

    shared_input (with paired): a pair at high noise is given one input, the mean of its two noisy
    clips. Measured: with their own inputs the pair's difference is learnt from the input (at noise
    750-999 a clip still shows through), and the caption stays unused (direction gap ≈ 0)."""
    import torch

    scheduler = _training_scheduler()
    # Every clip also plays backwards, which is another clip: left <-> right, growing <-> shrinking.
    device = latents.device
    (forward, forward_mask), (backward, backward_mask) = (
        (ids.to(device), mask.to(device))
        for ids, mask in (_ids(tokenizer, [c.caption for c in clips]), _ids(tokenizer, [_backwards(c) for c in clips]))
    )
    empty, empty_mask = (part[0].to(device) for part in _ids(tokenizer, [""]))
    backwards = backwards_chance(clips, canonical)
    text_encoder.requires_grad_(not freeze_text)
    named = list(unet.named_parameters())
    positions = [p for n, p in named if n.endswith("pos_embed.pe")]
    # New layers train at lr: a UNetMotionModel's motion modules, or a whole Wan transformer (from scratch).
    new = (lambda n: "motion_modules" in n) if is_motion_unet(unet) else (lambda n: True)
    motion = [p for n, p in named if new(n) and not n.endswith("pos_embed.pe")]
    others = [p for n, p in named if not new(n)] + ([] if freeze_text else list(text_encoder.parameters()))
    groups = [{"params": motion, "lr": lr, "base": lr}, {"params": others, "lr": lr / 2, "base": lr / 2}]
    if positions:  # a table of numbers, not weights: faster, and no decay toward zero
        groups.append({"params": positions, "lr": 3 * lr, "base": 3 * lr, "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, weight_decay=1e-2)
    ema = copy.deepcopy(unet).requires_grad_(False)
    ema_text = copy.deepcopy(text_encoder).requires_grad_(False)
    averaged = [(unet, ema)] + ([] if freeze_text else [(text_encoder, ema_text)])
    live = [p for model, _ in averaged for p in model.parameters()]
    averages = [q for _, average in averaged for q in average.parameters()]
    generator = torch.Generator().manual_seed(1)
    started = time.time()
    deadline, step, next_checkpoint = started + minutes * 60, 0, started + checkpoint[0] * 60
    unet.train()
    text_encoder.train()
    losses = []
    while time.time() < deadline and step != max_steps:
        drawn = batch // 2 if paired else batch
        index = torch.randint(0, len(latents), (drawn,), generator=generator)
        reverse = torch.rand(drawn, generator=generator) < backwards[index]
        noise = torch.randn((drawn, *latents.shape[1:]), generator=generator)
        t = noise_levels(drawn, generator, *((1.0, first_from) if step < high_first else (high_noise, high_from)))
        if paired:  # each clip beside itself backwards, with the same noise at the same level
            index, reverse, noise, t = (
                index.repeat(2),
                torch.cat([reverse, ~reverse]),
                noise.repeat(2, 1, 1, 1, 1),
                t.repeat(2),
            )
        index, reverse, noise, t = (x.to(device) for x in (index, reverse, noise, t))
        x0 = latents[index]
        x0 = torch.where(reverse[:, None, None, None, None], x0.flip(2), x0)
        tokens = torch.where(reverse[:, None], backward[index], forward[index])
        mask = torch.where(reverse[:, None], backward_mask[index], forward_mask[index])
        drop = (torch.rand(len(index), generator=generator) < 0.1).to(device)  # empty captions: CFG's other half
        tokens[drop] = empty
        # LattePipeline's empty caption is as long as the prompt, padding and all: so is this one's.
        text_mask = mask.clone()
        text_mask[drop] = empty_mask
        noisy = scheduler.add_noise(x0, noise, t)
        high_pair = t[:drawn] >= high_from  # (paired) the pairs at high noise
        if shared_input:
            # A pair at high noise gets one input, the mean of its two: then only the caption can tell
            # which way each of them runs, as at the first steps of sampling (pure noise in).
            shared = high_pair[:, None, None, None, None]
            mean = (noisy[:drawn] + noisy[drawn:]) / 2
            noisy = torch.cat([torch.where(shared, mean, noisy[:drawn]), torch.where(shared, mean, noisy[drawn:])])
        prediction = denoise(unet, noisy, t, caption_context(text_encoder, unet, tokens, text_mask), mask)
        target = scheduler.get_velocity(x0, noise, t)
        loss = torch.nn.functional.mse_loss(prediction, target)
        if pair_difference:
            # At high noise only, where the layout comes from the caption alone (below it the frames
            # show which way the clip runs); and not where a caption was emptied: no direction to tell.
            kept = high_pair & ~(drop[:drawn] | drop[drawn:])
            if kept.any():
                difference = (prediction[:drawn] - prediction[drawn:])[kept]
                loss = loss + pair_difference * torch.nn.functional.mse_loss(
                    difference, (target[:drawn] - target[drawn:])[kept]
                )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
        optimizer.step()
        step += 1
        # A step budget counts as the clock does: a run cut by --max-steps still ends its cosine.
        progress = max((time.time() - started) / (minutes * 60), step / (max_steps or math.inf))
        for group in optimizer.param_groups:
            group["lr"] = group["base"] * learning_rate_factor(step, progress)
        decay = min(0.995, (1 + step) / (10 + step))
        with torch.no_grad():  # one kernel per step for all weights, not one per tensor (a GPU waits on launches)
            torch._foreach_mul_(averages, decay)
            torch._foreach_add_(averages, live, alpha=1 - decay)
        losses.append(loss.item())
        if step % 50 == 0:
            log(f"step {step}: loss {np.mean(losses[-50:]):.4f}, lr {optimizer.param_groups[0]['lr']:.2e}")
        if time.time() >= next_checkpoint and time.time() < deadline:
            checkpoint[1](ema, ema_text, {"steps": step, "minutes": round((time.time() - started) / 60, 1)})
            next_checkpoint = time.time() + checkpoint[0] * 60
    return {
        "unet": ema,
        "text_encoder": ema_text,
        "steps": step,
        "minutes": round((time.time() - started) / 60, 1),
        "final_loss": round(float(np.mean(losses[-100:])), 4) if losses else None,
    }


def noise_levels(count: int, generator, high_share: float, high_from: int):
    """count noise levels: high_share of them from high_from to 999, the rest from 0 to 999.

    Why weigh the high ones: that is where the motion is decided (the clip's layout comes from the
    caption alone); below it the frames mostly sharpen what is there, which the image model does."""
    import torch

    high = torch.rand(count, generator=generator) < high_share
    return torch.where(
        high,
        torch.randint(high_from, 1000, (count,), generator=generator),
        torch.randint(0, 1000, (count,), generator=generator),
    )


def learning_rate_factor(step: int, progress: float) -> float:
    """A warm-up over the first 100 steps, then a cosine from 1 to 0.1 as progress goes 0 to 1."""
    progress = min(1.0, progress)
    return min(1.0, step / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def save(folder: Path, vae, text_encoder, tokenizer, unet) -> None:
    from diffusers import AnimateDiffPipeline, DDIMScheduler, LattePipeline

    if not (is_motion_unet(unet) or is_latte(unet)):
        # A Wan transformer on the image demo's latents is an experiment, not yet a pipeline
        # (WanPipeline needs Wan's own autoencoder): its weights and text encoder are kept to measure.
        unet.save_pretrained(folder / "transformer", safe_serialization=True)
        text_encoder.save_pretrained(folder / "text_encoder", safe_serialization=True)
        return

    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="v_prediction",
        clip_sample=False,
        set_alpha_to_one=False,
        timestep_spacing="trailing",  # start at the last timestep, where the clip comes from the caption alone
        steps_offset=1,
    )
    if is_latte(unet):
        pipe = LattePipeline(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=unet, scheduler=scheduler
        )
        pipe.save_pretrained(folder, safe_serialization=True)
        return
    # The motion modules live inside the UNetMotionModel: no separate motion_adapter folder.
    pipe = AnimateDiffPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        motion_adapter=None,
        scheduler=scheduler,
        feature_extractor=None,
        image_encoder=None,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def probe(folder: Path, device: str = "cpu") -> dict:
    """A quick look while training: the six motions for two colours, one seed, 8 steps, read back."""
    from desktop.training.demo_video.evaluate import evaluate, prompts

    result = evaluate(str(folder.resolve()), steps=8, direct=True, rows=prompts()[:12], seeds=1, device=device)
    return {k: result[k] for k in ("color", "background", "motion", "differ", "seconds_per_clip", "motions")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--from-image-model", type=Path, help="the image demo model folder (default: the shipped one)")
    parser.add_argument("--init", type=Path, help="go on training a saved demo video model folder")
    parser.add_argument(
        "--denoiser",
        choices=("animatediff", "latte", "wan"),
        default="animatediff",
        help="latte: a small Latte transformer from scratch, saved as a LattePipeline (see "
        "build_latte_transformer); wan: a small Wan transformer from scratch, measured by its loss and "
        "direction gap only (no pipeline or evaluation yet; see build_wan_transformer)",
    )
    parser.add_argument("--layers", type=int, default=4, help="with --denoiser latte or wan: its blocks")
    parser.add_argument("--paths", choices=("wide", "narrow"), default="wide", help="see clips.random_clip")
    parser.add_argument("--seed", type=int, default=0, help="the clips' seed")
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=70)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps if the time is not up first")
    parser.add_argument("--lr", type=float, default=6e-4, help="the motion modules'; the rest train at half of it")
    parser.add_argument("--high-noise", type=float, default=0.5, help="share of samples at high noise levels")
    parser.add_argument("--high-from", type=int, default=600, help="where high noise starts (to 999)")
    parser.add_argument(
        "--high-first", type=int, default=0, help="the first this many steps at high noise only (see train)"
    )
    parser.add_argument("--first-from", type=int, default=900, help="with --high-first: its lowest level")
    parser.add_argument("--paired", action="store_true", help="each clip beside itself backwards (see train)")
    parser.add_argument(
        "--shared-input", action="store_true", help="with --paired: one input for a pair at high noise (see train)"
    )
    parser.add_argument(
        "--pair-difference", type=float, default=0.0, help="with --paired: weight of the pair's difference (see train)"
    )
    parser.add_argument(
        "--local-attention", type=float, default=0.0, help="new motion modules: see attend_to_nearby_frames (e.g. 4)"
    )
    parser.add_argument(
        "--frame-code", type=float, default=0.0, help="new motion modules: see pass_frame_code (e.g. 0.01)"
    )
    parser.add_argument(
        "--learn-positions", action="store_true", help="train the motion modules' frame positions (learn_positions)"
    )
    parser.add_argument(
        "--canonical", type=float, default=0.5, help="share of right, down and growing samples (see train)"
    )
    parser.add_argument("--freeze-text-encoder", action="store_true", help="train the UNet alone (see train)")
    parser.add_argument("--checkpoint-minutes", type=float, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--device", default="cpu", help="cuda: try a recipe on a GPU (the same draws, so the same steps as a CPU run)"
    )
    parser.add_argument("--no-evaluate", action="store_true")
    args = parser.parse_args(argv)
    if not 0 <= args.first_from < 1000 or not 0 <= args.high_from < 1000:
        parser.error("--high-from and --first-from are noise levels from 0 to 999.")
    if args.paired and args.batch % 2:
        parser.error(f"--paired needs an even --batch (a clip and itself backwards): {args.batch} is odd.")
    if args.init and (args.local_attention or args.frame_code):
        parser.error("--local-attention and --frame-code set up new motion modules: leave them out with --init.")
    if args.denoiser != "animatediff":
        if any([args.init, args.local_attention, args.frame_code, args.learn_positions]):
            parser.error("--init, --local-attention, --frame-code and --learn-positions are UNetMotionModel options.")
    if args.denoiser == "wan":
        args.no_evaluate = True  # no pipeline to sample from yet
    if not 0 < args.canonical < 1:
        parser.error(f"--canonical is a share of the samples, between 0 and 1 (both left out): not {args.canonical}.")
    if args.paired and args.canonical != 0.5:
        parser.error("--paired plays every clip both ways: --canonical needs unpaired batches.")
    if (args.pair_difference or args.shared_input) and not args.paired:
        option = "--pair-difference" if args.pair_difference else "--shared-input"
        parser.error(f"{option} works on a clip beside itself backwards: add --paired.")

    import torch

    if args.device != "cpu" and not (args.device.startswith("cuda") and torch.cuda.is_available()):
        parser.error(f"--device {args.device}: no such GPU here; leave --device out to train on the CPU.")
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()

    def log(message: str) -> None:
        print(f"[{(time.time() - started) / 60:5.1f} min] {message}", flush=True)

    tokenizer = build_tokenizer()
    image_folder = args.from_image_model or image_demo_folder()
    if args.denoiser == "wan":
        vae, text_encoder = build_autoencoder_and_text_encoder(image_folder, tokenizer)
        unet = build_wan_transformer(text_encoder.config.hidden_size, layers=args.layers)
    elif args.denoiser == "latte":
        vae, text_encoder = build_autoencoder_and_text_encoder(image_folder, tokenizer)
        text_encoder = with_positions(text_encoder, LATTE_TOKENS)
        unet = build_latte_transformer(text_encoder.config.hidden_size, layers=args.layers)
    elif args.init:
        vae, text_encoder, unet = load_models(image_folder, args.init)
    else:
        vae, text_encoder, unet = build_models(image_folder, tokenizer, args.local_attention, args.frame_code)
    if args.learn_positions:
        learn_positions(unet)
    vae, text_encoder, unet = (model.to(args.device) for model in (vae, text_encoder, unet))
    motion = sum(p.numel() for n, p in unet.named_parameters() if "motion_modules" in n)
    log(
        f"parameters: unet {sum(p.numel() for p in unet.parameters()):,} (motion modules {motion:,}), "
        f"text {sum(p.numel() for p in text_encoder.parameters()):,}; {torch.get_num_threads()} torch threads"
    )
    videos, clips = dataset(args.clips, seed=args.seed, paths=args.paths)
    log(f"{len(clips)} clips of {FRAMES} frames drawn")
    latents = encode_clips(vae, videos, log)
    del videos
    log(f"latents {tuple(latents.shape)}, std {float(latents.std()):.3f}")
    held_out_videos, held_out = dataset(min(24, args.clips), seed=args.seed + 1000, paths=args.paths)
    held_out_latents = encode_clips(vae, held_out_videos, log)

    def gap(model, text) -> float:
        return direction_gap(model.eval(), text.eval(), tokenizer, held_out_latents, held_out)

    log(f"direction gap at the start: {gap(unet, text_encoder)}")
    started_from = (
        "the image demo model"
        if args.denoiser == "animatediff"
        else "scratch (the image demo's autoencoder and text encoder)"
    )
    figures: dict = {
        "init": str(args.init) if args.init else started_from,
        "denoiser": args.denoiser if args.denoiser == "animatediff" else f"{args.denoiser}, {args.layers} blocks",
        "paths": args.paths,
        "seed": args.seed,
        "clips": len(clips),
        "batch": args.batch,
        "lr": args.lr,
        "high_noise": args.high_noise,
        "high_from": args.high_from,
        "learn_positions": args.learn_positions,
        "local_attention": args.local_attention,
        "frame_code": args.frame_code,
        "paired": args.paired,
        "pair_difference": args.pair_difference,
        "shared_input": args.shared_input,
        "canonical": args.canonical,
        "freeze_text_encoder": args.freeze_text_encoder,
        "high_first": args.high_first,
        "first_from": args.first_from,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
    }

    def checkpoint(ema, ema_text, so_far: dict) -> None:
        save(args.out, vae, ema_text, tokenizer, ema)
        (args.out / "training.json").write_text(json.dumps({**figures, **so_far, "partial": True}, indent=2) + "\n")
        log(f"checkpoint saved to {args.out} ({so_far}); direction gap {gap(ema, ema_text)}")
        if not args.no_evaluate:
            log(f"probe: {probe(args.out, args.device)}")

    trained = train(
        unet,
        text_encoder,
        tokenizer,
        latents,
        clips,
        args.minutes,
        args.batch,
        args.lr,
        log,
        (args.checkpoint_minutes, checkpoint),
        args.high_noise,
        args.high_from,
        args.max_steps,
        args.paired,
        args.pair_difference,
        args.shared_input,
        args.canonical,
        args.freeze_text_encoder,
        args.high_first,
        args.first_from,
    )
    figures.update({k: v for k, v in trained.items() if k not in ("unet", "text_encoder")})
    figures["direction_gap"] = gap(trained["unet"], trained["text_encoder"])
    save(args.out, vae, trained["text_encoder"], tokenizer, trained["unet"])
    figures["total_minutes"] = round((time.time() - started) / 60, 1)
    (args.out / "training.json").write_text(json.dumps(figures, indent=2) + "\n")
    log(f"saved to {args.out}: {figures}")
    if not args.no_evaluate:
        from desktop.training.demo_video.evaluate import TARGETS, evaluate, record

        # The engine on this machine's CPU, as a user runs it; on a GPU the folder with diffusers there.
        on_gpu = args.device != "cpu"
        evaluation = evaluate(str(args.out.resolve()), direct=on_gpu, device=args.device)
        record(args.out, evaluation)
        log(f"evaluation: { ({k: v for k, v in evaluation.items() if k != 'misses'}) }, targets {TARGETS}")


if __name__ == "__main__":
    main()
