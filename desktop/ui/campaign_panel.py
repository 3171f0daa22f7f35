"""The Campaign tab: a prompt template x a CSV of audience segments x formats, planned before it runs.

The definition is on top (CSV, name, templates, formats, output folder); the model, size, steps,
guidance, seed and images per row come from the form on the left, as for a single picture. Every
edit re-plans (debounced) with the same plan() the CLI validates with, so the expanded prompts, the
count and the estimated time shown are what Run will make — and a mistake is one sentence naming
the row and column before anything runs. Results and approval are on the Results page
(campaign_review.py); campaign_driver.py makes the images through the window's queue.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.errors import ValidationError
from desktop.engine.presets import model_label
from desktop.engine.request import GenerationRequest
from desktop.jobs.campaign import Campaign, CampaignError, CampaignSettings, plan
from desktop.jobs.campaign_estimate import estimate_seconds
from desktop.jobs.campaign_formats import FORMATS
from desktop.jobs.campaign_session import CampaignSession
from desktop.library.campaign_journal import list_campaigns
from desktop.library.errors import LibraryError
from desktop.ui.campaign_driver import FINISHED, IDLE, PAUSED, PAUSING, RUNNING, CampaignDriver
from desktop.ui.campaign_review import CampaignReview
from desktop.ui.progress_panel import format_seconds

if TYPE_CHECKING:
    from desktop.engine.engine import Engine
    from desktop.library.store import Library
    from desktop.ui.bridge import GenerationBridge

REPLAN_AFTER_MS = 300  # typing in a template re-plans once the user pauses
PLAN_ROWS_SHOWN = 500  # the table shows this many planned images; the count says how many in all
SEGMENTS_HINT = "a CSV (UTF-8) or Excel workbook of audience segments, with a header row"


class CampaignPanel(QWidget):
    def __init__(
        self,
        engine: Callable[[], Engine],
        form_request: Callable[[], GenerationRequest],
        bridge: GenerationBridge,
        library: Library,
        confirm_licence: Callable[[GenerationRequest], bool] = lambda request: True,
        parent=None,
    ) -> None:
        """confirm_licence(request) asks before a model with a non-commercial licence makes anything."""
        super().__init__(parent)
        self._engine, self._form_request, self._library = engine, form_request, library
        self._confirm_licence = confirm_licence
        self._campaign: Campaign | None = None
        self.driver = CampaignDriver(bridge, self)
        self.review = CampaignReview(library.thumbnail_dir, self)
        self._replan = QTimer(self, singleShot=True, interval=REPLAN_AFTER_MS)
        self._replan.timeout.connect(self.refresh_plan)
        self._build()
        self._connect()
        self._show_state(IDLE)

    # --- construction ----------------------------------------------------------------------

    def _build(self) -> None:
        self.csv_path = QLineEdit(placeholderText=SEGMENTS_HINT)
        self.open_csv = QPushButton("Open…")
        self.earlier = QComboBox()
        self.earlier.setToolTip("A campaign run before in this library: its definition, to resume or review")
        self.name = QLineEdit(placeholderText="the CSV's name")
        self.template = QPlainTextEdit(placeholderText="A {person} at a {place} wearing our t-shirt")
        self.template.setFixedHeight(self.fontMetrics().lineSpacing() * 2 + 14)
        self.columns = QLabel()  # not word-wrapped: a wrapped label's height hint inflates the form
        self.columns.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.negative = QLineEdit(placeholderText="optional, with {column} placeholders too")
        self.format_boxes = {name: QCheckBox(name) for name in FORMATS}
        self.format_boxes["1:1"].setChecked(True)
        self.from_master = QCheckBox("Outpaint from the first")
        self.from_master.setToolTip(
            "The same subject in every format: each row's first format is drawn, the others extend it by outpainting"
        )
        self.output = QLineEdit(placeholderText="default: the CSV's folder")
        self.browse_output = QPushButton("Browse…")

        csv_row = QHBoxLayout()
        csv_row.addWidget(self.csv_path, 1)
        csv_row.addWidget(self.open_csv)
        csv_row.addWidget(self.earlier)
        formats_row = QGridLayout()  # two rows of four: the tab must fit beside the form on a small screen
        for index, box in enumerate(self.format_boxes.values()):
            formats_row.addWidget(box, index // 4, index % 4)
        formats_row.setColumnStretch(4, 1)
        output_row = QHBoxLayout()
        output_row.addWidget(self.name, 1)
        output_row.addWidget(QLabel("Output folder"))
        output_row.addWidget(self.output, 2)
        output_row.addWidget(self.browse_output)
        definition = QFormLayout()
        definition.addRow("Segments", csv_row)
        definition.addRow("Prompt template", self.template)
        definition.addRow("", self.columns)
        definition.addRow("Negative template", self.negative)
        definition.addRow("Formats", formats_row)
        definition.addRow("", self.from_master)
        definition.addRow("Name", output_row)
        top = QScrollArea()  # squeezed by a short window, it scrolls instead of overlapping its rows
        top.setWidgetResizable(True)
        top.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget()
        inner.setLayout(definition)
        top.setWidget(inner)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("campaignError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d9534f;")
        self.plan_table = QTableWidget(0, 5)
        self.plan_table.setHorizontalHeaderLabels(["Row", "Segment", "Format", "Size", "Prompt"])
        self.plan_table.verticalHeader().setVisible(False)
        self.plan_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.plan_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.plan_table.horizontalHeader()
        for column in range(4):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.pages = QTabWidget()
        self.pages.addTab(self.plan_table, "Plan")
        self.pages.addTab(self.review, "Results")

        self.run_button = QPushButton("Run")
        self.run_button.setToolTip(
            "Make every image of the plan not made yet, with the model, size, steps and seed set in the form"
        )
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Stop at the running image's next step; Resume makes the rest")
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.status = QLabel()  # what a run ended with; hidden until then
        self.status.setWordWrap(True)
        self.status.setVisible(False)
        controls = QHBoxLayout()
        controls.addWidget(self.run_button)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.bar, 1)

        bottom = QWidget()
        lower = QVBoxLayout(bottom)
        lower.setContentsMargins(0, 0, 0, 0)
        lower.addWidget(self.error)
        lower.addWidget(self.summary)
        lower.addWidget(self.pages, 1)
        lower.addLayout(controls)
        lower.addWidget(self.status)
        # The definition keeps its natural height (scrolling only in a short window); the plan or
        # the results below take the rest.
        natural = inner.sizeHint().height() + 4
        top.setMaximumHeight(natural)
        top.setMinimumHeight(min(natural, 70))
        layout = QVBoxLayout(self)
        layout.addWidget(top)
        layout.addWidget(bottom, 1)
        self._fill_earlier()

    def _connect(self) -> None:
        self.open_csv.clicked.connect(self._choose_csv)
        self.browse_output.clicked.connect(self._choose_output)
        self.earlier.activated.connect(self._load_earlier)
        for edit in (self.csv_path, self.name, self.negative, self.output):
            edit.textChanged.connect(self._schedule_plan)
        self.template.textChanged.connect(self._schedule_plan)
        for box in (*self.format_boxes.values(), self.from_master):
            box.toggled.connect(self._schedule_plan)
        self.run_button.clicked.connect(self.run)
        self.pause_button.clicked.connect(self.driver.pause)
        self.driver.state_changed.connect(self._show_state)
        self.driver.progress.connect(self._show_progress)
        self.driver.message.connect(self._show_message)
        self.driver.image_ready.connect(self.review.add_image)

    # --- the definition --------------------------------------------------------------------

    def _choose_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Audience segments", "", "Segments (*.csv *.xlsx);;All files (*)")
        if path:
            self.csv_path.setText(path)

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output.text() or str(Path.home()))
        if folder:
            self.output.setText(folder)

    def _fill_earlier(self) -> None:
        self.earlier.clear()
        self.earlier.addItem("Earlier campaigns…", None)
        try:
            names = [name for name, _folder in list_campaigns(self._library.root)]
        except OSError:
            names = []
        for name in names:
            self.earlier.addItem(name, name)
        self.earlier.setEnabled(bool(names))

    def _load_earlier(self, index: int) -> None:
        """Show a campaign as it was last run (the journal keeps its definition and output folder)."""
        name = self.earlier.itemData(index)
        self.earlier.setCurrentIndex(0)
        if not name or self.driver.state in (RUNNING, PAUSING):
            return
        try:
            session = CampaignSession.reopen(name, self._engine(), self._library.root)
        except (CampaignError, LibraryError) as exc:
            self._show_error(str(exc))
            return
        campaign = session.campaign
        self._campaign = campaign
        self.csv_path.blockSignals(True)
        self.csv_path.setText("")  # the rows come from the journal, not a file
        self.csv_path.setPlaceholderText(f"{len(campaign.rows)} rows from the last run of '{campaign.name}'")
        self.csv_path.blockSignals(False)
        self._fill_definition(campaign, str(session.output))
        self._adopt(session)

    def _fill_definition(self, campaign: Campaign, output: str) -> None:
        widgets = (self.name, self.template, self.negative, self.output, *self.format_boxes.values(), self.from_master)
        for widget in widgets:
            widget.blockSignals(True)
        self.name.setText(campaign.name)
        self.template.setPlainText(campaign.prompt_template)
        self.negative.setText(campaign.negative_template)
        self.output.setText(output)
        for name, box in self.format_boxes.items():
            box.setChecked(name in campaign.formats)
        self.from_master.setChecked(campaign.formats_from_master)
        for widget in widgets:
            widget.blockSignals(False)

    def _schedule_plan(self) -> None:
        if self.sender() is self.csv_path:
            self.csv_path.setPlaceholderText(SEGMENTS_HINT)
            self._campaign = None  # a new file: its rows are read again
        self._replan.start()

    def campaign(self) -> Campaign:
        """The campaign as defined now; CampaignError (one sentence) when it cannot be."""
        request = self._form_request()
        settings = CampaignSettings(
            backend=request.backend,
            model=request.model,
            width=request.width,
            height=request.height,
            steps=request.steps,
            guidance=request.guidance,
            seed=request.seed,
            count=request.count,
            scheduler=request.scheduler,
            quality=request.quality,
            style=request.style,
        )
        formats = tuple(name for name, box in self.format_boxes.items() if box.isChecked())
        if not formats:
            raise CampaignError("no format is chosen: tick at least one.")
        options = {
            "negative_template": self.negative.text().strip(),
            "formats": formats,
            "formats_from_master": self.from_master.isChecked(),
            "settings": settings,
        }
        name = self.name.text().strip() or None
        if self._campaign is not None and not self.csv_path.text().strip():  # reopened from its journal
            base = self._campaign
            return Campaign(
                name=name or base.name,
                prompt_template=self.template.toPlainText().strip(),
                columns=base.columns,
                rows=base.rows,
                name_template=base.name_template,
                source=base.source,
                base_folder=base.base_folder,
                **options,
            )
        path = self.csv_path.text().strip()
        if not path:
            raise CampaignError("no segments file is chosen: open a CSV of audience segments.")
        return Campaign.from_csv(Path(path).expanduser(), self.template.toPlainText().strip(), name, **options)

    def output_folder(self) -> Path:
        text = self.output.text().strip()
        if text:
            return Path(text).expanduser()
        if self.csv_path.text().strip():
            return Path(self.csv_path.text().strip()).expanduser().resolve().parent
        raise CampaignError("no output folder is chosen: choose where the images go.")

    def refresh_plan(self) -> None:
        """Plan the campaign as defined now and show it: the prompts, the count, the time it takes."""
        self._replan.stop()
        try:
            campaign = self.campaign()
            self.columns.setText("Columns: " + "  ".join(f"{{{c}}}" for c in campaign.columns))
            items = plan(campaign, self._engine())
        except CampaignError as exc:
            self._show_plan([], error=str(exc))
            return
        self._show_plan(items)
        rows = len({item.row for item in items})
        formats = len({item.format for item in items})
        seconds = estimate_seconds(items, self._library.db, campaign.settings.backend)
        when = (
            f"about {format_seconds(seconds)} at this model's recent speed"
            if seconds is not None
            else "the time shows once this model has made a picture"
        )
        settings = campaign.settings
        self.summary.setText(
            f"<b>{len(items)} image{'s' if len(items) != 1 else ''}</b>: {rows} row{'s' if rows != 1 else ''} × "
            f"{formats} format{'s' if formats != 1 else ''} × {settings.count} — {when}."
        )
        steps = f", {items[0].steps} steps" if items[0].steps else ""
        self.summary.setToolTip(
            f"Model, size, steps and seed come from the form: {model_label(settings.model)}{steps}."
        )

    def _show_plan(self, items, error: str = "") -> None:
        self.error.setText(error[:1].upper() + error[1:] if error else "")
        self.error.setVisible(bool(error))
        if error:
            self.summary.setText("")
        self.plan_table.setRowCount(0)
        shown = items[:PLAN_ROWS_SHOWN]
        self.plan_table.setRowCount(len(shown))
        for index, item in enumerate(shown):
            cells = (str(item.row), item.segment, item.format, f"{item.width}×{item.height}", item.prompt)
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if column == 4:
                    cell.setToolTip(text + (f"\nNegative: {item.negative_prompt}" if item.negative_prompt else ""))
                self.plan_table.setItem(index, column, cell)
        self.run_button.setEnabled(bool(items) and self.driver.state not in (RUNNING, PAUSING))

    # --- running ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run the campaign as defined (Resume when it is the same one: only what is missing is made)."""
        try:
            campaign, output = self.campaign(), self.output_folder()
            session = CampaignSession(campaign, self._engine(), output, self._library.root)
        except (CampaignError, LibraryError) as exc:
            self._show_error(str(exc))
            return
        if not self._licences_accepted(session):
            session.close()
            self._show_message("Not run: the model's licence was not accepted.", True)
            return
        self._adopt(session)
        self.pages.setCurrentWidget(self.review)
        self.driver.start(session)
        self._fill_earlier()

    def _licences_accepted(self, session: CampaignSession) -> bool:
        """Each model the campaign uses, as the engine validates it (its licence read from its card),
        past the same warning a single picture gets."""
        settings = session.campaign.settings
        for model in dict.fromkeys(item.model for item in session.items):
            try:
                probe = self._engine().validate(
                    GenerationRequest(prompt="licence check", backend=settings.backend, model=model)
                )
            except ValidationError:
                continue  # the plan validated every row's request: a probe's own defaults may not apply
            if not self._confirm_licence(probe):
                return False
        return True

    def _adopt(self, session: CampaignSession) -> None:
        """Review session's images; the driver owns it from now on."""
        if self.driver.session is not session:
            self.driver.close()
            self.driver.session = session
        self.review.show_session(session)
        self._show_plan(session.items)
        self._show_state(self.driver.state)

    def _show_state(self, state: str) -> None:
        running = state in (RUNNING, PAUSING)
        self.run_button.setText("Resume" if state in (PAUSED,) else "Run")
        self.run_button.setEnabled(not running)
        self.pause_button.setEnabled(state == RUNNING)
        for widget in (
            self.csv_path,
            self.open_csv,
            self.earlier,
            self.name,
            self.template,
            self.negative,
            self.output,
        ):
            widget.setEnabled(not running)
        if state == PAUSING:
            self.bar.setFormat("Pausing at the next step…")
        elif state == FINISHED:
            self.bar.setValue(self.bar.maximum())

    def _show_progress(self, done: int, total: int, seconds_left: float) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
        left = f" — about {format_seconds(seconds_left)} left" if seconds_left >= 0 and done < total else ""
        self.bar.setFormat(f"{done} / {total} made{left}")

    def _show_message(self, text: str, is_error: bool) -> None:
        self.status.setText(text[:1].upper() + text[1:])
        self.status.setStyleSheet("color: #d9534f;" if is_error else "")
        self.status.setVisible(bool(text))

    def _show_error(self, text: str) -> None:
        self._show_plan([], error=text)

    def shutdown(self) -> None:
        self.driver.close()
        self.review.close_session()
