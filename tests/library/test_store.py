"""Saving results: files and history rows together, never one without the other."""

from __future__ import annotations

import sqlite3

import pytest
from PIL import Image

from desktop.engine.request import GenerationRequest, validate
from desktop.engine.result import GeneratedImage, GenerationResult
from desktop.library.metadata import read_metadata
from desktop.library.store import Library


def result(count: int = 2) -> GenerationResult:
    request = validate(
        GenerationRequest(
            prompt="a woman at a rock concert", model="/models/sd", width=64, height=64, seed=7, count=count
        )
    )
    images = [GeneratedImage(Image.new("RGB", (64, 64), (i * 40, 0, 0)), seed=7 + i, index=i) for i in range(count)]
    return GenerationResult(request=request, images=images, device="cpu", timings={"load_s": 1.0, "generate_s": 2.0})


def files_under(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))


def test_save_writes_pngs_with_metadata_and_rows_that_survive_a_reopen(isolated_home):
    library = Library()
    saved = library.save(result())
    assert library.root == isolated_home
    assert [item.row.seed for item in saved] == [7, 8]
    for item in saved:
        assert item.path.is_file() and item.path.is_relative_to(isolated_home / "images")
        meta = read_metadata(item.path)
        assert meta["record"]["request"]["prompt"] == "a woman at a rock concert"
        assert meta["parameters"]["Seed"] == str(item.row.seed)
    library.close()
    reopened = Library()
    rows = reopened.db.query()
    assert {reopened.absolute(r) for r in rows} == {item.path for item in saved}
    assert rows[0].timings == {"load_s": 1.0, "generate_s": 2.0}


def test_a_failed_commit_removes_the_files_it_wrote(isolated_home, monkeypatch):
    library = Library()

    def broken_insert(rows):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(library.db, "insert", broken_insert)
    with pytest.raises(sqlite3.OperationalError):
        library.save(result())
    assert files_under(isolated_home) == []
    assert library.db.count() == 0


def test_a_failed_file_write_leaves_no_row_and_no_file(isolated_home, monkeypatch):
    library = Library()
    calls = []
    original = Image.Image.save

    def fail_second_save(self, fp, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return original(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", fail_second_save)
    with pytest.raises(OSError):
        library.save(result())
    monkeypatch.undo()
    assert files_under(isolated_home) == []
    assert library.db.count() == 0
    assert list((isolated_home / ".partial").iterdir()) == []


def test_delete_removes_row_and_file(isolated_home):
    library = Library()
    first, second = library.save(result())
    library.delete(first.row)
    assert not first.path.exists() and second.path.exists()
    assert [r.id for r in library.db.query()] == [second.row.id]
