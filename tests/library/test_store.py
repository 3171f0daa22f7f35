"""Saving results: files and history rows together, never one without the other."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone

import pytest
from PIL import Image

from desktop.engine.request import GenerationRequest, validate
from desktop.engine.result import GeneratedImage, GenerationResult
from desktop.library.errors import LibraryError
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
    with pytest.raises(LibraryError, match="locked by another Diffusion Studio process"):
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
    with pytest.raises(LibraryError, match="No space left on device"):
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


def planted_row(library: Library, path: str, poster: str | None = None):
    """A row whose path came from somewhere else (an edited or hostile history)."""
    row = library.save(result(1))[0].row
    row.path, row.poster = path, poster
    row.media = "video" if poster else "image"
    library.db.insert([row])
    return row


def outside_file(tmp_path, name: str = "precious.txt"):
    target = tmp_path / "elsewhere" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("keep me")
    return target


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "history-file"])
def test_a_row_pointing_outside_the_images_folder_is_never_touched(isolated_home, tmp_path, kind):
    library = Library()
    target = outside_file(tmp_path)
    if kind == "dotdot":
        path = os.path.relpath(target, isolated_home)
    elif kind == "absolute":
        path = str(target)
    elif kind == "symlink":
        link = isolated_home / "images" / "link.png"
        link.parent.mkdir()
        link.symlink_to(target)
        path = "images/link.png"
    else:
        target, path = isolated_home / "history.sqlite3", "images/../history.sqlite3"
    before = target.read_bytes()
    row = planted_row(library, path, poster=path)
    assert library.files(row) == []
    for shown in (library.absolute(row), library.still(row)):
        assert not shown.exists() and shown.is_relative_to(isolated_home)
    library.trash(row)
    library.empty_trash()
    library.db.insert([row])
    library.delete(row)
    assert target.read_bytes() == before
    with pytest.raises(FileNotFoundError):
        library.restore(row)
    assert target.read_bytes() == before


def test_check_lists_rows_pointing_outside_as_missing(isolated_home, tmp_path):
    from desktop.library.recovery import check_library

    library = Library()
    target = outside_file(tmp_path)
    planted_row(library, str(target))
    library.close()
    report = check_library(isolated_home)
    assert report.missing_files == [str(target)] and target.read_text() == "keep me"


def test_a_trash_folder_that_links_out_of_the_library_is_refused(isolated_home, tmp_path):
    library = Library()
    item = library.save(result(1))[0]
    target = outside_file(tmp_path)
    (isolated_home / ".trash").symlink_to(target.parent)
    with pytest.raises(PermissionError, match="link out of the library"):
        library.trash(item.row)
    with pytest.raises(PermissionError):
        library.empty_trash()
    assert target.read_text() == "keep me" and item.path.exists() and library.db.count() == 1


def test_a_library_that_is_a_file_is_one_sentence(tmp_path):
    path = tmp_path / "library.txt"
    path.write_text("x")
    with pytest.raises(LibraryError, match="is a file, not a folder"):
        Library(path)


def test_a_library_under_a_file_is_one_sentence(tmp_path):
    path = tmp_path / "library.txt"
    path.write_text("x")
    with pytest.raises(LibraryError, match="a file stands where a folder is needed"):
        Library(path / "inside")


def test_a_name_taken_by_another_process_draws_a_new_batch(isolated_home, monkeypatch):
    library = Library()
    ids = iter(["taken00000", "taken00000", "fresh00000"])
    monkeypatch.setattr("desktop.library.store.uuid.uuid4", lambda: type("U", (), {"hex": next(ids)})())
    # Both saves in the same second, whatever the clock does between them: names hold the time to the second.
    frozen = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(
        "desktop.library.store.datetime", type("Frozen", (), {"now": staticmethod(lambda tz=None: frozen)})
    )
    first = library.save(result(1))
    second = library.save(result(1))  # same second, same batch id: the name is taken
    assert "taken00000" in first[0].path.name and "fresh00000" in second[0].path.name
    assert library.db.count() == 2 and first[0].path.read_bytes() != b""


def test_saving_into_a_full_disk_is_one_sentence_and_leaves_nothing(isolated_home, monkeypatch):
    import errno

    library = Library()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(LibraryError, match="is full: free some space"):
        library.save(result())
    monkeypatch.undo()
    assert files_under(isolated_home) == [] and list((isolated_home / ".partial").iterdir()) == []


def test_a_read_only_library_folder_is_one_sentence(tmp_path, monkeypatch):
    import errno

    Library(tmp_path / "lib").close()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    # Tests may run as root, whom permissions do not stop: the file system's answer is simulated.
    monkeypatch.setattr("desktop.library.store.locking.exclusive", read_only)
    with pytest.raises(LibraryError, match="read-only or you lack permission"):
        Library(tmp_path / "lib")
