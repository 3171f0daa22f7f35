"""A campaign's formats: the shapes channels ask for, sized for the backend that makes them.

A format keeps about the pixel count the model was made for (its native width x height, or the
campaign's own), so a 9:16 story costs about what a 1:1 post does. Both sides stay multiples of the
backend's size step and inside its limits; a fixed-size backend (OpenAI) gets its nearest shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop.engine.backend import Capabilities

# Social feed, portrait feed, story, banner, link preview, print (portrait and landscape).
FORMATS: dict[str, float] = {
    "1:1": 1.0,
    "4:5": 4 / 5,
    "9:16": 9 / 16,
    "16:9": 16 / 9,
    "1.91:1": 1.91,
    "2:3": 2 / 3,
    "3:2": 3 / 2,
}
DEFAULT_FORMATS = ("1:1",)
# Outpainting extends each side by a multiple of this (the editing tasks' rule).
EXTEND_MULTIPLE = 8


class FormatError(ValueError):
    """One sentence naming the format that is not known, and the known ones."""


def known_formats() -> str:
    return ", ".join(FORMATS)


def parse_formats(text: str, where: str) -> tuple[str, ...]:
    """Format names from "1:1,9:16" (commas, semicolons or spaces between), duplicates dropped.

    where says whose text it is ("--formats", "row 3, column formats") for the error sentence.
    """
    names = [part.strip() for part in text.replace(";", ",").replace(" ", ",").split(",") if part.strip()]
    if not names:
        raise FormatError(f"{where}: no format is named; the formats are: {known_formats()}.")
    for name in names:
        if name not in FORMATS:
            raise FormatError(f"{where}: '{name}' is not a format; the formats are: {known_formats()}.")
    return tuple(dict.fromkeys(names))


def safe_format_name(name: str) -> str:
    """The format as a file or folder name: "9:16" -> "9x16" (a colon is not allowed on Windows)."""
    return name.replace(":", "x")


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def format_size(name: str, capabilities: Capabilities, width: int, height: int) -> tuple[int, int]:
    """The size of format name at about width x height pixels, within what the backend takes."""
    ratio = FORMATS[name]
    if capabilities.sizes:
        return _nearest_fixed_size(ratio, capabilities.sizes, width * height)
    step, low, high = capabilities.size_multiple, capabilities.size_min, capabilities.size_max
    area = width * height
    ideal_w, ideal_h = math.sqrt(area * ratio), math.sqrt(area / ratio)
    # The short side first: at 64x64 a 16:9 would be 85x48, below a 64-pixel minimum, so the short
    # side is held at the minimum and the long side follows the shape (112x64).
    if ratio >= 1:
        short = min(max(_round_to(ideal_h, step), low), high)
        long = min(max(_round_to(short * ratio, step), low), high)
        # A long side cut at the maximum shortens the short side to keep the shape.
        if long < short * ratio - step:
            short = min(max(_round_to(long / ratio, step), low), high)
        return long, short
    short = min(max(_round_to(ideal_w, step), low), high)
    long = min(max(_round_to(short / ratio, step), low), high)
    if long < short / ratio - step:
        short = min(max(_round_to(long * ratio, step), low), high)
    return short, long


def _nearest_fixed_size(ratio: float, sizes: tuple[str, ...], area: int) -> tuple[int, int]:
    """The size whose shape is nearest (on a log scale, so 1:2 and 2:1 are as far from 1:1); among
    equal shapes, the one nearest the pixel count asked for."""

    def distance(size: str) -> tuple[float, float]:
        w, h = (int(v) for v in size.split("x"))
        return abs(math.log((w / h) / ratio)), abs(math.log(w * h / max(area, 1)))

    best = min(sizes, key=distance)
    w, h = (int(v) for v in best.split("x"))
    return w, h


@dataclass(frozen=True)
class MasterLayout:
    """How a format is made from the row's master picture: the master scaled to `scaled`, placed on a
    canvas of the format's size, and the rest outpainted (`extend`: left, top, right, bottom)."""

    scaled: tuple[int, int]
    extend: tuple[int, int, int, int]

    @property
    def canvas(self) -> tuple[int, int]:
        left, top, right, bottom = self.extend
        return self.scaled[0] + left + right, self.scaled[1] + top + bottom


def master_layout(master: tuple[int, int], target: tuple[int, int]) -> MasterLayout:
    """Fit the master inside the target (scaled up or down, its shape kept, so the subject stays whole
    and the same), centred, with each added side a multiple of 8; the canvas is exactly target.

    Chosen over cropping: a crop could cut the subject out of a narrow format. Target sides are
    multiples of 8 (format_size) and so are the scaled sides, so the borders split into multiples of 8.
    """
    (mw, mh), (tw, th) = master, target
    scale = min(tw / mw, th / mh)
    sw = min(tw, max(EXTEND_MULTIPLE, int(mw * scale) // EXTEND_MULTIPLE * EXTEND_MULTIPLE))
    sh = min(th, max(EXTEND_MULTIPLE, int(mh * scale) // EXTEND_MULTIPLE * EXTEND_MULTIPLE))
    # Rounding may leave a few pixels of the fitted side to outpaint as well: harmless.
    dx, dy = tw - sw, th - sh
    left = dx // 2 // EXTEND_MULTIPLE * EXTEND_MULTIPLE
    top = dy // 2 // EXTEND_MULTIPLE * EXTEND_MULTIPLE
    return MasterLayout((sw, sh), (left, top, dx - left, dy - top))
