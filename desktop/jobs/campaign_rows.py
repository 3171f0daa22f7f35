"""A campaign row's own settings (its override columns) and the engine's checks of what each row asks
for: every problem is one CampaignError sentence naming the row (1 = the first data row) and column,
or the flag it comes from, raised before any model loads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.engine.errors import ValidationError
from desktop.engine.request import COUNT_MAX, COUNT_MIN, SEED_MAX, GenerationRequest
from desktop.engine.tasks import Task
from desktop.jobs.campaign_formats import FormatError, parse_formats

if TYPE_CHECKING:
    from desktop.engine.engine import Engine
    from desktop.jobs.campaign import Campaign, CampaignSettings

# Columns that, where a row fills them in, override the campaign's settings for that row.
OVERRIDES = ("negative_prompt", "seed", "model", "formats", "count", "image", "strength")
# How a picture is made: from text, from the row's reference picture, or outpainted from its master.
TEXT, REFERENCE, MASTER = "text", "reference", "master"


class CampaignError(ValueError):
    """The campaign cannot run as given: one sentence naming the row and column, or the flag."""


@dataclass(frozen=True)
class RowSettings:
    number: int
    values: dict[str, str]
    negative: str  # the row's own negative prompt ("" : the negative template's)
    seed: int | None
    model: str
    formats: tuple[str, ...]
    count: int
    image: str | None  # the reference picture, absolute
    strength: float | None


def read_row(number: int, values: dict[str, str], campaign: Campaign, formats, default_model: str) -> RowSettings:
    """The row's override columns, checked: one sentence naming row and column for a bad one."""
    settings = campaign.settings
    where = f"row {number}, column"

    def cell(column: str) -> str:
        return values.get(column, "").strip()

    seed = _whole(cell("seed"), f"{where} seed") if cell("seed") else settings.seed
    check_seed(seed, f"{where} seed")
    count = _whole(cell("count"), f"{where} count") if cell("count") else settings.count
    check_count(count, f"{where} count")
    if cell("formats"):
        try:
            formats = parse_formats(cell("formats"), f"{where} formats")
        except FormatError as exc:
            raise CampaignError(str(exc)) from None
    image = None
    if cell("image"):
        image_path = Path(cell("image")).expanduser()
        if not image_path.is_absolute() and campaign.base_folder:
            image_path = Path(campaign.base_folder) / image_path
        if not image_path.is_file():
            raise CampaignError(f"{where} image: {cell('image')} does not exist (looked for {image_path}).")
        image = str(image_path.resolve())
    strength = settings.strength
    if cell("strength"):
        try:
            strength = float(cell("strength"))
        except ValueError:
            raise CampaignError(f"{where} strength: '{cell('strength')}' is not a number.") from None
        if image is None:
            raise CampaignError(f"{where} strength: a strength needs a reference picture in the image column.")
        check_strength(strength, f"{where} strength")
    model = cell("model") or settings.model or default_model
    return RowSettings(number, values, cell("negative_prompt"), seed, model, formats, count, image, strength)


def _whole(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CampaignError(f"{where}: '{text}' is not a whole number.") from None


def check_seed(seed: int | None, where: str) -> None:
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise CampaignError(f"{where}: {seed} is out of range (0 to {SEED_MAX}).")


def check_count(count: int, where: str) -> None:
    if not COUNT_MIN <= count <= COUNT_MAX:
        raise CampaignError(f"{where}: {count} images per row and format is out of range ({COUNT_MIN} to {COUNT_MAX}).")


def check_strength(strength: float | None, where: str) -> None:
    if strength is not None and not 0 < strength <= 1:
        raise CampaignError(f"{where}: it must be more than 0 and at most 1 (got {strength}).")


def file_identity(path: str) -> list:
    """A reference picture is the same one while its path, size and modification time are."""
    info = os.stat(path)
    return [path, info.st_size, info.st_mtime_ns]


class RequestChecker:
    """Validates each distinct request shape once through the engine (no model loads), and says which
    row and column an error comes from."""

    def __init__(self, engine: Engine, settings: CampaignSettings) -> None:
        self.engine, self.settings = engine, settings
        self._seen: set[tuple] = set()

    def capabilities(self, row: RowSettings):
        try:
            capabilities = self.engine.capabilities(self.settings.backend, row.model)
        except ValidationError as exc:
            raise self._error(row, exc) from None
        return capabilities, capabilities.defaults

    def check(self, row: RowSettings, prompt, negative, width, height, seed, source) -> None:
        key = (row.model, width, height, seed is None, source, row.image, row.strength)
        if key in self._seen:
            return
        capabilities, defaults = self.capabilities(row)
        settings = self.settings
        task = {TEXT: Task.TEXT_TO_IMAGE, REFERENCE: Task.IMAGE_TO_IMAGE, MASTER: Task.OUTPAINT}[source]
        if task is Task.OUTPAINT and task not in capabilities.tasks:
            why = capabilities.why_not.get(task) or f"{row.model} cannot outpaint"
            raise CampaignError(f"--formats-from-master needs a model that outpaints: {why}.")
        request = GenerationRequest(
            prompt=prompt,
            negative_prompt=negative,
            task=Task.TEXT_TO_IMAGE if task is Task.OUTPAINT else task,
            backend=settings.backend,
            model=row.model,
            width=None if source == REFERENCE else width,
            height=None if source == REFERENCE else height,
            steps=int(settings.steps if settings.steps is not None else defaults.get("steps", 25)),
            guidance=float(settings.guidance if settings.guidance is not None else defaults.get("guidance", 7.5)),
            seed=seed,
            count=row.count,
            scheduler=settings.scheduler,
            quality=settings.quality,
            style=settings.style,
            image=row.image,
            strength=row.strength if source == REFERENCE else None,
        )
        try:
            self.engine.validate(request)
        except ValidationError as exc:
            raise self._error(row, exc) from None
        self._seen.add(key)

    def _error(self, row: RowSettings, exc: ValidationError) -> CampaignError:
        message = str(exc)
        column = {"model": "model", "task": "model", "image": "image", "strength": "strength", "seed": "seed"}.get(
            exc.field
        )
        if column and row.values.get(column, "").strip():
            return CampaignError(f"row {row.number}, column {column}: {_lowered(message)}")
        return CampaignError(message)


def _lowered(message: str) -> str:
    """The sentence's first letter in lower case, to follow "row 2, column model:", unless its first
    word is a name written with capitals inside ("OpenAI")."""
    first = message.split(" ", 1)[0]
    return message if any(c.isupper() for c in first[1:]) else message[:1].lower() + message[1:]
