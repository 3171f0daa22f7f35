"""The Campaign tab's Results page: every image made, by row then format, to approve or reject, and
"Export approved" for the stakeholder's folder (with its manifest) and the contact sheet PDF.

Approval is kept in the campaign's journal, so it survives a restart and shows in the manifest.
Copying files and drawing the PDF run off the UI thread; what they need from the journal is read
here first (its SQLite connection belongs to this thread).
"""

from __future__ import annotations

import bisect
import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QAction, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.jobs import campaign_output as out
from desktop.library.campaign_journal import DONE
from desktop.ui.bridge import ThumbnailLoader, run_in_background

if TYPE_CHECKING:
    from desktop.jobs.campaign_session import CampaignSession

THUMBNAIL = QSize(96, 96)
KEY_ROLE = Qt.ItemDataRole.UserRole
MARKS = {True: "✓ approved", False: "✗ rejected", None: ""}


class CampaignReview(QWidget):
    def __init__(self, thumbnail_dir: Path, parent=None) -> None:
        super().__init__(parent)
        self.session: CampaignSession | None = None
        self._order: dict[tuple, int] = {}  # key -> position in the plan
        self._shown: list[int] = []  # plan positions of the list's items, in list order
        self._by_path: dict[str, QListWidgetItem] = {}
        self.thumbnails = ThumbnailLoader(thumbnail_dir, THUMBNAIL, self)
        self.thumbnails.ready.connect(self._thumbnail_ready)

        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(THUMBNAIL)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setGridSize(QSize(THUMBNAIL.width() + 44, THUMBNAIL.height() + 58))
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.approve_button = QPushButton("Approve")
        self.reject_button = QPushButton("Reject")
        self.export_button = QPushButton("Export approved…")
        self.sheet_button = QPushButton("Contact sheet")
        self.sheet_button.setToolTip("A PDF of every image, captioned by segment and format, for the approver")
        self.counts = QLabel()
        self.counts.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # narrow: it clips
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setOpenExternalLinks(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        for text, key, approved in (("Approve", "A", True), ("Reject", "R", False), ("Undecided", "U", None)):
            action = QAction(text, self.list)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.triggered.connect(lambda _=False, a=approved: self.set_approved(a))
            self.list.addAction(action)
        self.approve_button.setToolTip("Approve the selected images (A)")
        self.reject_button.setToolTip("Reject the selected images (R; U: undecided)")

        # Two short rows rather than one long one: the tab must fit beside the form on a small screen.
        judging = QHBoxLayout()
        judging.addWidget(self.approve_button)
        judging.addWidget(self.reject_button)
        judging.addWidget(self.counts, 1)
        sharing = QHBoxLayout()
        sharing.addWidget(self.status, 1)
        sharing.addWidget(self.sheet_button)
        sharing.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(judging)
        layout.addLayout(sharing)

        self.approve_button.clicked.connect(lambda: self.set_approved(True))
        self.reject_button.clicked.connect(lambda: self.set_approved(False))
        self.export_button.clicked.connect(self.choose_export_folder)
        self.sheet_button.clicked.connect(self.write_contact_sheet)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()

    # --- the images ------------------------------------------------------------------------

    def show_session(self, session: CampaignSession) -> None:
        """Show what session has made so far."""
        self.session = session
        self._order = {planned.key: i for i, planned in enumerate(session.items)}
        self.list.clear()
        self._shown, self._by_path = [], {}
        self.status.setText("")
        for planned, path in session.sheet_entries():
            self.add_image(*planned.key, str(path))
        self._update_buttons()

    def close_session(self) -> None:
        self.session = None
        self.thumbnails.wait()

    def add_image(self, row: int, fmt: str, image: int, path: str) -> None:
        """An image made (or found made): placed in plan order, by row then format."""
        key = (row, fmt, image)
        position = self._order.get(key)
        if self.session is None or position is None:
            return
        planned = self.session.items[position]
        if path in self._by_path:
            return
        item = QListWidgetItem()
        item.setData(KEY_ROLE, key)
        item.setToolTip(f"{planned.prompt}\n{planned.width}×{planned.height} · seed {planned.seed}\n{path}")
        index = bisect.bisect(self._shown, position)
        self._shown.insert(index, position)
        self.list.insertItem(index, item)
        self._by_path[path] = item
        journal_item = self.session.journal.item(key)
        self._label(item, journal_item.approved if journal_item else None)
        self.thumbnails.request(Path(path))
        self._update_buttons()

    def _thumbnail_ready(self, path: str, image) -> None:
        item = self._by_path.get(path)
        if item is not None:
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    def _label(self, item: QListWidgetItem, approved: bool | None) -> None:
        row, fmt, image = item.data(KEY_ROLE)
        planned = self.session.items[self._order[(row, fmt, image)]]
        extra = f" #{image + 1}" if image else ""
        mark = MARKS[approved]
        item.setText(f"{row} · {planned.segment[:24]}\n{fmt}{extra}" + (f"\n{mark}" if mark else ""))

    # --- approval --------------------------------------------------------------------------

    def set_approved(self, approved: bool | None) -> None:
        items = self.list.selectedItems()
        if self.session is None or not items:
            return
        self.session.approve([item.data(KEY_ROLE) for item in items], approved)
        for item in items:
            self._label(item, approved)
        self._update_buttons()

    def _update_buttons(self) -> None:
        selected = bool(self.list.selectedItems())
        self.approve_button.setEnabled(selected)
        self.reject_button.setEnabled(selected)
        approved = rejected = 0
        if self.session is not None:
            for item in self.session.journal.items().values():
                if item.status == DONE:
                    approved += item.approved is True
                    rejected += item.approved is False
        self.export_button.setEnabled(approved > 0)
        self.sheet_button.setEnabled(self.list.count() > 0)
        self.counts.setText(f"{self.list.count()} images · {approved} approved · {rejected} rejected")

    # --- out of the app --------------------------------------------------------------------

    def choose_export_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export approved images to")
        if folder:
            self.export_approved(Path(folder))

    def export_approved(self, destination: Path) -> None:
        """Copy the approved images and their manifest to destination (off the UI thread)."""
        session = self.session
        if session is None:
            return
        sources = session.approved_sources()
        name, columns = session.campaign.name, session.campaign.columns
        self.status.setText(f"Exporting {len(sources)} approved images…")
        self.export_button.setEnabled(False)
        run_in_background(
            self,
            lambda: [str(p) for p in out.export_images(name, columns, sources, destination)],
            lambda written: self._done(
                f"Exported {len(written)} approved image{'s' if len(written) != 1 else ''} and "
                f"{out.MANIFEST_NAME} to {_link(destination)}."
            ),
            lambda message: self._done(f"The export stopped: {message}", error=True),
        )

    def write_contact_sheet(self) -> None:
        session = self.session
        if session is None:
            return
        shown, folder, name = session.sheet_entries(), session.folder, session.campaign.name
        self.status.setText(f"Drawing the contact sheet of {len(shown)} images…")
        self.sheet_button.setEnabled(False)
        run_in_background(
            self,
            lambda: [str(out.write_sheet(folder, name, shown))],
            lambda written: self._done(f"Contact sheet: {_link(Path(written[0]))}."),
            lambda message: self._done(f"The contact sheet could not be written: {message}", error=True),
        )

    def _done(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #d9534f;" if error else "")
        self._update_buttons()


def _link(path: Path) -> str:
    url = html.escape(QUrl.fromLocalFile(str(path)).toString(), quote=True)
    return f'<a href="{url}">{html.escape(str(path))}</a>'
