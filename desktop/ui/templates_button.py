"""The Templates button above the prompt: the shipped prompt templates by group, and recent prompts."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMenu, QToolButton

from desktop.resources import prompt_templates

RECENT_LABEL_MAX = 70  # characters of a recent prompt shown in the menu


class TemplatesButton(QToolButton):
    template_chosen = Signal(str, str)  # its prompt and negative prompt
    recent_chosen = Signal(str)  # a prompt used before

    def __init__(self, parent=None) -> None:
        super().__init__(parent, text="Templates")
        self._recent: list[str] = []
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setMenu(QMenu(self))
        self.menu().aboutToShow.connect(self._fill)  # the templates file is read when the menu opens

    def set_recent(self, prompts: list[str]) -> None:
        self._recent = list(prompts)

    def _fill(self) -> None:
        menu = self.menu()
        menu.clear()
        for group in prompt_templates():
            sub = menu.addMenu(group.get("name", ""))
            for template in group.get("templates", []):
                prompt, negative = template.get("prompt", ""), template.get("negative_prompt", "")
                action = sub.addAction(template.get("title", prompt))
                action.triggered.connect(lambda _=False, p=prompt, n=negative: self.template_chosen.emit(p, n))
        recent = menu.addMenu("Recent prompts")
        recent.setEnabled(bool(self._recent))
        for prompt in self._recent:
            label = prompt if len(prompt) <= RECENT_LABEL_MAX else prompt[: RECENT_LABEL_MAX - 1] + "…"
            recent.addAction(label).triggered.connect(lambda _=False, p=prompt: self.recent_chosen.emit(p))
