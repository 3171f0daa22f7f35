"""Procedural training clips — one shape in one colour on a plain background, moving left, right,
up or down, or growing or shrinking — with captions, and the classifier that reads a clip back.

The shapes and colours are the image demo's (desktop.training.demo.shapes).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

from desktop.training.demo.shapes import BACKGROUNDS, PALETTE, SHAPES, SIZE, SUPERSAMPLE, _nearest, draw_shape

FRAMES = 16
MOVES = ("left", "right", "up", "down")
MOTIONS = (*(f"moving {d}" for d in MOVES), "growing", "shrinking")
# What a clip reversed in time shows (training doubles its clips with this).
REVERSED = {
    "moving left": "moving right",
    "moving right": "moving left",
    "moving up": "moving down",
    "moving down": "moving up",
    "growing": "shrinking",
    "shrinking": "growing",
}
# What a clip mirrored left to right shows (the three shapes are symmetric about a vertical axis).
MIRRORED = {**{m: m for m in MOTIONS}, "moving left": "moving right", "moving right": "moving left"}

# Every word a caption uses, and the ones a prompt may say for the same thing.
VOCABULARY = sorted(
    {
        "a",
        "an",
        "the",
        "on",
        "in",
        "to",
        "of",
        "with",
        "background",
        "shape",
        *PALETTE,
        "gray",
        "grey",
        *SHAPES,
        "moving",
        *MOVES,
        "growing",
        "shrinking",
    }
)
SYNONYMS = {"grey": "gray"}


@dataclass(frozen=True)
class Clip:
    shape: str
    color: str
    background: str
    motion: str  # one of MOTIONS
    # Where the shape is (centre x, y) and its half width, first and last frame, in pixels at 64x64.
    start: tuple[float, float, float] = (32, 32, 10)
    end: tuple[float, float, float] = (32, 32, 10)
    wording: int = 0  # 1: "moving to the left" rather than "moving left"

    @property
    def caption(self) -> str:
        motion = self.motion
        if self.wording and motion.startswith("moving "):
            motion = motion.replace("moving ", "moving to the ")
        return f"a {self.color} {self.shape} {motion} on a {self.background} background"


def random_clip(rng: random.Random, motion: str | None = None, paths: str = "wide") -> Clip:
    """A random clip. paths "wide": the shape starts anywhere along a path of 22-30 pixels, anywhere
    across it; "narrow": every clip of a motion takes nearly the same path (28 pixels through the
    centre, a few pixels of jitter), so the caption tells where the shape is in every frame."""
    narrow = paths == "narrow"
    color = rng.choice(list(PALETTE))
    background = rng.choice([b for b in BACKGROUNDS if b != color])
    shape = rng.choice(SHAPES)
    motion = motion or rng.choice(MOTIONS)
    if motion in ("growing", "shrinking"):
        jitter = 2 if narrow else 4
        cx, cy = 32 + rng.uniform(-jitter, jitter), 32 + rng.uniform(-jitter, jitter)
        small, large = rng.uniform(4, 6), rng.uniform(15, 19)
        start, end = (cx, cy, small), (cx, cy, large)
        if motion == "shrinking":
            start, end = end, start
    else:
        r = rng.uniform(8 if narrow else 7, 11)
        distance = rng.uniform(26, 30) if narrow else rng.uniform(22, 30)
        along = 32 + rng.uniform(-2, 2) if narrow else 32 + rng.uniform(-3, 3)
        across = 32 + rng.uniform(-3, 3) if narrow else rng.uniform(20, 44)
        sign = 1 if motion in ("moving right", "moving down") else -1
        a, b = along - sign * distance / 2, along + sign * distance / 2
        if motion in ("moving left", "moving right"):
            start, end = (a, across, r), (b, across, r)
        else:
            start, end = (across, a, r), (across, b, r)
    return Clip(shape, color, background, motion, start, end, wording=int(rng.random() < 0.25))


def frame(clip: Clip, t: float) -> Image.Image:
    """The clip at time t in [0, 1], antialiased by drawing at 4x and scaling down."""
    scale = SUPERSAMPLE
    cx, cy, r = (s + (e - s) * t for s, e in zip(clip.start, clip.end, strict=True))
    image = Image.new("RGB", (SIZE * scale, SIZE * scale), BACKGROUNDS[clip.background])
    return draw_shape(image, clip.shape, clip.color, cx, cy, r)


def draw(clip: Clip, frames: int = FRAMES) -> np.ndarray:
    """The clip's frames (uint8, frames x 64 x 64 x 3)."""
    return np.stack([np.asarray(frame(clip, i / (frames - 1))) for i in range(frames)])


def dataset(count: int, seed: int = 0, frames: int = FRAMES, paths: str = "wide") -> tuple[np.ndarray, list[Clip]]:
    """count clips (uint8, count x frames x 64 x 64 x 3) and what they show, the same for the same seed.
    The motions take turns, so every one is equally common."""
    rng = random.Random(seed)
    clips = [random_clip(rng, MOTIONS[i % len(MOTIONS)], paths) for i in range(count)]
    videos = np.empty((count, frames, SIZE, SIZE, 3), dtype=np.uint8)
    for i, clip in enumerate(clips):
        videos[i] = draw(clip, frames)
    return videos, clips


def _foreground(pixels: np.ndarray, background_rgb: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum((pixels - background_rgb) ** 2, axis=-1)) > 60


def classify(frames: list[Image.Image] | np.ndarray) -> dict:
    """Read a clip back: background from the frames' borders, the shape's colour by nearest palette
    colour, and its motion from its centroid and area in the first and last frames: growing or
    shrinking where the area changed by more than 2x and the centroid stayed, else the direction the
    centroid went (at least 6 pixels), else still. `differ`: the first and last frames are not the same."""
    as_rgb = (np.asarray(f.convert("RGB").resize((SIZE, SIZE))) if hasattr(f, "convert") else f for f in frames)
    pixels = np.stack(list(as_rgb))
    pixels = pixels.astype(float)
    edges = (pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1])
    border = np.concatenate([edge.reshape(-1, 3) for edge in edges])
    background_rgb = np.median(border, axis=0)
    background = _nearest(background_rgb, BACKGROUNDS)
    differ = float(np.abs(pixels[0] - pixels[-1]).mean())
    foreground = _foreground(pixels, background_rgb)
    seen = {"background": background, "color": "none", "motion": "none", "differ": round(differ, 2)}
    if foreground.any(axis=(1, 2)).sum() < len(pixels) // 2 or foreground.sum() < 12 * len(pixels):
        return seen
    seen["color"] = _nearest(np.median(pixels[foreground], axis=0), PALETTE)
    first, last = foreground[0], foreground[-1]
    if first.sum() < 4 or last.sum() < 4:
        # The shape appears or disappears: count that as growing or shrinking.
        seen["motion"] = "growing" if last.sum() > first.sum() else "shrinking"
        return seen
    (y0, x0), (y1, x1) = (np.argwhere(m).mean(axis=0) for m in (first, last))
    dx, dy = x1 - x0, y1 - y0
    area = math.log(last.sum() / first.sum())
    seen.update(dx=round(float(dx), 1), dy=round(float(dy), 1), area_ratio=round(math.exp(area), 2))
    if abs(area) > math.log(2) and math.hypot(dx, dy) < 8:
        seen["motion"] = "growing" if area > 0 else "shrinking"
    elif max(abs(dx), abs(dy)) >= 6:
        if abs(dx) >= abs(dy):
            seen["motion"] = "moving right" if dx > 0 else "moving left"
        else:
            seen["motion"] = "moving down" if dy > 0 else "moving up"
    else:
        seen["motion"] = "still"
    return seen
