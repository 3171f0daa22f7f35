"""The editing canvas: the picture with a mask painted over it (brush and eraser, undo), and for
outpainting a preview of the extended canvas. The mask is a grayscale image the size of the
picture: white where the model repaints, black where the original stays."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

UNDO_DEPTH = 30


class EditCanvas(QWidget):
    changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(256, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.picture = QImage()
        self.mask = QImage()
        self.brush_size = 32
        self.erasing = False
        self.show_mask = True
        self.extension = (0, 0, 0, 0)  # left, top, right, bottom, in picture pixels
        self.mask_enabled = True
        self._undo: list[QImage] = []
        self._last: QPointF | None = None
        self._cursor: QPointF | None = None

    # --- content -----------------------------------------------------------------------------

    def set_picture(self, picture: QImage) -> None:
        self.picture = picture.convertToFormat(QImage.Format.Format_RGB32)
        self.mask = QImage(self.picture.size(), QImage.Format.Format_Grayscale8)
        self.mask.fill(0)
        self._undo.clear()
        self.update()
        self.changed.emit()

    def has_picture(self) -> bool:
        return not self.picture.isNull()

    def mask_array(self):
        """The mask as a numpy array (height, width), 0 = keep, 255 = repaint."""
        import numpy as np

        rows = np.frombuffer(self.mask.constBits(), dtype=np.uint8).reshape(self.mask.height(), -1)
        return rows[:, : self.mask.width()].copy()  # scanlines are padded to 4 bytes

    def mask_is_empty(self) -> bool:
        return self.mask.isNull() or not self.mask_array().any()

    def set_extension(self, left: int, top: int, right: int, bottom: int) -> None:
        self.extension = (left, top, right, bottom)
        self.update()

    # --- mask editing --------------------------------------------------------------------------

    def _push_undo(self) -> None:
        self._undo.append(self.mask.copy())
        del self._undo[:-UNDO_DEPTH]

    def undo(self) -> None:
        if self._undo:
            self.mask = self._undo.pop()
            self.update()
            self.changed.emit()

    def can_undo(self) -> bool:
        return bool(self._undo)

    def clear_mask(self) -> None:
        if self.has_picture():
            self._push_undo()
            self.mask.fill(0)
            self.update()
            self.changed.emit()

    def invert_mask(self) -> None:
        if self.has_picture():
            self._push_undo()
            self.mask.invertPixels()
            self.update()
            self.changed.emit()

    def stroke(self, points: list[QPointF]) -> None:
        """Paint (or erase) a stroke through points given in picture pixels; one undo step."""
        if not self.has_picture() or not points:
            return
        self._push_undo()
        self._paint_segment(points[0], points[0])
        for a, b in zip(points, points[1:], strict=False):
            self._paint_segment(a, b)
        self.changed.emit()

    def _paint_segment(self, a: QPointF, b: QPointF) -> None:
        painter = QPainter(self.mask)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # a mask is on or off
        color = QColor(0, 0, 0) if self.erasing else QColor(255, 255, 255)
        painter.setPen(
            QPen(color, self.brush_size, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        )
        painter.drawLine(a, b)
        painter.end()
        self.update()

    # --- geometry ------------------------------------------------------------------------------

    def _canvas_size(self) -> QSize:
        left, top, right, bottom = self.extension
        return QSize(self.picture.width() + left + right, self.picture.height() + top + bottom)

    def _scale_and_origin(self) -> tuple[float, QPointF]:
        canvas = self._canvas_size()
        if canvas.isEmpty():
            return 1.0, QPointF(0, 0)
        scale = min(self.width() / canvas.width(), self.height() / canvas.height())
        x = (self.width() - canvas.width() * scale) / 2 + self.extension[0] * scale
        y = (self.height() - canvas.height() * scale) / 2 + self.extension[1] * scale
        return scale, QPointF(x, y)

    def to_picture(self, point: QPointF) -> QPointF:
        scale, origin = self._scale_and_origin()
        return QPointF((point.x() - origin.x()) / scale, (point.y() - origin.y()) / scale)

    def from_picture(self, point: QPointF) -> QPointF:
        scale, origin = self._scale_and_origin()
        return QPointF(origin.x() + point.x() * scale, origin.y() + point.y() * scale)

    # --- Qt events ------------------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#20232a"))
        if not self.has_picture():
            painter.setPen(QColor("#d8dbe2"))
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                "Drop a picture here, or choose Edit on a gallery item.",
            )
            return
        scale, origin = self._scale_and_origin()
        left, top, right, bottom = self.extension
        canvas = QRectF(
            origin.x() - left * scale,
            origin.y() - top * scale,
            self._canvas_size().width() * scale,
            self._canvas_size().height() * scale,
        )
        if any(self.extension):
            # The area outpainting will fill: hatched so it reads as "new".
            painter.fillRect(canvas, QColor("#5b6270"))
            painter.fillRect(canvas, Qt.BrushStyle.BDiagPattern)
        target = QRectF(origin.x(), origin.y(), self.picture.width() * scale, self.picture.height() * scale)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, self.picture)
        if self.show_mask and self.mask_enabled:
            overlay = QImage(self.mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
            # Cyan reads against skin, reds and product colours alike.
            overlay.fill(QColor(0, 200, 255))
            alpha = self.mask.copy()
            overlay.setAlphaChannel(alpha)
            painter.setOpacity(0.5)
            painter.drawImage(target, overlay)
            painter.setOpacity(1.0)
        if self._cursor is not None and self.mask_enabled:
            painter.setPen(QPen(QColor("white"), 1, Qt.PenStyle.DashLine))
            radius = self.brush_size * scale / 2
            painter.drawEllipse(self._cursor, radius, radius)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.has_picture() and self.mask_enabled:
            self._push_undo()
            self._last = self.to_picture(event.position())
            self._paint_segment(self._last, self._last)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._cursor = event.position()
        if self._last is not None:
            point = self.to_picture(event.position())
            self._paint_segment(self._last, point)
            self._last = point
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._last is not None:
            self._last = None
            self.changed.emit()

    def leaveEvent(self, event) -> None:
        self._cursor = None
        self.update()
