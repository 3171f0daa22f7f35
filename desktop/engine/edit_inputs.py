"""Inputs of the editing tasks (image-to-image, inpaint, outpaint): checking them, building the canvas
and mask the model sees, and pasting the kept pixels back so they come out unchanged.

Masks are white where the model repaints and black where the original stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from desktop.engine.errors import ValidationError

MAX_SIDE = 4096
MAX_BYTES = 50 * 1024 * 1024
EXTEND_MAX, EXTEND_MULTIPLE = 1024, 8


def open_picture(path: str | Path, field: str = "image") -> Image.Image:
    """The picture at path, fully read; a ValidationError naming the field if it cannot be used."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValidationError(field, f"{field} {path} does not exist: give the path of a PNG, JPEG or WebP file.")
    if path.stat().st_size > MAX_BYTES:
        raise ValidationError(field, f"{field} {path} is larger than {MAX_BYTES // 2**20} MB: save it smaller.")
    try:
        with Image.open(path) as picture:
            if max(picture.size) > MAX_SIDE:
                w, h = picture.size
                raise ValidationError(
                    field, f"{field} {path.name} is {w}x{h}; at most {MAX_SIDE} px a side can be edited: scale it down."
                )
            picture.load()
            return picture.copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ValidationError(
            field, f"{field} {path} is not a picture this app can read: use a PNG, JPEG or WebP file."
        ) from None


def as_rgb(picture: Image.Image) -> Image.Image:
    if picture.mode == "RGB":
        return picture
    if "A" in picture.getbands() or "transparency" in picture.info:
        background = Image.new("RGB", picture.size, (255, 255, 255))
        background.paste(picture.convert("RGBA"), mask=picture.convert("RGBA").getchannel("A"))
        return background
    return picture.convert("RGB")


def as_mask(picture: Image.Image) -> Image.Image:
    """An L mask: white repaints. A mask with transparency (OpenAI's convention) repaints where clear."""
    if picture.mode in ("RGBA", "LA") and picture.getchannel("A").getextrema()[0] < 255:
        return Image.eval(picture.getchannel("A"), lambda a: 255 - a)
    return picture.convert("L")


# How far the model repaints into the original along an outpainted edge, and how far the original
# then fades into the new border: a hard cut there shows as a seam.
OUTPAINT_OVERLAP = 16


@dataclass
class EditInputs:
    canvas: Image.Image  # RGB, full resolution: the original, or the original on its extended canvas
    mask: Image.Image | None  # L, same size; None for image-to-image
    # L, same size: how much of the generated picture shows in the result (255 all, 0 none). None:
    # the mask itself (a hard edge).
    blend: Image.Image | None = None


def outpaint_canvas(source: Image.Image, extend: tuple[int, int, int, int]) -> EditInputs:
    """The source on a larger canvas; the new border continues its edge pixels. The model repaints
    the border and an overlap band inside the original along each extended side; in the result the
    original fades into the new border across that band, and beyond it stays pixel-identical."""
    left, top, right, bottom = extend
    pixels = np.asarray(source)
    height, width = pixels.shape[:2]
    padded = np.pad(pixels, ((top, bottom), (left, right), (0, 0)), mode="edge")
    # alpha: 1 where the generated picture shows, 0 where the original stays.
    alpha = np.ones(padded.shape[:2], dtype=np.float32)
    inner = np.zeros((height, width), dtype=np.float32)
    for extended, axis, flip in ((left, 1, False), (right, 1, True), (top, 0, False), (bottom, 0, True)):
        band = min(OUTPAINT_OVERLAP, (width if axis == 1 else height) // 4) if extended else 0
        if band == 0:
            continue
        # 1 at the original's edge, falling linearly to 0 at band pixels in.
        ramp = np.clip(1 - (np.arange(width if axis == 1 else height) + 0.5) / band, 0, 1)
        ramp = ramp[::-1] if flip else ramp
        inner = np.maximum(inner, ramp[None, :] if axis == 1 else ramp[:, None])
    alpha[top : top + height, left : left + width] = inner
    mask = np.where(alpha > 0, 255, 0).astype(np.uint8)
    blend = (alpha * 255).round().astype(np.uint8)
    return EditInputs(Image.fromarray(padded, "RGB"), Image.fromarray(mask, "L"), Image.fromarray(blend, "L"))


def paste_back(generated: Image.Image, inputs: EditInputs) -> Image.Image:
    """The result at the canvas's size, with every pixel outside the mask taken from the canvas (and,
    for outpainting, the original fading into the new border)."""
    if generated.size != inputs.canvas.size:
        generated = generated.resize(inputs.canvas.size, Image.Resampling.LANCZOS)
    generated = generated.convert("RGB")
    if inputs.mask is None:
        return generated
    return Image.composite(generated, inputs.canvas, inputs.blend if inputs.blend is not None else inputs.mask)


def banner_extension(width: int, height: int, ratio: float = 16 / 9) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) that bring a picture nearest to ratio, in multiples of 8: wider by
    extending left and right, taller by extending top and bottom; nothing when it is already there."""
    if width / height < ratio:
        total = round((height * ratio - width) / EXTEND_MULTIPLE) * EXTEND_MULTIPLE
        first = total // 2 // EXTEND_MULTIPLE * EXTEND_MULTIPLE
        return (min(first, EXTEND_MAX), 0, min(total - first, EXTEND_MAX), 0)
    total = round((width / ratio - height) / EXTEND_MULTIPLE) * EXTEND_MULTIPLE
    first = total // 2 // EXTEND_MULTIPLE * EXTEND_MULTIPLE
    return (0, min(first, EXTEND_MAX), 0, min(total - first, EXTEND_MAX))


def model_size(width: int, height: int, multiple: int = 8) -> tuple[int, int]:
    """The largest size the model takes (multiples of 8) that fits in width x height."""
    return max(multiple, width - width % multiple), max(multiple, height - height % multiple)


def edit_inputs_for(request) -> EditInputs:
    """The canvas and mask of an editing request (a validated GenerationRequest), at full resolution."""
    from desktop.engine.request import Task

    source = as_rgb(open_picture(request.image))
    if request.task is Task.OUTPAINT:
        return outpaint_canvas(source, request.extend)
    if request.task is Task.INPAINT:
        return EditInputs(source, as_mask(open_picture(request.mask, "mask")))
    return EditInputs(source, None)


def png_bytes(picture: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def openai_mask(mask: Image.Image) -> Image.Image:
    """OpenAI's mask convention: transparent where to repaint, opaque where to keep."""
    rgba = Image.new("RGBA", mask.size, (0, 0, 0, 255))
    rgba.putalpha(Image.eval(mask, lambda v: 255 - v))
    return rgba
