"""A campaign bound to its journal, the library and an output folder, worked step by step.

The window's Campaign tab drives it with its own runner (pending_batches -> request_for -> submit ->
record_saved / record_failed); campaign_run.run_campaign() drives it on the calling thread (the CLI).

What it never does: make an image the journal (or the library) already has, or lose one. A result
the library saved but the journal had not yet recorded (a kill in between) is found again by the
campaign id in its request's origin; one saved but not yet copied out is copied, not made again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from desktop.engine.request import GenerationRequest
from desktop.engine.tasks import Task
from desktop.jobs import campaign_output as out
from desktop.jobs.campaign import MASTER, REFERENCE, Campaign, CampaignError, PlannedImage, plan
from desktop.jobs.campaign_formats import safe_format_name
from desktop.library.atomic import atomic_write, sweep_partials
from desktop.library.campaign_journal import DONE, SAVED, CampaignJournal, JournalItem, Key, PlannedEntry
from desktop.library.store import Library

if TYPE_CHECKING:
    from desktop.engine.engine import Engine

INPUTS_DIR = "inputs"


@dataclass(frozen=True)
class Batch:
    """Images of one row and format made by one request (consecutive image indices share a seed run)."""

    items: tuple[PlannedImage, ...]

    @property
    def keys(self) -> list[Key]:
        return [item.key for item in self.items]


@dataclass(frozen=True)
class ImageResult:
    planned: PlannedImage
    path: Path  # the copy inside the output folder
    made: bool  # made by this run (False: an earlier run made it)


class CampaignSession:
    """Opening plans the campaign with its recorded seeds and records the plan in its journal;
    CampaignError (the plan) or LibraryError (the journal, the library) when it cannot."""

    def __init__(self, campaign: Campaign, engine: Engine, output: Path, library_root: str | Path | None = None):
        self.campaign, self.engine, self.output = campaign, engine, Path(output)
        self.journal = CampaignJournal(library_root, campaign.name)
        try:
            seeds = self.journal.row_seeds(range(1, len(campaign.rows) + 1))
            self.items = plan(campaign, engine, seeds)
            self.journal.save_spec(campaign.to_dict(), str(self.output.resolve()))
            self.journal.sync(
                PlannedEntry(i.key, i.fingerprint, i.seed, i.width, i.height, i.output_name) for i in self.items
            )
            self.library = Library(library_root)
        except BaseException:
            self.journal.close()
            raise
        self.by_key = {item.key: item for item in self.items}
        self.folder = out.campaign_folder(self.output, campaign.name)

    @classmethod
    def reopen(
        cls, name: str, engine: Engine, library_root: str | Path | None = None, output: Path | None = None
    ) -> CampaignSession:
        """The campaign called name as it was last run (its definition and output folder are in its
        journal): the window's Resume after a crash or a cancel. CampaignError when there is none."""
        with CampaignJournal(library_root, name) as journal:
            spec, last_output = journal.spec(), journal.output()
        if spec is None or (output is None and last_output is None):
            raise CampaignError(f"there is no campaign called '{name}' in this library to resume.")
        return cls(Campaign.from_dict(spec), engine, Path(output or last_output), library_root)

    def close(self) -> None:
        self.library.close()
        self.journal.close()

    # -- before making anything ------------------------------------------------------------

    def recover(self) -> None:
        """Bring the journal up to date with the library and the output folder."""
        items = self.journal.items()
        adopted: dict[Key, tuple[Key, int, str, int | None]] = {}
        for found in self.journal.found_in_history(self.library.db_path):
            origin = found["origin"] if isinstance(found["origin"], dict) else {}
            try:
                key = (int(origin["row"]), str(origin["format"]), int(origin["image"]) + int(found["batch_index"]))
            except (KeyError, TypeError, ValueError):
                continue
            item = items.get(key)
            if (
                item is not None
                and item.status not in (SAVED, DONE)
                and origin.get("fingerprint") == item.fingerprint
                and self._library_file(found["path"]) is not None
            ):
                adopted.setdefault(key, (key, found["id"], found["path"], found["seed"]))
        self.journal.mark_saved(adopted.values())
        lost, recopy = [], []
        for key, item in self.journal.items().items():
            if item.status not in (SAVED, DONE):
                continue
            if self._library_file(item.library_path) is None:
                if item.status == SAVED or not self._output_ok(item):
                    lost.append(key)  # gone from the library (deleted) and not in the output: make it again
            elif item.status == DONE and not self._output_ok(item):
                recopy.append(key)  # another --output, or the copy was deleted: copy it again
        self.journal.mark_pending(lost)
        self.journal.mark_copy_missing(recopy)
        for parent in {(self.output / item.output_name).parent for item in self.items}:
            sweep_partials(parent)  # copies cut short by a kill

    def _library_file(self, relative: str | None) -> Path | None:
        path = self.library.confined(relative)
        return path if path is not None and path.is_file() else None

    def _output_ok(self, item: JournalItem) -> bool:
        return bool(item.output_path) and out.inside(item.output_path, self.output) and Path(item.output_path).is_file()

    def existing(self) -> list[ImageResult]:
        """Images earlier runs made, in plan order; those saved but not copied out are copied now."""
        results = []
        journal = self.journal.items()
        for planned in self.items:
            item = journal.get(planned.key)
            if item is not None and item.status == SAVED:
                path = self.copy_out(planned.key)
            elif item is not None and item.status == DONE:
                path = Path(item.output_path)
            else:
                continue
            if path is not None:
                results.append(ImageResult(planned, path, made=False))
        return results

    # -- making ------------------------------------------------------------------------------

    def pending_batches(self) -> list[Batch]:
        """What is still to make, in plan order: consecutive images of a row and format share a
        request; an image outpainted from its master is a request of its own (its input is one picture)."""
        journal = self.journal.items()
        batches: list[list[PlannedImage]] = []
        for planned in self.items:
            item = journal.get(planned.key)
            if item is not None and item.status in (SAVED, DONE):
                continue
            last = batches[-1][-1] if batches else None
            if (
                last is not None
                and planned.source != MASTER
                and (last.row, last.format, last.image + 1) == planned.key
                and last.fingerprint == planned.fingerprint
            ):
                batches[-1].append(planned)
            else:
                batches.append([planned])
        return [Batch(tuple(items)) for items in batches]

    def request_for(self, batch: Batch) -> GenerationRequest | None:
        """The validated request for batch; None while its master picture is not made (it stays pending).
        Raises EngineError (one sentence) when it cannot be made."""
        first = batch.items[0]
        settings = self.campaign.settings
        task, image, extend, strength = Task.TEXT_TO_IMAGE, None, (0, 0, 0, 0), None
        if first.source == REFERENCE:
            task, image, strength = Task.IMAGE_TO_IMAGE, self._reference_input(first), first.strength
        elif first.source == MASTER:
            master = self.journal.item((first.row, first.master_format, first.image))
            source = self._library_file(master.library_path) if master and master.status in (SAVED, DONE) else None
            if source is None:
                return None
            task, image, extend = Task.OUTPAINT, self._master_input(first, source), first.layout.extend
        origin = {
            "campaign": self.campaign.name,
            "campaign_id": self.journal.campaign_id,
            "row": first.row,
            "format": first.format,
            "image": first.image,
            "fingerprint": first.fingerprint,
            "values": dict(first.values),
        }
        request = GenerationRequest(
            prompt=first.prompt,
            negative_prompt=first.negative_prompt,
            task=task,
            backend=settings.backend,
            model=first.model,
            width=None if image else first.width,
            height=None if image else first.height,
            seed=first.seed,
            count=len(batch.items),
            scheduler=settings.scheduler,
            quality=settings.quality,
            style=settings.style,
            image=image,
            strength=strength,
            extend=extend,
            origin=origin,
            **{k: v for k, v in (("steps", first.steps), ("guidance", first.guidance)) if v is not None},
        )
        return self.engine.validate(request)

    def _input_path(self, name: str) -> Path:
        return self.journal.folder / INPUTS_DIR / name

    def _reference_input(self, planned: PlannedImage) -> str:
        """The row's picture cropped to the format's shape (centred) at its size: image-to-image keeps
        its input's size, and a squeezed picture would come out squeezed."""
        with Image.open(planned.reference) as picture:
            fitted = ImageOps.fit(picture.convert("RGB"), (planned.width, planned.height), Image.Resampling.LANCZOS)
        target = self._input_path(f"row{planned.row:05}-{safe_format_name(planned.format)}.png")
        return str(atomic_write(target, lambda f: fitted.save(f, format="PNG")))

    def _master_input(self, planned: PlannedImage, master: Path) -> str:
        with Image.open(master) as picture:
            scaled = picture.convert("RGB").resize(planned.layout.scaled, Image.Resampling.LANCZOS)
        name = f"row{planned.row:05}-{safe_format_name(planned.format)}-{planned.image}.png"
        return str(atomic_write(self._input_path(name), lambda f: scaled.save(f, format="PNG")))

    def record_saved(self, batch: Batch, row_ids: list[int]) -> list[ImageResult]:
        """The batch's images are in the library (history rows row_ids): record them, copy them out."""
        saved = []
        for row_id in row_ids:
            row = self.library.db.get(row_id)
            if row is not None and 0 <= row.batch_index < len(batch.items):
                saved.append((batch.items[row.batch_index].key, row_id, row.path, row.seed))
        self.journal.mark_saved(saved)
        results = []
        for key, *_ in saved:
            path = self.copy_out(key)
            if path is not None:
                results.append(ImageResult(self.by_key[key], path, made=True))
        return results

    def record_failed(self, batch: Batch, message: str) -> None:
        self.journal.mark_failed(batch.keys, message)

    def copy_out(self, key: Key) -> Path | None:
        """Copy a saved image to its planned name in the output folder (or find it there already)."""
        item = self.journal.item(key)
        source = self._library_file(item.library_path) if item else None
        if source is None:
            self.journal.mark_pending([key])
            return None
        if item.output_path and out.inside(item.output_path, self.output):
            previous = Path(item.output_path)
            if out.same_bytes(previous, source):  # a run killed after the copy, before recording it
                self.journal.mark_done(key, str(previous))
                return previous
        wanted = self.output / self.by_key[key].output_name
        target = out.copy_new(source, wanted, lambda path: self.journal.mark_target(key, str(path)))
        self.journal.mark_done(key, str(target))
        return target

    # -- results -----------------------------------------------------------------------------

    def grouped(self) -> dict[int, dict[str, list[tuple[PlannedImage, JournalItem | None]]]]:
        """Every planned image with its journal record, by row then format (plan order): the review."""
        journal = self.journal.items()
        groups: dict[int, dict[str, list]] = {}
        for planned in self.items:
            groups.setdefault(planned.row, {}).setdefault(planned.format, []).append(
                (planned, journal.get(planned.key))
            )
        return groups

    def approve(self, keys: list[Key], approved: bool | None) -> None:
        self.journal.set_approved(keys, approved)

    def _shown(self, item: JournalItem | None) -> Path | None:
        return Path(item.output_path) if item is not None and item.status == DONE and self._output_ok(item) else None

    def write_manifest(self) -> Path:
        journal = self.journal.items()
        rows = [(p, journal.get(p.key), self._shown(journal.get(p.key))) for p in self.items]
        return out.write_manifest(self.folder, out.manifest_text(self.campaign.columns, rows, self.folder))

    def sheet_entries(self) -> list[tuple[PlannedImage, Path]]:
        """The images the contact sheet shows (made and copied out), in plan order."""
        journal = self.journal.items()
        return [(p, path) for p in self.items if (path := self._shown(journal.get(p.key))) is not None]

    def write_contact_sheet(self) -> Path:
        return out.write_sheet(self.folder, self.campaign.name, self.sheet_entries())

    def approved_sources(self) -> list[tuple[PlannedImage, JournalItem, Path]]:
        """The approved images and the file each is copied from: the library's, else the output copy
        (the picture may have been deleted from the gallery)."""
        journal = self.journal.items()
        found = []
        for planned in self.items:
            item = journal.get(planned.key)
            if item is None or not item.approved:
                continue
            source = self._library_file(item.library_path) or (
                Path(item.output_path) if self._output_ok(item) else None
            )
            if source is not None:
                found.append((planned, item, source))
        return found

    def export_approved(self, destination: Path) -> list[Path]:
        """Copy the approved images (under their planned names, never overwriting) and a manifest of
        them into destination; returns the image paths written."""
        return out.export_images(self.campaign.name, self.campaign.columns, self.approved_sources(), destination)
