"""The library: saves generation results as files plus history rows, never one without the other.

Files are written atomically first; their history rows then commit in one transaction. If the
commit fails, the files just written are removed again. A crash in between can leave a file
without a row (harmless), never a row without its file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from desktop.engine.result import GenerationResult
from desktop.library.atomic import atomic_write, sweep_partials
from desktop.library.history import HistoryDatabase, HistoryRow
from desktop.library.metadata import png_info
from desktop.library.paths import library_root

DATABASE_NAME = "history.sqlite3"
STAGING_DIR = ".partial"
TRASH_DIR = ".trash"
THUMBNAIL_DIR = ".thumbnails"


@dataclass
class SavedItem:
    row: HistoryRow
    path: Path  # absolute

    def summary(self) -> dict:
        """The fields scripts get from `generate --json`."""
        request = self.row.request
        return {
            "id": self.row.id,
            "path": str(self.path),
            "seed": self.row.seed,
            "backend": self.row.backend,
            "model": self.row.model,
            "task": self.row.task,
            "prompt": self.row.prompt,
            "width": self.row.width,
            "height": self.row.height,
            "steps": request.get("steps") if self.row.backend == "diffusers" else None,
            "guidance": request.get("guidance") if self.row.backend == "diffusers" else None,
            "device": self.row.device,
            "media": self.row.media,
            "frames": request.get("frames") if self.row.media == "video" else None,
            "fps": request.get("fps") if self.row.media == "video" else None,
            "created_at": self.row.created_at,
            "timings": self.row.timings,
        }


class Library:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = library_root(root)
        self.images_dir = self.root / "images"
        self.staging_dir = self.root / STAGING_DIR
        self.trash_dir = self.root / TRASH_DIR
        self.thumbnail_dir = self.root / THUMBNAIL_DIR
        self.root.mkdir(parents=True, exist_ok=True)
        sweep_partials(self.staging_dir)
        self.db = HistoryDatabase(self.root / DATABASE_NAME)

    def close(self) -> None:
        self.db.close()

    def absolute(self, row: HistoryRow) -> Path:
        return self.root / row.path

    def save(self, result: GenerationResult) -> list[SavedItem]:
        request = result.request
        now = datetime.now(timezone.utc)
        batch_id = uuid.uuid4().hex[:10]
        folder = Path("images") / now.strftime("%Y-%m-%d")
        rows: list[HistoryRow] = []
        written: list[Path] = []
        try:
            for item in result.images:
                stem = folder / f"{now.strftime('%H%M%S')}-{batch_id}-{item.index}"
                still = stem.with_name(stem.name + (".poster.png" if item.is_video else ".png"))
                row = HistoryRow(
                    created_at=now.isoformat(timespec="milliseconds"),
                    task=request.task.value,
                    backend=request.backend.value,
                    model=request.model,
                    prompt=request.prompt,
                    negative_prompt=request.negative_prompt,
                    width=item.image.width,
                    height=item.image.height,
                    seed=item.seed,
                    batch_id=batch_id,
                    batch_index=item.index,
                    device=result.device,
                    request=request.to_dict(),
                    timings=result.timings,
                    path=(stem.with_suffix(".mp4") if item.is_video else still).as_posix(),
                    media="video" if item.is_video else "image",
                    poster=still.as_posix() if item.is_video else None,
                )
                record = {
                    **{k: v for k, v in vars(row).items() if k not in ("id", "path", "poster")},
                    "app": "Diffusion Studio",
                }
                written.append(self._write_png(still, item.image, record))
                if item.is_video:
                    from desktop.library.video import write_mp4

                    written.append(
                        write_mp4(self.root / row.path, item.frames, item.fps, record, staging=self.staging_dir)
                    )
                rows.append(row)
            self.db.insert(rows)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return [SavedItem(row, self.absolute(row)) for row in rows]

    def _write_png(self, relative: Path, image, record: dict) -> Path:
        return atomic_write(
            self.root / relative,
            lambda f: image.save(f, format="PNG", pnginfo=png_info(record)),
            staging=self.staging_dir,
            overwrite=False,
        )

    def still(self, row: HistoryRow) -> Path:
        """The picture that stands for a row in the gallery: the image, or a video's poster."""
        return self.root / (row.poster or row.path)

    def files(self, row: HistoryRow) -> list[Path]:
        return [self.root / p for p in (row.path, row.poster) if p]

    def delete(self, row: HistoryRow) -> None:
        """Remove the row first: a failure then leaves an orphan file, never a row without its file."""
        self.db.delete(row.id)
        for path in self.files(row):
            path.unlink(missing_ok=True)

    def trash(self, row: HistoryRow) -> HistoryRow:
        """Delete, keeping the files in the trash so restore() can undo it until empty_trash()."""
        self.db.delete(row.id)
        self.trash_dir.mkdir(parents=True, exist_ok=True)
        for source in self.files(row):
            if source.exists():
                source.replace(self.trash_dir / source.name)
        return row

    def restore(self, row: HistoryRow) -> HistoryRow:
        """Undo trash(): the files go back first, then their row (under a new id)."""
        files = self.files(row)
        missing = [p.name for p in files if not (self.trash_dir / p.name).exists()]
        if missing:
            raise FileNotFoundError(f"{missing[0]} is no longer in the trash")
        for path in files:
            (self.trash_dir / path.name).replace(path)
        self.db.insert([row])
        return row

    def empty_trash(self) -> None:
        if self.trash_dir.is_dir():
            for leftover in self.trash_dir.iterdir():
                leftover.unlink(missing_ok=True)
