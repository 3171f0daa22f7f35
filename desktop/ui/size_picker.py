"""The Size row: preset sizes (or the only sizes a backend takes) and, under Custom, width × height."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from desktop.engine.backend import Capabilities
from desktop.engine.request import SIZE_MAX, SIZE_MIN, SIZE_MULTIPLE

PRESETS = (
    ("Square 256", 256, 256),
    ("Square 512", 512, 512),
    ("Square 768", 768, 768),
    ("Square 1024", 1024, 1024),
    ("Landscape 768x512", 768, 512),
    ("Portrait 512x768", 512, 768),
    ("Banner 16:9 1024x576", 1024, 576),
)
CUSTOM = "Custom"


class SizePicker(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._fixed = False  # the backend takes only the sizes listed (the Images API)
        self.preset = QComboBox()
        self.width_spin = QSpinBox(minimum=SIZE_MIN, maximum=SIZE_MAX, singleStep=SIZE_MULTIPLE, value=512)
        self.height_spin = QSpinBox(minimum=SIZE_MIN, maximum=SIZE_MAX, singleStep=SIZE_MULTIPLE, value=512)
        self.custom = QWidget()
        custom_row = QHBoxLayout(self.custom)
        custom_row.setContentsMargins(0, 0, 0, 0)
        custom_row.addWidget(self.width_spin)
        custom_row.addWidget(QLabel("×"))
        custom_row.addWidget(self.height_spin)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.preset)
        layout.addWidget(self.custom)
        self.preset.currentIndexChanged.connect(self._preset_changed)

    def value(self) -> tuple[int, int]:
        return self.width_spin.value(), self.height_spin.value()

    def offer(self, caps: Capabilities) -> None:
        """The sizes a model takes: a backend's fixed list, or the presets inside its range (with the
        model's own size first where no preset has it) and Custom. The current size stays if offered."""
        self._fixed = bool(caps.sizes)
        self.preset.blockSignals(True)
        self.preset.clear()
        if caps.sizes:
            for size in caps.sizes:
                self.preset.addItem(size, size)
        else:
            native = (int(caps.defaults.get("width", 0)), int(caps.defaults.get("height", 0)))
            if all(native) and native not in {(w, h) for _, w, h in PRESETS}:
                self.preset.addItem(f"Model's own {native[0]}x{native[1]}", f"{native[0]}x{native[1]}")
            for label, w, h in PRESETS:
                if caps.size_min <= min(w, h) and max(w, h) <= caps.size_max:
                    self.preset.addItem(label, f"{w}x{h}")
            self.preset.addItem(CUSTOM, None)
            for spin in (self.width_spin, self.height_spin):
                spin.setRange(caps.size_min, caps.size_max)
                spin.setSingleStep(caps.size_multiple)
        self.preset.blockSignals(False)
        self.set_size(*self.value())

    def set_size(self, width: int, height: int) -> None:
        """Width and height, shown as their preset where one has them, else as Custom."""
        self.width_spin.setValue(width)
        self.height_spin.setValue(height)
        index = self.preset.findData(f"{width}x{height}")
        if index < 0:
            index = self.preset.findText(CUSTOM)
        self.preset.setCurrentIndex(max(index, 0))
        self._preset_changed()

    def _preset_changed(self) -> None:
        data = self.preset.currentData()
        self.custom.setVisible(data is None and not self._fixed)
        if data is not None:
            width, height = (int(v) for v in data.split("x"))
            self.width_spin.setValue(width)
            self.height_spin.setValue(height)
