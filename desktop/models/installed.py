"""The models on this computer: the Hugging Face cache, the folders from Settings, and models in
AUTOMATIC1111/ComfyUI/InvokeAI folders the user pointed at (used where they are).

Each comes with its disk use, what it can do and its licence. A pipeline whose download stopped part way
is listed as such and is never offered as a model. Only the cache's models are removed from here:
another tool's files, and folders the user added, are the user's.

Nothing here imports huggingface_hub or torch: the window lists models on a worker thread and asks about
a model on the UI thread, cheaply.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from desktop.models.hub_files import components
from desktop.models.licence import folder_licence
from desktop.models.model_tasks import folder_tasks, task_values
from desktop.models.tool_folders import TOOL_NAMES, detect_tool, scan_tool

HF_CACHE = "hf-cache"
FOLDER = "folder"
PARTIAL_SUFFIX = ".partial"  # download.py's partial files


@dataclass(frozen=True)
class InstalledModel:
    id: str  # what the model list and --model take: a hub id, or a path
    name: str
    source: str  # "hf-cache", "folder", "automatic1111", "comfyui", "invokeai"
    kind: str  # "pipeline", "upscaler", "checkpoint", "files"
    path: Path  # the snapshot folder, the model folder or the file
    size_bytes: int
    tasks: tuple[str, ...] = ()
    licence: str | None = None
    complete: bool = True
    # Why the app cannot use it as it is (an incomplete download, a single-file checkpoint); "" when it can.
    problem: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def usable(self) -> bool:
        return self.complete and not self.problem

    @property
    def removable(self) -> bool:
        return self.source == HF_CACHE

    @property
    def where(self) -> str:
        if self.source == HF_CACHE:
            return "Hugging Face cache"
        return TOOL_NAMES.get(self.source, "your folder")


class RemoveError(Exception):
    """Why a model was not removed; one sentence."""


def default_cache_dir() -> Path:
    """The Hugging Face cache as huggingface_hub finds it (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME), without
    importing it (a fifth of a second the window's thread must not spend); where it is imported already,
    its own answer (read once, at its import), so that this process's engine and downloads agree."""
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and getattr(constants, "HF_HUB_CACHE", None):
        return Path(constants.HF_HUB_CACHE)
    hub = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if hub:
        return Path(os.path.expandvars(os.path.expanduser(hub)))
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(os.path.expandvars(os.path.expanduser(home))) / "hub"


def repo_folder(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


def repo_id_of(folder_name: str) -> str | None:
    if not folder_name.startswith("models--"):
        return None
    return folder_name[len("models--") :].replace("--", "/", 1)


def cached_snapshot(repo_id: str, cache_dir: Path | None = None) -> Path | None:
    """The snapshot the engine would load for a hub id (refs/main, else the newest), or None."""
    storage = (cache_dir or default_cache_dir()) / repo_folder(repo_id)
    try:
        commit = (storage / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        commit = ""
    if commit and (storage / "snapshots" / commit).is_dir():
        return storage / "snapshots" / commit
    try:
        snapshots = sorted((storage / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime)
    except OSError:
        return None
    return snapshots[-1] if snapshots else None


def pipeline_problem(folder: Path) -> str:
    """Why a diffusers folder cannot load ("" when every component it names is there with its weights)."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its model_index.json is missing: the download did not finish"
    if not isinstance(index, dict):
        return "its model_index.json is not a pipeline's"
    for component in components(index):
        part = folder / component
        try:
            files = [p for p in part.rglob("*") if p.is_file()]  # is_file follows the cache's links
        except OSError:
            files = []
        if not files:
            return f"its {component} is missing: the download did not finish"
        weights = [p for p in files if p.name.endswith((".safetensors", ".bin"))]
        if (part / "config.json").is_file() and not weights:
            return f"its {component} has no weights: the download did not finish"
        for shard_index in part.glob("*.index*.json"):
            try:
                shards = set(json.loads(shard_index.read_text(encoding="utf-8")).get("weight_map", {}).values())
            except (OSError, ValueError, AttributeError):
                continue
            if any(not (part / shard).is_file() for shard in shards):
                return f"its {component} is missing weights: the download did not finish"
    return ""


def hub_model_usable(repo_id: str, cache_dir: Path | None = None) -> bool:
    """Whether a hub id is whole in the cache (what the model picker offers)."""
    snapshot = cached_snapshot(repo_id, cache_dir)
    if snapshot is None:
        return False
    if (snapshot / "model_index.json").is_file():
        return not pipeline_problem(snapshot)
    return any(p.suffix == ".safetensors" and p.is_file() for p in snapshot.rglob("*"))


def scan_installed(model_folders=(), cache_dir: Path | None = None) -> list[InstalledModel]:
    """Everything installed: the cache's models, then each Settings folder's (a model folder, or a tool's)."""
    found = scan_cache(cache_dir)
    seen = {str(m.path) for m in found}
    for folder in model_folders:
        for model in scan_folder(Path(folder).expanduser()):
            if str(model.path) not in seen:
                seen.add(str(model.path))
                found.append(model)
    return found


def scan_cache(cache_dir: Path | None = None) -> list[InstalledModel]:
    root = cache_dir or default_cache_dir()
    try:
        storages = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("models--"))
    except OSError:
        return []
    models = []
    for storage in storages:
        repo_id = repo_id_of(storage.name)
        if repo_id is not None:
            models.append(_cached_model(repo_id, storage, root))
    return models


def _cached_model(repo_id: str, storage: Path, cache_dir: Path) -> InstalledModel:
    from desktop.models.catalogue import find_entry

    size = disk_use(storage)
    snapshot = cached_snapshot(repo_id, cache_dir)
    entry = find_entry(repo_id)
    partial = any(storage.glob(f"blobs/*{PARTIAL_SUFFIX}")) or any(storage.glob("blobs/*.incomplete"))
    name = entry.name if entry else repo_id
    licence = (folder_licence(snapshot) if snapshot else None) or (entry.licence if entry else None)
    if snapshot is not None and (snapshot / "model_index.json").is_file():
        problem = pipeline_problem(snapshot)
        tasks = task_values(folder_tasks(snapshot))
        return InstalledModel(
            repo_id, name, HF_CACHE, "pipeline", snapshot, size, tuple(tasks), licence, not problem, problem
        )
    files = [p for p in snapshot.rglob("*.safetensors") if p.is_file()] if snapshot else []
    if files:
        tasks = entry.tasks if entry else ()
        kind = "upscaler" if "upscale" in tasks else "files"
        return InstalledModel(
            repo_id, name, HF_CACHE, kind, files[0] if len(files) == 1 else snapshot, size, tuple(tasks), licence
        )
    # Our pipeline downloads file model_index.json last: component files without it are a stopped download.
    filed = [p for p in snapshot.rglob("*") if p.is_file()] if snapshot is not None else []
    stopped = partial or not filed or any(p.parent != snapshot for p in filed)
    problem = (
        "the download did not finish: download it again to resume"
        if stopped
        else "not a model this app loads: it has no model_index.json and no .safetensors weights"
    )
    tasks = entry.tasks if entry else ()
    return InstalledModel(
        repo_id, name, HF_CACHE, "pipeline", snapshot or storage, size, tuple(tasks), licence, False, problem
    )


def scan_folder(folder: Path) -> list[InstalledModel]:
    """A Settings folder: a diffusers folder, a tool's folder, or a folder of upscaler files."""
    if (folder / "model_index.json").is_file():
        return [_pipeline(folder, FOLDER)]
    tool = detect_tool(folder) if folder.is_dir() else None
    if tool is not None:
        return [_found(found) for found in scan_tool(*tool)]
    models = []
    try:
        entries = sorted(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        entries = []
    for entry in entries:
        if entry.is_dir() and (entry / "model_index.json").is_file():
            models.append(_pipeline(entry, FOLDER))
        elif entry.suffix.lower() == ".safetensors" and entry.is_file():
            models.append(_file(entry, FOLDER, "upscaler" if _looks_like_upscaler(entry) else "checkpoint"))
    return models


def tool_folder_models(model_folders) -> list[str]:
    """ "pipeline:<folder>" and "upscaler:<file>" for each usable model inside the AUTOMATIC1111 / ComfyUI /
    InvokeAI folders among model_folders (a quick walk: no disk use summed), for the form's lists;
    plain model folders are the engine's to list."""
    found = []
    for folder in model_folders:
        tool = detect_tool(Path(folder).expanduser())
        for item in scan_tool(*tool) if tool is not None else []:
            if item.kind == "pipeline" and not pipeline_problem(item.path):
                found.append(f"pipeline:{item.path}")
            elif item.kind == "upscaler" and item.path.suffix.lower() == ".safetensors":
                found.append(f"upscaler:{item.path}")
    return found


def _found(found) -> InstalledModel:
    if found.kind == "pipeline":
        return _pipeline(found.path, found.tool)
    return _file(found.path, found.tool, found.kind)


def _pipeline(folder: Path, source: str) -> InstalledModel:
    problem = pipeline_problem(folder)
    return InstalledModel(
        str(folder),
        folder.name,
        source,
        "pipeline",
        folder,
        disk_use(folder),
        tuple(task_values(folder_tasks(folder))),
        folder_licence(folder),
        not problem,
        problem,
    )


def _file(path: Path, source: str, kind: str) -> InstalledModel:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if kind == "upscaler":
        pickle = path.suffix.lower() != ".safetensors"
        problem = (
            f"a pickle file ({path.suffix}), which can run code when loaded: allow pickle weights in Settings, "
            "Device, if you trust it"
            if pickle
            else ""
        )
        return InstalledModel(
            str(path), path.name, source, kind, path, size, ("upscale",), folder_licence(path.parent), True, problem
        )
    problem = (
        "a single-file checkpoint: the app loads diffusers folders (model_index.json); convert it with diffusers' "
        "from_single_file and save_pretrained to use it here"
        if kind == "checkpoint"
        else "not a model this app loads"
    )
    return InstalledModel(str(path), path.name, source, kind, path, size, (), None, True, problem)


def _looks_like_upscaler(path: Path) -> bool:
    from desktop.engine.upscalers.catalog import _UPSCALER_NAME

    return bool(_UPSCALER_NAME.search(path.name))


def disk_use(path: Path) -> int:
    """Bytes of the regular files under path (links are not followed; a file linked twice counts once)."""
    if path.is_file() and not path.is_symlink():
        return path.stat().st_size
    total, seen = 0, set()
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


def remove(model: InstalledModel, cache_dir: Path | None = None) -> int:
    """Delete a model from the Hugging Face cache (every revision, partial downloads too); the bytes freed."""
    if not model.removable:
        raise RemoveError(
            f"{model.name} is in {model.where} ({model.path}): the app uses it where it is and never deletes it; "
            "remove its folder from Settings, Models to stop listing it."
        )
    root = cache_dir or default_cache_dir()
    storage = root / repo_folder(model.id)
    if not storage.is_dir():
        raise RemoveError(f"{model.id} is not in the Hugging Face cache ({root}): nothing was removed.")
    from filelock import FileLock, Timeout

    lock_path = root / ".locks" / repo_folder(model.id) / "diffusion-studio-download.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RemoveError(f"{model.id} is being downloaded: cancel the download first.") from None
    try:
        freed = disk_use(storage)
        shutil.rmtree(storage)
    except OSError as exc:
        raise RemoveError(f"{model.id} could not be removed: {exc.strerror or exc}.") from None
    finally:
        lock.release()
    shutil.rmtree(root / ".locks" / repo_folder(model.id), ignore_errors=True)
    return freed


def find_installed(reference: str, models: list[InstalledModel]) -> InstalledModel | None:
    """The installed model a hub id, a catalogue key or a path names."""
    from desktop.models.catalogue import find_entry

    entry = find_entry(reference)
    wanted = {reference.strip(), reference.strip().rstrip("/")} | ({entry.id} if entry else set())
    for model in models:
        if model.id in wanted or str(model.path) in wanted or model.id.lower() in {w.lower() for w in wanted}:
            return model
    return None
