"""Who may use the server: a file of `name:token` lines, kept as digests so the tokens themselves never
leave the machine that read them (nor reach Ray's object store, a log or a crash report)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from desktop.server.config import SetupError

TOKEN_MIN_LENGTH = 16
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
OPEN_USER = "local"  # the user a server without tokens records


class AuthError(Exception):
    """A request's token is missing or wrong; the message says so in one sentence."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_tokens(path: str | Path) -> dict[str, str]:
    """{sha256 of token: user name} from a tokens file; SetupError (one sentence) when it cannot be used.

    The file must be readable by its owner only: anyone who can read it can act as every user in it.
    Errors name the line, never the token on it.
    """
    path = Path(path).expanduser()
    try:
        info = path.stat()
    except OSError:
        raise SetupError(f"tokens file {path} does not exist: write one 'name:token' line per user.") from None
    if not stat.S_ISREG(info.st_mode):
        raise SetupError(f"tokens file {path} is not a file: give the file of 'name:token' lines.")
    if os.name == "posix" and info.st_mode & 0o077:
        raise SetupError(
            f"tokens file {path} can be read by other users (mode {stat.S_IMODE(info.st_mode):o}): "
            f"run chmod 600 {path}."
        )
    users: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise SetupError(f"tokens file {path} could not be read as UTF-8 text.") from None
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, token = line.partition(":")
        name, token = name.strip(), token.strip()
        if not sep or not _NAME.match(name):
            raise SetupError(
                f"line {number} of {path} is not 'name:token' with a name of letters, digits, '.', '_', '@' or '-'."
            )
        if len(token) < TOKEN_MIN_LENGTH or any(c.isspace() for c in token):
            raise SetupError(
                f"the token of {name} (line {number} of {path}) is shorter than {TOKEN_MIN_LENGTH} characters "
                "or has spaces: make one with python -c 'import secrets; print(secrets.token_urlsafe(32))'."
            )
        key = digest(token)
        if key in users:
            raise SetupError(f"{name} and {users[key]} have the same token in {path}: give each user their own.")
        users[key] = name
    if not users:
        raise SetupError(f"tokens file {path} has no 'name:token' line: add one per user.")
    return users


def authenticate(header: str | None, users: dict[str, str]) -> str:
    """The user an Authorization header belongs to; AuthError otherwise. No users: anyone (loopback)."""
    if not users:
        return OPEN_USER
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError(
            "this server needs a token: send it as 'Authorization: Bearer TOKEN' (the OpenAI client's api_key)."
        )
    # A lookup by digest: timing can only tell an attacker about a hash, never about a token.
    user = users.get(digest(token))
    if user is None:
        raise AuthError("the token was not accepted: check it with the server's admin.")
    return user
