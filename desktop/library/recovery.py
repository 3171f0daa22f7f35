"""Recovery: nothing a process reported saved is lost, and a damaged history is rebuilt.

Every PNG the library writes carries its full record (metadata.py), so the files are the truth and
the history is an index that can be made again:

- A save first leaves an in-flight note in the staging folder naming the files it is about to
  write, and removes it once their rows commit. A process killed in between leaves the note; the
  next open finds it (its writer gone), indexes those files from their records and drops it. No
  rescan of a large library on each open.
- A history that is damaged (garbage, truncated, foreign tables) or 0 bytes while pictures exist
  is set aside under a new name (never deleted) and rebuilt from the files.
- check_library() and rebuild_library() do the same on request, over every file, and report.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.library.atomic import STALE_AFTER_S, atomic_write, sweep_partials
from desktop.library.errors import HistoryDamagedError, LibraryError
from desktop.library.history import HistoryDatabase, HistoryRow
from desktop.library.metadata import read_record
from desktop.library.owner import ALIVE, GONE, current_tag, owner_state
from desktop.library.paths import library_root
from desktop.library.report import Report

if TYPE_CHECKING:
    from desktop.library.store import Library

INFLIGHT_SUFFIX = ".inflight.json"
POSTER_SUFFIX = ".poster.png"
# A 3D object: <stem>.glb with <stem>.poster.png (the record) and <stem>.turntable.mp4 (desktop/library/mesh.py).
MESH_SUFFIX, TURNTABLE_SUFFIX = ".glb", ".turntable.mp4"
_MESH_FILES = (MESH_SUFFIX, TURNTABLE_SUFFIX)
MAX_NOTE_BYTES = 64 * 1024
REINDEX_BATCH = 500  # rows per transaction: other writers wait on each for milliseconds only


# -- in-flight notes ----------------------------------------------------------------------------


def begin_save(staging: Path, batch_id: str, paths: list[str]) -> Path:
    """Note, before writing them, the files a save is about to write (relative to the library)."""
    note = staging / f"{current_tag()}.{batch_id}{INFLIGHT_SUFFIX}"
    text = json.dumps({"paths": paths}).encode("utf-8")
    return atomic_write(note, lambda handle: handle.write(text), staging=staging)


def end_save(note: Path) -> None:
    note.unlink(missing_ok=True)


def _note_paths(note: Path) -> list[str]:
    try:
        with open(note, "rb") as handle:
            data = json.loads(handle.read(MAX_NOTE_BYTES).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return []
    paths = data.get("paths") if isinstance(data, dict) else None
    return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []


def _notes(staging: Path) -> list[tuple[Path, str]]:
    """(note, owner state) for every in-flight note in staging."""
    try:
        found = list(staging.glob(f"*{INFLIGHT_SUFFIX}")) if staging.is_dir() else []
    except OSError:
        return []
    return [(note, owner_state(note.name.split(".", 1)[0])) for note in found]


def _is_abandoned(note: Path, state: str) -> bool:
    if state == GONE:
        return True
    if state == ALIVE:
        return False
    try:
        return time.time() - note.stat().st_mtime > STALE_AFTER_S
    except OSError:
        return False


def busy_paths(staging: Path) -> set[str]:
    """Files that a live writer is saving right now: never index them from outside."""
    busy: set[str] = set()
    for note, state in _notes(staging):
        if not _is_abandoned(note, state):
            busy.update(_note_paths(note))
    return busy


def replay_abandoned_saves(library: Library, db: HistoryDatabase, report: Report) -> None:
    """Index the files of saves whose writer died between writing them and committing their rows."""
    abandoned = [note for note, state in _notes(library.staging_dir) if _is_abandoned(note, state)]
    named = _named_paths(db) if abandoned else set()
    for note in abandoned:
        orphans = [p for p in _note_paths(note) if p not in named and _existing(library, p)]
        if orphans:
            _index_files(library, db, orphans, report, busy=set())
        end_save(note)


# -- indexing files from their embedded records -----------------------------------------------


def _existing(library: Library, relative: str) -> bool:
    path = library.confined(relative)
    return path is not None and path.is_file()


def _named_paths(db: HistoryDatabase) -> set[str]:
    return {value for _, *values in db.file_refs() for value in values if isinstance(value, str)}


def _text(value: object, limit: int = 64 * 1024) -> bool:
    return isinstance(value, str) and len(value) <= limit


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def row_from_record(record: dict, path: str, poster: str | None) -> HistoryRow | None:
    """The history row a file's embedded record describes; None unless every field is sound
    (a file in the images folder may come from anywhere)."""
    media = "mesh" if path.endswith(MESH_SUFFIX) else "video" if poster else "image"
    texts = ("created_at", "task", "backend", "model", "prompt", "batch_id", "device")
    if not all(_text(record.get(name)) for name in texts):
        return None
    if not _text(record.get("negative_prompt", "")) or record.get("media", "image") != media:
        return None
    width, height, index, seed = (record.get(k) for k in ("width", "height", "batch_index", "seed"))
    if not (_integer(width) and _integer(height) and _integer(index)) or not (seed is None or _integer(seed)):
        return None
    if min(width, height, index + 1) <= 0:
        return None
    request, timings = record.get("request"), record.get("timings", {})
    if not isinstance(request, dict) or not isinstance(timings, dict):
        return None
    return HistoryRow(
        created_at=record["created_at"],
        task=record["task"],
        backend=record["backend"],
        model=record["model"],
        prompt=record["prompt"],
        negative_prompt=record.get("negative_prompt", ""),
        width=width,
        height=height,
        seed=seed,
        batch_id=record["batch_id"],
        batch_index=index,
        device=record["device"],
        request=request,
        timings=timings,
        path=path,
        media=media,
        poster=poster,
    )


def _rows_for_files(library: Library, relatives: Iterable[str]) -> tuple[list[HistoryRow], list[str]]:
    """Rows for files (relative paths) that have none, and the files left alone.

    An image is its PNG; a video is its MP4 plus the poster PNG that carries its record.
    """
    files = set(relatives)
    rows: list[HistoryRow] = []
    left: list[str] = []
    for relative in sorted(files):
        if relative.endswith(".mp4") and relative[: -len(".mp4")] + POSTER_SUFFIX in files:
            continue  # indexed with its poster
        if any(relative.endswith(s) and relative[: -len(s)] + POSTER_SUFFIX in files for s in _MESH_FILES):
            continue  # a 3D object's mesh and turntable: indexed with its poster
        if relative.endswith(POSTER_SUFFIX):
            video = relative[: -len(POSTER_SUFFIX)] + ".mp4"
            mesh = relative[: -len(POSTER_SUFFIX)] + MESH_SUFFIX
            if _existing(library, mesh):
                video = mesh
            elif not _existing(library, video):
                left.append(relative)  # a poster whose video never arrived
                continue
            path, poster = video, relative
        elif relative.endswith(".png"):
            path, poster = relative, None
        else:
            left.append(relative)
            continue
        source = library.confined(poster or path)
        record = read_record(source) if source is not None else None
        row = row_from_record(record, path, poster) if record is not None else None
        if row is None:
            left.extend([relative] if poster is None else [relative, path])
        else:
            rows.append(row)
    return rows, left


def _index_files(
    library: Library, db: HistoryDatabase, relatives: list[str], report: Report, busy: set[str] | None = None
) -> None:
    """Insert rows for files that have none. busy=None: re-read live writers' notes under the
    write lock, so a file another process is about to record is never recorded twice."""
    rows, left = _rows_for_files(library, relatives)
    report.without_record.extend(p for p in left if p not in report.without_record)

    def still_orphans(batch: list[HistoryRow]) -> list[HistoryRow]:
        live = busy_paths(library.staging_dir) if busy is None else busy
        return [
            row
            for row in batch
            if row.path not in live
            and (row.poster is None or row.poster not in live)
            and all(_existing(library, p) for p in (row.path, row.poster) if p)
        ]

    for start in range(0, len(rows), REINDEX_BATCH):
        batch = rows[start : start + REINDEX_BATCH]
        db.insert(batch, skip_existing=True, recheck=still_orphans)
        done = [row.path for row in batch if row.id is not None]
        report.reindexed += len(done)
        report.reindexed_paths.extend(done)


def result_files(library: Library) -> list[str]:
    """Every file under images/ that may be touched (relative paths); symlinks out are skipped."""
    found: list[str] = []
    if not library.images_dir.is_dir():
        return found
    for folder, subfolders, names in os.walk(library.images_dir):  # does not follow folder symlinks
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            relative = Path(folder, name).relative_to(library.root).as_posix()
            if library.confined(relative) is not None:
                found.append(relative)
    return found


def has_results(library: Library) -> bool:
    """Whether any file lies under images/ (stops at the first one)."""
    if not library.images_dir.is_dir():
        return False
    for _, subfolders, names in os.walk(library.images_dir):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        if any(not name.startswith(".") for name in names):
            return True
    return False


def index_orphans(library: Library, db: HistoryDatabase, report: Report) -> None:
    """Full scan: index every file without a row (from its record), list those without one."""
    files = result_files(library)
    report.files = len(files)
    named = _named_paths(db)
    _index_files(library, db, [f for f in files if f not in named], report)


# -- opening, setting aside, rebuilding --------------------------------------------------------


def set_aside(db_path: Path) -> Path:
    """Rename the history (and its WAL and shared-memory files) to a free damaged-... name."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = db_path.with_name(f"{db_path.stem}-damaged-{stamp}{db_path.suffix}")
    n = 1
    while any(Path(f"{target}{s}").exists() for s in ("", "-wal", "-shm")):
        target = db_path.with_name(f"{db_path.stem}-damaged-{stamp}-{n}{db_path.suffix}")
        n += 1
    # The WAL goes first: an old WAL left beside a new history would be replayed into it.
    for suffix in ("-wal", "-shm", ""):
        source = Path(f"{db_path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{target}{suffix}"))
    return target


def open_history(library: Library, report: Report, rebuild: bool = False) -> HistoryDatabase:
    """Open the library's history, repairing what a crash or damage left (call under the open lock)."""
    report.partials_removed += sweep_partials(library.staging_dir) + sweep_partials(library.thumbnail_dir)
    db_path = library.db_path
    existed = db_path.exists()
    if existed and rebuild:
        report.set_aside = set_aside(db_path)  # on request: no damage to report
    elif existed and db_path.stat().st_size == 0 and has_results(library):
        # A 0-byte history beside pictures was emptied by something (a full disk, a sync tool).
        report.set_aside, report.damage = set_aside(db_path), "it was empty"
    db = None
    try:
        db = HistoryDatabase(db_path)
        db.quick_check()
    except HistoryDamagedError as exc:
        if db is not None:
            db.close()
        report.set_aside, report.damage = set_aside(db_path), exc.reason
        db = HistoryDatabase(db_path)
    try:
        if report.set_aside is not None or ((rebuild or not existed or db.is_empty()) and has_results(library)):
            report.rebuilt = True
            index_orphans(library, db, report)
        replay_abandoned_saves(library, db, report)
        report.rows = db.count()
    except BaseException:
        db.close()
        raise
    return db


def _existing_library(root: str | Path | None) -> Path:
    """The library folder to check or rebuild: it must exist (a typo must not make a new one)."""
    folder = library_root(root)
    if not folder.is_dir():
        raise LibraryError(f"there is no library at {folder}: check --library or DIFFUSION_STUDIO_HOME.")
    return folder


def check_library(root: str | Path | None = None) -> Report:
    """Open the library (sweeping dead writers' leftovers, setting a damaged history aside and
    rebuilding it), then compare every file with every row: index files that have a record but
    no row, and list files without a record, rows whose files are missing or outside the library,
    and rows that cannot be read. Nothing is deleted. Raises LibraryError when the library
    cannot be opened at all."""
    from desktop.library.store import Library

    library = Library(_existing_library(root))
    try:
        report = library.report
        if not report.rebuilt:
            index_orphans(library, library.db, report)
        else:
            report.files = len(result_files(library))
        for _, path, poster in library.db.file_refs():
            for value in (path, poster):
                if value is not None and not (isinstance(value, str) and _existing(library, value)):
                    report.missing_files.append(str(value))
        report.unreadable_rows = library.db.unreadable_ids()
        report.rows = library.db.count()
        return report
    finally:
        library.close()


def rebuild_library(root: str | Path | None = None) -> Report:
    """Set the history aside (renamed, never deleted) and build a new one from the files' records."""
    from desktop.library.store import Library

    library = Library(_existing_library(root), rebuild=True)
    try:
        report = library.report
        report.unreadable_rows = library.db.unreadable_ids()
        report.rows = library.db.count()
        return report
    finally:
        library.close()
