"""One library, many real processes at once: nothing a process reported saved is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from desktop.library.history import MIGRATIONS
from desktop.library.store import Library

CHILD = Path(__file__).with_name("library_child.py")


def start(*args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(CHILD), *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def release(go: Path, children: list[subprocess.Popen], timeout_s: float = 60) -> None:
    """Let every child go at once, when all of them are ready and waiting."""
    deadline = time.monotonic() + timeout_s
    while len(list(go.parent.glob(f"{go.name}.ready-*"))) < len(children):
        assert time.monotonic() < deadline, "the children never got ready"
        assert all(child.poll() is None for child in children), [c.stderr.read() for c in children]
        time.sleep(0.005)
    go.touch()


def finish(children: list[subprocess.Popen]) -> list[str]:
    lines = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert err.strip() == "", err
        lines += out.splitlines()
    return lines


def test_several_processes_open_a_brand_new_library_at_once(tmp_path):
    root, go = tmp_path / "new-library", tmp_path / "go"
    children = [start("open", root, go) for _ in range(8)]
    release(go, children)
    lines = finish(children)
    assert [json.loads(line)["schema"] for line in lines] == [len(MIGRATIONS)] * 8


def test_concurrent_writers_lose_no_result(tmp_path):
    """6 processes x 8 saves x 2 images, all starting together on a library that does not exist yet."""
    root, go = tmp_path / "shared", tmp_path / "go"
    processes, saves, count = 6, 8, 2
    children = [start("save", root, go, saves, count) for _ in range(processes)]
    release(go, children)
    reported = [json.loads(line) for line in finish(children)]
    assert len(reported) == processes * saves * count
    library = Library(root)
    rows = {row.id: row for row in library.db.query()}
    assert len(rows) == processes * saves * count
    for item in reported:
        assert Path(item["path"]).is_file()
        assert library.absolute(rows[item["id"]]) == Path(item["path"])
    assert len({item["path"] for item in reported}) == len(reported)
    # No temp file, in-flight note or stray picture outlived its writer.
    assert list((root / ".partial").iterdir()) == []
    assert len(list((root / "images").rglob("*.png"))) == len(reported)
    library.close()


def test_opening_never_takes_a_live_writers_file_in_flight(tmp_path):
    root = tmp_path / "shared"
    Library(root).close()
    writer = start("hold-partial", root)
    assert writer.stdout.readline().strip() == "writing"
    in_flight = list((root / ".partial").iterdir())
    assert len(in_flight) == 1
    # Another process opens the library (sweeping leftovers) while the write is under way.
    opener = subprocess.run(
        [sys.executable, "-c", f"from desktop.library.store import Library; Library({str(root)!r}).close()"],
        capture_output=True,
        text=True,
    )
    assert opener.returncode == 0, opener.stderr
    assert in_flight[0].exists()
    out, err = writer.communicate("go on\n", timeout=30)
    assert writer.returncode == 0, err
    assert out.strip() == "done" and (root / "images" / "held.png").read_bytes() == b"half a picture"


def test_a_killed_writers_leftover_is_swept_on_the_next_open(tmp_path):
    root = tmp_path / "shared"
    Library(root).close()
    writer = start("hold-partial", root)
    assert writer.stdout.readline().strip() == "writing"
    os.kill(writer.pid, 9)
    writer.wait()
    assert len(list((root / ".partial").iterdir())) == 1
    library = Library(root)
    assert library.report.partials_removed == 1
    assert list((root / ".partial").iterdir()) == []
    assert not (root / "images" / "held.png").exists()
    library.close()
