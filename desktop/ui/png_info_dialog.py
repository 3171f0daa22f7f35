"""PNG Info: what a picture says about how it was made (this app's or another tool's), and a button
that puts those settings into the form."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout

from desktop.library.png_info import FoundSettings


class PngInfoDialog(QDialog):
    use_settings = Signal(object)  # FoundSettings

    def __init__(self, settings: FoundSettings, source_name: str, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle(f"PNG Info — {source_name}")
        self.setMinimumWidth(420)
        form = QFormLayout()
        for label, value in settings.rows():
            text = QLabel(value)
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{label}:", text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.use_button = buttons.addButton("Use these settings", QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setToolTip("Prompt, negative prompt, steps, guidance, seed and size go into the form")
        buttons.accepted.connect(self._use)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _use(self) -> None:
        self.use_settings.emit(self.settings)
        self.accept()
