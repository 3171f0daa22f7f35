"""Builds the QApplication and the main window. Nothing heavy is imported here: torch, diffusers
and openai load on the generation thread when the first job runs."""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from desktop import __version__
from desktop.library.settings import Settings, load_settings
from desktop.resources import APP_ID, ICON_SVG


def engine_factory(settings: Settings):
    """A callable the generation thread runs to build its engine (reads the key there, not here)."""

    def build():
        from desktop.engine.engine import Engine
        from desktop.engine.openai_backend import OpenAISettings
        from desktop.library.key_store import load_api_key

        openai = OpenAISettings(
            api_key=load_api_key() or None,
            base_url=settings.openai_base_url or None,
            timeout_s=settings.openai_timeout_s,
        )
        return Engine(runtime=settings.runtime_options(), openai=openai)

    return build


def create_window(settings: Settings | None = None, library_root=None):
    """The main window over the user's library, with its generation thread (not yet started)."""
    from desktop.library.store import Library
    from desktop.ui.bridge import GenerationBridge
    from desktop.ui.main_window import MainWindow

    settings = settings or load_settings()
    library = Library(library_root)
    bridge = GenerationBridge(engine_factory(settings), lambda: Library(library.root))
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
    try:
        window = create_window()
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
