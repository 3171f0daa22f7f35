"""The warning before generating with a model whose licence forbids commercial use (CC-BY-NC, ...).

Asked once per model while the window is open; "Don't ask again" keeps the answer in the settings
(Settings.licence_acknowledged). The request's licence is the one the engine's validation read from
the model's card (or its family's preset), so nothing here reads files.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QCheckBox, QMessageBox, QWidget

from desktop.engine.licences import is_non_commercial
from desktop.engine.presets import model_label
from desktop.engine.request import GenerationRequest
from desktop.library.settings import Settings


class LicenceWarning(QMessageBox):
    def __init__(self, model: str, licence: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("licenceWarning")
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle("Non-commercial licence")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setText(
            f"<p><b>{html.escape(model_label(model))}</b> is licensed <b>{html.escape(licence)}</b>: what it "
            "makes may not be used commercially — no marketing, advertising or products for sale.</p>"
            "<p>Generate anyway (for tests, drafts or non-commercial work)?</p>"
        )
        self.generate_button = self.addButton("Generate", QMessageBox.ButtonRole.AcceptRole)
        self.cancel_button = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.cancel_button)
        self.dont_ask = QCheckBox("Don't ask again for this model")
        self.setCheckBox(self.dont_ask)

    def accepted_licence(self) -> bool:
        return self.clickedButton() is self.generate_button


class LicenceGate(QObject):
    """Remembers, for the window it belongs to, the models whose warning was accepted this session."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("licenceGate")
        self._accepted: set[str] = set()

    def confirm(self, request: GenerationRequest, settings: Settings) -> bool:
        model = request.model
        if not is_non_commercial(request.licence) or model in self._accepted:
            return True
        if model in settings.licence_acknowledged:
            return True
        box = LicenceWarning(model, request.licence or "", self.parent())
        box.exec()  # modal on purpose: nothing is queued until the user has answered
        if not box.accepted_licence():
            return False
        self._accepted.add(model)
        if box.dont_ask.isChecked():
            settings.licence_acknowledged = [*settings.licence_acknowledged, model]
        return True


def confirm_licence(window: QWidget, request: GenerationRequest, settings: Settings) -> bool:
    """True when the request may be queued: its licence allows commercial use, the user acknowledged it
    before, or accepts the warning now (the window saves the settings after queueing)."""
    gate = window.findChild(LicenceGate, "licenceGate", Qt.FindChildOption.FindDirectChildrenOnly)
    return (gate or LicenceGate(window)).confirm(request, settings)
