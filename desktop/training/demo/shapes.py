"""Procedural training pictures — one shape in one colour on a plain background — with captions,
and the classifier that reads such a picture back (for evaluation)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

PALETTE = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (240, 220, 40),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "purple": (140, 50, 180),
    "orange": (245, 140, 30),
}
BACKGROUNDS = {**PALETTE, "gray": (128, 128, 128)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 9, None: 14, "large": 20}  # half the shape's width, in pixels at 64x64
POSITIONS = {
    "left": (18, 32),
    "right": (46, 32),
    "top": (32, 18),
    "bottom": (32, 46),
    "centre": (32, 32),
    None: (32, 32),
}
SIZE = 64
SUPERSAMPLE = 4

VOCABULARY = sorted(
    {
        "a",
        "an",
        "the",
        "on",
        "in",
        "at",
        "of",
        "with",
        "background",
        "shape",
        "centre",
        "center",
        "middle",
        *PALETTE,
        "gray",
        "grey",
        *SHAPES,
        "small",
        "large",
        "big",
        "left",
        "right",
        "top",
        "bottom",
    }
)
# Words the caption uses for the same thing.
SYNONYMS = {"grey": "gray", "center": "centre", "middle": "centre", "big": "large"}


@dataclass(frozen=True)
class Scene:
    shape: str
    color: str
    background: str
    size: str | None = None
    position: str | None = None

    @property
    def caption(self) -> str:
        words = ["a"]
        if self.size:
            words.append(self.size)
        words += [self.color, self.shape]
        if self.position:
            words.append("in the centre" if self.position == "centre" else f"on the {self.position}")
        words.append(f"on a {self.background} background")
        return " ".join(words)


def random_scene(rng: random.Random) -> Scene:
    color = rng.choice(list(PALETTE))
    background = rng.choice([b for b in BACKGROUNDS if b != color])
    size = rng.choice(list(SIZES)) if rng.random() < 0.5 else None
    position = rng.choice([p for p in POSITIONS if p]) if rng.random() < 0.5 else None
    return Scene(rng.choice(SHAPES), color, background, size, position)


def draw(scene: Scene, rng: random.Random | None = None) -> Image.Image:
    """The scene at 64x64, antialiased by drawing at 4x and scaling down; a little jitter if rng."""
    jitter = (lambda n: rng.randint(-n, n)) if rng else (lambda n: 0)
    scale = SUPERSAMPLE
    image = Image.new("RGB", (SIZE * scale, SIZE * scale), BACKGROUNDS[scene.background])
    cx, cy = POSITIONS[scene.position]
    cx, cy = cx + jitter(3), cy + jitter(3)
    r = SIZES[scene.size] + jitter(2)
    return draw_shape(image, scene.shape, scene.color, cx, cy, r)


def draw_shape(image: Image.Image, shape: str, color: str, cx: float, cy: float, r: float) -> Image.Image:
    """shape of radius r at (cx, cy) (64-pixel units) on image, drawn at SUPERSAMPLE x and scaled to 64x64."""
    scale = SUPERSAMPLE
    pen = ImageDraw.Draw(image)
    box = [(cx - r) * scale, (cy - r) * scale, (cx + r) * scale, (cy + r) * scale]
    fill = PALETTE[color]
    if shape == "circle":
        pen.ellipse(box, fill=fill)
    elif shape == "square":
        pen.rectangle(box, fill=fill)
    else:
        pen.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) / 2, box[1])], fill=fill)
    return image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def dataset(count: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """count pictures (uint8, count x 64 x 64 x 3) and captions, the same for the same seed."""
    rng = random.Random(seed)
    pictures = np.empty((count, SIZE, SIZE, 3), dtype=np.uint8)
    captions = []
    for i in range(count):
        scene = random_scene(rng)
        pictures[i] = np.asarray(draw(scene, rng))
        captions.append(scene.caption)
    return pictures, captions


def _nearest(color: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    names = list(palette)
    distances = [np.sum((np.asarray(palette[n], dtype=float) - color) ** 2) for n in names]
    return names[int(np.argmin(distances))]


def classify(image: Image.Image) -> dict[str, str | float]:
    """Read a picture back: background from the border, foreground colour by nearest palette colour,
    shape by how much of its bounding box the foreground fills (square ~1, circle ~0.79, triangle ~0.5)."""
    pixels = np.asarray(image.convert("RGB").resize((SIZE, SIZE)), dtype=float)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background_rgb = np.median(border, axis=0)
    background = _nearest(background_rgb, BACKGROUNDS)
    distance = np.sqrt(np.sum((pixels - background_rgb) ** 2, axis=2))
    foreground = distance > 60
    if foreground.sum() < 12:
        return {"background": background, "color": "none", "shape": "none", "fill": 0.0}
    ys, xs = np.nonzero(foreground)
    color = _nearest(np.median(pixels[foreground], axis=0), PALETTE)
    box_area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    fill = float(foreground.sum() / box_area)
    shape = "square" if fill > 0.9 else "circle" if fill > 0.65 else "triangle"
    return {"background": background, "color": color, "shape": shape, "fill": round(fill, 3)}
