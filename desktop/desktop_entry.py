"""Add the app to the desktop's menu for a pip-installed copy (XDG folders), and take it out again.

diffusion-studio --install-desktop-entry
diffusion-studio --uninstall-desktop-entry
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from desktop.resources import APP_ID, ICON_SVG, RESOURCES, icon_png

PACKAGING = RESOURCES.parent / "packaging"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def _targets() -> dict[Path, Path]:
    """Installed path -> source file."""
    home = data_home()
    targets = {
        home / "applications" / f"{APP_ID}.desktop": PACKAGING / f"{APP_ID}.desktop",
        home / "metainfo" / f"{APP_ID}.metainfo.xml": PACKAGING / f"{APP_ID}.metainfo.xml",
        home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg": ICON_SVG,
    }
    for size in ICON_SIZES:
        targets[home / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"] = icon_png(size)
    return targets


def _launcher() -> str:
    """The command that starts this very installation, whatever PATH the desktop session has."""
    script = shutil.which("diffusion-studio")
    return shlex.quote(script) if script else f"{shlex.quote(sys.executable)} -m desktop"


def install() -> list[Path]:
    written = []
    for target, source in _targets().items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".desktop":
            text = source.read_text(encoding="utf-8").replace("Exec=diffusion-studio", f"Exec={_launcher()}")
            target.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(source, target)
        written.append(target)
    return written


def uninstall() -> list[Path]:
    removed = []
    for target in _targets():
        if target.exists():
            target.unlink()
            removed.append(target)
    return removed
