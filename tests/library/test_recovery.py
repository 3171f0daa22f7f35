"""Crash recovery and damaged histories: the files' embedded records make the history again."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from desktop.library.errors import LibraryError
from desktop.library.history import MIGRATIONS
from desktop.library.recovery import check_library, rebuild_library
from desktop.library.store import Library
from tests.library.library_child import make_result

CHILD = Path(__file__).with_name("library_child.py")


def saved_library(root: Path, results: int = 3, count: int = 1) -> dict[str, int]:
    """A closed library holding some results; {relative path: seed}."""
    library = Library(root)
    paths = {}
    for n in range(results):
        for item in library.save(make_result(100 + n * 10, count)):
            paths[item.row.path] = item.row.seed
    library.close()
    return paths


def indexed(library: Library) -> dict[str, int]:
    return {row.path: row.seed for row in library.db.query()}


def run_child(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHILD), *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", ["image", "video"])
def test_a_process_killed_between_rename_and_commit_is_reindexed_on_the_next_open(tmp_path, kind):
    root = tmp_path / "lib"
    before = saved_library(root, results=1)
    child = run_child("die-before-commit", root, *(["video"] if kind == "video" else []))
    assert child.returncode == -9 and child.stdout.strip() == "files written"
    orphans = sorted(p for p in (root / "images").rglob("*") if p.is_file() and "-7" not in p.name)
    assert len(list((root / "images").rglob("*.*"))) == len(before) + (2 if kind == "video" else 2)
    assert orphans  # the before-results
    library = Library(root)
    report = library.report
    assert report.reindexed == (1 if kind == "video" else 2) and report.changed
    assert "never recorded were added" in report.summary()
    rows = library.db.query()
    assert len(rows) == len(before) + report.reindexed
    for row in rows:
        assert library.absolute(row).is_file() and library.still(row).is_file()
    if kind == "video":
        (video,) = [r for r in rows if r.media == "video"]
        assert video.path.endswith(".mp4") and video.poster.endswith(".poster.png") and video.seed == 7
    else:
        assert sorted(r.seed for r in rows if r.path not in before) == [7, 8]
    assert not list((root / ".partial").glob("*.inflight.json"))
    library.close()
    # Nothing left to do the second time.
    again = Library(root)
    assert not again.report.changed and again.db.count() == len(rows)
    again.close()


def test_a_check_never_indexes_the_files_a_live_writer_is_about_to_commit(tmp_path):
    root = tmp_path / "lib"
    saved_library(root, results=1)
    writer = subprocess.Popen(
        [sys.executable, str(CHILD), "pause-before-commit", root],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline().strip() == "files written"
    report = check_library(root)
    assert report.reindexed == 0 and report.rows == 1 and report.files == 3
    out, err = writer.communicate("commit\n", timeout=30)
    assert writer.returncode == 0, err
    assert len(out.splitlines()) == 2
    library = Library(root)
    assert library.db.count() == 3
    library.close()


def damage_garbage(db: Path) -> None:
    db.write_bytes(os.urandom(16384))


def damage_truncated(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def damage_foreign_tables(db: Path) -> None:
    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE photos (name TEXT)")
    conn.commit()
    conn.close()


def damage_wrong_table(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.executescript("DROP TABLE generations; CREATE TABLE generations (id INTEGER PRIMARY KEY, name TEXT);")
    conn.close()


def damage_empty(db: Path) -> None:
    db.write_bytes(b"")


@pytest.mark.parametrize(
    "damage", [damage_garbage, damage_truncated, damage_foreign_tables, damage_wrong_table, damage_empty]
)
def test_a_damaged_history_is_set_aside_and_rebuilt_from_the_files(tmp_path, damage):
    root = tmp_path / "lib"
    paths = saved_library(root, results=12, count=2)
    db = root / "history.sqlite3"
    damage(db)
    damaged_bytes = db.read_bytes()
    library = Library(root)
    report = library.report
    assert report.set_aside is not None and report.set_aside.read_bytes() == damaged_bytes
    assert report.set_aside.parent == root and report.set_aside.name.startswith("history-damaged-")
    assert report.rebuilt and report.reindexed == len(paths) and report.changed
    assert "set aside as history-damaged-" in report.summary()
    assert indexed(library) == paths
    row = library.db.query()[0]
    assert row.request["prompt"] == row.prompt and row.timings == {"generate_s": 0.1}
    library.close()
    # The rebuilt history is a normal one: no second set-aside.
    again = Library(root)
    assert again.report.set_aside is None and indexed(again) == paths
    again.close()


def test_a_missing_history_beside_pictures_is_rebuilt(tmp_path):
    root = tmp_path / "lib"
    paths = saved_library(root)
    (root / "history.sqlite3").unlink()
    library = Library(root)
    assert library.report.rebuilt and library.report.set_aside is None
    assert indexed(library) == paths
    library.close()


def test_an_empty_history_beside_a_new_library_is_left_alone(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    (root / "history.sqlite3").write_bytes(b"")
    library = Library(root)
    assert library.report.set_aside is None and not library.report.changed
    assert library.db.schema_version == len(MIGRATIONS)
    library.close()


def test_a_newer_history_is_refused_never_set_aside(tmp_path):
    root = tmp_path / "lib"
    saved_library(root, results=1)
    conn = sqlite3.connect(root / "history.sqlite3")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(LibraryError, match="newer Diffusion Studio"):
        Library(root)
    assert [p.name for p in root.glob("history*")] == ["history.sqlite3"]


def test_a_bad_row_is_skipped_when_reading_and_reported_by_check(tmp_path):
    root = tmp_path / "lib"
    paths = saved_library(root, results=3)
    conn = sqlite3.connect(root / "history.sqlite3")
    bad_id = conn.execute("SELECT min(id) FROM generations").fetchone()[0]
    conn.execute("UPDATE generations SET request_json = '{not json' WHERE id = ?", (bad_id,))
    conn.execute("UPDATE generations SET width = 'wide' WHERE id = ?", (bad_id + 1,))
    conn.commit()
    conn.close()
    library = Library(root)
    assert library.report.set_aside is None
    assert library.db.count() == 1 and len(library.db.query()) == 1
    assert library.db.get(bad_id) is None and library.db.distinct("model") == ["/models/x"]
    library.close()
    report = check_library(root)
    assert report.unreadable_rows == [bad_id, bad_id + 1]
    assert report.reindexed == 0  # their files have rows, if unreadable ones
    assert "2 history rows could not be read" in report.summary()
    assert len(paths) == 3


def write_png(path: Path, text: dict[str, str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)


def test_check_lists_files_without_a_record_and_leaves_them_alone(tmp_path):
    root = tmp_path / "lib"
    paths = saved_library(root, results=2)
    day = root / "images" / "2026-01-01"
    write_png(day / "someone-elses.png")
    write_png(day / "hostile.png", {"diffusion-studio": json.dumps({"width": "x", "prompt": 5})})
    write_png(day / "deep.png", {"diffusion-studio": "[" * 100000 + "]" * 100000})
    (day / "notes.txt").write_text("not a picture")
    # An orphan of ours, its row gone: check indexes it again from its record.
    orphan = next(iter(paths))
    conn = sqlite3.connect(root / "history.sqlite3")
    conn.execute("DELETE FROM generations WHERE path = ?", (orphan,))
    conn.commit()
    conn.close()
    report = check_library(root)
    assert report.files == 6 and report.reindexed == 1 and report.reindexed_paths == [orphan]
    assert sorted(Path(p).name for p in report.without_record) == [
        "deep.png",
        "hostile.png",
        "notes.txt",
        "someone-elses.png",
    ]
    assert all((root / p).exists() for p in report.without_record)
    assert report.rows == 2 and report.missing_files == []
    assert "4 files in the library have no record" in report.summary()
    assert report.to_dict()["reindexed"] == 1


def test_check_reports_rows_whose_files_are_missing(tmp_path):
    root = tmp_path / "lib"
    paths = saved_library(root, results=2)
    gone = next(iter(paths))
    (root / gone).unlink()
    report = check_library(root)
    assert report.missing_files == [gone] and report.rows == 2
    assert "1 history rows name files that are missing" in report.summary()


def test_rebuild_sets_the_history_aside_and_makes_it_again(tmp_path):
    root = tmp_path / "lib"
    paths = saved_library(root, results=4, count=2)
    report = rebuild_library(root)
    assert report.set_aside is not None and report.set_aside.exists()
    assert report.rebuilt and report.reindexed == len(paths) == report.rows
    library = Library(root)
    assert indexed(library) == paths
    library.close()
    # The old history is intact beside it.
    conn = sqlite3.connect(report.set_aside)
    assert conn.execute("SELECT count(*) FROM generations").fetchone()[0] == len(paths)
    conn.close()


def test_a_window_open_during_a_rebuild_saves_into_the_new_history(tmp_path):
    root = tmp_path / "lib"
    saved_library(root, results=2)
    window = Library(root)
    rebuild_library(root)
    (item,) = window.save(make_result(500, 1))
    window.close()
    library = Library(root)
    assert item.row.path in indexed(library) and library.db.count() == 3
    library.close()


def test_a_fine_library_opens_without_a_report_worth_showing(tmp_path):
    root = tmp_path / "lib"
    saved_library(root, results=2)
    library = Library(root)
    assert not library.report.changed and library.report.rows == 2
    assert library.report.summary() == "The library is in order: 2 results."
    library.close()


def test_checking_a_folder_that_is_no_library_creates_nothing(tmp_path):
    with pytest.raises(LibraryError, match="there is no library at"):
        check_library(tmp_path / "typo")
    with pytest.raises(LibraryError, match="there is no library at"):
        rebuild_library(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()


def test_a_requested_rebuild_says_so_without_calling_it_damage(tmp_path):
    root = tmp_path / "lib"
    saved_library(root, results=1)
    summary = rebuild_library(root).summary()
    assert summary.startswith("The history was set aside as history-damaged-") and "damaged (" not in summary


def test_a_normal_open_reads_no_picture(tmp_path, monkeypatch):
    """Opening stays cheap on a large library: files are read only for a crash's notes or a rebuild."""
    root = tmp_path / "lib"
    saved_library(root, results=3)

    def no_reading(path):
        raise AssertionError(f"read {path}")

    monkeypatch.setattr("desktop.library.recovery.read_record", no_reading)
    library = Library(root)
    assert library.db.count() == 3
    library.close()
