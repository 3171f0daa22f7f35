"""The main window's menu bar, and the gallery's right-click menu."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from desktop.ui.gallery_actions import GalleryActions

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


def build_menus(window: MainWindow) -> None:
    menu = window.menuBar()
    file_menu = menu.addMenu("&File")
    png_info = QAction("PNG &Info…", window, shortcut=QKeySequence("Ctrl+I"))
    png_info.setToolTip("See the prompt and settings a picture was made with (this app's, AUTOMATIC1111, ComfyUI…)")
    png_info.triggered.connect(window.choose_png_info)
    settings = QAction("&Settings…", window, shortcut=QKeySequence("Ctrl+,"))
    settings.triggered.connect(window.open_settings)
    quit_action = QAction("&Quit", window, shortcut=QKeySequence.StandardKey.Quit)
    quit_action.triggered.connect(window.close)
    file_menu.addAction(png_info)
    file_menu.addAction(settings)
    file_menu.addSeparator()
    file_menu.addAction(quit_action)

    actions = window.actions
    edit_menu = menu.addMenu("&Edit")
    # One window-level Ctrl+Z: the last mask stroke on the Edit tab, else the last delete. (Text
    # fields still undo their own typing: they take the key first.)
    actions.undo.setShortcut(QKeySequence())
    undo = QAction("&Undo", window, shortcut=QKeySequence.StandardKey.Undo)
    undo.triggered.connect(window.undo)
    window.addAction(undo)
    edit_menu.addAction(undo)
    edit_menu.addSeparator()
    for action in (
        actions.edit,
        actions.animate,
        actions.reuse,
        actions.upscale_2,
        actions.upscale_4,
        actions.copy,
        actions.open,
        actions.delete,
    ):
        edit_menu.addAction(action)
    edit_menu.addMenu(actions.export_menu)
    find = QAction("&Find in gallery", window, shortcut=QKeySequence.StandardKey.Find)
    find.triggered.connect(lambda: window.gallery.search.setFocus())
    window.addAction(find)
    edit_menu.addAction(find)

    generate_menu = menu.addMenu("&Generate")
    # Shortcuts live on window-level actions: a button's shortcut is lost when its text changes.
    generate = QAction("&Generate", window)
    generate.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
    generate.triggered.connect(window.generate)
    cancel = QAction("&Cancel running", window, shortcut=QKeySequence(Qt.Key.Key_Escape))
    cancel.triggered.connect(window.jobs.cancel_running)
    cancel_all = QAction("Cancel &all", window, shortcut=QKeySequence("Ctrl+Shift+Esc"))
    cancel_all.triggered.connect(window.bridge.cancel_all)
    clear = QAction("Clear finished jobs", window)
    clear.triggered.connect(window.jobs.clear_finished)
    for action in (generate, cancel, cancel_all, clear):
        generate_menu.addAction(action)
        window.addAction(action)

    manage_models = QAction("&Manage…", window)
    manage_models.setToolTip("Installed models and the catalogue: download, remove")
    manage_models.triggered.connect(window.open_models)
    menu.addMenu("&Models").addAction(manage_models)

    help_menu = menu.addMenu("&Help")
    for text, slot in (
        ("&Getting started", window.show_getting_started),
        ("&Keyboard shortcuts", window.show_shortcuts),
        ("&About Diffusion Studio", window.show_about),
    ):
        action = QAction(text, window)
        action.triggered.connect(slot)
        help_menu.addAction(action)


def fill_gallery_menu(actions: GalleryActions, menu) -> None:
    for action in (
        actions.edit,
        actions.animate,
        actions.upscale_2,
        actions.upscale_4,
        actions.reuse,
        actions.open,
        actions.copy,
    ):
        menu.addAction(action)
    menu.addMenu(actions.export_menu)
    menu.addSeparator()
    menu.addAction(actions.delete)
