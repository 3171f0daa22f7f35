"""Before/after: an edited result over its source picture, split where the user drags."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget


class CompareView(QWidget):
    """Left of the split shows the source ("before"), right of it the result ("after"); drag to move it."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.before = QPixmap()
        self.after = QPixmap()
        self.offset = (0, 0)
        self.split = 0.5  # 0..1 of the picture's width
        self.setMinimumHeight(200)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setCursor(Qt.CursorShape.SplitHCursor)
        self.setToolTip("Drag to compare the edit (right) with the picture it started from (left)")

    def set_pictures(self, before: QPixmap, after: QPixmap, offset: tuple[int, int] = (0, 0)) -> None:
        """offset: where the source's top-left sits in the result, in its pixels (an outpaint's extension)."""
        self.before, self.after, self.offset, self.split = before, after, offset, 0.5
        self.update()

    def _target(self) -> QRectF:
        """Where the result is drawn: fitted to the widget, keeping its shape."""
        if self.after.isNull():
            return QRectF()
        size = self.after.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRectF(
            (self.width() - size.width()) / 2, (self.height() - size.height()) / 2, size.width(), size.height()
        )

    def mousePressEvent(self, event) -> None:
        self._move_split(event.position())

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._move_split(event.position())

    def _move_split(self, point: QPointF) -> None:
        target = self._target()
        if target.width() > 0:
            self.split = min(1.0, max(0.0, (point.x() - target.left()) / target.width()))
            self.update()

    def paintEvent(self, event) -> None:
        target = self._target()
        if target.isEmpty():
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(target, self.after, QRectF(self.after.rect()))
        if not self.before.isNull():
            # An outpaint's source is smaller: it is drawn where it sits in the result.
            scale = target.width() / self.after.width()
            where = QRectF(
                target.left() + self.offset[0] * scale,
                target.top() + self.offset[1] * scale,
                self.before.width() * scale,
                self.before.height() * scale,
            )
            x = target.left() + target.width() * self.split
            painter.setClipRect(QRectF(target.left(), target.top(), x - target.left(), target.height()))
            painter.drawPixmap(where, self.before, QRectF(self.before.rect()))
            painter.setClipping(False)
            painter.setPen(QPen(QColor("#ffffff"), 2))
            painter.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))
        painter.end()
