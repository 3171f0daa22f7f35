"""A contact sheet: a PDF of thumbnails with captions, for the stakeholder who approves a campaign.

Written with Pillow alone (no PDF library): one page image at a time, each appended to the file, so
memory stays flat for a campaign of any size; the file appears only when complete (atomic_produce).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from desktop.library.atomic import atomic_produce

# A4 landscape at 100 dpi; 5 x 3 thumbnails a page, each with two caption lines under it.
PAGE = (1169, 827)
DPI = 100
MARGIN = 40
COLUMNS, ROWS = 5, 3
HEADER = 50
CAPTION_LINES = 2
FONT_SIZE = 14
LINE_HEIGHT = 18
# Linux (DejaVu, Liberation), Windows and macOS (Arial), in that order.
FONT_CANDIDATES = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "arial.ttf", "Arial.ttf", "Helvetica.ttc")


@dataclass(frozen=True)
class SheetEntry:
    image: Path | None  # None (or a missing file): a placeholder box says so
    caption: tuple[str, ...]  # up to two lines: "row 3 · young woman", "9:16 · 64x112"


def write_contact_sheet(path: Path, entries: Sequence[SheetEntry], title: str) -> Path:
    """Write the PDF at path (replacing an older sheet there); returns path."""
    font, title_font = _font(FONT_SIZE), _font(FONT_SIZE + 6)
    per_page = COLUMNS * ROWS
    pages = max(1, -(-len(entries) // per_page))

    def produce(temp: Path) -> None:
        for number in range(pages):
            page = _page(
                entries[number * per_page : (number + 1) * per_page], title, number + 1, pages, font, title_font
            )
            page.save(temp, format="PDF", resolution=DPI, append=number > 0, title=title)
            page.close()

    return atomic_produce(Path(path), produce)


def _page(entries: Sequence[SheetEntry], title: str, number: int, pages: int, font, title_font) -> Image.Image:
    page = Image.new("RGB", PAGE, "white")
    draw = ImageDraw.Draw(page)
    draw.text((MARGIN, MARGIN // 2), _fit(draw, title, title_font, PAGE[0] - 2 * MARGIN - 120), "black", title_font)
    draw.text((PAGE[0] - MARGIN - 100, MARGIN // 2 + 6), f"page {number} of {pages}", "gray", font)
    cell_w = (PAGE[0] - 2 * MARGIN) // COLUMNS
    cell_h = (PAGE[1] - 2 * MARGIN - HEADER) // ROWS
    box_w, box_h = cell_w - 16, cell_h - CAPTION_LINES * LINE_HEIGHT - 16
    for index, entry in enumerate(entries):
        x = MARGIN + (index % COLUMNS) * cell_w + 8
        y = MARGIN + HEADER + (index // COLUMNS) * cell_h
        thumbnail = _thumbnail(entry.image, (box_w, box_h))
        if thumbnail is None:
            draw.rectangle((x, y, x + box_w, y + box_h), outline="gray", fill=(235, 235, 235))
            draw.text((x + 8, y + box_h // 2), "missing", "gray", font)
        else:
            # Centred in its box, so portrait and landscape formats line up on the page.
            page.paste(thumbnail, (x + (box_w - thumbnail.width) // 2, y + (box_h - thumbnail.height) // 2))
            thumbnail.close()
        for line_number, line in enumerate(entry.caption[:CAPTION_LINES]):
            draw.text((x, y + box_h + 4 + line_number * LINE_HEIGHT), _fit(draw, line, font, box_w), "black", font)
    return page


def _font(size: int):
    """A system font with the accents segment names carry (Bjørn, Zoë); Pillow's built-in font has
    only ASCII, so it is the last resort. Pillow finds these by name in the system's font folders."""
    for name in FONT_CANDIDATES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _thumbnail(path: Path | None, box: tuple[int, int]) -> Image.Image | None:
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            image.draft("RGB", box)  # JPEG decodes at a reduced size; PNGs decode in full
            picture = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    # Small pictures (the demo model's 64x64) are scaled up, with sharp pixels rather than blur.
    scale = min(box[0] / picture.width, box[1] / picture.height)
    size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    return picture.resize(size, resample)


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """text, shortened with an ellipsis to fit width pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
