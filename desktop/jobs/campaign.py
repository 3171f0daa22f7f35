"""Campaigns: one prompt template x a spreadsheet of audience segments x the formats each channel needs.

A Campaign is the definition (template, rows, formats, settings); plan() expands it into every image
it will make, each with its prompt, size, seed and output name, and validates all of it before any
model loads: a problem is one CampaignError sentence naming the row (1 = the first data row) and the
column. The window's Campaign tab shows the same plan before running; campaign_session.py and
campaign_run.py make it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.engine.backend import SEED
from desktop.engine.request import DEFAULT_BACKEND, SEED_MAX
from desktop.jobs.campaign_csv import Segments, SegmentsError, read_segments
from desktop.jobs.campaign_formats import (
    DEFAULT_FORMATS,
    FormatError,
    MasterLayout,
    format_size,
    master_layout,
    parse_formats,
)
from desktop.jobs.campaign_rows import (
    MASTER,
    OVERRIDES,
    REFERENCE,
    TEXT,
    CampaignError,
    RequestChecker,
    RowSettings,
    check_count,
    check_seed,
    check_strength,
    file_identity,
    read_row,
)
from desktop.jobs.campaign_template import (
    DEFAULT_NAME_TEMPLATE,
    TemplateError,
    check_name_template,
    name_values,
    output_name,
    placeholders,
    render,
)

if TYPE_CHECKING:
    from desktop.engine.engine import Engine

MAX_IMAGES = 100_000
# Re-exported: what a caller of this module needs, wherever it is defined.
__all__ = ["MASTER", "OVERRIDES", "REFERENCE", "TEXT", "Campaign", "CampaignError", "CampaignSettings", "plan"]


@dataclass(frozen=True)
class CampaignSettings:
    """What every row gets unless its own columns say otherwise (None: the model's default)."""

    backend: str = DEFAULT_BACKEND
    model: str = ""
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None  # every row's seed (image i: seed + i); None: drawn once per row
    count: int = 1  # images per row and format
    strength: float | None = None  # rows with a reference picture
    scheduler: str | None = None
    quality: str | None = None
    style: str | None = None


@dataclass(frozen=True)
class Campaign:
    name: str
    prompt_template: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    negative_template: str = ""
    formats: tuple[str, ...] = DEFAULT_FORMATS
    formats_from_master: bool = False
    settings: CampaignSettings = field(default_factory=CampaignSettings)
    name_template: str = DEFAULT_NAME_TEMPLATE
    source: str = "the CSV"  # the file's name, for messages
    base_folder: str | None = None  # where a row's relative image path is looked up (the CSV's folder)

    @classmethod
    def from_csv(cls, path: str | Path, prompt_template: str, name: str | None = None, **options) -> Campaign:
        path = Path(path)
        try:
            segments: Segments = read_segments(path)
        except SegmentsError as exc:
            raise CampaignError(str(exc)) from None
        return cls(
            name=(name if name is not None else path.stem).strip(),
            prompt_template=prompt_template,
            columns=segments.columns,
            rows=segments.rows,
            source=path.name,
            base_folder=str(path.resolve().parent),
            **options,
        )

    def to_dict(self) -> dict:
        """Plain JSON: the journal keeps it, so Resume needs neither the CSV nor the flags again."""
        data = dataclasses.asdict(self)
        data["rows"] = [dict(row) for row in self.rows]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Campaign:
        values = {k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(cls)}}
        values["settings"] = CampaignSettings(**values.get("settings", {}))
        for key in ("columns", "formats"):
            values[key] = tuple(values.get(key, ()))
        values["rows"] = tuple(dict(row) for row in values.get("rows", ()))
        return cls(**values)


@dataclass(frozen=True)
class PlannedImage:
    """One image of the campaign: the journal's key is (row, format, image)."""

    row: int  # 1 = the first data row
    format: str  # as written: "9:16"
    image: int  # 0 .. count-1 within its row and format
    values: dict[str, str]
    segment: str
    prompt: str
    negative_prompt: str
    model: str
    width: int
    height: int
    steps: int | None
    guidance: float | None
    seed: int | None  # None: not drawn yet (a preview), or a backend that takes none
    source: str  # TEXT, REFERENCE or MASTER
    output_name: str  # relative to --output, POSIX
    fingerprint: str  # what the picture depends on: a changed row or setting makes it again
    reference: str | None = None  # REFERENCE: the row's picture
    strength: float | None = None
    master_format: str | None = None  # MASTER: made by outpainting this format's image
    layout: MasterLayout | None = None

    @property
    def key(self) -> tuple[int, str, int]:
        return self.row, self.format, self.image


def plan(campaign: Campaign, engine: Engine, row_seeds: Mapping[int, int] | None = None) -> list[PlannedImage]:
    """Every image, in the order they are made (row by row; a row's master format first).

    row_seeds: the seeds drawn once per row (the journal keeps them); rows without one, and no seed
    of their own, get seed None. Raises CampaignError before anything is loaded or written.
    """
    if not campaign.name:
        raise CampaignError("the campaign has no name: give one with --name.")
    columns = campaign.columns
    try:
        used = placeholders(campaign.prompt_template, "the prompt template", columns, campaign.source)
        used += placeholders(campaign.negative_template, "the negative template", columns, campaign.source)
        check_name_template(campaign.name_template, columns)
        formats = parse_formats(",".join(campaign.formats), "--formats")
    except (TemplateError, FormatError) as exc:
        raise CampaignError(str(exc)) from None
    if not campaign.prompt_template.strip():
        raise CampaignError("the prompt template is empty: describe the image, with {column} placeholders.")
    settings = campaign.settings
    check_count(settings.count, "--count")
    check_seed(settings.seed, "--seed")
    check_strength(settings.strength, "--strength")
    backend = engine.backend(settings.backend)
    checker = RequestChecker(engine, settings)
    planned: list[PlannedImage] = []
    for number, values in enumerate(campaign.rows, start=1):
        row = read_row(number, values, campaign, formats, backend.default_model())
        for column in dict.fromkeys(used):
            if not values.get(column, "").strip():
                raise CampaignError(f"row {number}, column {column}: the value is empty, and the template uses it.")
        planned.extend(_row_images(campaign, row, checker, row_seeds or {}))
        if len(planned) > MAX_IMAGES:
            raise CampaignError(f"the campaign would make more than {MAX_IMAGES:,} images: split the CSV.")
    return planned


def _row_images(campaign: Campaign, row: RowSettings, checker: RequestChecker, row_seeds) -> list[PlannedImage]:
    settings = campaign.settings
    prompt = render(campaign.prompt_template, row.values).strip()
    negative = row.negative if row.negative else render(campaign.negative_template, row.values).strip()
    capabilities, defaults = checker.capabilities(row)
    base_w = settings.width or int(defaults.get("width", 512))
    base_h = settings.height or int(defaults.get("height", 512))
    seed = row.seed if row.seed is not None else row_seeds.get(row.number)
    if not capabilities.takes(SEED):
        seed = None  # the Images API takes no seed: recording one would promise reproducibility
    segment = row.values.get("segment") or next(iter(row.values.values()), "")
    sizes = {name: format_size(name, capabilities, base_w, base_h) for name in row.formats}
    images: list[PlannedImage] = []
    master_fp = None
    for position, name in enumerate(row.formats):
        width, height = sizes[name]
        source = REFERENCE if row.image else TEXT
        layout = master_format = None
        if campaign.formats_from_master and position > 0:
            source, master_format = MASTER, row.formats[0]
            layout = master_layout(sizes[master_format], (width, height))
            if not any(layout.extend):
                raise CampaignError(
                    f"row {row.number}: format {name} comes out {width}x{height}, the same shape as the master "
                    f"{master_format}, so there is nothing to outpaint: leave one of them out."
                )
        checker.check(row, prompt, negative, width, height, seed, source)
        recipe = {
            "source": source,
            "prompt": prompt,
            "negative": negative,
            "backend": settings.backend,
            "model": row.model,
            "size": [width, height],
            "steps": defaults.get("steps") if settings.steps is None else settings.steps,
            "guidance": defaults.get("guidance") if settings.guidance is None else settings.guidance,
            "sampling": [settings.scheduler, settings.quality, settings.style],
            "seed": seed,
            "reference": file_identity(row.image) if row.image else None,
            "strength": row.strength,
            "master": [master_fp, dataclasses.astuple(layout)] if layout else None,
        }
        fingerprint = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
        if position == 0:
            master_fp = fingerprint
        for index in range(row.count):
            image_seed = None if seed is None else (seed + index) % (SEED_MAX + 1)
            filled = name_values(
                campaign.name, name, row.number, row.values, segment, image_seed,
                image=index, width=width, height=height, model=Path(row.model).name or row.model,
            )  # fmt: skip
            try:
                relative = output_name(campaign.name_template, filled)
            except TemplateError as exc:
                raise CampaignError(str(exc)) from None
            images.append(
                PlannedImage(
                    row=row.number,
                    format=name,
                    image=index,
                    values=dict(row.values),
                    segment=segment,
                    prompt=prompt,
                    negative_prompt=negative,
                    model=row.model,
                    width=width,
                    height=height,
                    steps=recipe["steps"],
                    guidance=recipe["guidance"],
                    seed=image_seed,
                    source=source,
                    output_name=relative,
                    fingerprint=fingerprint,
                    reference=row.image,
                    strength=row.strength,
                    master_format=master_format,
                    layout=layout,
                )
            )
    return images
