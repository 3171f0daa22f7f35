"""Library failures as one sentence each: what went wrong with which folder, and what to do.

LibraryError is an EngineError so the CLI, the job runner and the window show it like any other
failure a user can act on, instead of "unexpected failure (OperationalError ...)".
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from desktop.engine.errors import EngineError

# SQLite primary result codes (the low byte of an extended code).
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 3, 5, 6, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 10, 11, 13, 14, 26

_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DENIED_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


class LibraryError(EngineError, RuntimeError):
    """The library (or an output folder) cannot be used; the message says why and what to do.

    Also a RuntimeError: callers written before it existed catch (OSError, RuntimeError) on open.
    """


class HistoryDamagedError(LibraryError):
    """The history file is not a readable Diffusion Studio history (garbage, truncated, foreign)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"the history {path} is damaged ({reason}); run `diffusion-studio library rebuild` to rebuild it "
            "from the pictures."
        )
        self.reason = reason  # short, for "set aside because ..."


class HistoryTooNewError(LibraryError):
    """The history was written by a newer version: never set aside or rebuilt, only refused."""


def sqlite_code(exc: BaseException) -> int | None:
    """The primary SQLite result code of an sqlite3 error (Python 3.11+), guessed from the text before."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF
    text = str(exc).lower()
    for needle, guess in (
        ("locked", SQLITE_BUSY),
        ("busy", SQLITE_BUSY),
        ("readonly", SQLITE_READONLY),
        ("read-only", SQLITE_READONLY),
        ("disk is full", SQLITE_FULL),
        ("malformed", SQLITE_CORRUPT),
        ("not a database", SQLITE_NOTADB),
        ("unable to open", SQLITE_CANTOPEN),
        ("disk i/o", SQLITE_IOERR),
    ):
        if needle in text:
            return guess
    return None


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and sqlite_code(exc) in (SQLITE_BUSY, SQLITE_LOCKED)


def is_damage(exc: BaseException) -> bool:
    """True for errors that mean the file's content is bad (as opposed to the disk or a lock)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    return sqlite_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def library_error(exc: BaseException, where: Path, doing: str = "use") -> LibraryError:
    """Translate an OSError or sqlite3 error met while `doing` something with `where` into one sentence."""
    if isinstance(exc, LibraryError):
        return exc
    where = Path(where)
    if isinstance(exc, OSError):
        number = exc.errno
        if number in _FULL_ERRNOS:
            return LibraryError(f"the disk holding {where} is full: free some space, then try again.")
        if number in _DENIED_ERRNOS:
            return LibraryError(
                f"cannot {doing} {where}: it is read-only or you lack permission; "
                "choose a folder you can write to (--library, --output or DIFFUSION_STUDIO_HOME)."
            )
        if number in (errno.ENOTDIR, errno.EEXIST) or isinstance(exc, (NotADirectoryError, FileExistsError)):
            return LibraryError(f"cannot {doing} {where}: a file stands where a folder is needed; give a folder.")
        if number == errno.EIO:
            return LibraryError(f"cannot {doing} {where}: the disk reported an input/output error; check the disk.")
        reason = exc.strerror or str(exc) or type(exc).__name__
        return LibraryError(f"could not {doing} {where}: {reason}.")
    if isinstance(exc, sqlite3.Error):
        code = sqlite_code(exc)
        if code == SQLITE_FULL:
            return LibraryError(f"the disk holding {where} is full: free some space, then try again.")
        if code in (SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN):
            return LibraryError(
                f"cannot {doing} the history {where}: the folder or file is read-only or cannot be opened; "
                "choose a library folder you can write to (--library or DIFFUSION_STUDIO_HOME)."
            )
        if code in (SQLITE_BUSY, SQLITE_LOCKED):
            return LibraryError(
                f"the history {where} stayed locked by another Diffusion Studio process; "
                "try again when it has finished."
            )
        if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
            return HistoryDamagedError(where, str(exc))
        if code == SQLITE_IOERR:
            return LibraryError(f"reading or writing the history {where} failed with a disk error; check the disk.")
        return LibraryError(f"the history {where} could not be used ({exc}); check the library folder.")
    return LibraryError(f"cannot {doing} {where} ({type(exc).__name__}: {exc}).")
