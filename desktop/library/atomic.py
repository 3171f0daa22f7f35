"""Atomic file writes: a temp file in a staging folder on the same disk, fsync, then rename.

A crash or an error leaves either the whole new file or nothing at its final path. Temp files
carry their writer's tag (owner.py), so a sweep removes only those whose writer is gone: another
process's file in flight is never taken from under it.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from desktop.library.owner import ALIVE, GONE, TAG_PATTERN, current_tag, owner_state

# A leftover whose writer cannot be checked (another machine, an older version's name) is swept
# only after this long: no write of ours takes an hour, and its file's mtime moves while it runs.
STALE_AFTER_S = 3600.0
_PARTIAL_GLOB = ".*.partial*"
# Anchored at the end, where partial_name() puts the tag: a file name's own stem cannot fake one.
_OWNED = re.compile(rf"\.({TAG_PATTERN})-[0-9a-f]{{8}}\.partial(\.[^.]*)?$")


def partial_name(path: Path) -> str:
    """The temp name for path: hidden, tagged with this process, the real extension last."""
    # The real extension stays last: ffmpeg picks its muxer by it.
    return f".{path.stem[:100]}.{current_tag()}-{secrets.token_hex(4)}.partial{path.suffix}"


def atomic_write(
    path: Path, write: Callable[[BinaryIO], None], staging: Path | None = None, overwrite: bool = True
) -> Path:
    """Write a file by calling write(file) on a temp file, then move it into place.

    staging must be on the same file system as path (default: path's own folder). With
    overwrite=False an existing file is never replaced: FileExistsError is raised instead.
    """

    def produce(temp: Path) -> None:
        with open(temp, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())

    return atomic_produce(path, produce, staging, overwrite)


def atomic_produce(
    path: Path, produce: Callable[[Path], None], staging: Path | None = None, overwrite: bool = True
) -> Path:
    """Like atomic_write, for writers that need a file name (ffmpeg): produce(temp_path) makes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(staging) if staging is not None else path.parent
    staging.mkdir(parents=True, exist_ok=True)
    temp = staging / partial_name(path)
    try:
        produce(temp)
        if not temp.is_file():
            raise OSError(f"nothing was written for {path.name}")
        if overwrite:
            os.replace(temp, path)
        else:
            _move_without_overwrite(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def _move_without_overwrite(temp: Path, path: Path) -> None:
    try:
        # link() fails if the name is taken, so even a concurrent writer is never overwritten.
        os.link(temp, path)
    except FileExistsError:
        raise
    except OSError:
        # File systems without hard links (FAT, some network shares): check, then rename.
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(temp, path)
        return
    temp.unlink()


def sweep_partials(folder: Path, stale_after_s: float = STALE_AFTER_S) -> int:
    """Remove temp files left in folder by writers that are gone (or stale ones); return how many.

    Safe to call while other processes write into the same folder: their files are kept. Use it on
    the library's staging folder and on any folder that receives atomic writes (--output copies).
    """
    folder = Path(folder)
    removed = 0
    try:
        leftovers = list(folder.glob(_PARTIAL_GLOB)) if folder.is_dir() else []
    except OSError:
        return 0
    now = time.time()
    for leftover in leftovers:
        match = _OWNED.search(leftover.name)
        state = owner_state(match.group(1)) if match else None
        if state == ALIVE:
            continue
        try:
            info = leftover.lstat()
            if not (leftover.is_symlink() or leftover.is_file()):
                continue  # a folder with a partial-like name is not ours
            if state != GONE and now - info.st_mtime < stale_after_s:
                continue
            leftover.unlink()
            removed += 1
        except FileNotFoundError:
            continue  # its writer finished or another sweep got it first
        except OSError:
            continue  # not ours to fix here (permissions): leave it
    return removed
