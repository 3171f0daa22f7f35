"""Models → Manage: what is installed (the Hugging Face cache, the Settings folders, other tools' folders)
and the catalogue, with search, download (progress bar, speed, time left, cancel; it resumes) and remove.

Downloads and listing run on a thread of the window: huggingface_hub brings no machine-learning library
with it (tests/ui/test_models_dialog.py checks sys.modules), and its network waits and file writes leave
the UI thread free. The dialog hides rather than closes while a download runs, so it goes on in the
background; only plain values cross from that thread, as queued signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.models import is_hub_id
from desktop.engine.tasks import Task
from desktop.models.catalogue import CatalogueEntry, catalogue
from desktop.models.licence import licence_text
from desktop.models.memory import catalogue_need, device_memory, memory_warning
from desktop.models.sizes import format_bytes, format_duration, format_gb, format_speed
from desktop.ui.theme import error_text_color

TASK_LABELS = {t.value: t.spec.label.split(" (")[0] for t in Task} | {"image-to-video": "Video from a picture"}


class _Relay(QObject):
    """Carries a worker thread's news to the UI thread (queued: the relay lives on the UI thread)."""

    progress = Signal(str, int, int, float, float, int, int)  # file, done, total, speed, eta (-1), files done/total
    finished = Signal(str, bool, str)  # what finished ("download", "scan", "remove"), ok, message


class ModelsDialog(QDialog):
    models_changed = Signal()  # a download finished or a model was removed: model lists should be read again

    def __init__(self, settings_provider: Callable, parent=None) -> None:
        """settings_provider: returns the current Settings (model folders, device, CPU offload)."""
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(920, 560)
        self._settings = settings_provider
        self._job = None  # the Download in flight
        self._installed: list = []
        self._scanned: list = []
        self._entries: list[CatalogueEntry] = list(catalogue())
        self._relay = _Relay(self)
        self._relay.progress.connect(self._show_progress)
        self._relay.finished.connect(self._finished)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.cancel_download)

        self.search = QLineEdit(placeholderText="Search: name, task, licence (e.g. video, upscale, commercial)…")
        self.search.setClearButtonEnabled(True)
        self.installed_table = _table(["Model", "Can make", "Disk use", "Licence", "Where", "State"])
        self.catalogue_table = _table(["Model", "Can make", "Download", "Memory", "Licence", "Commercial use"])
        self.tabs = QTabWidget()
        self.tabs.addTab(self._installed_page(), "Installed")
        self.tabs.addTab(self._catalogue_page(), "Catalogue")

        self.download_title = QLabel()
        self.progress = QProgressBar(minimum=0, maximum=1000)
        self.progress_text = QLabel()
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        panel = QWidget()
        panel_layout = QVBoxLayout(panel)
        panel_layout.setContentsMargins(0, 0, 0, 0)
        panel_layout.addWidget(self.download_title)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        panel_layout.addLayout(row)
        panel_layout.addWidget(self.progress_text)
        self.download_panel = panel
        panel.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(panel)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.search.textChanged.connect(self._filter)
        self._fill_catalogue()
        self._device_timer = QTimer(self, interval=400)
        self._device_timer.timeout.connect(self._device_known)
        self._device_timer.start()
        self.refresh()

    # --- pages ---------------------------------------------------------------------------------

    def _installed_page(self) -> QWidget:
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip("Delete the selected model from the Hugging Face cache")
        self.remove_button.clicked.connect(lambda: self.remove_selected())
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.disk_total = QLabel()
        hint = QLabel(
            "Models in AUTOMATIC1111, ComfyUI or InvokeAI folders are used where they are, never copied: add "
            "the tool's folder in Settings → Models. Only the Hugging Face cache's models are removed here."
        )
        hint.setWordWrap(True)
        self.installed_table.itemSelectionChanged.connect(self._selection_changed)
        buttons = QHBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.refresh_button)
        buttons.addStretch()
        buttons.addWidget(self.disk_total)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.installed_table, 1)
        layout.addLayout(buttons)
        layout.addWidget(hint)
        return page

    def _catalogue_page(self) -> QWidget:
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download_selected)
        self.fp16 = QCheckBox("fp16 weights (half the size; what an NVIDIA GPU runs)")
        self.fp16.setToolTip("Full-precision weights are needed to run on a CPU or a Mac")
        self._fp16_touched = False
        self.fp16.clicked.connect(lambda: setattr(self, "_fp16_touched", True))
        self.hub_id = QLineEdit(placeholderText="or any Hugging Face id: org/name")
        self.hub_download = QPushButton("Download id")
        self.hub_download.clicked.connect(lambda: self.download(self.hub_id.text().strip()))
        self.hub_id.returnPressed.connect(self.hub_download.click)
        self.catalogue_table.doubleClicked.connect(self.download_selected)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addWidget(self.fp16)
        row.addStretch()
        row.addWidget(self.hub_id, 1)
        row.addWidget(self.hub_download)
        note = QLabel("Nothing is downloaded until you ask. Sizes and memory are approximate.")
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.catalogue_table, 1)
        layout.addLayout(row)
        layout.addWidget(note)
        return page

    def _fill_catalogue(self) -> None:
        table = self.catalogue_table
        table.setRowCount(len(self._entries))
        device = device_memory(self._settings().device, wait=False)
        installed = {m.id for m in self._installed if m.usable}
        for row, entry in enumerate(self._entries):
            size = format_gb(entry.download_gb)
            if entry.has_fp16:
                size += f" (fp16 {format_gb(entry.fp16_download_gb)})"
            warning = memory_warning(catalogue_need(entry), device, self._settings().cpu_offload, entry.name)
            memory = f"~{entry.memory_gb:g} GB" + (" ⚠" if warning else "")
            cells = [
                entry.name + (" ✓ installed" if entry.id in installed else ""),
                ", ".join(TASK_LABELS.get(t, t) for t in entry.tasks),
                size,
                memory,
                entry.licence_name,
                "yes" if entry.commercial else "no (non-commercial only)",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.id)
                item.setToolTip(f"{entry.id}\n{entry.description}")
                table.setItem(row, column, item)
            table.item(row, 3).setToolTip(
                warning
                or f"About {entry.memory_gb:g} GB of GPU memory ({entry.offload_memory_gb:g} GB with CPU offload)"
            )
        table.resizeColumnsToContents()
        self._filter()

    def _fill_installed(self) -> None:
        table = self.installed_table
        table.setRowCount(len(self._installed))
        for row, model in enumerate(self._installed):
            cells = [
                model.name if model.name == model.id else f"{model.name} ({model.id})",
                ", ".join(TASK_LABELS.get(t, t) for t in model.tasks) or "—",
                format_bytes(model.size_bytes),
                licence_text(model.licence),
                model.where,
                "ready" if model.usable else model.problem.split(":")[0],
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, model.id)
                item.setToolTip(f"{model.path}" + (f"\n{model.problem}" if model.problem else ""))
                table.setItem(row, column, item)
        table.resizeColumnsToContents()
        total = sum(m.size_bytes for m in self._installed if m.source == "hf-cache")
        self.disk_total.setText(f"The Hugging Face cache's models use {format_bytes(total)}")
        self._fill_catalogue()  # marks what is installed
        self._selection_changed()

    def _filter(self) -> None:
        words = self.search.text().lower().split()
        for row, entry in enumerate(self._entries):
            self.catalogue_table.setRowHidden(row, not entry.matches(self.search.text()))
        for row, model in enumerate(self._installed):
            text = " ".join((model.id, model.name, " ".join(model.tasks), model.licence or "", model.where)).lower()
            self.installed_table.setRowHidden(row, not all(w in text for w in words))
        self.tabs.setTabText(0, f"Installed ({len(self._installed)})")
        self.tabs.setTabText(1, f"Catalogue ({len(self._entries)})")

    def _device_known(self) -> None:
        """The device's memory arrives from a background probe: mark the models that will not fit."""
        device = device_memory(self._settings().device, wait=False)
        if device is None:
            return
        self._device_timer.stop()
        if not self._fp16_touched:
            self.fp16.setChecked(device.gpu and self._settings().device in ("auto", "cuda"))
        self._fill_catalogue()

    def _selection_changed(self) -> None:
        model = self.selected_installed()
        self.remove_button.setEnabled(model is not None and model.removable and self._job is None)

    # --- listing and removing ------------------------------------------------------------------

    def refresh(self) -> None:
        """List what is installed again, on a worker thread (a tool's folder can hold thousands of files)."""
        from desktop.models.installed import scan_installed

        folders = list(self._settings().model_folders)
        self.refresh_button.setEnabled(False)

        def scan() -> None:
            self._scanned = scan_installed(folders)

        self._in_thread("scan", scan)

    def selected_installed(self):
        rows = {i.row() for i in self.installed_table.selectedItems()}
        return self._installed[rows.pop()] if len(rows) == 1 else None

    def remove_selected(self, confirm: bool = True) -> None:
        from desktop.models.installed import remove

        model = self.selected_installed()
        if model is None or not model.removable:
            return
        if confirm:
            answer = QMessageBox.question(
                self,
                "Remove model",
                f"Remove {model.name} from the Hugging Face cache? This frees {format_bytes(model.size_bytes)}; "
                "it can be downloaded again.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.remove_button.setEnabled(False)

        def delete() -> str:
            return f"Removed {model.name}: {format_bytes(remove(model))} freed."

        self._in_thread("remove", delete)

    # --- downloading ---------------------------------------------------------------------------

    def download_selected(self) -> None:
        rows = {i.row() for i in self.catalogue_table.selectedItems()}
        if len(rows) == 1:
            self.download(self._entries[rows.pop()].id)
        else:
            self._say("Choose a model in the catalogue first.", error=True)

    def download(self, reference: str) -> None:
        """Download a catalogue entry or any hub id on a worker thread; one download at a time."""
        from desktop.models.catalogue import find_entry
        from desktop.models.download import Download

        if self._job is not None:
            self._say("One download at a time: wait for this one, or cancel it.", error=True)
            return
        entry = find_entry(reference, self._entries)
        repo_id = entry.id if entry else reference
        if not is_hub_id(repo_id):
            self._say(f"'{reference}' is not a Hugging Face id: give one as org/name.", error=True)
            return
        variant = "fp16" if self.fp16.isChecked() else None
        relay = self._relay
        job = Download(
            repo_id,
            variant=variant,
            files=entry.files if entry else (),
            on_progress=lambda p: relay.progress.emit(
                p.file,
                p.done_bytes,
                p.total_bytes,
                p.speed_bps,
                -1.0 if p.eta_s is None else p.eta_s,
                p.files_done,
                p.files_total,
            ),
        )
        self._job = job
        self._downloading = entry.name if entry else repo_id
        self.download_title.setText(f"Downloading {self._downloading}: listing its files…")
        self.progress.setValue(0)
        self.progress_text.setText("")
        self.download_panel.show()
        self.cancel_button.setEnabled(True)
        self._say("")
        self._busy(True)

        def fetch() -> str:
            result = job.run()
            precision = "fp16" if result.variant == "fp16" else "full-precision"
            where = (
                f"it is {result.folder / entry.files[0]}."  # a single file (an upscaler): its path is what is used
                if entry and entry.files
                else f"it is in the model list for {', '.join(TASK_LABELS.get(t, t) for t in entry.tasks)}."
                if entry
                else f"choose {repo_id} as the model."
            )
            return f"Downloaded {self._downloading} ({format_bytes(result.total_bytes)}, {precision} weights): {where}"

        self._in_thread("download", fetch)

    def cancel_download(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            self.download_title.setText(f"Cancelling the download of {self._downloading}…")

    @property
    def downloading(self) -> bool:
        return self._job is not None

    def _show_progress(self, file: str, done: int, total: int, speed: float, eta: float, files: int, count: int):
        if self._job is None:
            return
        self.download_title.setText(
            f"Downloading {self._downloading}: {file} ({min(files + 1, count)} of {count} files)"
        )
        self.progress.setValue(int(1000 * done / total) if total else 0)
        left = format_duration(None if eta < 0 else eta)
        self.progress_text.setText(
            f"{format_bytes(done)} of {format_bytes(total)} · {format_speed(speed)} · {left}"
            + (" left" if eta >= 0 else "")
        )

    # --- the worker thread ---------------------------------------------------------------------

    def _in_thread(self, what: str, work: Callable) -> None:
        relay = self._relay

        def run() -> None:
            try:
                message, ok = work() or "", True
            except Exception as exc:  # noqa: BLE001 - every failure becomes the one sentence shown
                message, ok = _sentence(exc), False
            try:
                relay.finished.emit(what, ok, message)
            except RuntimeError:  # the dialog is gone (the app is quitting)
                pass

        threading.Thread(target=run, name=f"models-{what}", daemon=True).start()

    def _finished(self, what: str, ok: bool, message: str) -> None:
        if what == "scan":
            self._installed = self._scanned
            self._fill_installed()
            self.refresh_button.setEnabled(True)
            return
        cancelled = False
        if what == "download":
            cancelled = self._job is not None and self._job.cancelled and not ok
            self._job = None
            self._busy(False)
            self.download_panel.hide()
            if cancelled:
                message = "Download cancelled: what was downloaded is kept, and downloading it again resumes."
        self._say(message, error=not ok and not cancelled)
        if ok:
            self.models_changed.emit()
        self.refresh()

    def _busy(self, running: bool) -> None:
        for widget in (self.download_button, self.hub_download):
            widget.setEnabled(not running)
        self._selection_changed()

    def _say(self, text: str, error: bool = False) -> None:
        first = text.split(" ", 1)[0]
        self.message.setText(text if "/" in first or first.startswith("'") else text[:1].upper() + text[1:])
        self.message.setStyleSheet(f"color: {error_text_color()}" if error else "")


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    table.setWordWrap(False)
    return table


def _sentence(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if text.endswith(".") else text + "."
