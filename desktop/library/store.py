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
            for image in result.images:
                relative = folder / f"{now.strftime('%H%M%S')}-{batch_id}-{image.index}.png"
                row = HistoryRow(
                    created_at=now.isoformat(timespec="milliseconds"),
                    task=request.task.value,
                    backend=request.backend.value,
                    model=request.model,
                    prompt=request.prompt,
                    negative_prompt=request.negative_prompt,
                    width=image.image.width,
                    height=image.image.height,
                    seed=image.seed,
                    batch_id=batch_id,
                    batch_index=image.index,
                    device=result.device,
                    request=request.to_dict(),
                    timings=result.timings,
                    path=relative.as_posix(),
                )
                record = {
                    **{k: v for k, v in vars(row).items() if k not in ("id", "path")},
                    "app": "Diffusion Studio",
                }
                target = self.root / relative
                atomic_write(
                    target,
                    lambda f, img=image.image, rec=record: img.save(f, format="PNG", pnginfo=png_info(rec)),
                    staging=self.staging_dir,
                    overwrite=False,
                )
                written.append(target)
                rows.append(row)
            self.db.insert(rows)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return [SavedItem(row, self.absolute(row)) for row in rows]

    def delete(self, row: HistoryRow) -> None:
        """Remove the row first: a failure then leaves an orphan file, never a row without its file."""
        self.db.delete(row.id)
        self.absolute(row).unlink(missing_ok=True)

    def trash(self, row: HistoryRow) -> HistoryRow:
        """Delete, keeping the file in the trash so restore() can undo it until empty_trash()."""
        self.db.delete(row.id)
        self.trash_dir.mkdir(parents=True, exist_ok=True)
        source = self.absolute(row)
        if source.exists():
            source.replace(self.trash_dir / source.name)
        return row

    def restore(self, row: HistoryRow) -> HistoryRow:
        """Undo trash(): the file goes back first, then its row (under a new id)."""
        trashed = self.trash_dir / Path(row.path).name
        if not trashed.exists():
            raise FileNotFoundError(f"{Path(row.path).name} is no longer in the trash")
        trashed.replace(self.absolute(row))
        self.db.insert([row])
        return row

    def empty_trash(self) -> None:
        if self.trash_dir.is_dir():
            for leftover in self.trash_dir.iterdir():
                leftover.unlink(missing_ok=True)
