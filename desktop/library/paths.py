"""Where the library lives: DIFFUSION_STUDIO_HOME, else the platform's user data folder."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "diffusion-studio"
HOME_ENV = "DIFFUSION_STUDIO_HOME"


def library_root(override: str | Path | None = None) -> Path:
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))
