"""Where the OpenAI key lives: the system keyring where one works, else a file only the user can read.

Never logged, never part of settings.json, history or metadata.
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop.library.atomic import atomic_write
from desktop.library.settings import config_dir

SERVICE = "diffusion-studio"
ACCOUNT = "openai-api-key"


def _keyring():
    """The system keyring, or None where only keyring's 'fail' backend exists (headless Linux)."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception:  # a broken keyring install must not stop the app
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    return keyring


def key_file() -> Path:
    return config_dir() / "openai_key"


def load_api_key() -> str:
    keyring = _keyring()
    if keyring is not None:
        try:
            value = keyring.get_password(SERVICE, ACCOUNT)
            if value:
                return value
        except Exception:
            pass
    try:
        return key_file().read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def save_api_key(key: str) -> str:
    """Store the key (empty removes it); return where it went, for the settings dialog to say."""
    key = key.strip()
    keyring = _keyring()
    if keyring is not None:
        try:
            if key:
                keyring.set_password(SERVICE, ACCOUNT, key)
            else:
                try:
                    keyring.delete_password(SERVICE, ACCOUNT)
                except Exception:
                    pass
            key_file().unlink(missing_ok=True)
            return "the system keyring"
        except Exception:
            pass
    if not key:
        key_file().unlink(missing_ok=True)
        return "nowhere (removed)"

    def write_private(handle) -> None:
        # The temp file is made private before the key is written into it.
        os.fchmod(handle.fileno(), 0o600)
        handle.write(key.encode("utf-8"))

    atomic_write(key_file(), write_private)
    return f"{key_file()} (readable only by you)"
