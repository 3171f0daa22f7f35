"""How long a campaign will take, before it runs: from what the same model took lately in this library.

A diffusion step costs about the same per pixel at a given model and device, so the recent pictures
of the campaign's model give seconds per pixel-step, and each planned image costs its pixels times
its steps. Backends without steps (the Images API) are timed per image. No recent picture of the
model: no estimate (the window says the first image will tell).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING

from desktop.jobs.campaign import PlannedImage

if TYPE_CHECKING:
    from desktop.library.history import HistoryDatabase

RECENT = 20  # pictures of the model looked at: enough for a stable median, few enough to be fast


def seconds_per_unit(history: HistoryDatabase, backend: str, model: str) -> float | None:
    """The median seconds per pixel-step (per image where a row has no steps) of the model's recent
    pictures; None when the library has none."""
    costs = []
    for row in history.query(backend=backend, model=model, limit=RECENT):
        seconds = row.timings.get("generate_s")
        count = row.request.get("count") or 1
        if not isinstance(seconds, int | float) or seconds <= 0 or row.media != "image":
            continue
        costs.append(seconds / count / _units(row.width, row.height, row.request.get("steps")))
    return statistics.median(costs) if costs else None


def estimate_seconds(items: Sequence[PlannedImage], history: HistoryDatabase, backend: str) -> float | None:
    """Seconds to make items, or None when a model among them has no recent picture to go by."""
    total = 0.0
    per_model: dict[str, float | None] = {}
    for item in items:
        if item.model not in per_model:
            per_model[item.model] = seconds_per_unit(history, backend, item.model)
        cost = per_model[item.model]
        if cost is None:
            return None
        total += cost * _units(item.width, item.height, item.steps)
    return total


def _units(width: int, height: int, steps) -> float:
    return width * height * (steps if isinstance(steps, int | float) and steps > 0 else 1)
