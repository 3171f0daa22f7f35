"""What a model on this disk can do, told cheaply (a small JSON file, no torch): the model picker and the
manager list models by task.

A diffusers folder's tasks come from its pipeline class, as the engine reads them; a diffusers upscaler
(StableDiffusionUpscalePipeline) only upscales, on the Upscalers backend.
"""

from __future__ import annotations

import json
from pathlib import Path

from desktop.engine.tasks import Task


def pipeline_class(folder: Path) -> str:
    try:
        data = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        return str(data.get("_class_name", "")) if isinstance(data, dict) else ""
    except (OSError, ValueError):
        return ""


def folder_tasks(folder: Path) -> frozenset[Task]:
    """The tasks of a diffusers pipeline folder (empty where it is none)."""
    from desktop.engine.diffusers_backend import model_tasks
    from desktop.engine.upscalers.catalog import PIPELINE_SCALES

    class_name = pipeline_class(folder)
    if not class_name:
        return frozenset()
    if class_name in PIPELINE_SCALES:
        return frozenset({Task.UPSCALE})
    return model_tasks(folder)[0]


def task_values(tasks) -> list[str]:
    """Task values in the order the form lists tasks."""
    wanted = {t.value if isinstance(t, Task) else str(t) for t in tasks}
    known = [t.value for t in Task if t.value in wanted]
    return known + sorted(wanted - set(known))
