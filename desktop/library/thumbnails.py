"""Gallery thumbnails, cached on disk next to the library so they are made once per image."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image

from desktop.library.atomic import atomic_write

THUMBNAIL_SIZE = 256


def thumbnail_path(cache_dir: Path, source: Path) -> Path:
    digest = hashlib.sha1(str(source).encode("utf-8")).hexdigest()[:20]
    return cache_dir / f"{digest}-{THUMBNAIL_SIZE}.png"


def ensure_thumbnail(source: Path, cache_dir: Path) -> Path:
    """Return the cached thumbnail of source, making it first if needed (call off the UI thread)."""
    target = thumbnail_path(cache_dir, source)
    if target.exists():
        return target
    with Image.open(source) as image:
        image.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))  # JPEG decodes at a smaller scale
        image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        atomic_write(target, lambda f: image.save(f, format="PNG", compress_level=1))
    return target
