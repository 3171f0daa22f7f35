"""A separate process that uses a library, for the tests that need several real processes at once.

    python library_child.py open ROOT GO             open the library once GO exists
    python library_child.py save ROOT GO SAVES COUNT save SAVES results of COUNT images each
    python library_child.py die-before-commit ROOT   write a result's files, then SIGKILL itself
                                                     where the history commit would be
    python library_child.py pause-before-commit ROOT write a result's files, wait for a line on
                                                     stdin, then commit
    python library_child.py hold-partial ROOT        stay in the middle of writing a staged file

Each prints one JSON line per result (or a word) on stdout, so the test knows what it reported.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from PIL import Image

from desktop.engine.request import GenerationRequest
from desktop.engine.result import GeneratedImage, GenerationResult
from desktop.engine.tasks import Task
from desktop.library.history import HistoryDatabase
from desktop.library.store import Library


def make_result(seed: int, count: int, video: bool = False) -> GenerationResult:
    """A result as the engine returns it, without a model (the library does not care)."""
    task = Task.TEXT_TO_VIDEO if video else Task.TEXT_TO_IMAGE
    request = GenerationRequest(
        prompt=f"result {seed}", task=task, model="/models/x", width=64, height=64, seed=seed, count=count
    )
    images = []
    for index in range(count):
        picture = Image.new("RGB", (64, 64), ((seed * 37) % 256, index * 40, 90))
        frames = [picture] * 4 if video else None
        images.append(GeneratedImage(picture, seed + index, index, frames=frames, fps=4 if video else None))
    return GenerationResult(request=request, images=images, device="cpu", timings={"generate_s": 0.1})


def wait_for(go: Path) -> None:
    (go.parent / f"{go.name}.ready-{os.getpid()}").touch()
    while not go.exists():
        time.sleep(0.002)


def main(argv: list[str]) -> None:
    command, root = argv[0], Path(argv[1])
    if command == "open":
        wait_for(Path(argv[2]))
        library = Library(root)
        print(json.dumps({"schema": library.db.schema_version}), flush=True)
        library.close()
    elif command == "save":
        go, saves, count = Path(argv[2]), int(argv[3]), int(argv[4])
        wait_for(go)
        library = Library(root)
        for n in range(saves):
            for item in library.save(make_result(os.getpid() * 100 + n, count)):
                print(json.dumps({"id": item.row.id, "path": str(item.path)}), flush=True)
        library.close()
    elif command == "die-before-commit":
        video = len(argv) > 2 and argv[2] == "video"

        def killed_at_commit(self, rows, *args, **kwargs):
            print("files written", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        HistoryDatabase.insert = killed_at_commit
        Library(root).save(make_result(7, 1 if video else 2, video=video))
    elif command == "pause-before-commit":
        original = HistoryDatabase.insert

        def paused_at_commit(self, rows, *args, **kwargs):
            print("files written", flush=True)
            sys.stdin.readline()
            return original(self, rows, *args, **kwargs)

        HistoryDatabase.insert = paused_at_commit
        for item in Library(root).save(make_result(9, 2)):
            print(json.dumps({"id": item.row.id, "path": str(item.path)}), flush=True)
    elif command == "hold-partial":
        from desktop.library.atomic import atomic_write

        def slow(handle) -> None:
            handle.write(b"half a picture")
            handle.flush()
            print("writing", flush=True)
            sys.stdin.readline()  # until the test says go on

        atomic_write(root / "images" / "held.png", slow, staging=root / ".partial", overwrite=False)
        print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
