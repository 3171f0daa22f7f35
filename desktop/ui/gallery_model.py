"""The gallery's model: history rows from the library, newest first, paged in as the view scrolls.

Thumbnails come from the ThumbnailLoader (made off the UI thread, cached on disk); until one
arrives the row shows a placeholder.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, QSize, Qt, QUrl
from PySide6.QtGui import QImage, QPixmap

from desktop.engine.tasks import MediaKind
from desktop.library.history import HistoryRow
from desktop.library.store import Library
from desktop.ui.bridge import ThumbnailLoader
from desktop.ui.theme import placeholder_color

PAGE_SIZE = 200
# Marks on a gallery item's caption: a video plays, a 3D object turns (its thumbnail is the poster).
BADGES = {MediaKind.VIDEO: "▶ ", MediaKind.MESH: "⬢ "}
ICON_SIZE = QSize(160, 160)
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2


class GalleryModel(QAbstractListModel):
    def __init__(self, library: Library, thumbnails: ThumbnailLoader, parent=None) -> None:
        super().__init__(parent)
        self.library = library
        self._thumbnails = thumbnails
        self._rows: list[HistoryRow] = []
        self._row_of_path: dict[str, int] = {}
        self._pixmaps: dict[str, QPixmap] = {}
        self._total = 0
        self._filter: dict = {"search": "", "task": None, "backend": None, "model": None}
        self._placeholder = QPixmap(ICON_SIZE)
        self._placeholder.fill(placeholder_color())
        thumbnails.ready.connect(self._thumbnail_ready)
        self.reload()

    # --- loading ---------------------------------------------------------------------------

    def set_filter(
        self, search: str = "", task: str | None = None, backend: str | None = None, model: str | None = None
    ) -> None:
        self._filter = {"search": search, "task": task, "backend": backend, "model": model}
        self.reload()

    def reload(self) -> None:
        self.beginResetModel()
        self._total = self.library.db.count(**self._filter)
        self._rows = self.library.db.query(**self._filter, limit=PAGE_SIZE)
        self._reindex()
        self.endResetModel()

    def canFetchMore(self, parent=QModelIndex()) -> bool:  # noqa: B008 (Qt's signature)
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent=QModelIndex()) -> None:  # noqa: B008
        more = self.library.db.query(**self._filter, limit=PAGE_SIZE, offset=len(self._rows))
        if not more:
            self._total = len(self._rows)
            return
        self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows) + len(more) - 1)
        self._rows.extend(more)
        self._reindex()
        self.endInsertRows()

    def add_new(self, rows: list[HistoryRow]) -> None:
        """New results go on top, if they match the current search and filters."""
        ids = {row.id for row in rows}
        matching = [r for r in self.library.db.query(**self._filter, limit=len(rows) + 1) if r.id in ids]
        known = {row.id for row in self._rows}
        fresh = [r for r in matching if r.id not in known]
        if not fresh:
            return
        self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
        self._rows[0:0] = fresh
        self._total += len(fresh)
        self._reindex()
        self.endInsertRows()

    def remove_ids(self, ids: set[int]) -> None:
        for position in sorted((i for i, r in enumerate(self._rows) if r.id in ids), reverse=True):
            self.beginRemoveRows(QModelIndex(), position, position)
            del self._rows[position]
            self._total -= 1
            self.endRemoveRows()
        self._reindex()

    def _reindex(self) -> None:
        self._row_of_path = {str(self.library.still(r)): i for i, r in enumerate(self._rows)}

    def shows(self, row_id: int) -> bool:
        """True where the row is among those shown (new results are added on top when they match)."""
        return any(r.id == row_id for r in self._rows)

    def row_at(self, index: QModelIndex) -> HistoryRow | None:
        return self._rows[index.row()] if index.isValid() and index.row() < len(self._rows) else None

    def index_of_id(self, row_id: int) -> QModelIndex:
        for i, row in enumerate(self._rows):
            if row.id == row_id:
                return self.index(i)
        return QModelIndex()

    # --- Qt model ----------------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        row = self.row_at(index)
        if row is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            text = row.prompt if len(row.prompt) <= 40 else row.prompt[:38] + "…"
            return BADGES.get(row.media, "") + text
        if role == Qt.ItemDataRole.DecorationRole:
            path = str(self.library.still(row))
            pixmap = self._pixmaps.get(path)
            if pixmap is None:
                self._thumbnails.request(Path(path))
                return self._placeholder
            return pixmap
        if role == Qt.ItemDataRole.ToolTipRole:
            seed = "" if row.seed is None else f" · seed {row.seed}"
            kind = {
                MediaKind.VIDEO: f"video, {row.request.get('frames')} frames",
                MediaKind.MESH: f"3D object, {row.request.get('frames')}-view turntable",
            }.get(row.media, "image")
            return f"{row.prompt}\n{kind} · {row.width}×{row.height} · {Path(row.model).name or row.model}{seed}"
        if role == ROW_ROLE:
            return row
        if role == PATH_ROLE:
            return str(self.library.absolute(row))
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list", "application/x-qt-image"]

    def mimeData(self, indexes) -> QMimeData:
        """File URLs (images, MP4s) for file managers, plus the first picture for apps that take pixels."""
        rows = []
        for index in indexes:
            row = self.row_at(index)
            if row is not None and row not in rows:
                rows.append(row)
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(self.library.absolute(r))) for r in rows])
        if rows:
            image = QImage(str(self.library.still(rows[0])))
            if not image.isNull():
                mime.setImageData(image)
        return mime

    def _thumbnail_ready(self, path: str, image: QImage) -> None:
        # Already scaled to ICON_SIZE by the loader (a delegate draws a QPixmap at its own size).
        self._pixmaps[path] = QPixmap.fromImage(image)
        position = self._row_of_path.get(path)
        if position is not None:
            index = self.index(position)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
