"""Find a diffusers model on this machine: a local folder, or a hub id already in the HF cache.

Nothing is ever downloaded: a model that is not here is an error that says where we looked.
"""

from __future__ import annotations

import re
from pathlib import Path

from desktop.engine.errors import EngineError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def is_hub_id(reference: str) -> bool:
    return bool(_HUB_ID.match(reference)) and not reference.startswith((".", "~"))


def hub_cache_dir(cache_dir: str | Path | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def resolve_model(reference: str, cache_dir: str | Path | None = None) -> Path:
    """Return the folder holding the model's model_index.json."""
    from desktop.engine.presets import DEMO_MODEL, built_in_folder

    built_in = built_in_folder(reference)
    if built_in is not None:
        if not (built_in / "model_index.json").is_file():
            trainer = "demo" if reference == DEMO_MODEL else "demo_video"
            raise EngineError(
                f"the built-in model {reference} is missing from {built_in}: reinstall the app, or train it with "
                f"python -m desktop.training.{trainer}.train."
            )
        return built_in
    path = Path(reference).expanduser()
    if path.exists():
        return _check_folder(path.resolve())
    if is_hub_id(reference):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            folder = snapshot_download(reference, cache_dir=cache_dir, local_files_only=True)
        except LocalEntryNotFoundError:
            raise EngineError(
                f"model '{reference}' was not found: there is no folder {path.resolve()} and no copy in the "
                f"Hugging Face cache {hub_cache_dir(cache_dir)}; download it once where there is a network "
                f"(hf download {reference}) or give the path of a diffusers model folder."
            ) from None
        return _check_folder(Path(folder))
    raise EngineError(
        f"model folder {path.resolve()} does not exist: give the path of a diffusers model folder "
        "or a Hugging Face id such as org/name."
    )


def _check_folder(folder: Path) -> Path:
    if not folder.is_dir():
        raise EngineError(f"model {folder} is a file, not a diffusers model folder: give the folder that holds it.")
    if not (folder / "model_index.json").is_file():
        raise EngineError(
            f"{folder} is not a diffusers model folder: model_index.json is missing "
            "(single .safetensors/.ckpt checkpoints must be converted to the diffusers layout first)."
        )
    return folder


def has_variant(folder: Path, variant: str) -> bool:
    """True where the folder ships weights of that variant (e.g. unet/diffusion_pytorch_model.fp16.safetensors)."""
    return any(folder.glob(f"*/*.{variant}.safetensors")) or any(folder.glob(f"*/*.{variant}.bin"))


def has_safetensors(folder: Path) -> bool:
    return any(folder.glob("*/*.safetensors"))


def cached_weight_repos(cache_dir: str | Path | None = None) -> list[Path]:
    """The newest snapshot folder of each cached repository that is not a diffusers pipeline: where a
    downloaded weights file (an upscaler such as Real-ESRGAN) lives."""
    found = []
    for snapshots in sorted(hub_cache_dir(cache_dir).glob("models--*/snapshots")):
        try:
            newest = max((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, default=None)
        except OSError:
            continue
        if newest is not None and not (newest / "model_index.json").exists():
            found.append(newest)
    return found


def cached_pipelines(cache_dir: str | Path | None = None) -> list[str]:
    """Hub ids of diffusers pipelines already in the Hugging Face cache (a quick folder scan)."""
    root = hub_cache_dir(cache_dir)
    found = set()
    for index in root.glob("models--*/snapshots/*/model_index.json"):
        found.add(index.parents[2].name[len("models--") :].replace("--", "/"))
    return sorted(found)
