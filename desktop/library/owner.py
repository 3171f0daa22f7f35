"""Which process owns a staging file or an in-flight note, and whether that process still runs.

Several processes (the window, CLI runs, campaigns) write into one library at once, so a leftover
may only be swept when its writer is gone. A writer's tag is `pid-start-host-boot`: the pid alone
is reused after the process dies; with its start time (clock ticks since boot, Linux) and the boot
it belongs to, a tag names one process for good. Another machine's tag (a library on a network
share) cannot be checked: its leftovers are swept only once they are stale.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
from pathlib import Path

ALIVE, GONE, UNKNOWN = "alive", "gone", "unknown"
TAG_PATTERN = r"(\d+)-([0-9a-z]+)-([0-9a-f]{6})-([0-9a-f]{6})"
_TAG = re.compile(rf"^{TAG_PATTERN}$")


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:6]


@functools.cache
def _host() -> str:
    return _digest(socket.gethostname())


@functools.cache
def _boot() -> str:
    try:
        return _digest(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    except OSError:
        return "000000"  # no boot id on this platform: boots are not told apart


def _start_time(pid: int) -> str | None:
    """The process's start time in base 36; None where the platform does not say (not Linux).

    A zombie (killed, not yet reaped by its parent) writes nothing more: it counts as gone ("").
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    fields = stat.rpartition(")")[2].split()
    try:
        state, ticks = fields[0], int(fields[19])  # fields 3 and 22 of proc(5): state, starttime
    except (IndexError, ValueError):
        return None
    return "" if state in ("Z", "X", "x") else _base36(ticks)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


@functools.lru_cache(maxsize=8)
def _tag_of(pid: int) -> str:
    return f"{pid}-{_start_time(pid) or '0'}-{_host()}-{_boot()}"


def current_tag() -> str:
    """This process's tag (computed per pid, so a forked child gets its own)."""
    return _tag_of(os.getpid())


def owner_state(tag: str) -> str:
    """ALIVE when the tagged process surely runs, GONE when it surely does not, else UNKNOWN."""
    match = _TAG.match(tag)
    if match is None:
        return UNKNOWN
    pid, start, host, boot = match.groups()
    if host != _host():
        return UNKNOWN
    if boot != _boot():
        return GONE  # written before this machine restarted
    pid_number = int(pid)
    if os.name == "nt":
        return UNKNOWN  # os.kill() there terminates the process instead of probing it
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return GONE
    except PermissionError:
        pass  # another user's process: it exists
    except OSError:
        return UNKNOWN
    now = _start_time(pid_number)
    if now == "":
        return GONE
    if now is None or start == "0":
        return UNKNOWN  # the pid runs, but it may be a new process that reused it
    return ALIVE if now == start else GONE
