"""The one place that imports torch and diffusers, on first use and never at start-up.

Importing them costs seconds; the window and `--version` must not pay for it.
"""

from __future__ import annotations

import os


def _quiet_and_offline() -> None:
    # Offline by default: never a silent download from the hub. A user can still set these.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # transformers prints a warning per image processor when torchvision is absent; users
    # cannot act on it.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


def torch():
    _quiet_and_offline()
    import torch

    return torch


def diffusers():
    _quiet_and_offline()
    import diffusers
    import transformers

    # Our own progress (per step, per image) replaces their per-component loading bars.
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    return diffusers
