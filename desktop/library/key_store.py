"""Where secrets live: the OpenAI key and the team server's token, each in the system keyring where
one works, else in a file only the user can read.

Never logged, never part of settings.json, history or metadata.
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop.library.atomic import atomic_write
from desktop.library.settings import config_dir

SERVICE = "diffusion-studio"
ACCOUNT = "openai-api-key"
SERVER_TOKEN_ACCOUNT = "team-server-token"
# Where each secret goes when there is no keyring: a file of its own in the config folder.
FILES = {ACCOUNT: "openai_key", SERVER_TOKEN_ACCOUNT: "server_token"}


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


def key_file(account: str = ACCOUNT) -> Path:
    return config_dir() / FILES[account]


def load_secret(account: str) -> str:
    keyring = _keyring()
    if keyring is not None:
        try:
            value = keyring.get_password(SERVICE, account)
            if value:
                return value
        except Exception:
            pass
    try:
        return key_file(account).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def save_secret(account: str, value: str) -> str:
    """Store the secret (empty removes it); return where it went, for the settings dialog to say."""
    value = value.strip()
    path = key_file(account)
    keyring = _keyring()
    if keyring is not None:
        try:
            if value:
                keyring.set_password(SERVICE, account, value)
            else:
                try:
                    keyring.delete_password(SERVICE, account)
                except Exception:
                    pass
            path.unlink(missing_ok=True)
            return "the system keyring"
        except Exception:
            pass
    if not value:
        path.unlink(missing_ok=True)
        return "nowhere (removed)"

    def write_private(handle) -> None:
        # The temp file is made private before the secret is written into it.
        os.fchmod(handle.fileno(), 0o600)
        handle.write(value.encode("utf-8"))

    atomic_write(path, write_private)
    return f"{path} (readable only by you)"


def load_api_key() -> str:
    return load_secret(ACCOUNT)


def save_api_key(key: str) -> str:
    return save_secret(ACCOUNT, key)


def load_server_token() -> str:
    return load_secret(SERVER_TOKEN_ACCOUNT)


def save_server_token(token: str) -> str:
    return save_secret(SERVER_TOKEN_ACCOUNT, token)
