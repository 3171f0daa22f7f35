"""Telling a live writer from a dead one, so that only dead writers' leftovers are swept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from desktop.library.owner import ALIVE, GONE, UNKNOWN, current_tag, owner_state


def test_this_process_is_alive_and_its_tag_names_it():
    tag = current_tag()
    assert tag.startswith(f"{os.getpid()}-") and owner_state(tag) == ALIVE


def test_a_dead_process_is_gone_even_before_it_is_reaped():
    script = "from desktop.library.owner import current_tag; print(current_tag(), flush=True); input()"
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    tag = child.stdout.readline().strip()
    assert owner_state(tag) == ALIVE
    os.kill(child.pid, signal.SIGKILL)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, but still a zombie
    assert owner_state(tag) == GONE
    child.wait()
    assert owner_state(tag) == GONE


def test_a_reused_pid_is_not_mistaken_for_its_old_owner():
    pid, start, host, boot = current_tag().split("-")
    assert owner_state(f"{pid}-{start}0-{host}-{boot}") == GONE


def test_other_machines_and_odd_names_are_unknown():
    pid, start, host, boot = current_tag().split("-")
    other_host = "0" * 6 if host != "0" * 6 else "1" * 6
    assert owner_state(f"{pid}-{start}-{other_host}-{boot}") == UNKNOWN
    assert owner_state("not-a-tag") == UNKNOWN
