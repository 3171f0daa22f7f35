"""Data that ships in resources/: prompt templates (and later icons, style sheets)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


@cache
def prompt_templates() -> list[dict]:
    """[{'name': group, 'templates': [{'title', 'prompt', 'negative_prompt'}]}]; empty if unreadable."""
    try:
        data = json.loads((RESOURCES / "templates.json").read_text(encoding="utf-8"))
        return [g for g in data.get("groups", []) if isinstance(g, dict)]
    except (OSError, ValueError):
        return []
