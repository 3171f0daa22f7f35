"""What an upscaler model is, told cheaply and without torch: the form asks on every change, and the
window's process never imports torch.

A `.safetensors` file is recognised from its header alone (names and shapes of its tensors, a few KB
read from the front of the file): the ESRGAN family exactly (desktop.engine.rrdbnet). A diffusers
folder by its model_index.json. Other architectures, and pickle files, can only be told by loading
them (spandrel needs torch): they are accepted where spandrel is installed and checked when loaded.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

from desktop.engine import rrdbnet
from desktop.engine.models import hub_cache_dir, is_hub_id
from desktop.engine.upscalers.checks import LANCZOS, LANCZOS_LABEL, LANCZOS_SCALE

PICKLE_SUFFIXES = frozenset({".pth", ".pt", ".ckpt", ".bin"})
PIPELINE_SCALES = {"StableDiffusionUpscalePipeline": 4, "StableDiffusionLatentUpscalePipeline": 2}
# A header larger than this is no upscaler's (Real-ESRGAN's is 30 KB; a 23-block network has ~350 tensors).
HEADER_MAX_BYTES = 16 * 2**20
# Files looked at per model folder (the folder and its direct subfolders), so a huge folder stays quick.
SCAN_MAX_FILES = 400
# Names that say "upscaler" (4x-UltraSharp, RealESRGAN_x4plus, upscale_models/): listing files whose
# architecture only spandrel can tell, without loading every LoRA and checkpoint in the folder.
_UPSCALER_NAME = re.compile(r"(?i)(?<![a-z0-9])[2-8]x|x[2-8](?![0-9])|esrgan|swinir|upscal|super.?res")

NOT_AN_UPSCALER_HINT = (
    "give an upscaler weights file (.safetensors), a diffusers upscaler folder, or no model for a plain resize"
)


@dataclass(frozen=True)
class UpscalerInfo:
    model: str  # what a request names: "lanczos", a weights file, a diffusers folder or hub id
    kind: str  # "lanczos", "rrdbnet", "spandrel" (other architectures), "pickle" or "diffusers"
    architecture: str  # what lists show: "Real-ESRGAN ×4, 23 blocks, 64 features"
    scale: int | None  # the model's own scale; None where only loading tells (spandrel, pickle files)
    license: str | None = None  # from a model card or licence file beside it
    takes_prompt: bool = False  # diffusers upscalers are steered by a prompt
    error: str | None = None  # why it cannot be used: one sentence
    rrdb: rrdbnet.RRDBConfig | None = None
    folder: str | None = None  # a diffusers upscaler's folder (a hub id resolved in the cache)

    @property
    def usable(self) -> bool:
        return self.error is None

    @property
    def label(self) -> str:
        """What a model list shows: the name, the architecture and scale, and the licence where known."""
        if self.kind == LANCZOS:
            return LANCZOS_LABEL
        name = Path(self.model).name if not is_hub_id(self.model) or Path(self.model).exists() else self.model
        licence = f", licence {self.license}" if self.license else ""
        return f"{name} ({self.architecture}{licence})"


LANCZOS_INFO = UpscalerInfo(LANCZOS, LANCZOS, LANCZOS_LABEL, LANCZOS_SCALE)


def spandrel_installed() -> bool:
    """Whether spandrel and torchvision are installed (not whether they import: only loading tells)."""
    return all(importlib.util.find_spec(name) is not None for name in ("spandrel", "torchvision"))


def read_safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape from a safetensors file's header (8-byte length, then JSON); ValueError or
    OSError when it is not one."""
    with path.open("rb") as file:
        length = int.from_bytes(file.read(8), "little")
        if not 2 <= length <= HEADER_MAX_BYTES:
            raise ValueError("not a safetensors header")
        header = json.loads(file.read(length))
    if not isinstance(header, dict):
        raise ValueError("not a safetensors header")
    return {name: list(entry["shape"]) for name, entry in header.items() if name != "__metadata__"}


def folder_license(folder: Path) -> str | None:
    """The licence a model card's front matter names (`license: apache-2.0`), else a licence file's first line."""
    for name in ("README.md", "model_card.md"):
        text = _head(folder / name)
        if text and (found := re.search(r"(?m)^license(?:_name)?:\s*['\"]?([^'\"\n]+)", text)):
            return found.group(1).strip()
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "LICENCE.txt"):
        text = _head(folder / name)
        line = next((line.strip() for line in (text or "").splitlines() if line.strip()), None)
        if line:
            return line[:80]
    return None


def _head(path: Path, size: int = 4096) -> str | None:
    try:
        with path.open("rb") as file:
            return file.read(size).decode("utf-8", errors="replace")
    except OSError:
        return None


class Catalog:
    """Tells what models are, remembering each file's answer until the file changes."""

    def __init__(self, allow_pickle: bool = False, hf_cache_dir: str | Path | None = None) -> None:
        self.allow_pickle = allow_pickle
        self.hf_cache_dir = hf_cache_dir
        self._known: dict[tuple, UpscalerInfo] = {}

    def inspect(self, model: str) -> UpscalerInfo:
        model = model.strip()
        if model in ("", LANCZOS):
            return LANCZOS_INFO
        path = Path(model).expanduser()
        if not path.exists() and is_hub_id(model):
            snapshot = self._cached_snapshot(model)
            if snapshot is not None:
                return self._remembered(model, snapshot / "model_index.json", lambda: self._folder(model, snapshot))
        if not path.exists():
            return _error(model, f"upscaler {path} does not exist: {NOT_AN_UPSCALER_HINT}.")
        if path.is_dir():
            return self._remembered(model, path / "model_index.json", lambda: self._folder(model, path))
        return self._remembered(model, path, lambda: self._file(model, path))

    def find(self, folders) -> list[UpscalerInfo]:
        """The upscalers in the user's model folders (each folder and its direct subfolders)."""
        found: dict[str, UpscalerInfo] = {}
        for folder in folders:
            for candidate in _candidates(Path(folder).expanduser()):
                info = self.inspect(str(candidate))
                if info.usable and (info.kind in ("rrdbnet", "diffusers") or _UPSCALER_NAME.search(str(candidate))):
                    found.setdefault(str(candidate), info)
        return list(found.values())

    def _remembered(self, model: str, stamp_path: Path, inspect) -> UpscalerInfo:
        try:
            stat = stamp_path.stat()
            key = (model, str(stamp_path), stat.st_mtime_ns, stat.st_size, self.allow_pickle)
        except OSError:
            return inspect()
        if key not in self._known:
            self._known[key] = inspect()
        return self._known[key]

    def _file(self, model: str, path: Path) -> UpscalerInfo:
        suffix = path.suffix.lower()
        licence = folder_license(path.parent)
        if suffix in PICKLE_SUFFIXES:
            if not self.allow_pickle:
                return _error(
                    model,
                    f"{path.name} is a pickle file, which can run code when loaded: convert it to .safetensors, "
                    "or allow pickle weights in the settings if you trust it.",
                )
            return UpscalerInfo(model, "pickle", "architecture read when loaded", None, licence)
        if suffix != ".safetensors":
            return _error(model, f"{path.name} is not an upscaler weights file: {NOT_AN_UPSCALER_HINT}.")
        try:
            shapes = read_safetensors_shapes(path)
        except (OSError, ValueError, KeyError, TypeError):
            return _error(model, f"{path.name} is not a readable safetensors file: it may be damaged or incomplete.")
        found = rrdbnet.detect(shapes)
        if found is not None:
            config = found[0]
            if config.scale < 2:
                return _error(model, f"{path.name} is a x{config.scale} restoration model, not an upscaler.")
            if config.channels != 3:
                return _error(model, f"{path.name} works on {config.channels}-channel pictures, not RGB ones.")
            return UpscalerInfo(model, "rrdbnet", config.describe(), config.scale, licence, rrdb=config)
        if spandrel_installed():
            return UpscalerInfo(model, "spandrel", "architecture read when loaded (spandrel)", None, licence)
        return _error(
            model,
            f"{path.name} is not an upscaler this app can load: its layers are not an ESRGAN or Real-ESRGAN "
            "network (other architectures need the optional spandrel package).",
        )

    def _folder(self, model: str, folder: Path) -> UpscalerInfo:
        try:
            class_name = str(json.loads((folder / "model_index.json").read_text()).get("_class_name", ""))
        except (OSError, ValueError, AttributeError):
            return _error(model, f"{folder} is a folder but not a diffusers model: {NOT_AN_UPSCALER_HINT}.")
        if class_name not in PIPELINE_SCALES:
            return _error(
                model,
                f"{folder.name} is a {class_name or 'diffusers'} model, not an upscaler: {NOT_AN_UPSCALER_HINT}.",
            )
        scale = PIPELINE_SCALES[class_name]
        if class_name == "StableDiffusionUpscalePipeline":
            # The pipeline denoises at the picture's size and its VAE decodes `scale` times larger.
            try:
                blocks = json.loads((folder / "vae" / "config.json").read_text())["block_out_channels"]
                scale = 2 ** (len(blocks) - 1)
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return UpscalerInfo(
            model,
            "diffusers",
            f"{class_name} ×{scale}",
            scale,
            folder_license(folder),
            takes_prompt=True,
            folder=str(folder),
        )

    def _cached_snapshot(self, hub_id: str) -> Path | None:
        try:
            root = hub_cache_dir(self.hf_cache_dir) / f"models--{hub_id.replace('/', '--')}" / "snapshots"
            snapshots = sorted(root.glob("*/model_index.json"), key=lambda p: p.stat().st_mtime)
        except OSError:
            return None
        return snapshots[-1].parent if snapshots else None


def _error(model: str, sentence: str) -> UpscalerInfo:
    return UpscalerInfo(model, "", "", None, error=sentence)


def _candidates(folder: Path) -> list[Path]:
    """Weights files and diffusers upscaler folders in a model folder and its direct subfolders."""
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        return []
    if (folder / "model_index.json").is_file():
        return [folder]
    found: list[Path] = []
    try:
        levels = [folder, *sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))]
        for level in levels:
            if level is not folder and (level / "model_index.json").is_file():
                found.append(level)
                continue
            for path in sorted(level.iterdir()):
                if path.is_file() and (path.suffix.lower() == ".safetensors" or path.suffix.lower() in PICKLE_SUFFIXES):
                    found.append(path)
                if len(found) >= SCAN_MAX_FILES:
                    return found
    except OSError:
        pass
    return found
