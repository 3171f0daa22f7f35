from __future__ import annotations

import sqlite3

import pytest

from desktop.library.history import MIGRATIONS, HistoryDatabase, HistoryRow


def row(prompt: str, created_at: str, model: str = "m", backend: str = "diffusers", path: str | None = None):
    return HistoryRow(
        created_at=created_at,
        task="text-to-image",
        backend=backend,
        model=model,
        prompt=prompt,
        negative_prompt="",
        width=64,
        height=64,
        seed=1,
        batch_id="b",
        batch_index=0,
        device="cpu",
        request={"prompt": prompt},
        timings={"generate_s": 0.1},
        path=path or f"{prompt}.png",
    )


def test_schema_is_versioned_and_uses_wal(tmp_path):
    db = HistoryDatabase(tmp_path / "h.sqlite3")
    assert db.schema_version == len(MIGRATIONS)
    assert db._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    # Opening again runs no migration twice.
    assert HistoryDatabase(tmp_path / "h.sqlite3").schema_version == len(MIGRATIONS)


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path):
    conn = sqlite3.connect(tmp_path / "h.sqlite3")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer Diffusion Studio"):
        HistoryDatabase(tmp_path / "h.sqlite3")


def test_query_is_newest_first_with_search_and_filters(tmp_path):
    db = HistoryDatabase(tmp_path / "h.sqlite3")
    db.insert(
        [
            row("red sneaker", "2026-01-01T00:00:00"),
            row("blue sneaker", "2026-01-02T00:00:00", model="x"),
            row("concert poster 100%", "2026-01-03T00:00:00", backend="openai"),
        ]
    )
    assert [r.prompt for r in db.query()] == ["concert poster 100%", "blue sneaker", "red sneaker"]
    assert [r.prompt for r in db.query(search="SNEAKER")] == ["blue sneaker", "red sneaker"]
    assert [r.prompt for r in db.query(search="sneaker red")] == ["red sneaker"]
    assert [r.prompt for r in db.query(search="100%")] == ["concert poster 100%"]
    assert db.query(search="%") == db.query(search="100%")
    assert [r.prompt for r in db.query(model="x")] == ["blue sneaker"]
    assert [r.prompt for r in db.query(backend="openai")] == ["concert poster 100%"]
    assert db.count(search="sneaker") == 2
    assert db.distinct("model") == ["m", "x"]
    assert db.get(db.query()[0].id).request == {"prompt": "concert poster 100%"}


def test_a_failing_insert_rolls_the_whole_batch_back(tmp_path):
    db = HistoryDatabase(tmp_path / "h.sqlite3")
    with pytest.raises(sqlite3.IntegrityError):
        db.insert([row("a", "2026-01-01", path="same.png"), row("b", "2026-01-01", path="same.png")])
    assert db.count() == 0


def test_busy_timeout_is_set_so_other_processes_locks_are_waited_for(tmp_path):
    db = HistoryDatabase(tmp_path / "h.sqlite3")
    assert db._conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    db.close()


def test_a_write_lock_held_elsewhere_is_waited_for_not_failed_on(tmp_path):
    import threading

    path = tmp_path / "h.sqlite3"
    HistoryDatabase(path).close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    db = HistoryDatabase(path)
    assert db.insert([row("waited", "2026-01-01")]) and db.count() == 1
    db.close()
    other.close()


def test_a_foreign_database_is_refused_and_left_as_it_was(tmp_path):
    from desktop.library.errors import HistoryDamagedError

    path = tmp_path / "h.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(HistoryDamagedError, match="not a Diffusion Studio history"):
        HistoryDatabase(path)
    assert path.read_bytes() == before


def test_unreadable_rows_are_left_out_of_every_read_alike(tmp_path):
    db = HistoryDatabase(tmp_path / "h.sqlite3")
    db.insert([row(f"p{i}", f"2026-01-0{i + 1}") for i in range(4)])
    db._conn.execute("UPDATE generations SET timings_json = '[1, 2]' WHERE prompt = 'p1'")
    db._conn.execute("UPDATE generations SET seed = 'x' WHERE prompt = 'p2'")
    assert [r.prompt for r in db.query()] == ["p3", "p0"]
    assert db.count() == 2 and [r.prompt for r in db.query(limit=1, offset=1)] == ["p0"]
    assert len(db.unreadable_ids()) == 2 and len(db.file_refs()) == 4
