"""`diffusion-studio` itself, as a real process: help, mistyped commands, no display."""

from __future__ import annotations

import os
import subprocess
import sys


def app(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args], capture_output=True, text=True, timeout=60, env=environment
    )


def test_help_prints_the_commands_and_opens_no_window():
    result = app("--help")
    assert result.returncode == 0
    assert "generate" in result.stdout and "--version" in result.stdout and result.stderr == ""


def test_a_mistyped_command_is_one_error_line_naming_it_and_the_commands():
    result = app("gen")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: 'gen' is not a command")
    assert "generate" in result.stderr and result.stdout == ""


def test_without_a_display_one_line_says_so_and_how_to_run_headless():
    result = app()
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "no display was found" in result.stderr
    assert "diffusion-studio generate" in result.stderr
