"""The SQLite history: one row per image, WAL, schema versioned with PRAGMA user_version.

Many processes share one history (the window, CLI runs, campaigns): busy_timeout is set before
anything else, so every statement waits for another process's lock instead of failing, and the
schema is created or upgraded inside one BEGIN IMMEDIATE transaction that re-reads the version,
so two processes opening a brand-new library never both create the table.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from desktop.library.errors import HistoryDamagedError, HistoryTooNewError, is_busy, is_damage, library_error

T = TypeVar("T")

# Long: a rebuild or a big campaign commit may hold the write lock for a few seconds.
BUSY_TIMEOUT_S = 30.0

# Each entry upgrades the schema by one version; never edit a released one, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE generations (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        task TEXT NOT NULL,
        backend TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        negative_prompt TEXT NOT NULL DEFAULT '',
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        seed INTEGER,
        batch_id TEXT NOT NULL,
        batch_index INTEGER NOT NULL,
        device TEXT NOT NULL,
        request_json TEXT NOT NULL,
        timings_json TEXT NOT NULL,
        path TEXT NOT NULL UNIQUE
    );
    CREATE INDEX generations_created ON generations (created_at DESC, id DESC);
    """,
    # 2: videos. `media` says what `path` holds; `poster` is a still for the gallery.
    """
    ALTER TABLE generations ADD COLUMN media TEXT NOT NULL DEFAULT 'image';
    ALTER TABLE generations ADD COLUMN poster TEXT;
    """,
)

COLUMNS = (
    "created_at task backend model prompt negative_prompt width height seed batch_id batch_index "
    "device request_json timings_json path media poster"
).split()

# Rows that can be turned into a HistoryRow. A damaged or hand-edited row (bad JSON, a number
# where text belongs) is left out of every read, so count() and query() agree and one bad row
# never stops the gallery. CASE keeps json_type() away from invalid JSON (it would raise), as
# SQLite may evaluate the terms of an AND in any order; no term is ever NULL, so NOT works too.
READABLE = " AND ".join(
    [
        *(
            f"CASE WHEN json_valid({c}) THEN json_type({c}) = 'object' ELSE 0 END"
            for c in ("request_json", "timings_json")
        ),
        *(
            f"typeof({c}) = 'text'"
            for c in "created_at task backend model prompt negative_prompt batch_id device path media".split()
        ),
        *(f"typeof({c}) = 'integer'" for c in ("width", "height", "batch_index")),
        "typeof(seed) IN ('integer', 'null')",
        "typeof(poster) IN ('text', 'null')",
    ]
)


@dataclass
class HistoryRow:
    created_at: str
    task: str
    backend: str
    model: str
    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int | None
    batch_id: str
    batch_index: int
    device: str
    request: dict
    timings: dict
    path: str  # relative to the library root
    media: str = "image"  # or "video"
    poster: str | None = None  # videos: a PNG still, relative to the library root
    id: int | None = None

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> HistoryRow:
        values = {name: row[name] for name in COLUMNS if name not in ("request_json", "timings_json")}
        return cls(
            id=row["id"],
            request=json.loads(row["request_json"]),
            timings=json.loads(row["timings_json"]),
            **values,
        )

    def sql_values(self) -> tuple:
        values = dict(vars(self))
        values["request_json"] = json.dumps(self.request, sort_keys=True)
        values["timings_json"] = json.dumps(self.timings, sort_keys=True)
        return tuple(values[name] for name in COLUMNS)


def retry_busy(action: Callable[[], T], deadline_s: float = BUSY_TIMEOUT_S) -> T:
    """Run action, again while SQLite answers busy/locked where its busy handler does not wait
    (switching to WAL on a file another process is creating, lock upgrades), until deadline_s."""
    end = time.monotonic() + deadline_s
    delay = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= end:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class HistoryDatabase:
    """The history file. Opening raises LibraryError (HistoryDamagedError for a file that is not a
    readable history, HistoryTooNewError for a newer app's); reads raise LibraryError; writes
    raise sqlite3 errors for the caller (Library) to clean up after and translate."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise library_error(exc, self.path, "open") from exc
        self._identity = self._file_identity()
        self._retired: list[sqlite3.Connection] = []

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (see transaction()).
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # Read before anything is written: a file that is not ours is left byte for byte as it was.
            retry_busy(lambda: self._refuse_foreign(conn))
            # Switching to WAL needs a moment alone with the file; the busy handler does not always wait.
            retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
            conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate(conn)
            self._check_schema(conn)
        except BaseException as exc:
            conn.close()
            if is_damage(exc):
                raise HistoryDamagedError(self.path, str(exc)) from exc
            raise
        return conn

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def _current(self) -> sqlite3.Connection:
        """The connection, reopened first if another process set this file aside and rebuilt it
        (`library rebuild`): saves must land in the history that is used now, not the old one."""
        identity = self._file_identity()
        if identity is not None and identity != self._identity:
            # The old connection may be in use on another thread this very moment: closed at close().
            self._retired.append(self._conn)
            self._conn, self._identity = self._connect(), identity
        return self._conn

    def close(self) -> None:
        for conn in (*self._retired, self._conn):
            conn.close()

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == len(MIGRATIONS):
            return  # the usual case: no write lock taken
        self._refuse_newer(version)
        retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            # Read again under the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            self._refuse_newer(version)
            self._refuse_foreign(conn)
            for script in MIGRATIONS[version:]:
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
            retry_busy(lambda: conn.execute("COMMIT"))
        except BaseException:
            _rollback(conn)
            raise

    def _refuse_foreign(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise HistoryDamagedError(self.path, "it holds tables that are not a Diffusion Studio history")

    def _refuse_newer(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise HistoryTooNewError(
                f"the history {self.path} was written by a newer Diffusion Studio (schema {version}); "
                "update the app to open this library."
            )

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        present = {r["name"] for r in conn.execute("PRAGMA table_info(generations)")}
        missing = [c for c in ("id", *COLUMNS) if c not in present]
        if missing:
            raise HistoryDamagedError(self.path, f"its generations table lacks {', '.join(missing)}")

    def quick_check(self) -> None:
        """Raise HistoryDamagedError when SQLite finds the file damaged (a few ms for 10,000 rows)."""
        try:
            problems = [r[0] for r in self._conn.execute("PRAGMA quick_check(3)")]
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise HistoryDamagedError(self.path, str(exc)) from exc
            raise library_error(exc, self.path, "read") from exc
        if problems != ["ok"]:
            # SQLite's report is a list of pages and cells: the first line says enough.
            lines = [line for text in problems for line in str(text).splitlines() if not line.startswith("***")]
            raise HistoryDamagedError(self.path, (lines or ["the integrity check failed"])[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if the block raises."""
        conn = self._current()
        retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            yield conn
            retry_busy(lambda: conn.execute("COMMIT"))
        except BaseException:
            _rollback(conn)
            raise

    def insert(
        self,
        rows: list[HistoryRow],
        skip_existing: bool = False,
        recheck: Callable[[list[HistoryRow]], list[HistoryRow]] | None = None,
    ) -> list[int]:
        """Insert rows in one transaction; return the new ids.

        skip_existing: a row whose path the history already names is left out (its id stays None),
        for re-indexing files that may have gained a row meanwhile. recheck(rows) runs under the
        write lock, before inserting, and returns the rows still to insert: no other process can
        commit between its check and the insert.
        """
        verb = "INSERT OR IGNORE" if skip_existing else "INSERT"
        placeholders = ", ".join("?" for _ in COLUMNS)
        sql = f"{verb} INTO generations ({', '.join(COLUMNS)}) VALUES ({placeholders})"
        ids: list[int | None] = []
        with self.transaction() as conn:
            wanted = recheck(rows) if recheck is not None else rows
            for row in wanted:
                cursor = conn.execute(sql, row.sql_values())
                ids.append(cursor.lastrowid if cursor.rowcount == 1 else None)
        for row in rows:
            row.id = None
        for row, row_id in zip(wanted, ids, strict=True):
            row.id = row_id
        return [i for i in ids if i is not None]

    def _read(self, sql: str, params=()) -> list[sqlite3.Row]:
        try:
            return self._current().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise library_error(exc, self.path, "read") from exc

    def get(self, row_id: int) -> HistoryRow | None:
        rows = _rows(self._read(f"SELECT * FROM generations WHERE id = ? AND {READABLE}", (row_id,)))
        return rows[0] if rows else None

    def query(
        self,
        search: str = "",
        task: str | None = None,
        backend: str | None = None,
        model: str | None = None,
        limit: int = -1,
        offset: int = 0,
    ) -> list[HistoryRow]:
        """Newest first; search matches words of the prompt or negative prompt, case-insensitively."""
        where, params = self._filters(search, task, backend, model)
        sql = f"SELECT * FROM generations {where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        return _rows(self._read(sql, (*params, limit, offset)))

    def count(
        self, search: str = "", task: str | None = None, backend: str | None = None, model: str | None = None
    ) -> int:
        where, params = self._filters(search, task, backend, model)
        return self._read(f"SELECT COUNT(*) FROM generations {where}", params)[0][0]

    def distinct(self, column: str) -> list[str]:
        if column not in ("task", "backend", "model"):
            raise ValueError(column)
        return [r[0] for r in self._read(f"SELECT DISTINCT {column} FROM generations WHERE {READABLE} ORDER BY 1")]

    def file_refs(self) -> list[tuple[int, object, object]]:
        """(id, path, poster) of every row, unreadable ones included: the files they name are not
        orphans, whatever else is wrong with the row."""
        return [(r[0], r[1], r[2]) for r in self._read("SELECT id, path, poster FROM generations")]

    def is_empty(self) -> bool:
        return not self._read("SELECT 1 FROM generations LIMIT 1")

    def unreadable_ids(self) -> list[int]:
        """Rows that every read leaves out (damaged or hand-edited), for check_library to report."""
        return [r[0] for r in self._read(f"SELECT id FROM generations WHERE NOT ({READABLE}) ORDER BY id")]

    def delete(self, row_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM generations WHERE id = ?", (row_id,))

    @staticmethod
    def _filters(search: str, task: str | None, backend: str | None, model: str | None) -> tuple[str, list]:
        clauses, params = [READABLE], []
        for word in search.split():
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("(prompt LIKE ? ESCAPE '\\' OR negative_prompt LIKE ? ESCAPE '\\')")
            params += [f"%{escaped}%", f"%{escaped}%"]
        for column, value in (("task", task), ("backend", backend), ("model", model)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        return "WHERE " + " AND ".join(clauses), params


def _rows(rows: list[sqlite3.Row]) -> list[HistoryRow]:
    """HistoryRows, skipping any the SQL filter let through that still do not convert."""
    converted = []
    for row in rows:
        try:
            converted.append(HistoryRow.from_sql(row))
        except (ValueError, TypeError, KeyError):
            continue
    return converted


def _rollback(conn: sqlite3.Connection) -> None:
    # After some errors (disk full) SQLite has already rolled back; a second ROLLBACK would raise.
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
