"""The model catalogue: models the app can download, read from resources/model_catalogue.json (data, not code).

Each entry says what a user needs to choose before fetching gigabytes: the hub id, the tasks, the
download size, the memory it needs, the licence and whether it allows commercial use, one line of
description. The file ships with the app; a damaged entry is left out, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from desktop.engine.models import is_hub_id
from desktop.resources import RESOURCES

CATALOGUE_FILE = RESOURCES / "model_catalogue.json"
GB = 1e9  # sizes are decimal gigabytes, as disks and the hub count them


@dataclass(frozen=True)
class CatalogueEntry:
    key: str  # a short name the CLI takes ("sd15")
    id: str  # the hub id ("stable-diffusion-v1-5/stable-diffusion-v1-5")
    name: str
    tasks: tuple[str, ...]  # Task values; a task this version of the app lacks stays listed, as text
    download_gb: float  # full-precision safetensors
    memory_gb: float  # GPU memory, whole model on the GPU in fp16
    offload_memory_gb: float  # GPU memory with CPU offload
    licence: str  # the hub's licence id (apache-2.0, cc-by-nc-4.0, ...)
    licence_name: str
    commercial: bool
    description: str
    fp16_download_gb: float | None = None  # None: the repository ships no fp16 variant
    files: tuple[str, ...] = ()  # only these files (a single-file model); empty: what the pipeline needs

    @property
    def has_fp16(self) -> bool:
        return self.fp16_download_gb is not None

    def download_size_gb(self, variant: str | None) -> float:
        return self.fp16_download_gb if variant == "fp16" and self.fp16_download_gb is not None else self.download_gb

    @property
    def commercial_text(self) -> str:
        return "commercial use allowed" if self.commercial else "non-commercial only"

    def matches(self, text: str) -> bool:
        """Search: every word of text appears in the name, id, key, tasks, licence or description."""
        haystack = " ".join(
            (self.key, self.id, self.name, " ".join(self.tasks), self.licence, self.licence_name, self.description)
        ).lower()
        haystack += " commercial" if self.commercial else " non-commercial noncommercial"
        return all(word in haystack for word in text.lower().split())


def load_catalogue(path: Path | None = None) -> list[CatalogueEntry]:
    """The catalogue's entries in file order; [] when the file is missing or unreadable."""
    try:
        data = json.loads((path or CATALOGUE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    models = data.get("models") if isinstance(data, dict) else None
    entries = []
    for raw in models if isinstance(models, list) else []:
        entry = _entry(raw)
        if entry is not None and all(entry.id != e.id and entry.key != e.key for e in entries):
            entries.append(entry)
    return entries


@cache
def catalogue() -> tuple[CatalogueEntry, ...]:
    """The shipped catalogue, read once."""
    return tuple(load_catalogue())


def find_entry(reference: str, entries=None) -> CatalogueEntry | None:
    """The entry a hub id (any case) or a key names."""
    wanted = reference.strip().lower()
    for entry in catalogue() if entries is None else entries:
        if wanted in (entry.id.lower(), entry.key.lower()):
            return entry
    return None


def _entry(raw: object) -> CatalogueEntry | None:
    if not isinstance(raw, dict):
        return None
    try:
        entry = CatalogueEntry(
            key=_text(raw["key"]),
            id=_text(raw["id"]),
            name=_text(raw["name"]),
            tasks=tuple(_text(t) for t in raw["tasks"]),
            download_gb=_size(raw["download_gb"]),
            memory_gb=_size(raw["memory_gb"]),
            offload_memory_gb=_size(raw.get("offload_memory_gb", raw["memory_gb"])),
            licence=_text(raw["licence"]),
            licence_name=_text(raw.get("licence_name", raw["licence"])),
            commercial=_flag(raw["commercial"]),
            description=_text(raw["description"]),
            fp16_download_gb=None if raw.get("fp16_download_gb") is None else _size(raw["fp16_download_gb"]),
            files=tuple(_text(f) for f in raw.get("files", ())),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return entry if is_hub_id(entry.id) and entry.tasks and "/" not in entry.key else None


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("not text")
    return value.strip()


def _size(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10_000:
        raise ValueError("not a size")
    return float(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("not a flag")
    return value
