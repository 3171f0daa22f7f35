"""Normalize what video pipelines return in `.frames` into lists of PIL images."""

from __future__ import annotations

import numpy as np
from PIL import Image


def frames_to_pil(frames) -> list[list[Image.Image]]:
    """One list of RGB frames per video, from a numpy array (batch, frames, h, w, 3) in 0..1, a
    torch tensor of the same layout, or lists of PIL images (what different pipelines return)."""
    if hasattr(frames, "detach"):  # torch tensor
        frames = frames.detach().to("cpu").float().numpy()
    if isinstance(frames, np.ndarray):
        if frames.ndim == 4:
            frames = frames[None]
        if frames.dtype != np.uint8:
            frames = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
        return [[Image.fromarray(frame, "RGB") for frame in video] for video in frames]
    if frames and isinstance(frames[0], Image.Image):
        frames = [frames]
    return [[frame.convert("RGB") for frame in video] for video in frames]
