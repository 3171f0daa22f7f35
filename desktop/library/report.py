"""What opening, checking or rebuilding a library found and did, in numbers and in sentences."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Report:
    """What opening, checking or rebuilding a library found and did."""

    root: Path
    rows: int = 0  # readable rows in the history afterwards
    files: int = 0  # files found under images/ (full checks only)
    reindexed: int = 0  # files without a row, now indexed from their embedded record
    reindexed_paths: list[str] = field(default_factory=list)
    without_record: list[str] = field(default_factory=list)  # left alone: no usable record, or a poster alone
    missing_files: list[str] = field(default_factory=list)  # rows whose file is gone or outside the library
    unreadable_rows: list[int] = field(default_factory=list)  # rows every read skips
    set_aside: Path | None = None  # where the damaged or replaced history now is
    damage: str = ""  # why it was set aside ("" when a rebuild was asked for)
    rebuilt: bool = False
    partials_removed: int = 0

    @property
    def changed(self) -> bool:
        """True when the user should hear about it (the window shows summary() once)."""
        return self.set_aside is not None or self.rebuilt or self.reindexed > 0

    def summary(self) -> str:
        """Plain sentences, most important first."""
        parts = []
        if self.set_aside is not None and not self.damage:
            parts.append(
                f"The history was set aside as {self.set_aside.name} and rebuilt from the pictures' embedded "
                f"records: {self.reindexed} results."
            )
        elif self.set_aside is not None:
            parts.append(
                f"The history was damaged ({self.damage}); it was set aside as {self.set_aside.name} and rebuilt "
                f"from the pictures' embedded records: {self.reindexed} results recovered."
            )
        elif self.rebuilt:
            parts.append(f"The history was rebuilt from the pictures' embedded records: {self.reindexed} results.")
        elif self.reindexed:
            parts.append(
                f"{self.reindexed} results that a stopped process wrote but never recorded were added to the history."
            )
        if self.without_record:
            parts.append(
                f"{len(self.without_record)} files in the library have no record to index them by and were left "
                f"alone (first: {self.without_record[0]})."
            )
        if self.missing_files:
            parts.append(
                f"{len(self.missing_files)} history rows name files that are missing or outside the library "
                f"(first: {self.missing_files[0]})."
            )
        if self.unreadable_rows:
            parts.append(f"{len(self.unreadable_rows)} history rows could not be read and are hidden.")
        if not parts:
            parts.append(f"The library is in order: {self.rows} results.")
        return " ".join(parts)

    def to_dict(self) -> dict:
        """For `library check --json`."""
        return {
            "root": str(self.root),
            "rows": self.rows,
            "files": self.files,
            "reindexed": self.reindexed,
            "reindexed_paths": self.reindexed_paths,
            "without_record": self.without_record,
            "missing_files": self.missing_files,
            "unreadable_rows": self.unreadable_rows,
            "set_aside": str(self.set_aside) if self.set_aside else None,
            "damage": self.damage,
            "rebuilt": self.rebuilt,
            "partials_removed": self.partials_removed,
        }
