"""The Seed row: a seed to type, "Random", and "Reuse last" (the seed of the newest result)."""

from __future__ import annotations

from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLineEdit, QToolButton, QWidget


class SeedRow(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._last: int | None = None
        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(r"\d{0,10}"))
        self.seed.setPlaceholderText("random")
        self.random = QCheckBox("Random")
        self.reuse = QToolButton(text="Reuse last")
        self.reuse.setEnabled(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.seed, 1)
        layout.addWidget(self.random)
        layout.addWidget(self.reuse)
        self.random.toggled.connect(lambda on: self.seed.setEnabled(not on))
        self.random.setChecked(True)
        self.reuse.clicked.connect(self._reuse)

    def value(self) -> int | None:
        """The typed seed, or None for a random one."""
        text = self.seed.text().strip()
        return None if self.random.isChecked() or not text else int(text)

    def set_value(self, seed: int | None) -> None:
        self.random.setChecked(seed is None)
        if seed is not None:
            self.seed.setText(str(seed))

    def _reuse(self) -> None:
        if self._last is not None:  # (the button is disabled until a result has a seed)
            self.set_value(self._last)

    def set_last(self, seed: int | None) -> None:
        self._last = seed
        self.reuse.setEnabled(seed is not None)
        self.reuse.setToolTip(f"Use seed {seed} again" if seed is not None else "")
