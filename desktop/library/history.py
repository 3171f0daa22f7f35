"""The SQLite history: one row per image, WAL, schema versioned with PRAGMA user_version."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


class HistoryDatabase:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (see transaction()).
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def close(self) -> None:
        self._conn.close()

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"the history was written by a newer Diffusion Studio (schema {version}); update the app."
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in filter(str.strip, script.split(";")):
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {number}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if the block raises."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def insert(self, rows: list[HistoryRow]) -> list[int]:
        placeholders = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT INTO generations ({', '.join(COLUMNS)}) VALUES ({placeholders})"
        ids = []
        with self.transaction() as conn:
            for row in rows:
                ids.append(conn.execute(sql, row.sql_values()).lastrowid)
        for row, row_id in zip(rows, ids, strict=True):
            row.id = row_id
        return ids

    def get(self, row_id: int) -> HistoryRow | None:
        row = self._conn.execute("SELECT * FROM generations WHERE id = ?", (row_id,)).fetchone()
        return HistoryRow.from_sql(row) if row else None

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
        return [HistoryRow.from_sql(r) for r in self._conn.execute(sql, (*params, limit, offset))]

    def count(
        self, search: str = "", task: str | None = None, backend: str | None = None, model: str | None = None
    ) -> int:
        where, params = self._filters(search, task, backend, model)
        return self._conn.execute(f"SELECT COUNT(*) FROM generations {where}", params).fetchone()[0]

    def distinct(self, column: str) -> list[str]:
        if column not in ("task", "backend", "model"):
            raise ValueError(column)
        return [r[0] for r in self._conn.execute(f"SELECT DISTINCT {column} FROM generations ORDER BY 1")]

    def delete(self, row_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM generations WHERE id = ?", (row_id,))

    @staticmethod
    def _filters(search: str, task: str | None, backend: str | None, model: str | None) -> tuple[str, list]:
        clauses, params = [], []
        for word in search.split():
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("(prompt LIKE ? ESCAPE '\\' OR negative_prompt LIKE ? ESCAPE '\\')")
            params += [f"%{escaped}%", f"%{escaped}%"]
        for column, value in (("task", task), ("backend", backend), ("model", model)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
