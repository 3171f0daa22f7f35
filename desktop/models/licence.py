"""A model's licence as lists show it, and whether it allows commercial use.

The licence of a folder is the `license:` of its model card's front matter (the hub writes it there), read
by the engine's reader (desktop.engine.licences, as the picker and the details pane read it), else a
LICENSE file's first line (the upscalers' reader); a catalogue entry's licence comes from the catalogue.
"""

from __future__ import annotations

from pathlib import Path

# Hub licence ids -> commercial use allowed. OpenRAIL licences allow it under use restrictions.
COMMERCIAL = {
    "apache-2.0": True,
    "mit": True,
    "bsd-3-clause": True,
    "bsd-2-clause": True,
    "bsd": True,
    "creativeml-openrail-m": True,
    "openrail": True,
    "openrail++": True,
    "openrail++-m": True,
    "cc0-1.0": True,
    "cc-by-4.0": True,
    "cc-by-sa-4.0": True,
    "cc-by-nc-4.0": False,
    "cc-by-nc-sa-4.0": False,
    "cc-by-nc-nd-4.0": False,
    "cc-by-nc-2.0": False,
    "cc-by-nc-3.0": False,
    "cc-by-nc-sa-3.0": False,
    "stabilityai-ai-community": None,  # free under a revenue threshold: read it
    "flux-1-dev-non-commercial-license": False,
}


def commercial_use(licence: str | None) -> bool | None:
    """True or False where the licence is known, None where it is not (read it)."""
    from desktop.engine.licences import is_non_commercial

    if not licence:
        return None
    known = COMMERCIAL.get(licence.strip().lower())
    if known is None and is_non_commercial(licence):
        return False  # cc-by-nc-*, research-only and their kin, named as the engine names them
    return known


def licence_text(licence: str | None) -> str:
    """'apache-2.0 (commercial use allowed)', 'cc-by-nc-4.0 (non-commercial only)', 'unknown licence'."""
    if not licence:
        return "licence unknown"
    allowed = commercial_use(licence)
    if allowed is None:
        return f"{licence} (read it before commercial use)"
    return f"{licence} ({'commercial use allowed' if allowed else 'non-commercial only'})"


def folder_licence(folder: Path) -> str | None:
    """The licence id a model folder's card names (README.md's front matter), else its licence file's first line."""
    from desktop.engine.licences import card_licence
    from desktop.engine.upscalers.catalog import folder_license

    try:
        found = card_licence(folder)
        return found.id if found is not None else folder_license(folder)
    except OSError:
        return None
