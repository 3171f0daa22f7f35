"""What the form's model lists offer beyond the Settings folders and the built-in models: the Hugging
Face cache, models inside other tools' folders (AUTOMATIC1111 / ComfyUI / InvokeAI, used where they
are) and the team server's list. The slow ones — a deep folder walk, a network call — are found on a
background thread, so the window never waits for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop.jobs.local import server_model_list
from desktop.models.installed import tool_folder_models
from desktop.ui.bridge import run_in_background

if TYPE_CHECKING:
    from desktop.engine.engine import Engine
    from desktop.library.settings import Settings
    from desktop.ui.prompt_form import PromptForm


class ModelLists(QObject):
    changed = Signal()  # the form's lists were refilled

    def __init__(
        self,
        form: PromptForm,
        engine: Callable[[], Engine],
        settings: Callable[[], Settings],
        say: Callable[[str, int], None],
        parent: QObject | None = None,
    ) -> None:
        """say(text, milliseconds) shows a line in the status bar."""
        super().__init__(parent)
        self._form, self._engine, self._settings, self._say = form, engine, settings, say
        self._in_tool_folders: dict[str, list[str]] = {}  # "pipeline" / "upscaler" -> paths

    def refresh(self) -> None:
        """Everything again (after the first paint, after Settings change)."""
        self.rescan_cache()
        self.fetch_server_models()
        self.scan_tool_folders()

    def rescan_cache(self) -> None:
        """The local lists: Settings folders, the HF cache (a quick folder scan), the built-ins, and what
        the last tool-folder walk found; what the user typed stays."""
        form, engine = self._form, self._engine()
        current = form.model.currentText()
        found = self._in_tool_folders
        form.set_models("diffusers", [*engine.backend("diffusers").models(), *found.get("pipeline", [])])
        if found.get("upscaler"):
            form.set_models("upscale", [*engine.backend("upscale").models(), *found["upscaler"]])
        if current:
            form.model.setEditText(current)
        self.changed.emit()

    def scan_tool_folders(self) -> None:
        folders = list(self._settings().model_folders)
        if not folders:
            return
        run_in_background(
            self,
            lambda: tool_folder_models(folders),
            self._found_in_tool_folders,
            lambda message: self._say(f"Looking through the model folders failed: {message}", 8000),
        )

    def _found_in_tool_folders(self, found: list) -> None:
        self._in_tool_folders = {}
        for entry in found:
            kind, _, path = entry.partition(":")
            self._in_tool_folders.setdefault(kind, []).append(path)
        self.rescan_cache()

    def fetch_server_models(self) -> None:
        settings = self._settings()
        if not settings.server_url:
            return
        run_in_background(self, lambda: server_model_list(settings), self._show_server_models, self._server_away)

    def _show_server_models(self, items: list) -> None:
        backend = self._engine().backend("server")
        backend.adopt_model_list(items)
        self._form.set_models("server", backend.models())
        self.changed.emit()

    def _server_away(self, message: str) -> None:
        self._say(f"Team server: {message[:1].upper()}{message[1:]}", 10000)
