"""The lowest high-noise loss a denoiser can reach, knowing more or less of the caption.

    python -m desktop.training.demo_video.floors --clips 600   # about 2 minutes on 2 cores

From pure noise a v-prediction's target is the clean clip (negated), so the best a model can predict
there is the mean of the training clips that share what it reads: the floor of its loss is their
spread around that mean. Comparing floors tells what each part of the caption is worth where a clip's
layout is decided: knowing which way the shape moves against knowing only along which axis is what a
model that ignores the direction word gives away. Each group's spread is corrected for its size, so
small groups do not make a floor look lower than it is.
"""

from __future__ import annotations

import argparse

import numpy as np

from desktop.training.demo_video.clips import REVERSED, Clip

AXIS = {
    "moving left": "horizontal",
    "moving right": "horizontal",
    "moving up": "vertical",
    "moving down": "vertical",
    "growing": "size",
    "shrinking": "size",
}
# What the model is taken to read from the caption -> the key grouping clips it cannot tell apart;
# "one picture" floors predict the same for every frame of a clip.
KNOWS = {
    "colour and background, one picture": (lambda c: (c.color, c.background), True),
    "colour and background": (lambda c: (c.color, c.background), False),
    "colour, background and axis": (lambda c: (c.color, c.background, AXIS[c.motion]), False),
    "colour, background and direction": (lambda c: (c.color, c.background, c.motion), False),
}


def floor(latents: np.ndarray, keys: list, one_picture: bool = False) -> float:
    """The mean squared error left predicting each (channels, frames, h, w) clip by the mean of the
    clips with its key (averaged over frames too where one_picture), as it would be with endless
    clips: a group's spread is scaled by n/(n-1), as for an unbiased variance, since its own mean
    sits closer to it than the mean of all such clips would. A clip alone in its group is left out."""
    groups: dict = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    total, count = 0.0, 0
    for members in groups.values():
        n = len(members)
        if n < 2:
            continue
        x = latents[members].astype(np.float64)
        mean = x.mean(0, keepdims=True)
        total += float(((x - mean) ** 2).sum()) * n / (n - 1)
        if one_picture:  # what a still picture misses of the mean clip, for each of the n
            total += n * float(((mean - mean.mean(axis=2, keepdims=True)) ** 2).sum())  # axis 2: frames
        count += x.size
    return total / count if count else float("nan")


def with_reversed(latents: np.ndarray, clips: list[Clip]) -> tuple[np.ndarray, list[Clip]]:
    """The clips and each played backwards as its opposite motion, as training samples them."""
    backwards = [Clip(c.shape, c.color, c.background, REVERSED[c.motion], c.end, c.start, c.wording) for c in clips]
    return np.concatenate([latents, latents[:, :, ::-1]]), clips + backwards


def floors(latents: np.ndarray, clips: list[Clip]) -> dict[str, float]:
    return {name: round(floor(latents, [key(c) for c in clips], one), 4) for name, (key, one) in KNOWS.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--paths", choices=("wide", "narrow"), default="narrow", help="see clips.random_clip")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from diffusers import AutoencoderKL

    from desktop.training.demo_video.clips import dataset
    from desktop.training.demo_video.train import encode_clips, image_demo_folder

    vae = AutoencoderKL.from_pretrained(image_demo_folder() / "vae").eval()
    videos, clips = dataset(args.clips, seed=args.seed, paths=args.paths)
    latents = encode_clips(vae, videos, lambda message: None).numpy()
    latents, clips = with_reversed(latents, clips)
    print(f"mean square of the clips (the floor knowing nothing is close): {float((latents**2).mean()):.4f}")
    for name, value in floors(latents, clips).items():
        print(f"knowing {name}: {value}")


if __name__ == "__main__":
    main()
