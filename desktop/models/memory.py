"""Will a model fit? The device's memory, told without torch, against what a model needs: said before the
model loads, not after the out-of-memory error.

The device: an NVIDIA GPU's memory from nvidia-smi (the window never imports torch), else the computer's
RAM (the CPU, and Apple's unified memory). What a model needs: the catalogue's figure for a model it
lists, else an estimate from its weights on disk (parameters x bytes per parameter on that device, plus a
working margin).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

GIB = 2**30
# Weights, plus activations, the VAE's decode and the framework's own: what a model at its own size uses.
WORKING_FACTOR = 1.25
WORKING_MARGIN_GB = 1.0
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1}


@dataclass(frozen=True)
class DeviceMemory:
    kind: str  # "cuda" (an NVIDIA GPU), "mps" (Apple), "cpu"
    total_gb: float
    name: str = ""

    @property
    def gpu(self) -> bool:
        return self.kind == "cuda"

    @property
    def words(self) -> str:
        return {"cuda": "this GPU has", "mps": "this Mac has"}.get(self.kind, "this computer has")


@dataclass(frozen=True)
class Need:
    whole_gb: float  # the whole model on the device
    offload_gb: float  # with CPU offload (GPU only)


_probe_lock = threading.Lock()
_probe_started = threading.Event()
_probed: list[DeviceMemory | None] = []


def device_memory(preference: str = "auto", wait: bool = True) -> DeviceMemory | None:
    """The memory of the device the engine will pick ("auto", "cuda", "mps", "cpu"). With wait=False (the
    UI thread), None until a background probe has answered (nvidia-smi can take a second)."""
    if preference == "cpu":
        return _ram("cpu")
    if preference == "mps":
        return _ram("mps")
    if not wait:
        _start_probe()
        return _probed[0] if _probed else None
    return _gpu_or_ram()


def _start_probe() -> None:
    with _probe_lock:
        if _probe_started.is_set():
            return
        _probe_started.set()

    def probe() -> None:
        _probed.append(_gpu_or_ram())

    threading.Thread(target=probe, name="device-memory", daemon=True).start()


@cache
def _gpu_or_ram() -> DeviceMemory:
    gpu = nvidia_gpu()
    if gpu is not None:
        return gpu
    if sys.platform == "darwin" and os.uname().machine == "arm64":
        return _ram("mps")
    return _ram("cpu")


def nvidia_gpu() -> DeviceMemory | None:
    """The first NVIDIA GPU's memory (the engine's cuda:0), or None where there is none."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=memory.total,name", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
        mib, name = out.strip().splitlines()[0].split(",", 1)
        return DeviceMemory("cuda", float(mib) / 1024, name.strip())
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def _ram(kind: str) -> DeviceMemory:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 0
    return DeviceMemory(kind, total / GIB)


def catalogue_need(entry) -> Need:
    return Need(float(entry.memory_gb), float(entry.offload_memory_gb))


def estimate_need(folder: Path) -> Need | None:
    """From the weights of a diffusers folder (or one weights file): parameters x 2 bytes (fp16), each
    component's; None where there are no readable weights."""
    sizes = _component_parameters(folder)
    if not sizes:
        return None
    whole = sum(sizes) * 2 / GIB
    largest = max(sizes) * 2 / GIB
    return Need(whole * WORKING_FACTOR + WORKING_MARGIN_GB, largest * WORKING_FACTOR + WORKING_MARGIN_GB)


def _component_parameters(folder: Path) -> list[int]:
    """Parameter counts per component (per weights file for a single file), read from safetensors headers;
    one precision per component (the plain files where there are, else a variant's)."""
    from desktop.models.hub_files import weights_variant

    if folder.is_file():
        count = _parameters(folder)
        return [count] if count else []
    counts = []
    try:
        parts = [p for p in sorted(folder.iterdir()) if p.is_dir()]
    except OSError:
        return []
    for part in parts:
        by_variant: dict[str | None, list[Path]] = {}
        for file in part.glob("*.safetensors"):
            by_variant.setdefault(weights_variant(file.name), []).append(file)
        if by_variant:
            files = by_variant.get(None) or next(iter(by_variant.values()))
            total = sum(_parameters(f) for f in files)
            if total:
                counts.append(total)
    return counts


def _parameters(path: Path) -> int:
    try:
        with path.open("rb") as file:
            length = int.from_bytes(file.read(8), "little")
            if not 2 <= length <= 64 * 2**20:
                return 0
            header = json.loads(file.read(length))
    except (OSError, ValueError):
        return 0
    count = 0
    for name, entry in header.items():
        if name == "__metadata__" or not isinstance(entry, dict):
            continue
        shape = entry.get("shape", [])
        size = 1
        for dim in shape:
            size *= int(dim)
        count += size
    return count


def memory_warning(need: Need | None, device: DeviceMemory | None, cpu_offload: bool, name: str) -> str:
    """One sentence where the model will not fit, else ""."""
    if need is None or device is None or device.total_gb <= 0:
        return ""
    if device.gpu:
        needed = need.offload_gb if cpu_offload else need.whole_gb
        if needed <= device.total_gb:
            return ""
        if not cpu_offload and need.offload_gb <= device.total_gb:
            hint = "turn on CPU offload in Settings, Device (slower), or choose a smaller model"
        else:
            hint = "choose a smaller model, a smaller size, or another computer"
        return (
            f"{name} needs about {_gb(needed)} of GPU memory and {device.words} {_gb(device.total_gb)}: {hint}; "
            "it may fail to load."
        )
    needed = need.whole_gb * (1 if device.kind == "mps" else 2)  # the CPU runs in fp32: twice the bytes
    if needed <= device.total_gb:
        return ""
    return (
        f"{name} needs about {_gb(needed)} of memory and {device.words} {_gb(device.total_gb)}: it may fail to "
        "load or make the computer swap; choose a smaller model."
    )


def _gb(value: float) -> str:
    return f"{value:.0f} GB" if value >= 10 else f"{value:.1f} GB"


def model_need(model: str, cache_dir: Path | None = None) -> Need | None:
    """What a model the form names needs: the catalogue's figure for a hub id it lists, else an estimate from
    its folder (or its snapshot in the cache); None for models told nothing about (the demo, OpenAI's)."""
    from desktop.engine.models import is_hub_id
    from desktop.models.catalogue import find_entry
    from desktop.models.installed import cached_snapshot

    model = model.strip()
    if not model:
        return None
    path = Path(model).expanduser()
    if is_hub_id(model) and not path.exists():
        entry = find_entry(model)
        if entry is not None:
            return catalogue_need(entry)
        path = cached_snapshot(model, cache_dir) or path
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    return _estimate_cached(str(path), stamp)


@lru_cache(maxsize=64)
def _estimate_cached(path: str, stamp: int) -> Need | None:
    return estimate_need(Path(path))


def memory_note(model: str, runtime=None, label: str = "", device: DeviceMemory | None = None) -> str:
    """The form's warning for a model (one sentence, or ""), without waiting: until the device has been
    probed on a background thread, "" (the form asks again)."""
    preference = getattr(runtime, "device", "auto") or "auto"
    device = device or device_memory(preference, wait=False)
    if device is None:
        return ""
    return memory_warning(model_need(model), device, bool(getattr(runtime, "cpu_offload", False)), label or model)
