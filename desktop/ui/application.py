"""Builds the QApplication and the main window. Nothing heavy is imported here or ever in this
process: torch, diffusers and openai load in the engine's worker process."""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from desktop import __version__
from desktop.library.settings import Settings, load_settings
from desktop.resources import APP_ID, ICON_SVG
from desktop.ui.theme import apply_theme


def create_window(settings: Settings | None = None, library_root=None):
    """The main window over the user's library; its engine runs in a worker process, started on the
    first job or warm-up (not before the first paint)."""
    from desktop.library.store import Library
    from desktop.ui.bridge import GenerationBridge
    from desktop.ui.main_window import MainWindow
    from desktop.worker.client import WorkerExecutor

    settings = settings or load_settings()
    library = Library(library_root)
    bridge = GenerationBridge(lambda: WorkerExecutor(settings, library.root))
    return MainWindow(settings, library, bridge)


def run(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.DEBUG if "--debug" in argv else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("Diffusion Studio")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Diffusion Studio")
    app.setDesktopFileName(APP_ID)
    if ICON_SVG.exists():
        app.setWindowIcon(QIcon(str(ICON_SVG)))
    settings = load_settings()
    apply_theme(app, settings.theme)
    try:
        window = create_window(settings)
    except (OSError, RuntimeError) as exc:
        print(f"error: cannot open the library: {exc}", file=sys.stderr)
        return 1
    window.show()
    if "--smoke-test" in argv:
        # Packaging check: the window opened and painted; say so and leave.
        def done() -> None:
            print(f"window shown: {window.windowTitle()} {window.width()}x{window.height()}", flush=True)
            window.close()

        QTimer.singleShot(200, done)
    return app.exec()
