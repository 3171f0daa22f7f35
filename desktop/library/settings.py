"""User settings, persisted as JSON under the platform's config folder (or DIFFUSION_STUDIO_CONFIG).

The OpenAI key is not here: key_store.py keeps it in the system keyring or a private file. The
file is still written readable only by its owner: a base URL may carry credentials.

The file is read as untrusted: a field of the wrong type (`"recent_prompts": 5`), a huge or deeply
nested file, falls back to the default for that field instead of stopping the app.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from desktop.library.atomic import atomic_write
from desktop.library.paths import APP_NAME

CONFIG_ENV = "DIFFUSION_STUDIO_CONFIG"
RECENT_PROMPTS_KEPT = 20
MAX_SETTINGS_BYTES = 1024 * 1024
MAX_TEXT_CHARS = 64 * 1024  # one setting's text (a prompt, a folder, a URL)
MAX_LIST_ITEMS = 1000


def config_dir() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


@dataclass
class ExportDestination:
    name: str
    folder: str


@dataclass
class Settings:
    openai_base_url: str = ""
    openai_timeout_s: float = 180.0
    model_folders: list[str] = field(default_factory=list)
    device: str = "auto"
    cpu_offload: bool = False
    attention_slicing: bool = False
    vae_tiling: bool = False
    allow_pickle_weights: bool = False
    # Speed options (desktop/engine/speed.py). compile_denoiser: "auto" compiles on a GPU where
    # benchmarks/gpu.py measured a win (SDXL, Wan), "on" everywhere, "off" never.
    compile_denoiser: str = "auto"
    channels_last: bool = False
    first_block_cache: bool = False
    export_destinations: list[ExportDestination] = field(default_factory=list)
    export_template: str = "{date}_{prompt}_{seed}"
    export_format: str = "png"
    video_export_format: str = "mp4"
    mesh_export_format: str = "glb"
    # The team server's root URL (diffusion-studio serve), without /v1; its token comes from
    # DIFFUSION_STUDIO_SERVER_TOKEN (kept out of this file).
    server_url: str = ""
    # The upscaler "Upscale" uses: a weights file, a diffusers upscaler folder; "" the plain resize.
    default_upscaler: str = ""  # glb, obj, ply, or the turntable as mp4 or gif
    # The window's size (geometry), splitter sizes and tab, as the user left them (flat values).
    window: dict = field(default_factory=dict)
    # "system" follows the desktop's light or dark colour scheme; "light" or "dark" forces one.
    theme: str = "system"
    recent_prompts: list[str] = field(default_factory=list)
    # The form as the user left it (backend, model, size, steps, ...), restored at start.
    last_form: dict = field(default_factory=dict)
    # Models whose non-commercial licence the user acknowledged with "Don't ask again" (as the form
    # names them): the window no longer warns before generating with them.
    licence_acknowledged: list[str] = field(default_factory=list)

    def remember_prompt(self, prompt: str) -> None:
        prompt = prompt.strip()
        if not prompt:
            return
        self.recent_prompts = [prompt] + [p for p in self.recent_prompts if p != prompt]
        del self.recent_prompts[RECENT_PROMPTS_KEPT:]

    def runtime_options(self):
        from desktop.engine.devices import RuntimeOptions

        return RuntimeOptions(
            device=self.device,
            cpu_offload=self.cpu_offload,
            attention_slicing=self.attention_slicing,
            vae_tiling=self.vae_tiling,
            allow_pickle_weights=self.allow_pickle_weights,
            compile_denoiser={"on": True, "off": False}.get(self.compile_denoiser),
            channels_last=self.channels_last,
            first_block_cache=self.first_block_cache,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        """Settings from parsed JSON; each field of the wrong type gets its default."""
        values = {}
        for spec in dataclasses.fields(cls):
            if spec.name not in data:
                continue
            default = spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default
            value = _clean_field(spec.name, data[spec.name], default)
            if value is not _INVALID:
                values[spec.name] = value
        settings = cls(**values)
        del settings.recent_prompts[RECENT_PROMPTS_KEPT:]
        return settings


_INVALID = object()
COMPILE_CHOICES = ("auto", "on", "off")


def _clean_field(name: str, value: object, default: object) -> object:
    """value if it has the default's type (lists and dicts cleaned item by item), else _INVALID."""
    if name == "compile_denoiser":
        if isinstance(value, bool):  # a settings file from before "auto": on stays on, off was the default
            return "on" if value else "auto"
        return value if value in COMPILE_CHOICES else _INVALID
    if isinstance(default, bool):
        return value if isinstance(value, bool) else _INVALID
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return _INVALID
        if name.endswith("_s") and value <= 0:
            return _INVALID  # a timeout of zero or less would fail every request
        return float(value) if isinstance(default, float) else (value if isinstance(value, int) else _INVALID)
    if isinstance(default, str):
        return value if isinstance(value, str) and len(value) <= MAX_TEXT_CHARS else _INVALID
    if isinstance(default, list):
        if not isinstance(value, list):
            return _INVALID
        # A list field holding something other than text needs its own item reader here.
        item = _destination if name == "export_destinations" else _text
        return [cleaned for cleaned in map(item, value[:MAX_LIST_ITEMS]) if cleaned is not _INVALID]
    if isinstance(default, dict):
        if not isinstance(value, dict):
            return _INVALID
        # The form's state is flat (text, numbers, flags, a list of four numbers): keep only that.
        return {k: v for k, v in list(value.items())[:MAX_LIST_ITEMS] if isinstance(k, str) and _flat(v)}
    return value if _scalar(value) else _INVALID  # a field whose default is None


def _text(value: object) -> object:
    return value if isinstance(value, str) and len(value) <= MAX_TEXT_CHARS else _INVALID


def _destination(value: object) -> object:
    if not isinstance(value, dict):
        return _INVALID
    name, folder = _text(value.get("name")), _text(value.get("folder"))
    return _INVALID if _INVALID in (name, folder) else ExportDestination(name, folder)


def _scalar(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_TEXT_CHARS
    return value is None or isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value))


def _flat(value: object) -> bool:
    return _scalar(value) or (isinstance(value, list) and len(value) <= 64 and all(map(_scalar, value)))


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings() -> Settings:
    """The saved settings; defaults when there are none or the file is unreadable, and per field
    when a field is of the wrong type. Never raises."""
    try:
        with open(settings_path(), "rb") as handle:
            raw = handle.read(MAX_SETTINGS_BYTES + 1)
        if len(raw) > MAX_SETTINGS_BYTES:
            return Settings()  # not a file this app wrote
        data = json.loads(raw.decode("utf-8"))
        return Settings.from_dict(data) if isinstance(data, dict) else Settings()
    except (OSError, ValueError, TypeError, RecursionError):  # RecursionError: hostile nesting
        return Settings()


def save_settings(settings: Settings) -> None:
    text = json.dumps(settings.to_dict(), indent=2, ensure_ascii=False)

    def write_private(handle) -> None:
        # Private before anything is written: the base URL may hold a user name and password.
        if hasattr(os, "fchmod"):  # POSIX; Windows keeps files in the user's own profile
            os.fchmod(handle.fileno(), 0o600)
        handle.write(text.encode("utf-8"))

    atomic_write(settings_path(), write_private)
