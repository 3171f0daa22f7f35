"""What a campaign writes outside the library: its images copied under their planned names, the
manifest.csv beside them, the contact sheet, and the approved images exported to a folder.

Images are copied, never moved, and never overwrite a file (a taken name gets -1, -2, ...); each
copy appears whole or not at all (atomic_write). The manifest and the contact sheet are the
campaign's own files and are rewritten at the end of every run.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from desktop.jobs.campaign import PlannedImage
from desktop.library.atomic import atomic_write
from desktop.library.campaign_journal import DONE, FAILED, JournalItem
from desktop.library.contact_sheet import SheetEntry, write_contact_sheet
from desktop.library.export import _slug, free_path

MANIFEST_NAME = "manifest.csv"
CONTACT_SHEET_NAME = "contact-sheet.pdf"
FIXED_COLUMNS = ("path", "row")
TRAILING_COLUMNS = ("format", "width", "height", "seed", "status", "approved")


def campaign_folder(output: Path, campaign: str) -> Path:
    """Where the manifest and contact sheet go: <output>/<campaign>, as in the default name template."""
    return Path(output) / _slug(campaign, 60)


def inside(path: Path, folder: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, RuntimeError):
        return False


def same_bytes(a: Path, b: Path) -> bool:
    """True when both files hold the same bytes (campaign images are small: read whole)."""
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def copy_new(source: Path, wanted: Path, before_write=None) -> Path:
    """Copy source to wanted, or the first free name beside it; returns the path written.

    before_write(target) runs before each attempt (the journal notes the target, so that a run killed
    mid-copy finds its own finished file there instead of copying it twice).
    """
    for _ in range(100):
        target = free_path(wanted)
        if before_write is not None:
            before_write(target)
        try:
            with open(source, "rb") as handle:
                return atomic_write(target, lambda f: shutil.copyfileobj(handle, f), overwrite=False)
        except FileExistsError:  # another process took the name between our check and our write
            continue
    raise FileExistsError(f"no free file name for {wanted.name} in {wanted.parent}")


def manifest_text(
    columns: Sequence[str], rows: Sequence[tuple[PlannedImage, JournalItem | None, Path | None]], base: Path
) -> str:
    """The manifest as CSV text: one line per planned image, its path relative to base ('' until made)."""
    # A CSV column named like one of ours ("format") is written as "format (csv)" so both survive.
    value_columns = [c if c not in (*FIXED_COLUMNS, *TRAILING_COLUMNS) else f"{c} (csv)" for c in columns]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*FIXED_COLUMNS, *value_columns, *TRAILING_COLUMNS])
    for planned, item, path in rows:
        status = item.status if item is not None else "pending"
        if status not in (DONE, FAILED):
            status = "pending"
        approved = "" if item is None or item.approved is None else ("yes" if item.approved else "no")
        relative = Path(os.path.relpath(path, base)).as_posix() if path is not None else ""
        seed = "" if planned.seed is None else planned.seed
        writer.writerow(
            [
                relative,
                planned.row,
                *(planned.values.get(c, "") for c in columns),
                planned.format,
                planned.width,
                planned.height,
                seed,
                status,
                approved,
            ]
        )
    return buffer.getvalue()


def write_manifest(folder: Path, text: str) -> Path:
    # With a byte-order mark: Excel, where stakeholders open it, reads UTF-8 (Bjørn, Zoë) only so.
    data = text.encode("utf-8-sig")
    return atomic_write(Path(folder) / MANIFEST_NAME, lambda f: f.write(data))


def export_images(
    campaign: str,
    columns: Sequence[str],
    sources: Sequence[tuple[PlannedImage, JournalItem, Path]],
    destination: Path,
) -> list[Path]:
    """Copy each (planned, journal item, source file) under its planned name into destination, never
    overwriting, with a manifest of them; returns the image paths written. Reads no journal, so the
    window runs it off the UI thread."""
    destination = Path(destination)
    written, rows = [], []
    for planned, item, source in sources:
        path = copy_new(source, destination / planned.output_name)
        written.append(path)
        rows.append((planned, item, path))
    folder = campaign_folder(destination, campaign)
    write_manifest(folder, manifest_text(columns, rows, folder))
    return written


def write_sheet(folder: Path, campaign: str, shown: Sequence[tuple[PlannedImage, Path]]) -> Path:
    title = f"{campaign} — {len(shown)} images"
    entries = [
        SheetEntry(
            path,
            (
                f"row {planned.row} · {planned.segment}",
                f"{planned.format} · {planned.width}x{planned.height}"
                + ("" if planned.seed is None else f" · seed {planned.seed}"),
            ),
        )
        for planned, path in shown
    ]
    return write_contact_sheet(Path(folder) / CONTACT_SHEET_NAME, entries, title)
