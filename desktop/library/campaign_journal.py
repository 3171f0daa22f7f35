"""A campaign's journal: what was planned, made, copied out and approved, one record per image.

One SQLite file per campaign, `<library>/campaigns/<safe-name>/journal.sqlite3` (WAL, busy_timeout),
keyed by row x format x image index. An image moves pending -> saved (in the library: its history
row id) -> done (copied out: its output path); failed ones are retried. Every change is one short
transaction, so a run killed at any moment leaves the journal at its last completed step, and the
next run makes only what is missing. The seeds drawn for rows are kept here, so a resume keeps them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from desktop.library.errors import LibraryError, library_error
from desktop.library.export import _slug
from desktop.library.paths import library_root

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

CAMPAIGNS_DIR = "campaigns"
JOURNAL_NAME = "journal.sqlite3"
LOCK_NAME = "run.lock"
BUSY_TIMEOUT_S = 30.0
PENDING, SAVED, DONE, FAILED = "pending", "saved", "done", "failed"

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS row_seeds (row INTEGER PRIMARY KEY, seed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    row INTEGER NOT NULL,
    format TEXT NOT NULL,
    image INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    seed INTEGER,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    output_name TEXT NOT NULL,
    history_id INTEGER,
    library_path TEXT,
    output_path TEXT,
    approved INTEGER,
    message TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (row, format, image)
)
"""

Key = tuple[int, str, int]  # row (1 = the first data row), format as written ("9:16"), image index


class CampaignBusy(LibraryError):
    """Another process is making this campaign right now."""


@dataclass(frozen=True)
class JournalItem:
    row: int
    format: str
    image: int
    fingerprint: str
    status: str
    seed: int | None
    width: int
    height: int
    output_name: str  # relative to the output folder it was planned for
    history_id: int | None  # the library's history row, once saved
    library_path: str | None  # relative to the library root (as the history has it)
    output_path: str | None  # absolute: where it was copied (or is about to be)
    approved: bool | None  # None: not reviewed yet
    message: str  # why it failed
    updated_at: str

    @property
    def key(self) -> Key:
        return self.row, self.format, self.image


@dataclass(frozen=True)
class PlannedEntry:
    """What the journal needs of a planned image."""

    key: Key
    fingerprint: str
    seed: int | None
    width: int
    height: int
    output_name: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def campaigns_folder(root: str | Path | None = None) -> Path:
    return library_root(root) / CAMPAIGNS_DIR


def list_campaigns(root: str | Path | None = None) -> list[tuple[str, Path]]:
    """(name, journal folder) of every campaign in the library, by name: for the window's Resume."""
    found = []
    folder = campaigns_folder(root)
    for journal in sorted(folder.glob(f"*/{JOURNAL_NAME}")) if folder.is_dir() else []:
        with contextlib.suppress(sqlite3.Error, OSError):
            conn = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'name'").fetchone()
            finally:
                conn.close()
            if row:
                found.append((row[0], journal.parent))
    return sorted(found)


class CampaignJournal:
    """Raises LibraryError (one sentence) when the journal cannot be opened or written."""

    def __init__(self, root: str | Path | None, name: str) -> None:
        self.name = name
        self.folder = self._folder(campaigns_folder(root), name)
        self.path = self.folder / JOURNAL_NAME
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self._write() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise LibraryError(f"the campaign journal {self.path} was written by a newer Diffusion Studio.")
                # One statement at a time: executescript() would commit in the middle of this transaction.
                for statement in filter(str.strip, SCHEMA.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('name', ?)", (name,))
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('campaign_id', ?)", (uuid.uuid4().hex,))
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (_now(),))
            self.campaign_id = self._meta("campaign_id")
        except sqlite3.Error as exc:
            raise library_error(exc, self.path, "open the campaign journal") from exc
        except OSError as exc:
            raise library_error(exc, self.folder, "create the campaign folder") from exc

    @staticmethod
    def _folder(base: Path, name: str) -> Path:
        """campaigns/<slug>; where another campaign's name has the same slug, <slug>-<hash of name>."""
        slug = _slug(name, 60)
        folder = base / slug
        journal = folder / JOURNAL_NAME
        if journal.is_file():
            with contextlib.suppress(sqlite3.Error):
                conn = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
                try:
                    row = conn.execute("SELECT value FROM meta WHERE key = 'name'").fetchone()
                finally:
                    conn.close()
                if row and row[0] != name:
                    return base / f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        return folder

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> CampaignJournal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            raise

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # -- the definition ----------------------------------------------------------------------

    def spec(self) -> dict | None:
        """The campaign's definition as last run (Campaign.to_dict()), for Resume."""
        text = self._meta("spec")
        return json.loads(text) if text else None

    def save_spec(self, spec: dict, output: str | None = None) -> None:
        """Keep the definition and the output folder it is made into, so Resume needs neither again."""
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('spec', ?)", (json.dumps(spec, ensure_ascii=False),))
            if output is not None:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('output', ?)", (output,))

    def output(self) -> str | None:
        """The output folder of the last run."""
        return self._meta("output")

    def row_seeds(self, rows: Iterable[int], draw: Callable[[], int] | None = None) -> dict[int, int]:
        """The seed of each row, drawn (once, ever) for rows that have none yet."""
        draw = draw or (lambda: secrets.randbelow(2**32))
        rows = list(rows)
        with self._write() as conn:
            known = {r: s for r, s in conn.execute("SELECT row, seed FROM row_seeds")}
            fresh = [(row, draw()) for row in rows if row not in known]
            conn.executemany("INSERT INTO row_seeds VALUES (?, ?)", fresh)
        known.update(fresh)
        return {row: known[row] for row in rows}

    # -- images ------------------------------------------------------------------------------

    def sync(self, planned: Iterable[PlannedEntry]) -> list[Key]:
        """Record the plan: new images as pending; an image whose fingerprint changed (its row or the
        settings were edited) starts again as pending. Returns the keys that were reset."""
        reset: list[Key] = []
        now = _now()
        with self._write() as conn:
            known = {(r["row"], r["format"], r["image"]): r["fingerprint"] for r in conn.execute("SELECT * FROM items")}
            for entry in planned:
                if entry.key not in known:
                    conn.execute(
                        "INSERT INTO items (row, format, image, fingerprint, seed, width, height, output_name, "
                        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*entry.key, entry.fingerprint, entry.seed, entry.width, entry.height, entry.output_name, now),
                    )
                elif known[entry.key] != entry.fingerprint:
                    reset.append(entry.key)
                    conn.execute(
                        "UPDATE items SET fingerprint = ?, status = 'pending', seed = ?, width = ?, height = ?, "
                        "output_name = ?, history_id = NULL, library_path = NULL, output_path = NULL, "
                        "approved = NULL, message = '', updated_at = ? WHERE row = ? AND format = ? AND image = ?",
                        (entry.fingerprint, entry.seed, entry.width, entry.height, entry.output_name, now, *entry.key),
                    )
                else:  # the same picture; its planned name may follow a new --name-template
                    conn.execute(
                        "UPDATE items SET output_name = ? WHERE row = ? AND format = ? AND image = ?",
                        (entry.output_name, *entry.key),
                    )
        return reset

    def items(self) -> dict[Key, JournalItem]:
        rows = self._conn.execute("SELECT * FROM items ORDER BY row, format, image").fetchall()
        return {item.key: item for item in map(_item, rows)}

    def item(self, key: Key) -> JournalItem | None:
        row = self._conn.execute("SELECT * FROM items WHERE row = ? AND format = ? AND image = ?", key).fetchone()
        return _item(row) if row else None

    def _update(self, keys: Iterable[Key], assignments: str, values: tuple = ()) -> None:
        now = _now()
        with self._write() as conn:
            for key in keys:
                conn.execute(
                    f"UPDATE items SET {assignments}, updated_at = ? WHERE row = ? AND format = ? AND image = ?",
                    (*values, now, *key),
                )

    def mark_saved(self, saved: Iterable[tuple[Key, int, str, int | None]]) -> None:
        """(key, history row id, library path, seed) of images the library holds now, in one commit."""
        now = _now()
        with self._write() as conn:
            for key, history_id, library_path, seed in saved:
                conn.execute(
                    "UPDATE items SET status = 'saved', history_id = ?, library_path = ?, seed = ?, "
                    "output_path = NULL, message = '', updated_at = ? WHERE row = ? AND format = ? AND image = ?",
                    (history_id, library_path, seed, now, *key),
                )

    def mark_target(self, key: Key, output_path: str | None) -> None:
        """Where the image is about to be copied: a run killed mid-copy finds its own file there."""
        self._update([key], "output_path = ?", (output_path,))

    def mark_done(self, key: Key, output_path: str) -> None:
        self._update([key], "status = 'done', output_path = ?", (output_path,))

    def mark_failed(self, keys: Iterable[Key], message: str) -> None:
        self._update(keys, "status = 'failed', message = ?", (message,))

    def mark_pending(self, keys: Iterable[Key]) -> None:
        self._update(keys, "status = 'pending', history_id = NULL, library_path = NULL, output_path = NULL")

    def mark_copy_missing(self, keys: Iterable[Key]) -> None:
        """Saved in the library but no longer (or not yet) in this output folder: copy again."""
        self._update(keys, "status = 'saved', output_path = NULL")

    def set_approved(self, keys: Iterable[Key], approved: bool | None) -> None:
        """Approve (True), reject (False) or clear (None) images, for the review and "Export approved"."""
        self._update(keys, "approved = ?", (None if approved is None else int(approved),))

    # -- recovery ----------------------------------------------------------------------------

    def found_in_history(self, history_path: Path) -> list[dict]:
        """The library's rows this campaign made (by the campaign id in their request's origin):
        {id, path, seed, batch_index, origin}. A run killed after the library saved an image but
        before the journal recorded it finds the image here, instead of making it twice."""
        if not Path(history_path).is_file():
            return []
        try:
            conn = sqlite3.connect(f"{Path(history_path).resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                rows = conn.execute(
                    "SELECT id, path, seed, batch_index, json_extract(request_json, '$.origin') FROM generations "
                    "WHERE json_valid(request_json) AND json_extract(request_json, '$.origin.campaign_id') = ? "
                    "ORDER BY id",
                    (self.campaign_id,),
                ).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise library_error(exc, Path(history_path), "read") from exc
        found = []
        for row_id, path, seed, batch_index, origin in rows:
            with contextlib.suppress(ValueError, TypeError):
                found.append(
                    {"id": row_id, "path": path, "seed": seed, "batch_index": batch_index, "origin": json.loads(origin)}
                )
        return found

    @contextlib.contextmanager
    def run_lock(self) -> Iterator[None]:
        """Held while a run makes images: two processes making one campaign would make images twice.
        The kernel drops the lock when its holder dies, so a killed run never leaves it locked."""
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CampaignBusy(
                    f"the campaign '{self.name}' is being made by another process right now: wait for it to finish."
                ) from None
            except OSError:
                pass  # a file system without locks: go on unlocked
            yield
        finally:
            os.close(fd)


def _item(row: sqlite3.Row) -> JournalItem:
    values = dict(row)
    values["approved"] = None if values["approved"] is None else bool(values["approved"])
    return JournalItem(**values)
