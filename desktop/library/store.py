"""The library: saves generation results as files plus history rows, never one without the other.

Files are written atomically first; their history rows then commit in one transaction. If the
commit fails, the files just written are removed again. A process killed in between leaves a
file without a row, and a note saying so: the next open indexes that file from its embedded
record (recovery.py). Never a row without its file.

Many processes may use one library at once. Opening (sweeping leftovers, repairing) happens
under a lock file; saving needs no lock of ours: names never collide and SQLite serialises commits.
"""

from __future__ import annotations

import errno
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from desktop.engine.backend import GUIDANCE, STEPS
from desktop.engine.result import GenerationResult
from desktop.engine.tasks import FPS, FRAMES, MediaKind
from desktop.library import locking, recovery
from desktop.library.errors import LibraryError, library_error
from desktop.library.history import HistoryRow
from desktop.library.mesh import mesh_summary
from desktop.library.metadata import model_takes, task_uses
from desktop.library.paths import confined, library_root
from desktop.library.writers import WRITERS

DATABASE_NAME = "history.sqlite3"
STAGING_DIR = ".partial"
TRASH_DIR = ".trash"
THUMBNAIL_DIR = ".thumbnails"
LOCK_NAME = ".library.lock"
# Where absolute()/still() point for a row whose path leaves the library: a name that never exists.
OUTSIDE_DIR = ".outside-library"
NAME_ATTEMPTS = 5


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
            "steps": request.get("steps") if model_takes(self.row.backend, self.row.model, STEPS) else None,
            "guidance": request.get("guidance") if model_takes(self.row.backend, self.row.model, GUIDANCE) else None,
            "device": self.row.device,
            "media": self.row.media,
            "frames": request.get("frames") if task_uses(self.row.task, FRAMES) else None,
            "fps": request.get("fps") if task_uses(self.row.task, FPS) else None,
            "created_at": self.row.created_at,
            "timings": self.row.timings,
            # 3D objects: vertices, faces and the turntable's path.
            **(mesh_summary(self.path) if self.row.media == MediaKind.MESH else {}),
        }


def _name(value: object) -> str:
    """An enum's value or a plain string id (backends are registry ids)."""
    return str(getattr(value, "value", value))


class Library:
    """Raises LibraryError (one sentence) when the folder cannot be used: a file in the way,
    read-only, disk full, a history from a newer version. A damaged history is set aside and
    rebuilt instead; `report` says what opening found and did (show `report.summary()` when
    `report.changed`)."""

    def __init__(self, root: str | Path | None = None, *, rebuild: bool = False) -> None:
        try:
            self.root = library_root(root)
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
            raise LibraryError(f"the library folder {root} cannot be resolved ({exc}); give another one.") from exc
        self.images_dir = self.root / "images"
        self.staging_dir = self.root / STAGING_DIR
        self.trash_dir = self.root / TRASH_DIR
        self.thumbnail_dir = self.root / THUMBNAIL_DIR
        self.db_path = self.root / DATABASE_NAME
        self.report = recovery.Report(self.root)
        try:
            if self.root.exists() and not self.root.is_dir():
                raise LibraryError(
                    f"the library {self.root} is a file, not a folder: "
                    "give a folder with --library or DIFFUSION_STUDIO_HOME."
                )
            self.root.mkdir(parents=True, exist_ok=True)
            # Resolved once: every path read from the history must stay inside these.
            self._images_base = self.images_dir.resolve()
            self._root_base = self.root.resolve()
            with locking.exclusive(self.root / LOCK_NAME):
                self.db = recovery.open_history(self, self.report, rebuild=rebuild)
        except (OSError, sqlite3.Error) as exc:
            raise library_error(exc, self.root, "open the library") from exc

    def close(self) -> None:
        self.db.close()

    # -- paths read from the history: confined to images/ ------------------------------------

    def confined(self, relative: object) -> Path | None:
        """The absolute path of a history path, or None when it would leave the images folder."""
        return confined(self._images_base, self.root, relative)

    def _shown(self, relative: object) -> Path:
        path = self.confined(relative)
        if path is not None:
            return path
        # Treated as a missing file: a path inside the library that never exists.
        return self.root / OUTSIDE_DIR / Path(str(relative)).name

    def absolute(self, row: HistoryRow) -> Path:
        return self._shown(row.path)

    def still(self, row: HistoryRow) -> Path:
        """The picture that stands for a row in the gallery: the image, or a video's poster."""
        return self._shown(row.poster or row.path)

    def files(self, row: HistoryRow) -> list[Path]:
        """The row's files that lie inside the library (whether or not they exist): its result, poster,
        and a 3D object's turntable, so delete, trash and undo move them all."""
        refs = [row.path, row.poster]
        if row.media == MediaKind.MESH and isinstance(row.path, str):
            from desktop.library.mesh import turntable_name

            refs.append(turntable_name(Path(row.path)).as_posix())
        return [path for path in map(self.confined, refs) if path is not None]

    # -- saving ----------------------------------------------------------------------------

    def save(self, result: GenerationResult) -> list[SavedItem]:
        """Write the result's files and commit their rows; LibraryError (with nothing left
        behind) when the disk or the history refuses."""
        for _ in range(NAME_ATTEMPTS):
            try:
                return self._save(result, uuid.uuid4().hex[:10])
            except FileExistsError:
                continue  # another process took one of these names this very second: draw a new batch id
        raise LibraryError(f"could not find free file names in {self.images_dir}; try again.")

    def _save(self, result: GenerationResult, batch_id: str) -> list[SavedItem]:
        request = result.request
        now = datetime.now(timezone.utc)
        folder = Path("images") / now.strftime("%Y-%m-%d")
        rows: list[HistoryRow] = []
        media = request.task.spec.media
        writer = WRITERS[media]
        for item in result.images:
            path, poster = writer.names(folder / f"{now.strftime('%H%M%S')}-{batch_id}-{item.index}")
            rows.append(
                HistoryRow(
                    created_at=now.isoformat(timespec="milliseconds"),
                    task=_name(request.task),
                    backend=_name(request.backend),
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
                    path=path.as_posix(),
                    media=media.value,
                    poster=poster.as_posix() if poster is not None else None,
                )
            )
        planned = [p for row in rows for p in (row.poster, row.path) if p]
        written: list[Path] = []
        note = None
        try:
            note = recovery.begin_save(self.staging_dir, batch_id, planned)
            for item, row in zip(result.images, rows, strict=True):
                record = {
                    **{k: v for k, v in vars(row).items() if k not in ("id", "path", "poster")},
                    "app": "Diffusion Studio",
                }
                # The engine may say which scheduler class the model used when none was asked for.
                scheduler_class = getattr(result, "scheduler_class", None)
                if isinstance(scheduler_class, str):
                    record["scheduler_class"] = scheduler_class
                poster = Path(row.poster) if row.poster else None
                written += writer.write(self.root, self.staging_dir, item, record, Path(row.path), poster)
            self.db.insert(rows)
        except BaseException as exc:
            for path in written:
                path.unlink(missing_ok=True)
            if note is not None:
                recovery.end_save(note)
            if isinstance(exc, (OSError, sqlite3.Error)) and not isinstance(exc, FileExistsError):
                raise library_error(exc, self.root, "save into the library") from exc
            raise
        recovery.end_save(note)
        return [SavedItem(row, self.absolute(row)) for row in rows]

    # -- deleting, trash ---------------------------------------------------------------------
    # File errors stay OSError here (the gallery says "Could not delete x: <reason>"); history
    # errors become LibraryError. Only files inside the images folder are ever moved or removed.

    def delete(self, row: HistoryRow) -> None:
        """Remove the row first: a failure then leaves an orphan file, never a row without its file."""
        self._history(self.db.delete, row.id)
        for path in self.files(row):
            if path.is_file() or path.is_symlink():
                path.unlink(missing_ok=True)

    def _history(self, action, *args):
        try:
            return action(*args)
        except sqlite3.Error as exc:
            raise library_error(exc, self.db_path, "write") from exc

    def _trash(self) -> Path:
        """The trash folder, refused when it is a link out of the library (emptying it deletes)."""
        if self.trash_dir.is_symlink() or (
            self.trash_dir.exists() and self.trash_dir.resolve() != self._root_base / TRASH_DIR
        ):
            raise PermissionError(
                errno.EPERM, "the trash folder is a link out of the library; remove it", str(self.trash_dir)
            )
        return self.trash_dir

    def trash(self, row: HistoryRow) -> HistoryRow:
        """Delete, keeping the files in the trash so restore() can undo it until empty_trash()."""
        trash = self._trash()
        self._history(self.db.delete, row.id)
        trash.mkdir(parents=True, exist_ok=True)
        for source in self.files(row):
            if source.is_file():
                source.replace(trash / source.name)
        return row

    def restore(self, row: HistoryRow) -> HistoryRow:
        """Undo trash(): the files go back first, then their row (under a new id)."""
        files = self.files(row)
        trash = self._trash()
        missing = [p.name for p in files if not (trash / p.name).is_file()]
        if missing or not files:
            raise FileNotFoundError(f"{missing[0] if missing else row.path} is no longer in the trash")
        for path in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            (trash / path.name).replace(path)
        self._history(self.db.insert, [row])
        return row

    def empty_trash(self) -> None:
        trash = self._trash()
        if trash.is_dir():
            for leftover in trash.iterdir():
                if leftover.is_file() or leftover.is_symlink():
                    leftover.unlink(missing_ok=True)
