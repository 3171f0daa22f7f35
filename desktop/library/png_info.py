"""PNG Info: the prompt and settings other tools (AUTOMATIC1111/Forge, ComfyUI, InvokeAI, Fooocus,
NovelAI) and this app embed in their pictures, read so the form can reuse them.

Other tools' formats are read by sd-parsers, a maintained library that knows them all, rather than
regexes of our own; it evaluates nothing. Hostile files are bounded before it sees them: the file's
size, the picture's pixel count (a decompression bomb) and the total size of its text chunks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from desktop.library.metadata import read_record

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 100 * 2**20
MAX_TEXT_BYTES = 2**20  # generation settings are a few kB; ComfyUI workflows a few hundred at most
MAX_PIXELS = 64 * 2**20


@dataclass(frozen=True)
class FoundSettings:
    """What a picture says about how it was made; None where it does not say."""

    generator: str  # "AUTOMATIC1111", "ComfyUI", "Diffusion Studio", ...
    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    sampler: str | None = None
    model: str | None = None

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) for the ones it has, in the order a person reads them."""
        size = f"{self.width} × {self.height}" if self.width and self.height else None
        fields = [
            ("Made with", self.generator),
            ("Prompt", self.prompt),
            ("Negative prompt", self.negative_prompt),
            ("Steps", self.steps),
            ("Guidance (CFG)", self.guidance),
            ("Seed", self.seed),
            ("Size", size),
            ("Sampler", self.sampler),
            ("Model", self.model),
        ]
        return [(label, str(value)) for label, value in fields if value not in (None, "")]


def read_settings(path: str | Path) -> FoundSettings | None:
    """The settings a picture carries; None when it carries none (or cannot be read at all)."""
    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return None
        record = read_record(path)
        if record is not None and isinstance(record.get("request"), dict):
            return _ours(record)
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                return None
            image.load()  # text chunks after the pixel data (some tools write them there) need the whole file
            texts = [v for v in (getattr(image, "text", None) or image.info).values() if isinstance(v, str)]
            if not texts or sum(len(v) for v in texts) > MAX_TEXT_BYTES:
                return None
            return _foreign(image)
    except Exception:  # Pillow and the parsers raise many kinds on hostile files: it carries nothing usable
        log.debug("no settings read from %s", path, exc_info=True)
        return None


def _ours(record: dict) -> FoundSettings:
    request = record["request"]
    return FoundSettings(
        generator="Diffusion Studio",
        prompt=_text(request.get("prompt")),
        negative_prompt=_text(request.get("negative_prompt")),
        steps=_number(request.get("steps"), int),
        guidance=_number(request.get("guidance"), float),
        seed=_number(record.get("seed"), int),
        width=_number(request.get("width"), int),
        height=_number(request.get("height"), int),
        sampler=_text(request.get("scheduler")) or None,
        model=_text(request.get("model")) or None,
    )


def _foreign(image: Image.Image) -> FoundSettings | None:
    from sd_parsers import ParserManager

    info = ParserManager().parse(image)
    if info is None:
        return None
    sampler = next(iter(info.samplers), None)
    parameters = dict(getattr(sampler, "parameters", None) or {})
    width, height = _size(str(info.metadata.get("Size", "")) if isinstance(info.metadata, dict) else "")
    model = getattr(sampler, "model", None) or next(iter(info.models), None)
    return FoundSettings(
        generator=str(getattr(info.generator, "value", info.generator)),
        prompt=_text(info.full_prompt),
        negative_prompt=_text(info.full_negative_prompt),
        steps=_number(parameters.get("steps"), int),
        guidance=_number(parameters.get("cfg_scale"), float),
        seed=_number(parameters.get("seed"), int),
        width=width or image.width,
        height=height or image.height,
        sampler=_text(getattr(sampler, "name", None)) or None,
        model=_text(getattr(model, "name", None)) or None,
    )


def _text(value: object) -> str:
    return value.strip()[:20_000] if isinstance(value, str) else ""


def _number(value: object, kind: type):
    try:
        number = kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if abs(number) < 2**63 else None


def _size(text: str) -> tuple[int | None, int | None]:
    width, _, height = text.partition("x")
    return _number(width, int), _number(height, int)
