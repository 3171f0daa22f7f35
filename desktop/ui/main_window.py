"""The main window: prompt form on the left, live preview and queue over the gallery in the middle,
details on the right. It wires the widgets to the generation bridge and the library."""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
)

from desktop import __version__
from desktop.engine.engine import Engine
from desktop.engine.errors import ValidationError
from desktop.engine.presets import DEMO_MODEL, installed_built_ins, is_demo
from desktop.engine.request import GenerationRequest
from desktop.engine.tasks import EXTEND, Task
from desktop.jobs.local import engine_config
from desktop.library.history import HistoryRow
from desktop.library.settings import Settings, save_settings
from desktop.library.store import Library
from desktop.ui import help_texts
from desktop.ui.bridge import GenerationBridge, ThumbnailLoader
from desktop.ui.campaign_panel import CampaignPanel
from desktop.ui.details_pane import DetailsPane
from desktop.ui.edit_panel import EditPanel
from desktop.ui.gallery_actions import GalleryActions
from desktop.ui.gallery_model import ICON_SIZE, GalleryModel
from desktop.ui.gallery_view import GalleryView
from desktop.ui.job_feedback import JobFeedback
from desktop.ui.model_lists import ModelLists
from desktop.ui.progress_panel import ProgressPanel
from desktop.ui.prompt_form import PromptForm
from desktop.ui.welcome import idle_message
from desktop.ui.window_layout import WindowLayout
from desktop.ui.window_menus import build_menus, fill_gallery_menu

# After the first paint, so that importing torch on the worker thread does not delay it.
WARM_UP_AFTER_MS = 300


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings, library: Library, bridge: GenerationBridge, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Diffusion Studio")
        screen = self.screen().availableGeometry()
        self.resize(min(1360, screen.width()), min(860, screen.height()))
        self.settings = settings
        self.library = library
        self.bridge = bridge
        bridge.setParent(self)
        self._closed = False
        self.setAcceptDrops(True)
        # Validates requests and answers what models can do; generating happens in the worker.
        self.engine = Engine(engine_config(settings))

        self.thumbnails = ThumbnailLoader(library.thumbnail_dir, ICON_SIZE, self)
        self.gallery_model = GalleryModel(library, self.thumbnails, self)
        self.form = PromptForm(self.engine)
        self.progress = ProgressPanel()
        self.edit_panel = EditPanel()
        self.stage = QTabWidget()
        self.stage.addTab(self.progress, "Generate")
        self.stage.addTab(self.edit_panel, "Edit")
        self.campaign = CampaignPanel(
            lambda: self.engine, self.form.request, bridge, library, confirm_licence=self._confirm_licence
        )
        self.stage.addTab(self.campaign, "Campaign")
        self.gallery = GalleryView(self.gallery_model)
        self.actions = GalleryActions(self.gallery_model, lambda: self.settings, self.gallery)
        self.actions.set_selection_provider(self.gallery.selected_rows)
        self.details = DetailsPane(self.actions, lambda backend, model: self.engine.capabilities(backend, model))

        form_scroll = QScrollArea()
        form_scroll.setWidgetResizable(True)
        form_scroll.setWidget(self.form)
        form_scroll.setMinimumWidth(320)
        # The form fits its width; only a short window scrolls it, and only up and down.
        form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        middle = QSplitter(Qt.Orientation.Vertical)
        middle.addWidget(self.stage)
        middle.addWidget(self.gallery)
        middle.setSizes([430, 430])
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(form_scroll)
        main.addWidget(middle)
        main.addWidget(self.details)
        main.setSizes([360, 680, 320])
        main.setChildrenCollapsible(False)
        main.setStretchFactor(1, 1)  # a narrower window takes its width from the middle, not the panes
        self.details.setMinimumWidth(240)  # narrower, the parameters wrap a word per line
        self.setCentralWidget(main)
        self._splitters = {"main": main, "middle": middle}
        self.layout_keeper = WindowLayout(self, self._splitters, self.stage, self.campaign)
        shown = (self.form, self.progress, self.gallery, self.gallery_model, self.statusBar().showMessage)
        self.jobs = JobFeedback(bridge, library, *shown, self)

        self.device_label = QLabel()
        self.statusBar().addPermanentWidget(self.device_label)
        self._show_engine_status(settings.device, "")
        build_menus(self)
        self._connect()

        self.layout_keeper.restore(settings.window)
        self.form.set_recent_prompts(settings.recent_prompts)
        # Folders from the settings and the demo now; the HF cache is scanned after the first paint.
        self.form.set_models("diffusers", self._local_models())
        self.form.restore(settings.last_form)
        local = self._local_models()
        if not settings.last_form and local and set(local) <= set(installed_built_ins()):
            # Nothing else configured (a fresh install): the built-in model, ready to go.
            self.form.select_model(DEMO_MODEL)
            self.form.apply_defaults()
        self._show_idle_message()
        if library.report.changed:  # a damaged history set aside and rebuilt, results a crash left unrecorded
            self.statusBar().showMessage(library.report.summary(), 30000)
        # Scanning the Hugging Face cache touches the disk, other lists the network: after the first paint.
        self.model_lists = ModelLists(
            self.form, lambda: self.engine, lambda: self.settings, self.statusBar().showMessage, self
        )
        self.model_lists.changed.connect(self._show_idle_message)
        QTimer.singleShot(0, self.model_lists.refresh)
        QTimer.singleShot(WARM_UP_AFTER_MS, self._warm_up_demo)

    def _connect(self) -> None:
        self.form.generate_requested.connect(self.generate)
        self.form.task_changed.connect(self._task_changed)
        self.form.cancel_requested.connect(self.jobs.cancel_running)
        self.actions.edit_requested.connect(self._edit_row)
        self.actions.animate_requested.connect(self._animate_row)
        self.actions.upscale_requested.connect(self.upscale_row)
        self.bridge.engine_status.connect(self._show_engine_status)
        self.gallery.current_changed.connect(self._show_details)
        self.gallery.list.selectionModel().selectionChanged.connect(self.actions.selection_changed)
        self.gallery.attach_menu(lambda menu: fill_gallery_menu(self.actions, menu))
        self.actions.use_again.connect(self._use_again)
        self.actions.message.connect(self._show_message)

    # --- generation ------------------------------------------------------------------------

    def generate(self) -> None:
        request = self.form.request()
        written_mask = None
        try:
            if request.task.spec.edits:
                request, written_mask = self._with_edit_inputs(request)
            # Validated once, here: the runner and the worker take it as it is.
            request = self.engine.validate(request)
        except ValidationError as exc:
            if written_mask:
                Path(written_mask).unlink(missing_ok=True)
            self.form.show_error(str(exc), exc.field)
            return
        except OSError as exc:
            self.form.show_error(f"Could not prepare the edit: {exc}.")
            return
        self.form.show_error("")
        from desktop.ui.licence_warning import confirm_licence

        if not confirm_licence(self, request, self.settings):  # a non-commercial model: asked once
            if written_mask:
                Path(written_mask).unlink(missing_ok=True)
            return
        self.bridge.submit(request)
        self.stage.setCurrentWidget(self.progress)
        self.settings.remember_prompt(request.prompt)
        self.form.set_recent_prompts(self.settings.recent_prompts)
        self._save_settings()

    def _with_edit_inputs(self, request: GenerationRequest) -> tuple[GenerationRequest, str | None]:
        """The request with the Edit tab's picture, mask, extension and strength."""
        panel = self.edit_panel
        image, mask = panel.write_inputs(self.library.root / "edits", request.task)
        request = dataclasses.replace(
            request,
            image=image,
            mask=mask,
            extend=panel.extension() if request.task.spec.uses(EXTEND) else (0, 0, 0, 0),
            # The panel offers a strength for restyling; inpaint and outpaint redraw their area fully.
            strength=panel.strength.value() if request.task is Task.IMAGE_TO_IMAGE else None,
            source_id=panel.source_id,
        )
        return request, mask

    def _task_changed(self, task: Task) -> None:
        self.edit_panel.set_task(task)
        self.stage.setCurrentWidget(self.edit_panel if task.spec.edits else self.progress)

    # --- help ------------------------------------------------------------------------------------

    def _inform(self, title: str, text: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.NoIcon, title, text, QMessageBox.StandardButton.Close, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        box.open()  # not exec(): the window (and its queue) keeps running behind it
        return box

    def show_getting_started(self) -> QMessageBox:
        return self._inform("Getting started", help_texts.getting_started())

    def show_shortcuts(self) -> QMessageBox:
        return self._inform("Keyboard shortcuts", help_texts.shortcuts())

    def show_about(self) -> QMessageBox:
        device = self.device_label.text().removeprefix("Device: ")
        return self._inform(
            "About Diffusion Studio",
            f"<h3>Diffusion Studio {__version__}</h3>"
            "<p>Text to image and video on your own GPU, a team server or the OpenAI Images API.</p>"
            f"<p><b>Device:</b> {html.escape(device)}<br><b>Library:</b> {html.escape(str(self.library.root))}</p>",
        )

    def undo(self) -> None:
        if self.stage.currentWidget() is self.edit_panel and self.edit_panel.canvas.can_undo():
            self.edit_panel.canvas.undo()
        elif self.actions.undo.isEnabled():
            self.actions.undo.trigger()
        else:
            self.statusBar().showMessage("Nothing to undo.", 3000)

    def open_for_edit(self, path: Path, source_id: int | None = None) -> bool:
        """Load a picture into the Edit tab and pick an editing task (inpaint unless one is chosen)."""
        if not self.edit_panel.load(path, source_id):
            self.statusBar().showMessage(self.edit_panel.title.text(), 8000)
            return False
        if not self.form.task_value.spec.edits:
            self.form.task.setCurrentIndex(self.form.task.findData(Task.INPAINT.value))
        self.stage.setCurrentWidget(self.edit_panel)
        return True

    def upscale_row(self, row: HistoryRow, scale: int):
        """Queue an upscale of a gallery picture with the upscaler from Settings (a plain Lanczos resize
        where none is set); the result links back to it like an edit. Returns the job, or None."""
        request = GenerationRequest(
            prompt=row.prompt,
            task=Task.UPSCALE,
            backend="upscale",
            model=self.settings.default_upscaler,
            image=str(self.library.absolute(row)),
            scale=scale,
            source_id=row.id,
        )
        try:
            request = self.engine.validate(request)
        except ValidationError as exc:
            self.statusBar().showMessage(f"Cannot upscale: {exc}", 10000)
            return None
        job = self.bridge.submit(request)
        self.stage.setCurrentWidget(self.progress)
        self.statusBar().showMessage(
            f"Upscaling ×{scale} with {self.engine.backend('upscale').describe(request.model)}…", 5000
        )
        return job

    def _edit_row(self, row: HistoryRow) -> None:
        self.open_for_edit(self.library.still(row), row.id)

    def _animate_row(self, row: HistoryRow) -> None:
        """Animate: the picture becomes a clip's first frame (image-to-video, with a model that can)."""
        self.form.offer_task(Task.IMAGE_TO_VIDEO)
        self.open_for_edit(self.library.still(row), row.id)

    def dragEnterEvent(self, event) -> None:
        if _dropped_pictures(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        pictures = _dropped_pictures(event.mimeData())
        if pictures and self.open_for_edit(pictures[0]):
            event.acceptProposedAction()
            self.show_png_info(pictures[0], quiet=True)

    def choose_png_info(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "PNG Info: choose a picture", "", "Pictures (*.png *.jpg *.jpeg *.webp)"
        )
        if path:
            self.show_png_info(Path(path))

    def show_png_info(self, path: Path, quiet: bool = False):
        """The settings a picture carries, in a dialog that can put them into the form; None if it has none."""
        from desktop.library.png_info import read_settings
        from desktop.ui.png_info_dialog import PngInfoDialog

        found = read_settings(path)
        if found is None:
            if not quiet:
                self.statusBar().showMessage(f"{path.name} carries no generation settings.", 6000)
            return None
        dialog = PngInfoDialog(found, path.name, self)
        dialog.use_settings.connect(self._use_found)
        dialog.open()
        return dialog

    def _use_found(self, found) -> None:
        skipped = self.form.apply_found(found)
        left = f" Not used: {', '.join(skipped)}." if skipped else ""
        self.statusBar().showMessage(f"Settings from {found.generator} loaded into the form.{left}", 10000)

    def _confirm_licence(self, request: GenerationRequest) -> bool:
        """The non-commercial licence warning (asked once per model); a "don't ask again" is saved."""
        from desktop.ui.licence_warning import confirm_licence

        accepted = confirm_licence(self, request, self.settings)
        if accepted:
            self._save_settings()
        return accepted

    # --- gallery and details ---------------------------------------------------------------

    def _show_details(self, row: HistoryRow | None) -> None:
        if row is None:
            self.details.show_row(None, None)
        else:
            self.details.show_row(row, self.library.absolute(row), self.library.still(row), self._source_of(row))

    def _source_of(self, row: HistoryRow) -> Path | None:
        """The picture an edit started from: its gallery item, or the file it was given, while either is
        inside the library (a path read from the history is never followed outside it)."""
        source_id = row.request.get("source_id")
        if isinstance(source_id, int):
            source = self.library.db.get(source_id)
            if source is not None and self.library.still(source).is_file():
                return self.library.still(source)
        image = row.request.get("image")
        if isinstance(image, str) and image:
            path = Path(image).resolve()
            if path.is_relative_to(self.library.root.resolve()) and path.is_file():
                return path
        return None

    def _use_again(self, row: HistoryRow) -> None:
        request = GenerationRequest.from_dict(row.request)
        self.form.apply_request(request)
        self.statusBar().showMessage("Settings loaded into the form.", 4000)

    def _show_message(self, text: str, is_error: bool) -> None:
        self.statusBar().showMessage(text, 10000 if is_error else 5000)

    def _show_engine_status(self, device: str, model: str) -> None:
        device_text = {"auto": "picked at the first generation"}.get(device, device)
        model_text = model.rsplit("/", 1)[-1] if model else "no model loaded"
        self.device_label.setText(f"Device: {device_text} · {model_text}")

    # --- settings --------------------------------------------------------------------------

    def _local_models(self) -> list[str]:
        """The settings' folders and the demo, without scanning the HF cache (before the first paint)."""
        return self.engine.backend("diffusers").local_models()

    def _warm_up_demo(self) -> None:
        """The demo model is small (a second to import and load): have it ready by the first click.
        Big models are loaded by their first generation, not on every start."""
        if self.form.backend_value == "diffusers" and is_demo(self.form.model_value):
            self.bridge.warm_up(DEMO_MODEL)

    def _cached_models(self) -> list[str]:
        from desktop.engine.models import cached_pipelines

        try:
            return cached_pipelines()
        except OSError:
            return []

    def _show_idle_message(self) -> None:
        has_model = bool(self._local_models()) or bool(self.form.model.currentText().strip())
        empty = self.gallery_model.rowCount() == 0
        self.progress.show_message(idle_message(empty, is_demo(self.form.model_value), has_model))

    def open_models(self):
        """Models → Manage; one dialog, kept (hidden) while the window lives, so a download goes on behind it."""
        from desktop.ui.models_dialog import ModelsDialog

        if getattr(self, "_models_dialog", None) is None:
            self._models_dialog = ModelsDialog(lambda: self.settings, self)
            self._models_dialog.models_changed.connect(self.model_lists.rescan_cache)
        self._models_dialog.show()
        self._models_dialog.activateWindow()  # in front again when it was open behind the window
        return self._models_dialog

    def open_settings(self) -> None:
        from desktop.library.key_store import load_api_key, load_server_token, save_api_key, save_server_token
        from desktop.ui.settings_dialog import SettingsDialog

        upscalers = [
            (info.label, "" if info.kind == "lanczos" else info.model)
            for info in self.engine.backend("upscale").upscalers()
            if info.usable
        ]
        dialog = SettingsDialog(
            self.settings, load_api_key(), self._cached_models(), self, upscalers, server_token=load_server_token()
        )
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        key, token = dialog.result_api_key(), dialog.result_server_token()
        where = save_api_key(key)
        save_server_token(token)  # before the settings apply: the new engine reads it
        self.apply_settings(dialog.result_settings())
        kept = f"the OpenAI key is kept in {where}" if key else "no OpenAI key is kept"
        self.statusBar().showMessage(f"Settings saved; {kept}.", 6000)

    def apply_settings(self, settings: Settings) -> None:
        from PySide6.QtWidgets import QApplication

        from desktop.ui.theme import apply_theme

        apply_theme(QApplication.instance(), settings.theme)
        self.settings = settings
        self._save_settings()
        self.engine = Engine(engine_config(settings))
        self.form.set_engine(self.engine)
        self.bridge.reset_engine(settings)
        self.model_lists.refresh()

    def _save_settings(self) -> None:
        try:
            save_settings(self.settings)
        except OSError as exc:
            self.statusBar().showMessage(f"Could not save the settings: {exc.strerror or exc}.", 8000)

    # --- shutdown ----------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the worker cleanly: the running job stops at its next step and nothing is half-written."""
        if self._closed:
            event.accept()
            return
        self._closed = True
        self.settings.last_form = self.form.state()
        self.settings.window = self.layout_keeper.state()
        self._save_settings()
        self.statusBar().showMessage("Stopping…")
        self.campaign.shutdown()  # before the bridge: it lets go of the campaign's run lock and journal
        self.bridge.shutdown()
        if self.details.player is not None:
            self.details.player.stop()
        self.thumbnails.wait()
        self.library.empty_trash()
        self.library.close()
        event.accept()


PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


def _dropped_pictures(mime) -> list[Path]:
    """Local picture files among dropped URLs."""
    if not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    return [p for p in paths if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file()]
