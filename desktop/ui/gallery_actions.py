"""What a user can do with gallery items: edit, animate, upscale, use the settings again, open, copy,
export, delete (undoable).

Shared by the gallery's context menu, the details pane and the main menu, so each action
exists once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from desktop.engine.tasks import MediaKind
from desktop.library.errors import LibraryError
from desktop.library.export import ExportError, export_image, export_video
from desktop.library.history import HistoryRow
from desktop.library.settings import Settings
from desktop.ui.gallery_model import GalleryModel


class GalleryActions(QObject):
    use_again = Signal(object)  # HistoryRow
    edit_requested = Signal(object)  # HistoryRow
    animate_requested = Signal(object)  # HistoryRow: its picture becomes a clip's first frame
    upscale_requested = Signal(object, int)  # HistoryRow, scale
    message = Signal(str, bool)  # text, is_error

    def __init__(self, model: GalleryModel, settings: Callable[[], Settings], parent: QWidget) -> None:
        super().__init__(parent)
        self._model = model
        self._library = model.library
        self._settings = settings
        self._parent = parent
        self._selection: Callable[[], list[HistoryRow]] = lambda: []
        self._deleted: list[list[HistoryRow]] = []

        self.edit = self._action("Edit…", self._edit, "Ctrl+E")
        self.animate = self._action("Animate…", self._animate, "")
        self.animate.setToolTip(
            "Make a short clip that starts from this picture (a video model that animates pictures)"
        )
        self.upscale_2 = self._action("Upscale ×2", lambda: self._upscale(2), "Ctrl+U")
        self.upscale_4 = self._action("Upscale ×4", lambda: self._upscale(4), "Ctrl+Shift+U")
        self.reuse = self._action("Use these settings again", self._reuse, "Ctrl+R")
        self.open = self._action("Open in viewer", self._open, "Ctrl+O")
        self.copy = self._action("Copy image", self._copy, QKeySequence.StandardKey.Copy)
        self.delete = self._action("Delete", self._delete, QKeySequence.StandardKey.Delete)
        self.undo = self._action("Undo delete", self._undo, QKeySequence.StandardKey.Undo)
        self.undo.setEnabled(False)
        self.export_menu = QMenu("Export to", parent)
        self.export_menu.aboutToShow.connect(self._fill_export_menu)
        self.set_selection_provider(self._selection)

    def _action(self, text: str, slot, shortcut) -> QAction:
        action = QAction(text, self._parent)
        action.setShortcut(QKeySequence(shortcut))
        # Only while the gallery has focus: in the prompt editor Ctrl+C, Delete and Ctrl+Z edit text.
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        self._parent.addAction(action)
        return action

    def set_selection_provider(self, provider: Callable[[], list[HistoryRow]]) -> None:
        self._selection = provider
        self.selection_changed()

    def selection_changed(self) -> None:
        count = len(self._selection())
        for action in (self.reuse, self.open, self.copy):
            action.setEnabled(count == 1)
        rows = self._selection()
        for action in (self.edit, self.animate, self.upscale_2, self.upscale_4):
            action.setEnabled(count == 1 and rows[0].media == MediaKind.IMAGE)
        self.delete.setEnabled(count > 0)
        self.export_menu.setEnabled(count > 0)

    def _one(self) -> HistoryRow | None:
        rows = self._selection()
        return rows[0] if len(rows) == 1 else None

    def _upscale(self, scale: int) -> None:
        row = self._one()
        if row is not None and row.media == MediaKind.IMAGE:
            self.upscale_requested.emit(row, scale)

    def _edit(self) -> None:
        row = self._one()
        if row is not None and row.media == MediaKind.IMAGE:
            self.edit_requested.emit(row)

    def _animate(self) -> None:
        row = self._one()
        if row is not None and row.media == MediaKind.IMAGE:
            self.animate_requested.emit(row)

    def _reuse(self) -> None:
        row = self._one()
        if row is not None:
            self.use_again.emit(row)

    def _open(self) -> None:
        row = self._one()
        if row is not None:
            path = self._library.absolute(row)
            if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
                self.message.emit(
                    f"No app on this computer opens {path.suffix} files; the file is {path} (drag it out instead).",
                    True,
                )

    def _copy(self) -> None:
        row = self._one()
        if row is None:
            return
        path = self._library.absolute(row)
        mime = QMimeData()
        mime.setImageData(QImage(str(self._library.still(row))))
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        QGuiApplication.clipboard().setMimeData(mime)
        self.message.emit("Image copied to the clipboard.", False)

    def _delete(self) -> None:
        rows = self._selection()
        if not rows:
            return
        trashed = []
        for row in rows:
            try:
                trashed.append(self._library.trash(row))
            except (OSError, LibraryError) as exc:
                reason = getattr(exc, "strerror", None) or exc
                self.message.emit(f"Could not delete {Path(row.path).name}: {reason}.", True)
        self._model.remove_ids({row.id for row in trashed})
        if trashed:
            self._deleted.append(trashed)
            self.undo.setEnabled(True)
            noun = "image" if len(trashed) == 1 else "images"
            self.message.emit(f"Deleted {len(trashed)} {noun}. Undo with Ctrl+Z.", False)

    def _undo(self) -> None:
        if not self._deleted:
            return
        rows = self._deleted.pop()
        restored = []
        for row in rows:
            try:
                restored.append(self._library.restore(row))
            except (OSError, LibraryError) as exc:
                self.message.emit(f"Could not restore {Path(row.path).name}: {exc}.", True)
        self._model.reload()
        self.undo.setEnabled(bool(self._deleted))
        if restored:
            self.message.emit(f"Restored {len(restored)} image{'s' if len(restored) != 1 else ''}.", False)

    def _fill_export_menu(self) -> None:
        menu = self.export_menu
        menu.clear()
        for destination in self._settings().export_destinations:
            action = menu.addAction(f"{destination.name}  ({destination.folder})")
            action.triggered.connect(lambda _=False, folder=destination.folder: self.export_to(Path(folder)))
        if menu.actions():
            menu.addSeparator()
        menu.addAction("Choose a folder…").triggered.connect(self._export_to_chosen_folder)

    def _export_to_chosen_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._parent, "Export to folder")
        if folder:
            self.export_to(Path(folder))

    def export_to(self, folder: Path) -> list[Path]:
        """Export the selection with the template and format from Settings; say what happened."""
        settings = self._settings()
        written = []
        for row in self._selection():
            source = self._library.absolute(row)
            try:
                if row.media == MediaKind.VIDEO:
                    written.append(
                        export_video(source, row, folder, settings.export_template, settings.video_export_format)
                    )
                elif row.media == MediaKind.MESH:
                    from desktop.library.mesh import export_mesh

                    written.append(
                        export_mesh(source, row, folder, settings.export_template, settings.mesh_export_format)
                    )
                else:
                    written.append(export_image(source, row, folder, settings.export_template, settings.export_format))
            except ExportError as exc:
                self.message.emit(str(exc)[:1].upper() + str(exc)[1:], True)
                return written
            except OSError as exc:
                self.message.emit(f"Export to {folder} failed: {exc.strerror or exc}.", True)
                return written
        if written:
            names = written[0].name if len(written) == 1 else f"{len(written)} files"
            self.message.emit(f"Exported {names} to {folder}.", False)
        return written
