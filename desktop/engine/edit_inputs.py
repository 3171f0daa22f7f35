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


@dataclass
class EditInputs:
    canvas: Image.Image  # RGB, full resolution: the original, or the original on its extended canvas
    mask: Image.Image | None  # L, same size; None for image-to-image


def outpaint_canvas(source: Image.Image, extend: tuple[int, int, int, int]) -> EditInputs:
    """The source on a larger canvas; the new border continues its edge pixels and is masked white."""
    left, top, right, bottom = extend
    pixels = np.asarray(source)
    padded = np.pad(pixels, ((top, bottom), (left, right), (0, 0)), mode="edge")
    mask = np.full(padded.shape[:2], 255, dtype=np.uint8)
    mask[top : top + pixels.shape[0], left : left + pixels.shape[1]] = 0
    return EditInputs(Image.fromarray(padded, "RGB"), Image.fromarray(mask, "L"))


def paste_back(generated: Image.Image, inputs: EditInputs) -> Image.Image:
    """The result at the canvas's size, with every pixel outside the mask taken from the canvas."""
    if generated.size != inputs.canvas.size:
        generated = generated.resize(inputs.canvas.size, Image.Resampling.LANCZOS)
    generated = generated.convert("RGB")
    if inputs.mask is None:
        return generated
    return Image.composite(generated, inputs.canvas, inputs.mask)


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
