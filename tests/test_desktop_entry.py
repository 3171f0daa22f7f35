"""The menu entry and metadata: valid by the freedesktop tools, installed into XDG folders and removed."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from desktop import desktop_entry
from desktop.resources import APP_ID, ICON_SVG, icon_png

PACKAGING = desktop_entry.PACKAGING


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed here (apt-get install {package}); CI installs it and runs this")
    return path


def test_the_desktop_entry_passes_desktop_file_validate():
    tool = _tool("desktop-file-validate", "desktop-file-utils")
    done = subprocess.run([tool, str(PACKAGING / f"{APP_ID}.desktop")], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


def test_the_appstream_metadata_passes_appstreamcli_validate():
    tool = _tool("appstreamcli", "appstream")
    done = subprocess.run(
        [tool, "validate", "--no-net", str(PACKAGING / f"{APP_ID}.metainfo.xml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_icon_size_is_rendered_from_the_svg():
    assert ICON_SVG.is_file()
    from PIL import Image

    for size in desktop_entry.ICON_SIZES:
        with Image.open(icon_png(size)) as icon:
            assert icon.size == (size, size) and icon.mode == "RGBA"


def test_install_and_uninstall_into_the_user_xdg_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    written = desktop_entry.install()
    entry = tmp_path / "applications" / f"{APP_ID}.desktop"
    assert entry in written and (tmp_path / "icons/hicolor/256x256/apps" / f"{APP_ID}.png").is_file()
    exec_line = next(line for line in entry.read_text().splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(" %F") and ("diffusion-studio" in exec_line or sys.executable in exec_line)
    if shutil.which("desktop-file-validate"):
        assert subprocess.run(["desktop-file-validate", str(entry)], capture_output=True).returncode == 0
    removed = desktop_entry.uninstall()
    assert sorted(removed) == sorted(written)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
