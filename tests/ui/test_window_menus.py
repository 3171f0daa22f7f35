"""The menu bar and the gallery's right-click menu: every action where a user looks for it."""

from __future__ import annotations

from PySide6.QtWidgets import QMenu

from desktop.ui.window_menus import fill_gallery_menu


def _texts(menu: QMenu) -> list[str]:
    return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]


def test_the_menu_bar_has_each_menu_with_its_actions(window):
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    assert list(menus) == ["File", "Edit", "Generate", "Models", "Help"]
    assert _texts(menus["File"]) == ["PNG Info…", "Settings…", "Quit"]
    assert {"Undo", "Find in gallery", "Export to"} <= set(_texts(menus["Edit"]))
    assert _texts(menus["Generate"]) == ["Generate", "Cancel running", "Cancel all", "Clear finished jobs"]
    assert _texts(menus["Models"]) == ["Manage…"]
    assert _texts(menus["Help"]) == ["Getting started", "Keyboard shortcuts", "About Diffusion Studio"]


def test_the_gallery_menu_offers_the_gallery_actions_and_delete_last(window):
    menu = QMenu()
    fill_gallery_menu(window.actions, menu)
    texts = _texts(menu)
    assert texts[-1] == window.actions.delete.text().replace("&", "")
    assert window.actions.edit.text().replace("&", "") in texts
    assert window.actions.export_menu.title().replace("&", "") in texts
