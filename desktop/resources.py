"""Where the data that ships in resources/ lives: prompt templates, icons, the demo model.

resources/ sits beside the desktop package in a checkout (and an editable install), and in the
PyInstaller bundle's folder.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
ICON_SVG = RESOURCES / "icons" / "diffusion-studio.svg"
APP_ID = "io.github.diffusionstudio.DiffusionStudio"
DEMO_MODEL_DIR = RESOURCES / "models" / "demo"


def icon_png(size: int) -> Path:
    return RESOURCES / "icons" / f"diffusion-studio-{size}.png"


@cache
def prompt_templates() -> list[dict]:
    """[{'name': group, 'templates': [{'title', 'prompt', 'negative_prompt'}]}]; empty if unreadable."""
    try:
        data = json.loads((RESOURCES / "templates.json").read_text(encoding="utf-8"))
        return [g for g in data.get("groups", []) if isinstance(g, dict)]
    except (OSError, ValueError):
        return []
