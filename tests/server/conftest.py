"""The team server's fixtures (a tokens file) and its `server` marker."""

from __future__ import annotations

import pytest

from tests.server.team import ALICE, BOB


def pytest_configure(config) -> None:
    # Also registered in pyproject.toml; here so that this folder runs warning-free on its own.
    config.addinivalue_line("markers", "server: starts a real local Ray Serve (needs the server extra)")


@pytest.fixture
def tokens_file(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"# the team\nalice:{ALICE}\n\nbob:{BOB}\n")
    path.chmod(0o600)
    return path
