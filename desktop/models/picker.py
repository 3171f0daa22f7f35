"""The model picker's list for a task: only the models that can do it, and never a half-downloaded one.

Told cheaply, on the UI thread: a diffusers folder's model_index.json (and, for the cache's models, that
every component's files are there); other backends say through their capabilities.
"""

from __future__ import annotations

from pathlib import Path

from desktop.engine.models import is_hub_id
from desktop.engine.presets import built_in_folder
from desktop.engine.tasks import Task
from desktop.models.installed import cached_snapshot, pipeline_problem
from desktop.models.model_tasks import folder_tasks

UNKNOWN = None  # a model nothing can be told about yet (a path still being typed): the list keeps it


def model_tasks(engine, backend_id: str, model: str, cache_dir: Path | None = None) -> frozenset[Task] | None:
    """What model can do on backend_id; frozenset() where it cannot be offered (a hub id whose download did
    not finish); None where it cannot be told."""
    backend = engine.backend(backend_id)
    if not getattr(backend, "models_are_paths", False) or backend_id != "diffusers":
        return frozenset(engine.capabilities(backend_id, model).tasks)
    path = Path(model).expanduser()
    if (path / "model_index.json").is_file():
        return folder_tasks(path)
    if is_hub_id(model) and not path.exists():
        snapshot = cached_snapshot(model, cache_dir or _engine_cache(engine))
        if snapshot is None or not (snapshot / "model_index.json").is_file() or pipeline_problem(snapshot):
            return frozenset()
        return folder_tasks(snapshot)
    if built_in_folder(model) is not None:  # the demo models (image and video)
        return frozenset(engine.capabilities(backend_id, model).tasks)
    return UNKNOWN


def models_for_task(engine, backend_id: str, models: list[str], task: Task) -> list[str]:
    """models (in their order) that can do task, and those nothing can be told about."""
    kept = []
    for model in models:
        tasks = model_tasks(engine, backend_id, model)
        if tasks is UNKNOWN or task in tasks:
            kept.append(model)
    return kept


def tasks_of_list(engine, backend_id: str, models: list[str]) -> frozenset[Task]:
    """Every task some model of the list can do (the form keeps a task enabled while one can)."""
    found: set[Task] = set()
    for model in models:
        found |= model_tasks(engine, backend_id, model) or set()
    return frozenset(found)


def _engine_cache(engine) -> Path | None:
    folder = getattr(getattr(engine, "config", None), "hf_cache_dir", None)
    return Path(folder) if folder else None
