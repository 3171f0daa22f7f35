"""The main window's splitters: the Campaign tab keeps its own split of the middle column, and the
window's size, splitters and tab come back after a restart."""

from __future__ import annotations

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow, QSplitter, QTabWidget, QWidget


class WindowLayout:
    def __init__(self, window: QMainWindow, splitters: dict[str, QSplitter], stage: QTabWidget, campaign: QWidget):
        self.window, self.splitters, self.stage, self.campaign = window, splitters, stage, campaign
        # The Campaign tab needs more height than the gallery below it: it keeps its own split.
        self._middle_sizes: dict[bool, list[int]] = {True: [680, 180]}
        self._on_campaign = False
        stage.currentChanged.connect(self._tab_changed)

    def _tab_changed(self) -> None:
        campaign = self.stage.currentWidget() is self.campaign
        if campaign == self._on_campaign:
            return
        middle = self.splitters["middle"]
        self._middle_sizes[self._on_campaign] = middle.sizes()
        self._on_campaign = campaign
        if campaign in self._middle_sizes:
            middle.setSizes(self._middle_sizes[campaign])

    def state(self) -> dict:
        sizes = {f"{name}_splitter": splitter.sizes() for name, splitter in self.splitters.items()}
        if self._on_campaign and False in self._middle_sizes:
            sizes["middle_splitter"] = self._middle_sizes[False]  # the other tabs' split is the one kept
        return {
            "geometry": bytes(self.window.saveGeometry().toHex()).decode("ascii"),
            **sizes,
            "tab": self.stage.currentIndex(),
        }

    def restore(self, state: dict) -> None:
        """Window size, splitters and tab as the user left them; anything malformed is ignored."""
        geometry = state.get("geometry")
        if isinstance(geometry, str) and len(geometry) < 4096:
            self.window.restoreGeometry(QByteArray.fromHex(geometry.encode("ascii", "ignore")))
        for name, splitter in self.splitters.items():
            sizes = state.get(f"{name}_splitter")
            if isinstance(sizes, list) and len(sizes) == splitter.count() and all(isinstance(v, int) for v in sizes):
                splitter.setSizes(sizes)
        if state.get("tab") == 0:  # the Edit tab needs a picture: only the Generate tab comes back
            self.stage.setCurrentIndex(0)
