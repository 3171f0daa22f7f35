"""The layering and the style are checked by the suite itself, so CI fails on a broken contract."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ["desktop", "tests", "benchmarks"]


def run(*command: str) -> subprocess.CompletedProcess:
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is not installed: pip install -e '.[test]'")
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_linter_contracts_are_kept():
    result = run("lint-imports")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_ruff_finds_nothing():
    result = run("ruff", "check", *CODE)
    assert result.returncode == 0, result.stdout[-3000:]


def test_code_is_formatted():
    result = run("ruff", "format", "--check", *CODE)
    assert result.returncode == 0, result.stdout[-3000:]
