"""Sizes, speeds and durations as people read them (decimal units, as disks and the hub count)."""

from __future__ import annotations


def format_bytes(count: float) -> str:
    count = max(0.0, float(count))
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            value = count / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{count:.0f} bytes"


def format_speed(bytes_per_s: float) -> str:
    return f"{format_bytes(bytes_per_s)}/s" if bytes_per_s > 0 else "—"


def format_duration(seconds: float | None) -> str:
    """'about 3 min left' style: None (not known yet) gives 'estimating…'."""
    if seconds is None:
        return "estimating…"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s" if minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_gb(value: float) -> str:
    """A catalogue figure in GB: 0.067 -> '67 MB', 5.5 -> '5.5 GB'."""
    return format_bytes(value * 1e9)
