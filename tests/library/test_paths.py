"""Checks before work: a folder that cannot take the results is one sentence before any model loads."""

from __future__ import annotations

import errno
import shutil
from collections import namedtuple

import pytest

from desktop.library.errors import LibraryError
from desktop.library.paths import check_writable


def test_a_writable_folder_passes_and_is_created_when_missing(tmp_path):
    folder = tmp_path / "campaign" / "spring"
    assert check_writable(folder) == folder and folder.is_dir()
    assert list(folder.iterdir()) == []  # the probe is gone


def test_a_file_in_the_way_is_one_sentence(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(LibraryError, match="is a file, not a folder"):
        check_writable(tmp_path / "out")
    with pytest.raises(LibraryError, match="a file stands where a folder is needed"):
        check_writable(tmp_path / "out" / "inside")


@pytest.mark.parametrize(
    ("number", "sentence"),
    [
        (errno.EACCES, "read-only or you lack permission"),
        (errno.EROFS, "read-only or you lack permission"),
        (errno.ENOSPC, "is full: free some space"),
    ],
)
def test_a_folder_that_refuses_writes_is_one_sentence(tmp_path, monkeypatch, number, sentence):
    # Tests may run as root, whom permissions do not stop: the file system's answer is simulated.
    def refuse(*args, **kwargs):
        raise OSError(number, "refused")

    monkeypatch.setattr("desktop.library.paths.open", refuse, raising=False)
    with pytest.raises(LibraryError, match=sentence):
        check_writable(tmp_path)


def test_a_nearly_full_disk_is_said_before_the_work(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**6, 10**6))
    with pytest.raises(LibraryError, match="nearly full"):
        check_writable(tmp_path)
