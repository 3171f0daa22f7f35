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
