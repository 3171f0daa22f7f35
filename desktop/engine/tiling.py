"""Upscaling a large picture in overlapping tiles, blended so that no seam shows.

An upscaler's memory grows with the area it sees at once (a 64-feature RRDBNet holds several
full-resolution feature maps); cutting the picture into tiles keeps a 2048x2048 result within a few
GB. A network pads each tile's border with zeros and so draws its edge pixels differently from
the same pixels inside a larger picture: neighbouring tiles therefore overlap, each tile's weight
is zero in a margin along the edges it shares with another (where its pixels are least like the
untiled result) and rises linearly across the rest of the overlap, and every output pixel is the
weighted mean of the tiles that cover it. The picture's own border keeps full weight: there the
untiled network pads too.

numpy only: tiles go to any upscaler (our RRDBNet, spandrel's networks, a diffusers pipeline) as
uint8 pictures and come back as float RGB in 0..1.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from desktop.engine.errors import GenerationCancelled


@dataclass(frozen=True)
class Tile:
    """A box of the input picture: left, top (inclusive), right, bottom (exclusive)."""

    left: int
    top: int
    right: int
    bottom: int


def spans(length: int, tile: int, overlap: int, multiple: int = 1) -> list[tuple[int, int]]:
    """(start, end) of tiles covering 0..length, spread evenly so that neighbours overlap by at least
    `overlap`, with every start a multiple of `multiple` (length must be one too)."""
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    last = length - tile
    starts = sorted({round(i * last / (count - 1) / multiple) * multiple for i in range(count)})
    return [(start, start + tile) for start in starts]


def fitted(tile: int, overlap: int, multiple: int = 1) -> tuple[int, int]:
    """(tile, overlap) rounded down to multiples of `multiple`; the overlap at most half a tile, so that
    tiles advance by at least half their size."""
    tile = max(multiple, tile - tile % multiple)
    return tile, max(0, min(overlap - overlap % multiple, tile // 2))


def plan(width: int, height: int, tile: int, overlap: int, multiple: int = 1) -> list[Tile]:
    """Tiles row by row, covering a picture whose sides are multiples of `multiple`."""
    tile, overlap = fitted(tile, overlap, multiple)
    rows = spans(height, tile, overlap, multiple)
    columns = spans(width, tile, overlap, multiple)
    return [Tile(left, top, right, bottom) for top, bottom in rows for left, right in columns]


def count(width: int, height: int, tile: int, overlap: int, multiple: int = 1) -> int:
    """How many tiles upscale_tiled() will run for a picture of this size."""
    return len(plan(width + -width % multiple, height + -height % multiple, tile, overlap, multiple))


def ramp(length: int, fade_start: bool, fade_end: bool, overlap: int) -> np.ndarray:
    """A tile's weight along one axis: 0 in a margin a quarter of the overlap wide at each faded end,
    then rising linearly to 1 at the overlap's far side; 1 all along an unfaded end (the picture's border).
    Across any overlap the weights of two neighbours sum to 1, so a smooth picture stays smooth."""
    weight = np.ones(length, dtype=np.float32)
    if overlap <= 0:
        return weight
    margin = overlap / 4
    distance = np.arange(length, dtype=np.float32) + 0.5
    rising = np.clip((distance - margin) / (overlap - 2 * margin), 0.0, 1.0)
    if fade_start:
        weight = np.minimum(weight, rising)
    if fade_end:
        weight = np.minimum(weight, rising[::-1])
    return weight


class Blender:
    """Accumulates weighted tiles of the output and gives their weighted mean."""

    def __init__(self, width: int, height: int, channels: int = 3) -> None:
        self.sum = np.zeros((height, width, channels), dtype=np.float32)
        self.weight = np.zeros((height, width, 1), dtype=np.float32)

    def add(self, left: int, top: int, pixels: np.ndarray, weight: np.ndarray) -> None:
        height, width = pixels.shape[:2]
        self.sum[top : top + height, left : left + width] += pixels * weight[..., None]
        self.weight[top : top + height, left : left + width, 0] += weight

    def result(self) -> np.ndarray:
        """uint8 pixels (every output pixel is covered by some tile of positive weight)."""
        mean = self.sum / np.maximum(self.weight, 1e-8)
        return (np.clip(mean, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def upscale_tiled(
    pixels: np.ndarray,
    upscale_tile: Callable[[np.ndarray], np.ndarray],
    scale: int,
    tile: int,
    overlap: int,
    *,
    multiple: int = 1,
    on_tile: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """The picture (H, W, 3 uint8) `scale` times larger, upscaled tile by tile.

    upscale_tile takes an (h, w, 3) uint8 tile and returns (h*scale, w*scale, 3) floats in 0..1.
    on_tile(done, total) follows each tile; cancel is checked before each one.
    """
    height, width = pixels.shape[:2]
    # Sides the upscaler cannot take (pixel-unshuffle, a VAE) are padded by repeating the edge, and
    # the padding is cut off the result.
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        pixels = np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    padded_h, padded_w = pixels.shape[:2]
    tile, overlap = fitted(tile, overlap, multiple)
    tiles = plan(padded_w, padded_h, tile, overlap, multiple)
    blender = Blender(padded_w * scale, padded_h * scale, pixels.shape[2])
    for done, box in enumerate(tiles):
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled()
        out = upscale_tile(pixels[box.top : box.bottom, box.left : box.right])
        expected = ((box.bottom - box.top) * scale, (box.right - box.left) * scale)
        if out.shape[:2] != expected:
            raise ValueError(
                f"the upscaler returned a {out.shape[1]}x{out.shape[0]} tile, not {expected[1]}x{expected[0]}"
            )
        weight = np.outer(
            ramp(expected[0], box.top > 0, box.bottom < padded_h, overlap * scale),
            ramp(expected[1], box.left > 0, box.right < padded_w, overlap * scale),
        )
        blender.add(box.left * scale, box.top * scale, out.astype(np.float32, copy=False), weight)
        if on_tile is not None:
            on_tile(done + 1, len(tiles))
    return blender.result()[: height * scale, : width * scale]
