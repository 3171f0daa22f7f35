"""Where the library lives (DIFFUSION_STUDIO_HOME, else the platform's user data folder), which
paths inside it may be touched, and whether a folder can be written before any work starts."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path, PurePosixPath, PureWindowsPath

from desktop.library.errors import LibraryError, library_error

APP_NAME = "diffusion-studio"
HOME_ENV = "DIFFUSION_STUDIO_HOME"
# Below this, a save (a video runs to many MB) would likely fail halfway: say so before the work.
MIN_FREE_BYTES = 32 * 1024 * 1024


def library_root(override: str | Path | None = None) -> Path:
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def confined(base: Path, root: Path, relative: object) -> Path | None:
    """root / relative, if it stays inside base (an already resolved folder) once `..` and
    symlinks are followed; None otherwise. Paths read from the history are data, not orders: a
    row naming `../../etc/x`, an absolute path or a symlink out of the library must never be
    opened, moved or deleted."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        return None
    if PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).is_absolute() or relative.startswith("~"):
        return None
    candidate = root / relative
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None
    if resolved == base or not resolved.is_relative_to(base):
        return None
    return candidate


def check_writable(folder: str | Path, min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """Make sure folder exists (creating it) and a file can be written there, before any model
    loads; return it. Raises LibraryError with one sentence: a file in the way, read-only,
    permission denied, disk (nearly) full."""
    from desktop.library.atomic import partial_name

    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise LibraryError(f"{folder} is a file, not a folder: give a folder (or a new name) instead.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise library_error(exc, folder, "create the folder") from exc
    # A real write: access() says yes on read-only mounts and for root. Named like a temp file,
    # so a process killed right here leaves something sweep_partials() removes.
    probe = folder / partial_name(folder / "write-check")
    try:
        with open(probe, "xb") as handle:
            handle.write(b"diffusion-studio write check\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise library_error(exc, folder, "write to") from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
    free = shutil.disk_usage(folder).free
    if free < min_free_bytes:
        raise LibraryError(
            f"the disk holding {folder} is nearly full ({free // (1024 * 1024)} MB free): free some space first."
        )
    return folder
