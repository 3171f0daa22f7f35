"""A model's licence, as its card says: the `license:` of README.md's YAML front matter, in the model
folder or the Hugging Face cache's snapshot of it; else the licence its family's preset names.

Cheap and torch-free (the form asks for every model in its list): one bounded read of the card,
remembered until the file changes. The card is read as untrusted text: only the front matter's
top-level `license`, `license_name` and `license_link` scalars (or a one-item list) are taken, never
evaluated, each cut to a sane length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CARD = "README.md"
MAX_CARD_BYTES = 64 * 1024  # the front matter comes first; a card's prose is not needed
MAX_VALUE_CHARS = 200

# SPDX-style ids (as the Hub writes them) and names that forbid commercial use.
_NON_COMMERCIAL = re.compile(r"(^|[^a-z])(nc|noncommercial|non-commercial|research-only|research)([^a-z]|$)")
_KEY = re.compile(r"^(license|license_name|license_link):\s*(.*)$")

# What the picker and the details pane call the common ids.
NAMES = {
    "apache-2.0": "Apache-2.0",
    "mit": "MIT",
    "openrail": "OpenRAIL",
    "openrail++": "OpenRAIL++",
    "creativeml-openrail-m": "CreativeML OpenRAIL-M",
    "cc-by-4.0": "CC-BY-4.0",
    "cc-by-nc-4.0": "CC-BY-NC-4.0",
    "cc-by-nc-sa-4.0": "CC-BY-NC-SA-4.0",
    "cc-by-nc-nd-4.0": "CC-BY-NC-ND-4.0",
    "other": "other (see the model card)",
}


@dataclass(frozen=True)
class Licence:
    id: str  # as the card writes it: "apache-2.0", "cc-by-nc-4.0", "other", ...
    name: str = ""  # license_name, where the card gives one ("ltxv-open-weights")
    link: str = ""  # license_link
    source: str = "card"  # "card": the model's README.md; "preset": its family's known licence

    @property
    def label(self) -> str:
        """What the model picker and the details pane show: "Apache-2.0", "other: ltxv-open-weights"."""
        if self.id == "other" and self.name:
            return f"other: {self.name}"
        return NAMES.get(self.id, self.id)

    @property
    def non_commercial(self) -> bool:
        """True where the licence forbids commercial use (CC-BY-NC and its kin, research-only terms)."""
        return any(_NON_COMMERCIAL.search(text.lower()) for text in (self.id, self.name) if text)

    def describe(self) -> str:
        """One line for a tooltip or the details pane."""
        text = self.label
        if self.non_commercial:
            text += " — non-commercial: not for marketing or other commercial use"
        if self.link:
            text += f" ({self.link})"
        return text


def is_non_commercial(label: str | None) -> bool:
    """Whether a recorded licence (a request's `licence`, as Licence.label wrote it) forbids commercial use."""
    return bool(label) and Licence(label.lower()).non_commercial


# card path -> (modification time, size, licence or None)
_read: dict[Path, tuple[float, int, Licence | None]] = {}


def read_card(card: Path) -> Licence | None:
    """The licence a model card's front matter names; None without a card, front matter or licence."""
    try:
        stat = card.stat()
    except OSError:
        return None
    known = _read.get(card)
    if known is not None and known[:2] == (stat.st_mtime, stat.st_size):
        return known[2]
    try:
        with open(card, "rb") as handle:
            head = handle.read(MAX_CARD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    licence = parse_front_matter(head)
    _read[card] = (stat.st_mtime, stat.st_size, licence)
    return licence


def parse_front_matter(text: str) -> Licence | None:
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    values: dict[str, str] = {}
    pending = None  # a key written with its value as a list on the next line ("license:\n- mit")
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            break
        if pending and line.lstrip().startswith("- "):
            values.setdefault(pending, _scalar(line.lstrip()[2:]))
            pending = None
            continue
        pending = None
        match = _KEY.match(line)  # top level only: an indented `license:` belongs to something else
        if match:
            key, value = match.groups()
            if value.strip():
                values[key] = _scalar(value)
            else:
                pending = key
    licence = values.get("license", "")
    if not licence:
        return None
    return Licence(licence.lower(), values.get("license_name", ""), values.get("license_link", ""))


def _scalar(value: str) -> str:
    value = value.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value.strip()[:MAX_VALUE_CHARS]


def card_licence(folder: Path | None) -> Licence | None:
    return read_card(folder / CARD) if folder is not None else None


def cached_card(hub_id: str, cache_dir: str | Path | None = None) -> Path | None:
    """README.md of a hub id's newest snapshot in the Hugging Face cache, without importing the hub client
    more than for its cache path."""
    from desktop.engine.models import hub_cache_dir, is_hub_id

    if not is_hub_id(hub_id):
        return None
    try:
        snapshots = hub_cache_dir(cache_dir) / f"models--{hub_id.replace('/', '--')}" / "snapshots"
        cards = [card for card in snapshots.glob(f"*/{CARD}") if card.is_file()]
    except OSError:
        return None
    return max(cards, key=lambda card: card.stat().st_mtime) if cards else None


def licence_for(model: str, folder: Path | None = None, preset_licence: str = "", cache_dir=None) -> Licence | None:
    """The model's licence: its card's (the folder's, else the HF cache snapshot's), else its preset's."""
    found = card_licence(folder)
    if found is None and folder is None:
        card = cached_card(model.strip(), cache_dir)
        found = read_card(card) if card is not None else None
    if found is None and preset_licence:
        found = Licence(preset_licence, source="preset")
    return found
