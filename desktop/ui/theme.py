"""Light or dark: follow the system's colour scheme (Qt 6's style hints), or the one the user forces.

Widgets take their colours from the palette; the few custom colours here come in a light and a
dark variant, picked from the palette at the moment they are drawn, so a scheme change at run
time (the system switching at dusk) repaints correctly.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette

THEMES = ("system", "light", "dark")
_SCHEMES = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark, "system": Qt.ColorScheme.Unknown}


def apply_theme(app, theme: str) -> None:
    """Fusion in light or dark. Where the platform follows a forced scheme itself (Windows, macOS,
    recent GNOME/KDE integrations) setColorScheme is enough; elsewhere (plain X11, Xvfb) Qt keeps a
    light palette, so the dark one is set here too."""
    app.setStyle("Fusion")
    hints = app.styleHints()
    hints.setColorScheme(_SCHEMES.get(theme, Qt.ColorScheme.Unknown))
    dark = theme == "dark" or (theme not in ("light", "dark") and hints.colorScheme() == Qt.ColorScheme.Dark)
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    global _following
    if _following is not None:
        hints.colorSchemeChanged.disconnect(_following)
        _following = None
    if theme not in ("light", "dark"):  # the system switched (at dusk, say): follow it

        def follow(scheme) -> None:
            app.setPalette(dark_palette() if scheme == Qt.ColorScheme.Dark else app.style().standardPalette())

        _following = follow
        hints.colorSchemeChanged.connect(follow)


_following = None


def dark_palette() -> QPalette:
    """A dark Fusion palette (the colours KDE's Breeze Dark uses, close to what GNOME and macOS show)."""
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#232629",
        QPalette.ColorRole.WindowText: "#eff0f1",
        QPalette.ColorRole.Base: "#1b1e20",
        QPalette.ColorRole.AlternateBase: "#232629",
        QPalette.ColorRole.ToolTipBase: "#31363b",
        QPalette.ColorRole.ToolTipText: "#eff0f1",
        QPalette.ColorRole.PlaceholderText: "#8d9296",
        QPalette.ColorRole.Text: "#eff0f1",
        QPalette.ColorRole.Button: "#31363b",
        QPalette.ColorRole.ButtonText: "#eff0f1",
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Light: "#40464c",
        QPalette.ColorRole.Midlight: "#363b40",
        QPalette.ColorRole.Mid: "#2b2f33",
        QPalette.ColorRole.Dark: "#141618",
        QPalette.ColorRole.Shadow: "#0d0e0f",
        QPalette.ColorRole.Highlight: "#3daee9",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#3daee9",
        QPalette.ColorRole.LinkVisited: "#9b59b6",
    }
    for role, color in colors.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6e7175"))
    return palette


def is_dark() -> bool:
    palette = QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def error_colors() -> tuple[str, str]:
    """(background, text) for an error note."""
    return ("#4a1c17", "#ffb4a9") if is_dark() else ("#fdecea", "#8a1c12")


def error_text_color() -> str:
    return error_colors()[1]


def muted_text_color() -> str:
    return QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText).name()


def placeholder_color() -> QColor:
    return QColor("#3a3d44") if is_dark() else QColor("#e4e6eb")
