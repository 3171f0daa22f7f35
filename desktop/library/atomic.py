"""Atomic file writes: a temp file in a staging folder on the same disk, fsync, then rename.

A crash or an error leaves either the whole new file or nothing at its final path.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


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
    # The real extension stays last: ffmpeg picks its muxer by it.
    temp = staging / f".{path.stem}.{uuid.uuid4().hex[:12]}.partial{path.suffix}"
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


def sweep_partials(staging: Path) -> int:
    """Remove temp files left by a process that was killed mid-write; return how many."""
    removed = 0
    if staging.is_dir():
        for leftover in staging.glob(".*.partial*"):
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed
