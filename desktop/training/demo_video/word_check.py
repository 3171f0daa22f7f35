"""Can a training recipe tie the direction word to the frame order at all? A short run on a few clips,
at high noise only (where the caption alone decides a clip's layout), measured on those same clips
from (nearly) pure noise.

    python -m desktop.training.demo_video.word_check --clips 8 --minutes 11          # the tricks
    python -m desktop.training.demo_video.word_check --clips 8 --minutes 11 --plain  # none of them

"The tricks": motion modules that attend to nearby frames and pass a frame code from the first step
(train.attend_to_nearby_frames, train.pass_frame_code), the text encoder frozen (its words for
opposite directions stay apart) and right, down and growing played 75% of the time (train.
backwards_chance). A model that reads the word gets its loss with the true caption below the
`floor` (what predicting the mean of a clip and its reverse loses: all a model ignoring the word can
do) and far under its loss with the opposite caption. Measured figures: README ("The demo video model").

Why this and not train.direction_gap: that one is measured on held-out clips at noise 750-950, where
the noisy input still shows which way a clip runs, so a model can be right there without the word.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from desktop.training.demo_video import train as recipe
from desktop.training.demo_video.clips import dataset

LEVELS = (999, 980)


def direction_floor(latents) -> float:
    """The loss from pure noise of predicting each clip by the mean of it and itself backwards (a
    v-prediction's target there is the clean clip, negated): what a model that ignores the direction
    word is left with on clips it knows by heart."""
    return round(float(((latents - (latents + latents.flip(2)) / 2) ** 2).mean()), 4)


def word_use(model, text_encoder, tokenizer, latents, clips, levels=LEVELS, draws: int = 3) -> dict:
    """On these clips at these noise levels: the loss with the true caption, with the opposite
    direction's, and the share of the prediction that changes between the two."""
    import torch

    scheduler = recipe._training_scheduler()
    generator = torch.Generator().manual_seed(5)
    captions = ([c.caption for c in clips], [recipe._backwards(c) for c in clips])
    true_loss, opposite_loss, change = [], [], []
    model.eval()
    text_encoder.eval()
    with torch.no_grad():
        tokens = [recipe._ids(tokenizer, c) for c in captions]
        contexts = [(recipe.caption_context(text_encoder, model, ids, mask), mask) for ids, mask in tokens]
        for level in levels:
            for _ in range(draws):
                noise = torch.randn(latents.shape, generator=generator)
                t = torch.full((len(latents),), level)
                noisy, target = scheduler.add_noise(latents, noise, t), scheduler.get_velocity(latents, noise, t)
                true, opposite = (recipe.denoise(model, noisy, t, *context) for context in contexts)
                true_loss.append(float(((true - target) ** 2).mean()))
                opposite_loss.append(float(((opposite - target) ** 2).mean()))
                change.append(float((true - opposite).norm() / true.norm()))
    model.train()
    text_encoder.train()
    return {
        "true_caption": round(float(np.mean(true_loss)), 4),
        "opposite_caption": round(float(np.mean(opposite_loss)), 4),
        "word_changes": round(float(np.mean(change)), 4),
        "floor": direction_floor(latents),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=11)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps if the time is not up first")
    parser.add_argument("--plain", action="store_true", help="none of the tricks (the shipped model's recipe)")
    parser.add_argument("--seed", type=int, default=0, help="the clips' seed")
    args = parser.parse_args(argv)

    import torch

    torch.manual_seed(0)
    tokenizer = recipe.build_tokenizer()
    local, code = (0.0, 0.0) if args.plain else (4.0, 0.01)
    vae, text_encoder, unet = recipe.build_models(recipe.image_demo_folder(), tokenizer, local, code)
    videos, clips = dataset(args.clips, seed=args.seed, paths="narrow")
    latents = recipe.encode_clips(vae, videos, lambda message: None)
    started = time.time()
    measured = [{"steps": 0, **word_use(unet, text_encoder, tokenizer, latents, clips)}]
    print(measured[-1], flush=True)

    def checkpoint(ema, ema_text, so_far: dict) -> None:
        measured.append({"steps": so_far["steps"], **word_use(ema, ema_text, tokenizer, latents, clips)})
        print(measured[-1], flush=True)

    trained = recipe.train(
        unet,
        text_encoder,
        tokenizer,
        latents,
        clips,
        args.minutes,
        4,
        1e-3,
        lambda message: None,
        (args.minutes / 4, checkpoint),
        high_noise=1.0,
        high_from=960,
        max_steps=args.max_steps,
        canonical=0.5 if args.plain else 0.75,
        freeze_text=not args.plain,
    )
    measured.append(
        {"steps": trained["steps"], **word_use(trained["unet"], trained["text_encoder"], tokenizer, latents, clips)}
    )
    print(f"{measured[-1]} after {(time.time() - started) / 60:.1f} minutes", flush=True)
    return measured


if __name__ == "__main__":
    main()
