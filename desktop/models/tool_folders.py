"""Models that already live in another tool's folders (AUTOMATIC1111/Forge, ComfyUI, InvokeAI), found where
they are: used in place, never copied, never deleted from here.

A user adds the tool's folder (or its models folder) in Settings, Models; its layout tells the tool, and
the tool's layout tells what kind each file is. What the app can use: diffusers folders (any task their
pipeline does) and upscaler files. Single-file checkpoints are listed with what it takes to use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# A tool's model subfolders (relative to the tool's models folder) and the kind of file each holds.
LAYOUTS: dict[str, dict[str, str]] = {
    "automatic1111": {
        "Stable-diffusion": "checkpoint",
        "ESRGAN": "upscaler",
        "RealESRGAN": "upscaler",
        "SwinIR": "upscaler",
        "diffusers": "pipeline",
    },
    "comfyui": {
        "checkpoints": "checkpoint",
        "diffusers": "pipeline",
        "upscale_models": "upscaler",
        "diffusion_models": "checkpoint",
        "unet": "checkpoint",
    },
    "invokeai": {"": "any"},  # models/<base>/<type>/<name> (3.x) or models/<id>/... (4.x and later)
}
TOOL_NAMES = {"automatic1111": "AUTOMATIC1111", "comfyui": "ComfyUI", "invokeai": "InvokeAI"}
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pth", ".pt", ".bin")
MAX_DEPTH = 4
MAX_ENTRIES = 5000  # a folder is looked at this far, so a huge one stays quick


@dataclass(frozen=True)
class Found:
    path: Path
    kind: str  # "pipeline", "checkpoint", "upscaler"
    tool: str  # "automatic1111", "comfyui", "invokeai"


def detect_tool(folder: Path) -> tuple[str, Path] | None:
    """(tool, its models folder) where folder is a tool's folder or its models folder; else None."""
    for root in (folder / "models", folder):
        if not root.is_dir():
            continue
        if (root / "Stable-diffusion").is_dir():
            return "automatic1111", root
        if (root / "checkpoints").is_dir() and ((root / "loras").is_dir() or (root / "upscale_models").is_dir()):
            return "comfyui", root
    for marker in ("invokeai.yaml", "databases/invokeai.db"):
        if (folder / marker).is_file() and (folder / "models").is_dir():
            return "invokeai", folder / "models"
    if folder.name == "models" and (folder.parent / "invokeai.yaml").is_file():
        return "invokeai", folder
    return None


def scan_tool(tool: str, models_root: Path) -> list[Found]:
    found: list[Found] = []
    budget = [MAX_ENTRIES]
    for sub, kind in LAYOUTS[tool].items():
        base = models_root / sub if sub else models_root
        if base.is_dir():
            _walk(base, kind, tool, 0, found, budget)
    return found


def _walk(folder: Path, kind: str, tool: str, depth: int, found: list[Found], budget: list[int]) -> None:
    if (folder / "model_index.json").is_file():
        found.append(Found(folder, "pipeline", tool))
        return
    if depth > MAX_DEPTH:
        return
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        budget[0] -= 1
        if budget[0] < 0:
            return
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            _walk(entry, kind, tool, depth + 1, found, budget)
        elif entry.suffix.lower() in WEIGHT_SUFFIXES and kind != "pipeline":
            found.append(Found(entry, _kind_of(entry, kind), tool))


def _kind_of(path: Path, kind: str) -> str:
    if kind != "any":
        return kind
    # InvokeAI 3.x keeps models/<base>/<type>/...; 4.x keeps its own ids: the path's words tell the type.
    parts = {p.lower() for p in path.parts[-4:]}
    if parts & {"esrgan", "upscale_models", "spandrel_image_to_image"} or "esrgan" in path.name.lower():
        return "upscaler"
    return "checkpoint" if path.stat().st_size > 500_000_000 else "other"
