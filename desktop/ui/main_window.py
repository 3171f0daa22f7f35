"""The main window: prompt form on the left, live preview and queue over the gallery in the middle,
details on the right. It wires the widgets to the generation bridge and the library."""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QImage, QKeySequence
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
from desktop.jobs.runner import JobState
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
from desktop.ui.model_lists import ModelLists
from desktop.ui.progress_panel import ProgressPanel
from desktop.ui.prompt_form import PromptForm

WELCOME = (
    "<h2>Welcome to Diffusion Studio</h2>"
    "<p>To make your first image, give the app a model:</p>"
    "<ul><li><b>A model from the catalogue</b>: <i>Models → Manage</i> downloads it (with a network).</li>"
    "<li><b>A diffusers model folder</b> on this computer: <i>Settings → Models → Add folder</i>, "
    "or type its path in <i>Model</i>.</li>"
    "<li><b>An OpenAI API key</b>: <i>Settings → OpenAI</i>, then choose the OpenAI backend.</li></ul>"
    "<p>Then write a prompt, or pick one under <i>Templates</i>, and press <b>Generate</b> (Ctrl+Enter).</p>"
)


# After the first paint, so that importing torch on the worker thread does not delay it.
WARM_UP_AFTER_MS = 300

DEMO_WELCOME = (
    "<h2>Welcome to Diffusion Studio</h2>"
    "<p>The built-in <b>demo model</b> is selected: a small model trained on simple pictures, so you can "
    "try everything offline, on any computer. Try <i>a red circle on a blue background</i> or <i>a small "
    "yellow triangle on the left on a black background</i>, then press <b>Generate</b> (Ctrl+Enter).</p>"
    "<p>For real pictures, download a model in <i>Models → Manage</i>, or add a model folder or an OpenAI "
    "key in <i>Settings</i>.</p>"
)


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
        # The Campaign tab needs more height than the gallery below it: it keeps its own split.
        self._middle_sizes: dict[bool, list[int]] = {True: [680, 180]}
        self._on_campaign = False
        self.stage.currentChanged.connect(self._stage_tab_changed)

        self.device_label = QLabel()
        self.statusBar().addPermanentWidget(self.device_label)
        self._show_engine_status(settings.device, "")
        self._build_menus()
        self._connect()

        self._restore_layout(settings.window)
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

    # --- construction ----------------------------------------------------------------------

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        settings_action = QAction("&Settings…", self, shortcut=QKeySequence("Ctrl+,"))
        settings_action.triggered.connect(self.open_settings)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        png_info = QAction("PNG &Info…", self, shortcut=QKeySequence("Ctrl+I"))
        png_info.setToolTip("See the prompt and settings a picture was made with (this app's, AUTOMATIC1111, ComfyUI…)")
        png_info.triggered.connect(self.choose_png_info)
        file_menu.addAction(png_info)
        file_menu.addAction(settings_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        edit_menu = menu.addMenu("&Edit")
        # One window-level Ctrl+Z: the last mask stroke on the Edit tab, else the last delete. (Text
        # fields still undo their own typing: they take the key first.)
        self.actions.undo.setShortcut(QKeySequence())
        undo = QAction("&Undo", self, shortcut=QKeySequence.StandardKey.Undo)
        undo.triggered.connect(self.undo)
        self.addAction(undo)
        edit_menu.addAction(undo)
        edit_menu.addSeparator()
        for action in (
            self.actions.edit,
            self.actions.animate,
            self.actions.reuse,
            self.actions.upscale_2,
            self.actions.upscale_4,
            self.actions.copy,
            self.actions.open,
            self.actions.delete,
        ):
            edit_menu.addAction(action)
        edit_menu.addMenu(self.actions.export_menu)
        find = QAction("&Find in gallery", self, shortcut=QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: self.gallery.search.setFocus())
        self.addAction(find)
        edit_menu.addAction(find)

        generate_menu = menu.addMenu("&Generate")
        # Shortcuts live on window-level actions: a button's shortcut is lost when its text changes.
        generate = QAction("&Generate", self)
        generate.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        generate.triggered.connect(self.generate)
        cancel = QAction("&Cancel running", self, shortcut=QKeySequence(Qt.Key.Key_Escape))
        cancel.triggered.connect(self.cancel_running)
        cancel_all = QAction("Cancel &all", self, shortcut=QKeySequence("Ctrl+Shift+Esc"))
        cancel_all.triggered.connect(self.bridge.cancel_all)
        clear = QAction("Clear finished jobs", self)
        clear.triggered.connect(self._clear_finished)
        for action in (generate, cancel, cancel_all, clear):
            generate_menu.addAction(action)
            self.addAction(action)

        manage_models = QAction("&Manage…", self)
        manage_models.setToolTip("Installed models and the catalogue: download, remove")
        manage_models.triggered.connect(self.open_models)
        menu.addMenu("&Models").addAction(manage_models)

        help_menu = menu.addMenu("&Help")
        for text, slot in (
            ("&Getting started", self.show_getting_started),
            ("&Keyboard shortcuts", self.show_shortcuts),
            ("&About Diffusion Studio", self.show_about),
        ):
            action = QAction(text, self)
            action.triggered.connect(slot)
            help_menu.addAction(action)

    def _connect(self) -> None:
        self.form.generate_requested.connect(self.generate)
        self.form.task_changed.connect(self._task_changed)
        self.actions.edit_requested.connect(self._edit_row)
        self.actions.animate_requested.connect(self._animate_row)
        self.actions.upscale_requested.connect(self.upscale_row)
        self.form.cancel_requested.connect(self.cancel_running)
        self.progress.cancel_job.connect(self.bridge.cancel)
        self.progress.cancel_all.connect(self.bridge.cancel_all)
        self.bridge.job_added.connect(self._job_added)
        self.bridge.job_changed.connect(self._job_changed)
        self.bridge.progress.connect(self.progress.show_progress)
        self.bridge.finished_job.connect(self._job_finished)
        self.bridge.engine_status.connect(self._show_engine_status)
        self.gallery.current_changed.connect(self._show_details)
        self.gallery.list.selectionModel().selectionChanged.connect(self.actions.selection_changed)
        self.gallery.attach_menu(self._fill_gallery_menu)
        self.actions.use_again.connect(self._use_again)
        self.actions.message.connect(self._show_message)

    def _fill_gallery_menu(self, menu) -> None:
        for action in (
            self.actions.edit,
            self.actions.animate,
            self.actions.upscale_2,
            self.actions.upscale_4,
            self.actions.reuse,
            self.actions.open,
            self.actions.copy,
        ):
            menu.addAction(action)
        menu.addMenu(self.actions.export_menu)
        menu.addSeparator()
        menu.addAction(self.actions.delete)

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

    def _stage_tab_changed(self) -> None:
        campaign = self.stage.currentWidget() is self.campaign
        if campaign == self._on_campaign:
            return
        middle = self._splitters["middle"]
        self._middle_sizes[self._on_campaign] = middle.sizes()
        self._on_campaign = campaign
        if campaign in self._middle_sizes:
            middle.setSizes(self._middle_sizes[campaign])

    def cancel_running(self) -> None:
        for job in self.bridge.jobs():
            if job.state is JobState.RUNNING:
                self.bridge.cancel(job.id)

    def _job_added(self, job_id: int) -> None:
        job = self.bridge.job(job_id)
        if job is not None:
            self.progress.add_job(job)
        self._update_busy()

    def _job_changed(self, job_id: int, state_value: str, message: str) -> None:
        state = JobState(state_value)
        self.progress.update_job(job_id, state, message)
        if state is JobState.FAILED:
            job = self.bridge.job(job_id)
            self.form.show_error(message, job.error_field if job is not None else None)
            self.statusBar().showMessage(f"Job #{job_id} failed.", 8000)
        elif state is JobState.DONE and message:
            self.statusBar().showMessage(f"Note: {message[:1].upper()}{message[1:]}", 15000)
        elif state is JobState.CANCELLED:
            self.statusBar().showMessage(f"Job #{job_id} cancelled; nothing was saved.", 5000)
        self._update_busy()

    def _job_finished(self, job_id: int, row_ids: list[int]) -> None:
        rows = [row for row in map(self.library.db.get, row_ids) if row is not None]
        self.gallery_model.add_new(rows)
        self.gallery.refresh_filters()
        if rows:
            self.form.set_last_seed(rows[0].seed)
            self.progress.show_result(QImage(str(self.library.still(rows[0]))))
            self.gallery.select_id(rows[0].id)
            hidden = (
                "" if self.gallery_model.shows(rows[0].id) else " The search or filters hide it: clear them to see it."
            )
            self.statusBar().showMessage(
                f"Job #{job_id}: {len(rows)} {rows[0].media}{'s' if len(rows) != 1 else ''} saved "
                f"in {rows[0].timings.get('generate_s', 0):.1f} s.{hidden}",
                8000,
            )

    def _update_busy(self) -> None:
        self.form.set_busy(any(job.active for job in self.bridge.jobs()))

    def _clear_finished(self) -> None:
        self.bridge.forget_finished()
        self.progress.clear_finished()

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
        has_local = bool(self._local_models()) or bool(self.form.model.currentText().strip())
        if self.gallery_model.rowCount() == 0 and is_demo(self.form.model_value):
            self.progress.show_message(DEMO_WELCOME)
        elif self.gallery_model.rowCount() == 0 and not has_local:
            self.progress.show_message(WELCOME)
        elif self.gallery_model.rowCount() == 0:
            self.progress.show_message(
                "<p>Write a prompt and press <b>Generate</b> (Ctrl+Enter). The preview updates at every step.</p>"
            )
        else:
            self.progress.show_message(
                "<p>Select an image in the gallery, or write a prompt and press <b>Generate</b>.</p>"
            )

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

    def _layout_state(self) -> dict:
        sizes = {f"{name}_splitter": splitter.sizes() for name, splitter in self._splitters.items()}
        if self._on_campaign and False in self._middle_sizes:
            sizes["middle_splitter"] = self._middle_sizes[False]  # the other tabs' split is the one kept
        return {
            "geometry": bytes(self.saveGeometry().toHex()).decode("ascii"),
            **sizes,
            "tab": self.stage.currentIndex(),
        }

    def _restore_layout(self, state: dict) -> None:
        """Window size, splitters and tab as the user left them; anything malformed is ignored."""
        geometry = state.get("geometry")
        if isinstance(geometry, str) and len(geometry) < 4096:
            self.restoreGeometry(QByteArray.fromHex(geometry.encode("ascii", "ignore")))
        for name, splitter in self._splitters.items():
            sizes = state.get(f"{name}_splitter")
            if isinstance(sizes, list) and len(sizes) == splitter.count() and all(isinstance(v, int) for v in sizes):
                splitter.setSizes(sizes)
        if state.get("tab") == 0:  # the Edit tab needs a picture: only the Generate tab comes back
            self.stage.setCurrentIndex(0)

    # --- shutdown ----------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the worker cleanly: the running job stops at its next step and nothing is half-written."""
        if self._closed:
            event.accept()
            return
        self._closed = True
        self.settings.last_form = self.form.state()
        self.settings.window = self._layout_state()
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
