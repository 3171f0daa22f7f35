from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

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


def leftover(folder, name: str, age_s: float = 0):
    path = folder / name
    path.write_bytes(b"x")
    if age_s:
        stamp = time.time() - age_s
        os.utime(path, (stamp, stamp))
    return path


def test_a_sweep_keeps_live_writers_files_and_removes_dead_or_stale_ones(tmp_path):
    from desktop.library.owner import current_tag

    pid, start, host, boot = current_tag().split("-")
    live = leftover(tmp_path, f".a.{current_tag()}-0123abcd.partial.png")
    dead = leftover(tmp_path, f".b.{pid}-{start}0-{host}-{boot}-0123abcd.partial.png")
    other_machine_fresh = leftover(tmp_path, f".c.{pid}-{start}-ffffff-{boot}-0123abcd.partial.png")
    other_machine_old = leftover(tmp_path, f".d.{pid}-{start}-ffffff-{boot}-0123abcd.partial.png", age_s=7200)
    old_style_fresh = leftover(tmp_path, ".e.0123456789ab.partial.png")
    old_style_old = leftover(tmp_path, ".f.0123456789ab.partial.png", age_s=7200)
    not_a_partial = leftover(tmp_path, "picture.png", age_s=7200)
    assert sweep_partials(tmp_path) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (live, other_machine_fresh, old_style_fresh, not_a_partial)
    )
    assert not any(p.exists() for p in (dead, other_machine_old, old_style_old))


def test_an_output_folder_is_swept_like_the_staging_folder(tmp_path):
    """--output copies are staged in the output folder itself: a killed copy leaves a hidden partial there."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from desktop.library.atomic import atomic_write\n"
        "def stuck(h):\n"
        "    h.write(b'x'); h.flush(); print('writing', flush=True); sys.stdin.readline()\n"
        f"atomic_write(Path({str(tmp_path / 'copy.png')!r}), stuck, overwrite=False)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    (partial,) = tmp_path.glob(".copy.*.partial.png")
    assert sweep_partials(tmp_path) == 0 and partial.exists()  # its writer still runs
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert sweep_partials(tmp_path) == 1 and list(tmp_path.iterdir()) == []
