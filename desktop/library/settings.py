"""User settings, persisted as JSON under the platform's config folder (or DIFFUSION_STUDIO_CONFIG).

The OpenAI key is not here: key_store.py keeps it in the system keyring or a private file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from desktop.library.atomic import atomic_write
from desktop.library.paths import APP_NAME

CONFIG_ENV = "DIFFUSION_STUDIO_CONFIG"
RECENT_PROMPTS_KEPT = 20


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
    export_destinations: list[ExportDestination] = field(default_factory=list)
    export_template: str = "{date}_{prompt}_{seed}"
    export_format: str = "png"
    video_export_format: str = "mp4"
    recent_prompts: list[str] = field(default_factory=list)
    # The form as the user left it (backend, model, size, steps, ...), restored at start.
    last_form: dict = field(default_factory=dict)

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
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["export_destinations"] = [
            ExportDestination(**d) for d in values.get("export_destinations", []) if isinstance(d, dict)
        ]
        return cls(**values)


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings() -> Settings:
    """The saved settings; defaults when there are none or the file is unreadable."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
        return Settings.from_dict(data) if isinstance(data, dict) else Settings()
    except (OSError, ValueError, TypeError):
        return Settings()


def save_settings(settings: Settings) -> None:
    text = json.dumps(settings.to_dict(), indent=2, ensure_ascii=False)
    atomic_write(settings_path(), lambda f: f.write(text.encode("utf-8")))
