"""An exclusive lock on a file shared by processes, held while a library is opened or repaired.

Opening sweeps leftovers, may set a damaged history aside and rebuild it: two processes doing that
at once would set aside each other's fresh history. flock() is released by the kernel when its
holder dies, so a killed process never leaves the library locked. Where flock does not exist
(Windows) opening goes unlocked, as before; SQLite still guards the history itself.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from desktop.library.errors import LibraryError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# A rebuild of a large library from its files may take a while; after this, say who waits on what.
LOCK_TIMEOUT_S = 300.0


@contextlib.contextmanager
def exclusive(path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive lock on path (created if needed) for the block; OSError if it cannot be made."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        end = time.monotonic() + timeout_s
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= end:
                    raise LibraryError(
                        f"another Diffusion Studio process has kept {path.parent} busy for over "
                        f"{timeout_s:.0f} s (repairing it?); try again when it has finished."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
            except OSError:
                break  # no locks on this file system (some network shares): go on unlocked, as before
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
