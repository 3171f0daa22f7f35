"""The upscale task's own inputs and limits, checked before anything is loaded or written (torch-free).

request.validate() calls check_upscale_inputs() where it checks other tasks' pictures and masks; the
upscale backend then checks what depends on the model (its scale) and the size of the result.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from desktop.engine.errors import ValidationError

if TYPE_CHECKING:
    from desktop.engine.request import GenerationRequest

SCALES = (2, 3, 4)
# A side of the result at most: 8192 px is a 200 MB RGB picture and a billboard print at 100 dpi;
# beyond it the blending buffers alone pass a gigabyte.
OUTPUT_MAX_SIDE = 8192
# Pixel-unshuffle folds 4x4 squares into channels; smaller pictures are icons, not upscaling material.
INPUT_MIN_SIDE = 8
# The model name of the plain resize, offered first and used when a request names no model.
LANCZOS = "lanczos"
LANCZOS_LABEL = "Plain resize (Lanczos)"
LANCZOS_SCALE = 2


def check_upscale_inputs(request: GenerationRequest) -> tuple[GenerationRequest, tuple[int, int]]:
    """Check the picture and the scale asked for; returns the request and the picture's size."""
    from desktop.engine.edit_inputs import open_picture

    if not request.image:
        raise ValidationError("image", "upscale needs a picture to enlarge: choose one.")
    if request.scale is not None and (isinstance(request.scale, bool) or request.scale not in SCALES):
        raise ValidationError("scale", f"scale must be 2, 3 or 4 (got {request.scale}).")
    for field, given in (("mask", request.mask), ("strength", request.strength), ("extend", any(request.extend))):
        if given:
            raise ValidationError(field, f"{field} does not apply to upscale; leave it out.")
    width, height = open_picture(request.image).size
    if min(width, height) < INPUT_MIN_SIDE:
        raise ValidationError(
            "image", f"the image is {width}x{height}; it must be at least {INPUT_MIN_SIDE} px a side to upscale."
        )
    return request, (width, height)


def check_output_size(width: int, height: int, scale: int) -> tuple[int, int]:
    """The result's size; a ValidationError when a side would pass the limit."""
    out_w, out_h = width * scale, height * scale
    if max(out_w, out_h) > OUTPUT_MAX_SIDE:
        fits = [s for s in SCALES if max(width, height) * s <= OUTPUT_MAX_SIDE]
        hint = f"choose x{fits[-1]}" if fits else "use a smaller picture"
        raise ValidationError(
            "scale",
            f"x{scale} would make {width}x{height} into {out_w}x{out_h}, over the limit of {OUTPUT_MAX_SIDE} px "
            f"a side: {hint}.",
        )
    return out_w, out_h


def with_scale(request: GenerationRequest, scale: int, canvas: tuple[int, int]) -> GenerationRequest:
    """The request with its scale and the result's size filled in (the history records the size)."""
    width, height = check_output_size(*canvas, scale)
    return dataclasses.replace(request, scale=scale, width=width, height=height)


def scale_to_reach(width: int, height: int, long_side: int) -> int | None:
    """The smallest scale that brings a picture's longer side to at least long_side, x4 at most
    (campaigns' `--upscale-to`); None where the picture already reaches it."""
    longer = max(width, height)
    if longer >= long_side:
        return None
    return min(math.ceil(long_side / longer), SCALES[-1])
