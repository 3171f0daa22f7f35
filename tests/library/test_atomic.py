from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from desktop.library.atomic import atomic_write, sweep_partials


def test_a_failed_write_leaves_neither_the_file_nor_a_temp_file(tmp_path):
    target = tmp_path / "out.png"

    def fail_halfway(handle):
        handle.write(b"half of a png")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail_halfway)
    assert list(tmp_path.iterdir()) == []


def test_an_error_keeps_the_old_file_whole(tmp_path):
    target = tmp_path / "out.txt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        atomic_write(target, lambda h: (h.write(b"new"), (_ for _ in ()).throw(RuntimeError("crash"))))
    assert target.read_bytes() == b"old"


def test_no_overwrite_refuses_an_existing_name(tmp_path):
    target = tmp_path / "out.txt"
    target.write_bytes(b"theirs")
    with pytest.raises(FileExistsError):
        atomic_write(target, lambda h: h.write(b"ours"), overwrite=False)
    assert target.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_process_killed_mid_write_leaves_no_final_file_and_its_leftover_is_swept(tmp_path):
    staging = tmp_path / "staging"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from desktop.library.atomic import atomic_write\n"
        "def slow(h):\n"
        "    h.write(b'x' * 1000); h.flush(); print('writing', flush=True); time.sleep(60)\n"
        f"atomic_write(Path({str(tmp_path / 'final.png')!r}), slow, staging=Path({str(staging)!r}))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not (tmp_path / "final.png").exists()
    assert len(list(staging.iterdir())) == 1
    assert sweep_partials(staging) == 1
    assert list(staging.iterdir()) == []
