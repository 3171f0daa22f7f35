"""The gallery panel: search, filters and a thumbnail grid over GalleryModel; items drag out."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from desktop.library.history import HistoryRow
from desktop.ui.gallery_model import ICON_SIZE, ROW_ROLE, GalleryModel

ALL = "All"


class GalleryView(QWidget):
    current_changed = Signal(object)  # HistoryRow | None

    def __init__(self, model: GalleryModel, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts…")
        self.search.setClearButtonEnabled(True)
        self.task_filter = QComboBox()
        self.backend_filter = QComboBox()
        self.model_filter = QComboBox()
        # The filters shrink to a few letters each before the search box gives up its width: in a
        # 1024-pixel window the search must stay usable.
        self.search.setMinimumWidth(120)
        for combo, letters in ((self.task_filter, 4), (self.backend_filter, 7), (self.model_filter, 4)):
            combo.setMinimumContentsLength(letters)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)

        self.list = QListView()
        self.list.setModel(model)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(ICON_SIZE)
        self.list.setGridSize(QSize(ICON_SIZE.width() + 24, ICON_SIZE.height() + 40))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setUniformItemSizes(True)
        self.list.setWordWrap(True)
        self.list.setLayoutMode(QListView.LayoutMode.Batched)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setDragEnabled(True)
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.list.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

        filters = QHBoxLayout()
        filters.addWidget(self.search, 4)
        filters.addWidget(self.task_filter, 1)
        filters.addWidget(self.backend_filter, 1)
        filters.addWidget(self.model_filter, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.list)

        # Search as the user types, but query once they pause.
        self._debounce = QTimer(self, singleShot=True, interval=150)
        self._debounce.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(self._debounce.start)
        for combo in (self.task_filter, self.backend_filter, self.model_filter):
            combo.currentIndexChanged.connect(self._apply_filter)
        self.list.selectionModel().selectionChanged.connect(self._selection_changed)
        self.refresh_filters()

    def refresh_filters(self) -> None:
        """Offer the tasks, backends and models that occur in the history."""
        db = self.model.library.db
        for combo, column, label in (
            (self.task_filter, "task", "All tasks"),
            (self.backend_filter, "backend", "All backends"),
            (self.model_filter, "model", "All models"),
        ):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(label, None)
            for value in db.distinct(column):
                combo.addItem(value.rsplit("/", 1)[-1] if column == "model" else value, value)
            combo.setCurrentIndex(max(combo.findData(current), 0))
            combo.blockSignals(False)

    def _apply_filter(self) -> None:
        self.model.set_filter(
            search=self.search.text(),
            task=self.task_filter.currentData(),
            backend=self.backend_filter.currentData(),
            model=self.model_filter.currentData(),
        )
        self._selection_changed()

    def selected_rows(self) -> list[HistoryRow]:
        indexes = sorted(self.list.selectionModel().selectedIndexes(), key=lambda i: i.row())
        return [i.data(ROW_ROLE) for i in indexes if i.data(ROW_ROLE) is not None]

    def select_id(self, row_id: int) -> None:
        index = self.model.index_of_id(row_id)
        if index.isValid():
            self.list.setCurrentIndex(index)

    def _selection_changed(self, *args) -> None:
        rows = self.selected_rows()
        self.current_changed.emit(rows[0] if len(rows) == 1 else None)

    def attach_menu(self, build_menu) -> None:
        """build_menu(QMenu) fills the context menu (the actions live in GalleryActions)."""

        def show(pos) -> None:
            menu = QMenu(self)
            build_menu(menu)
            menu.exec(self.list.viewport().mapToGlobal(pos))

        self.list.customContextMenuRequested.connect(show)
