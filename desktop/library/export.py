"""Export to the team's folders: file names from a template, sanitized, never overwriting a file."""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path

from PIL import Image

from desktop.library.atomic import atomic_produce, sweep_partials
from desktop.library.history import HistoryRow
from desktop.library.metadata import parameters_text, png_info

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
TEMPLATE_FIELDS = ("date", "time", "prompt", "seed", "model", "width", "height", "steps", "backend", "index", "id")
MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
# Names Windows refuses whatever the extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


class ExportError(Exception):
    """One sentence saying what to change (template, folder, format)."""


def check_template(template: str) -> None:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ExportError(
            f"the file-name template is not valid ({exc}): use fields like {{date}}_{{prompt}}."
        ) from None
    if not template.strip():
        raise ExportError("the file-name template is empty: use fields like {date}_{prompt}_{seed}.")
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    if unknown:
        raise ExportError(
            f"the file-name template uses unknown field {{{unknown[0]}}}; "
            f"use: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}."
        )


def _slug(text: str, limit: int) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\s+", "-", text.strip().lower())
    text = _UNSAFE.sub("", text)
    text = re.sub(r"[^\w\-.]", "", text)
    return re.sub(r"-{2,}", "-", text)[:limit].strip("-.") or "image"


def export_name(template: str, row: HistoryRow, extension: str) -> str:
    """A file name (no folders) made from the template and the record; safe on every desktop OS."""
    check_template(template)
    created = row.created_at.replace(":", "")
    values = {
        "date": row.created_at[:10],
        "time": created[11:17],
        "prompt": _slug(row.prompt, 60),
        "seed": "noseed" if row.seed is None else str(row.seed),
        "model": _slug(Path(row.model).name or row.model, 40),
        "width": str(row.width),
        "height": str(row.height),
        "steps": str(row.request.get("steps", "")),
        "backend": row.backend,
        "index": str(row.batch_index),
        "id": str(row.id),
    }
    name = template.format_map(values)
    # Separators and control characters go, whatever the template or the prompt held.
    name = _UNSAFE.sub("-", name)
    name = re.sub(r"\.{2,}", ".", name).strip(" .-")[:MAX_NAME_CHARS].strip(" .-") or "image"
    if name.split(".")[0].lower() in _RESERVED:
        name = f"_{name}"
    return name + extension


def free_path(path: Path) -> Path:
    """path, or path with -1, -2, ... before its extension: the first name not taken."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def _target(folder: Path, template: str, row: HistoryRow, extension: str) -> Path:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ExportError(f"the export folder {folder} does not exist: create it or pick another in Settings.")
    # Temp files of exports that were killed mid-write (their writer gone) go before new ones come.
    sweep_partials(folder)
    name = export_name(template, row, extension)
    target = folder / name
    if target.resolve().parent != folder.resolve():
        raise ExportError(f"the file name '{name}' would land outside {folder}; change the template.")
    return target


def _place(target: Path, produce) -> Path:
    """Write through produce(temp_path) under the first free name: never overwrites, even in a race."""
    for _ in range(100):
        candidate = free_path(target)
        try:
            return atomic_produce(candidate, produce, overwrite=False)
        except FileExistsError:  # someone took the name between our check and our write
            continue
    raise ExportError(f"could not find a free file name for {target.name} in {target.parent}.")


def export_image(source: Path, row: HistoryRow, folder: Path, template: str, fmt: str) -> Path:
    """Write the image into folder under a templated name; return the path written."""
    if fmt not in FORMATS:
        raise ExportError(f"export format '{fmt}' is unknown; choose one of: {', '.join(FORMATS)}.")
    target = _target(folder, template, row, EXTENSIONS[fmt])
    with Image.open(source) as image:
        image.load()
        record = {"request": row.request, "seed": row.seed, "prompt": row.prompt}
        if fmt == "png":
            options = {"pnginfo": png_info(record)}
        else:
            if image.mode not in ("RGB", "L") and not (fmt == "webp" and image.mode == "RGBA"):
                image = image.convert("RGB")
            exif = Image.Exif()
            # EXIF UserComment (0x9286): where AUTOMATIC1111 keeps parameters in JPEG and WebP.
            exif[0x9286] = parameters_text(record)
            options = {"quality": 95, "exif": exif.tobytes()}
        return _place(target, lambda temp: image.save(temp, format=FORMATS[fmt], **options))


def export_video(source: Path, row: HistoryRow, folder: Path, template: str, fmt: str) -> Path:
    """Copy the MP4, or convert it to GIF or WebM, into folder under a templated name."""
    from desktop.library.video import VIDEO_FORMATS, VideoError, convert

    if fmt not in VIDEO_FORMATS:
        raise ExportError(f"video export format '{fmt}' is unknown; choose one of: {', '.join(VIDEO_FORMATS)}.")
    target = _target(folder, template, row, f".{fmt}")

    def produce(temp: Path) -> None:
        try:
            convert(source, temp, fmt)
        except VideoError as exc:
            raise ExportError(str(exc)) from None

    return _place(target, produce)
