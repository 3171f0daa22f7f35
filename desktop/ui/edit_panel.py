"""The Edit tab: the canvas and its tools — brush, eraser, size, clear, invert, show mask, undo —
the sides to extend for outpainting, and the strength for image-to-image."""

from __future__ import annotations

import uuid
from pathlib import Path

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.edit_inputs import EXTEND_MAX, EXTEND_MULTIPLE, banner_extension
from desktop.engine.request import Task
from desktop.ui.edit_canvas import EditCanvas


class EditPanel(QWidget):
    picture_loaded = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.source_path: Path | None = None
        self.source_id: int | None = None
        self.canvas = EditCanvas()
        self.title = QLabel("No picture loaded.")

        self.brush = QRadioButton("Brush")
        self.eraser = QRadioButton("Eraser")
        self.brush.setChecked(True)
        tools = QButtonGroup(self)
        tools.addButton(self.brush)
        tools.addButton(self.eraser)
        self.size = QSlider(Qt.Orientation.Horizontal, minimum=2, maximum=256, value=self.canvas.brush_size)
        self.size.setMaximumWidth(140)
        self.size_label = QLabel(f"{self.canvas.brush_size} px")
        self.clear = QPushButton("Clear")
        self.invert = QPushButton("Invert")
        self.undo = QPushButton("Undo")
        self.undo.setToolTip("Undo the last stroke (Ctrl+Z)")  # the window's Undo action routes Ctrl+Z here
        self.show_mask = QCheckBox("Show mask")
        self.show_mask.setChecked(True)

        self.sides = [QSpinBox(minimum=0, maximum=EXTEND_MAX, singleStep=EXTEND_MULTIPLE) for _ in range(4)]
        self.banner = QPushButton("16:9 banner")
        self.banner.setToolTip("Extend the sides until the picture is 16:9 (to the nearest 8 pixels)")
        self.strength = QDoubleSpinBox(minimum=0.05, maximum=1.0, singleStep=0.05, value=0.75, decimals=2)

        # Two rows each, so the tab (and so the window) fits 1024 pixels.
        self.mask_tools = _rows(
            (self.brush, self.eraser, QLabel("Size"), self.size, self.size_label),
            (self.clear, self.invert, self.undo, self.show_mask),
        )

        sides = [w for label, spin in zip(("Left", "Top", "Right", "Bottom"), self.sides, strict=True) for w in (
            QLabel(label), spin
        )]  # fmt: skip
        self.extend_tools = _rows((QLabel("Extend by (px):"), self.banner), sides)

        strength = QHBoxLayout()
        strength.addWidget(QLabel("Strength (how much to redraw)"))
        strength.addWidget(self.strength)
        strength.addStretch()
        self.strength_tools = QWidget()
        self.strength_tools.setLayout(strength)
        strength.setContentsMargins(0, 0, 0, 0)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.mask_tools)
        layout.addWidget(self.extend_tools)
        layout.addWidget(self.strength_tools)

        self.eraser.toggled.connect(lambda on: setattr(self.canvas, "erasing", on))
        self.size.valueChanged.connect(self._size_changed)
        self.clear.clicked.connect(self.canvas.clear_mask)
        self.invert.clicked.connect(self.canvas.invert_mask)
        self.undo.clicked.connect(self.canvas.undo)
        self.show_mask.toggled.connect(self._show_mask)
        for spin in self.sides:
            spin.valueChanged.connect(self._extension_changed)
        self.banner.clicked.connect(self._banner)
        self.set_task(Task.INPAINT)

    # --- state -----------------------------------------------------------------------------

    def load(self, path: Path, source_id: int | None = None) -> bool:
        picture = QImage(str(path))
        if picture.isNull():
            self.title.setText(f"{Path(path).name} is not a picture this app can read: use PNG, JPEG or WebP.")
            return False
        self.source_path, self.source_id = Path(path), source_id
        self.canvas.set_picture(picture)
        for spin in self.sides:
            spin.setValue(0)
        origin = f"gallery item #{source_id}" if source_id is not None else str(path)
        self.title.setText(f"Editing {origin} ({picture.width()}×{picture.height()})")
        self.picture_loaded.emit()
        return True

    def set_task(self, task: Task) -> None:
        """Show the tools the task uses."""
        self.mask_tools.setVisible(task is Task.INPAINT)
        self.canvas.mask_enabled = task is Task.INPAINT
        self.extend_tools.setVisible(task is Task.OUTPAINT)
        self.strength_tools.setVisible(task is Task.IMAGE_TO_IMAGE)
        self.canvas.set_extension(*(self.extension() if task is Task.OUTPAINT else (0, 0, 0, 0)))

    def extension(self) -> tuple[int, int, int, int]:
        return tuple(spin.value() for spin in self.sides)

    def write_inputs(self, folder: Path, task: Task) -> tuple[str | None, str | None]:
        """The picture and (for inpaint) mask as files the engine reads: (image path, mask path)."""
        if self.source_path is None:
            return None, None
        if task is not Task.INPAINT:
            return str(self.source_path), None
        folder.mkdir(parents=True, exist_ok=True)
        mask_path = folder / f"{uuid.uuid4().hex[:12]}-mask.png"
        if not self.canvas.mask.save(str(mask_path), "PNG"):
            raise OSError(f"could not write the mask to {mask_path}")
        return str(self.source_path), str(mask_path)

    def paint(self, points: list[tuple[float, float]]) -> None:
        """A brush stroke through points in picture pixels (what a mouse drag does)."""
        self.canvas.stroke([QPointF(x, y) for x, y in points])

    # --- slots -------------------------------------------------------------------------------

    def _size_changed(self, value: int) -> None:
        self.canvas.brush_size = value
        self.size_label.setText(f"{value} px")

    def _show_mask(self, on: bool) -> None:
        self.canvas.show_mask = on
        self.canvas.update()

    def _extension_changed(self) -> None:
        for spin in self.sides:  # the engine takes multiples of 8
            if spin.value() % EXTEND_MULTIPLE:
                spin.setValue(spin.value() - spin.value() % EXTEND_MULTIPLE)
        self.canvas.set_extension(*self.extension())

    def _banner(self) -> None:
        if not self.canvas.has_picture():
            return
        extension = banner_extension(self.canvas.picture.width(), self.canvas.picture.height())
        for spin, value in zip(self.sides, extension, strict=True):
            spin.setValue(value)


def _rows(*rows) -> QWidget:
    """A widget holding rows of widgets, each row packed to the left."""
    holder = QWidget()
    column = QVBoxLayout(holder)
    column.setContentsMargins(0, 0, 0, 0)
    for widgets in rows:
        row = QHBoxLayout()
        for widget in widgets:
            row.addWidget(widget)
        row.addStretch()
        column.addLayout(row)
    return holder
