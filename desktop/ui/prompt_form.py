"""The prompt editor and the generation settings: prompt, negative prompt, templates, backend,
model, size, steps, guidance, seed, count. It builds a GenerationRequest; it does not run one."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.demo import DEMO_DEFAULTS, DEMO_LABEL, DEMO_MODEL
from desktop.engine.openai_models import DEFAULT_OPENAI_MODEL, OPENAI_MODELS
from desktop.engine.request import (
    COUNT_MAX,
    FPS_MAX,
    FPS_MIN,
    FRAMES_MAX,
    FRAMES_MIN,
    GUIDANCE_MAX,
    SIZE_MAX,
    SIZE_MIN,
    SIZE_MULTIPLE,
    STEPS_MAX,
    Backend,
    GenerationRequest,
    Task,
)
from desktop.engine.schedulers import SCHEDULERS
from desktop.resources import prompt_templates

DIFFUSERS_PRESETS = (
    ("Square 256", 256, 256),
    ("Square 512", 512, 512),
    ("Square 768", 768, 768),
    ("Square 1024", 1024, 1024),
    ("Landscape 768x512", 768, 512),
    ("Portrait 512x768", 512, 768),
    ("Banner 16:9 1024x576", 1024, 576),
)
CUSTOM = "Custom"


class PromptForm(QWidget):
    task_changed = Signal(object)  # Task
    generate_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._last_seed: int | None = None
        self._recent: list[str] = []

        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Describe the image: subject, setting, style, light…")
        self.prompt.setTabChangesFocus(True)
        self.prompt.setMinimumHeight(90)
        self.negative_prompt = QPlainTextEdit()
        self.negative_prompt.setPlaceholderText("What to keep out (blurry, text, watermark…)")
        self.negative_prompt.setTabChangesFocus(True)
        self.negative_prompt.setMaximumHeight(60)

        self.templates_button = QToolButton(text="Templates")
        self.templates_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.templates_menu = QMenu(self)
        self.templates_button.setMenu(self.templates_menu)
        self.templates_menu.aboutToShow.connect(self._fill_templates_menu)

        self.task = QComboBox()
        self.task.addItem("Image", Task.TEXT_TO_IMAGE.value)
        self.task.addItem("Video", Task.TEXT_TO_VIDEO.value)
        self.task.addItem("Image to image (restyle)", Task.IMAGE_TO_IMAGE.value)
        self.task.addItem("Inpaint (repaint a region)", Task.INPAINT.value)
        self.task.addItem("Outpaint (extend the canvas)", Task.OUTPAINT.value)
        self.frames = QSpinBox(minimum=FRAMES_MIN, maximum=FRAMES_MAX, value=16)
        self.fps = QSpinBox(minimum=FPS_MIN, maximum=FPS_MAX, value=8)
        self.backend = QComboBox()
        self.backend.addItem("Local GPU/CPU (diffusers)", Backend.DIFFUSERS.value)
        self.backend.addItem("OpenAI Images API", Backend.OPENAI.value)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model.lineEdit().setPlaceholderText("model folder or org/name")
        self.browse = QToolButton(text="…")
        self.browse.setToolTip("Choose a diffusers model folder")

        self.size_preset = QComboBox()
        self.width = QSpinBox(minimum=SIZE_MIN, maximum=SIZE_MAX, singleStep=SIZE_MULTIPLE, value=512)
        self.height = QSpinBox(minimum=SIZE_MIN, maximum=SIZE_MAX, singleStep=SIZE_MULTIPLE, value=512)
        self.steps = QSpinBox(minimum=1, maximum=STEPS_MAX, value=25)
        self.guidance = QDoubleSpinBox(minimum=0.0, maximum=GUIDANCE_MAX, singleStep=0.5, value=7.5, decimals=1)
        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(r"\d{0,10}"))
        self.seed.setPlaceholderText("random")
        self.random_seed = QCheckBox("Random")
        self.random_seed.setChecked(True)
        self.reuse_seed = QToolButton(text="Reuse last")
        self.reuse_seed.setEnabled(False)
        self.count = QSpinBox(minimum=1, maximum=COUNT_MAX, value=1)
        self.scheduler = QComboBox()
        self.scheduler.addItem("Model default", None)
        for name in SCHEDULERS:
            self.scheduler.addItem(name, name)
        self.quality = QComboBox()
        self.style = QComboBox()

        self.error = QLabel()
        self.error.setObjectName("formError")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet(
            "#formError { background: #fdecea; color: #8a1c12; padding: 6px; border-radius: 4px; }"
        )
        self.error.hide()

        self.generate_button = QPushButton("Generate")
        self.generate_button.setDefault(True)
        self.generate_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.generate_button.setToolTip("Generate (Ctrl+Enter); queues if one is running")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_button.setToolTip("Cancel the running generation (Esc)")
        self.cancel_button.setEnabled(False)

        self._layout()
        self._connect()
        self._backend_changed()
        self._show_video_rows(False)

    def _layout(self) -> None:
        prompt_header = QHBoxLayout()
        prompt_header.addWidget(QLabel("<b>Prompt</b>"))
        prompt_header.addStretch()
        prompt_header.addWidget(self.templates_button)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.browse)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height)
        self._size_custom = QWidget()
        self._size_custom.setLayout(size_row)
        size_row.setContentsMargins(0, 0, 0, 0)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed)
        seed_row.addWidget(self.reuse_seed)
        self._seed_row = seed_row

        form = QFormLayout()
        form.addRow("Make", self.task)
        form.addRow("Backend", self.backend)
        form.addRow("Model", model_row)
        form.addRow("Size", self.size_preset)
        form.addRow("", self._size_custom)
        form.addRow("Steps", self.steps)
        form.addRow("Guidance", self.guidance)
        form.addRow("Scheduler", self.scheduler)
        form.addRow("Seed", seed_row)
        form.addRow("Frames", self.frames)
        form.addRow("Frames per second", self.fps)
        form.addRow("Images", self.count)
        form.addRow("Quality", self.quality)
        form.addRow("Style", self.style)
        self._form = form

        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)

        outer = QVBoxLayout(self)
        outer.addLayout(prompt_header)
        outer.addWidget(self.prompt)
        outer.addWidget(QLabel("Negative prompt"))
        outer.addWidget(self.negative_prompt)
        outer.addLayout(form)
        outer.addWidget(self.error)
        outer.addLayout(buttons)
        outer.addStretch()

    def _connect(self) -> None:
        self.task.currentIndexChanged.connect(self._task_changed)
        self.backend.currentIndexChanged.connect(self._backend_changed)
        self.model.currentTextChanged.connect(self._model_changed)
        self.size_preset.currentIndexChanged.connect(self._preset_changed)
        self.random_seed.toggled.connect(lambda on: self.seed.setEnabled(not on))
        self.random_seed.toggled.emit(True)
        self.reuse_seed.clicked.connect(self._reuse_last_seed)
        self.browse.clicked.connect(self._browse_model)
        self.model.activated.connect(self._model_chosen)
        self.generate_button.clicked.connect(self.generate_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)

    # --- task- and backend-dependent fields ---------------------------------------------

    @property
    def task_value(self) -> Task:
        return Task(self.task.currentData())

    def _task_changed(self) -> None:
        self.task_changed.emit(self.task_value)
        video = self.task_value.makes_video
        openai_item = self.backend.model().item(self.backend.findData(Backend.OPENAI.value))
        openai_item.setEnabled(not video)  # the Images API makes no videos
        if video:
            self.backend.setCurrentIndex(self.backend.findData(Backend.DIFFUSERS.value))
            # ModelScope's recipe (damo-vilab/text-to-video-ms-1.7b): 256x256, 25 steps, 16 frames at 8 fps.
            self.set_size(256, 256)
            self.steps.setValue(25)
            self.frames.setValue(16)
            self.fps.setValue(8)
        self._show_video_rows(video)
        self._show_size_rows()

    def _show_size_rows(self) -> None:
        # A local edit works at the picture's own size; OpenAI takes only its sizes.
        follows_picture = self.task_value.edits_image and self.backend_value is Backend.DIFFUSERS
        self._form.setRowVisible(self.size_preset, not follows_picture)
        if follows_picture:
            self._form.setRowVisible(self._size_custom, False)
        else:
            self._preset_changed()

    def _show_video_rows(self, video: bool) -> None:
        self._form.setRowVisible(self.frames, video)
        self._form.setRowVisible(self.fps, video)
        self._form.labelForField(self.count).setText("Videos" if video else "Images")

    @property
    def backend_value(self) -> Backend:
        return Backend(self.backend.currentData())

    def set_models(self, diffusers_models: list[str]) -> None:
        """The models offered for the diffusers backend (folders from Settings, the HF cache)."""
        self._diffusers_models = list(diffusers_models)
        if self.backend_value is Backend.DIFFUSERS:
            current = self.model.currentText()
            self._fill_models(self._diffusers_models, current)

    def _fill_models(self, names: list[str], current: str) -> None:
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems([DEMO_LABEL if name == DEMO_MODEL else name for name in names])
        current = DEMO_LABEL if current == DEMO_MODEL else current
        self.model.setEditText(current or (names[0] if names else ""))
        self.model.blockSignals(False)
        self._model_changed()

    def _backend_changed(self) -> None:
        openai = self.backend_value is Backend.OPENAI
        self.model.setEditable(not openai)
        self.browse.setVisible(not openai)
        if openai:
            self._fill_models(list(OPENAI_MODELS), DEFAULT_OPENAI_MODEL)
        else:
            self._fill_models(getattr(self, "_diffusers_models", []), "")
        for row in (self.steps, self.guidance, self.scheduler, self._seed_row):
            self._form.setRowVisible(row, not openai)
        if not openai:  # for OpenAI, _model_changed shows them where the model takes them
            self._form.setRowVisible(self.quality, False)
            self._form.setRowVisible(self.style, False)
        self._show_size_rows()

    def _model_changed(self) -> None:
        self.size_preset.blockSignals(True)
        self.size_preset.clear()
        if self.backend_value is Backend.OPENAI:
            model = OPENAI_MODELS.get(self.model.currentText()) or OPENAI_MODELS[DEFAULT_OPENAI_MODEL]
            for size in model.sizes:
                self.size_preset.addItem(size, size)
            for combo, values in ((self.quality, model.qualities), (self.style, model.styles)):
                combo.clear()
                combo.addItem("Default", None)
                for value in values:
                    combo.addItem(value, value)
                self._form.setRowVisible(combo, bool(values))
            self.count.setMaximum(COUNT_MAX)
        else:
            for label, w, h in DIFFUSERS_PRESETS:
                self.size_preset.addItem(label, f"{w}x{h}")
            self.size_preset.addItem(CUSTOM, None)
        self.size_preset.blockSignals(False)
        self._select_size(self.width.value(), self.height.value())

    def set_size(self, width: int, height: int) -> None:
        self.width.setValue(width)
        self.height.setValue(height)
        self._select_size(width, height)

    def _select_size(self, width: int, height: int) -> None:
        index = self.size_preset.findData(f"{width}x{height}")
        if index < 0:
            index = self.size_preset.findText(CUSTOM)
        self.size_preset.setCurrentIndex(max(index, 0))
        self._preset_changed()

    def _preset_changed(self) -> None:
        data = self.size_preset.currentData()
        custom = data is None and self.backend_value is Backend.DIFFUSERS
        self._form.setRowVisible(self._size_custom, custom)
        if data is not None:
            width, height = (int(v) for v in data.split("x"))
            self.width.setValue(width)
            self.height.setValue(height)

    def _model_chosen(self) -> None:
        """The user picked a model: the demo model gets the settings it was trained for."""
        if self.model.currentText() == DEMO_LABEL:
            self.use_demo()

    def use_demo(self) -> None:
        self.model.setEditText(DEMO_LABEL)
        self.set_size(DEMO_DEFAULTS["width"], DEMO_DEFAULTS["height"])
        self.steps.setValue(DEMO_DEFAULTS["steps"])
        self.guidance.setValue(DEMO_DEFAULTS["guidance"])

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a diffusers model folder (it holds model_index.json)")
        if folder:
            self.model.setEditText(folder)

    # --- seeds and templates ---------------------------------------------------------------

    def set_last_seed(self, seed: int | None) -> None:
        self._last_seed = seed
        self.reuse_seed.setEnabled(seed is not None)
        self.reuse_seed.setToolTip(f"Use seed {seed} again" if seed is not None else "")

    def _reuse_last_seed(self) -> None:
        if self._last_seed is not None:
            self.random_seed.setChecked(False)
            self.seed.setText(str(self._last_seed))

    def set_recent_prompts(self, prompts: list[str]) -> None:
        self._recent = list(prompts)

    def _fill_templates_menu(self) -> None:
        menu = self.templates_menu
        menu.clear()
        for group in prompt_templates():
            sub = menu.addMenu(group.get("name", ""))
            for template in group.get("templates", []):
                action = sub.addAction(template.get("title", template.get("prompt", "")))
                action.triggered.connect(lambda _=False, t=template: self._use_template(t))
        recent = menu.addMenu("Recent prompts")
        recent.setEnabled(bool(self._recent))
        for prompt in self._recent:
            label = prompt if len(prompt) <= 70 else prompt[:67] + "…"
            recent.addAction(label).triggered.connect(lambda _=False, p=prompt: self.prompt.setPlainText(p))

    def _use_template(self, template: dict) -> None:
        self.prompt.setPlainText(template.get("prompt", ""))
        self.negative_prompt.setPlainText(template.get("negative_prompt", ""))

    # --- request in and out ----------------------------------------------------------------

    def show_error(self, message: str) -> None:
        self.error.setText(message[:1].upper() + message[1:] if message else "")
        self.error.setVisible(bool(message))

    def request(self) -> GenerationRequest:
        openai = self.backend_value is Backend.OPENAI
        seed_text = self.seed.text().strip()
        seed = None if self.random_seed.isChecked() or not seed_text else int(seed_text)
        edit = self.task_value.edits_image and not openai
        return GenerationRequest(
            task=self.task_value,
            prompt=self.prompt.toPlainText(),
            negative_prompt=self.negative_prompt.toPlainText().strip(),
            backend=self.backend_value,
            model=DEMO_MODEL if self.model.currentText() == DEMO_LABEL else self.model.currentText().strip(),
            # A local edit takes its size from the picture.
            width=None if edit else self.width.value(),
            height=None if edit else self.height.value(),
            steps=self.steps.value(),
            guidance=round(self.guidance.value(), 2),
            seed=None if openai else seed,
            count=self.count.value(),
            scheduler=None if openai else self.scheduler.currentData(),
            quality=self.quality.currentData() if openai else None,
            style=self.style.currentData() if openai else None,
            frames=self.frames.value(),
            fps=self.fps.value(),
        )

    def apply_request(self, request: GenerationRequest) -> None:
        """Fill the form from a request ("use these settings again")."""
        self.prompt.setPlainText(request.prompt)
        self.negative_prompt.setPlainText(request.negative_prompt)
        self.task.setCurrentIndex(max(self.task.findData(request.task.value), 0))
        self.frames.setValue(request.frames)
        self.fps.setValue(request.fps)
        self.backend.setCurrentIndex(max(self.backend.findData(request.backend.value), 0))
        self.model.setEditText(DEMO_LABEL if request.model == DEMO_MODEL else request.model)
        if request.width and request.height:
            self.set_size(request.width, request.height)
        self.steps.setValue(request.steps)
        self.guidance.setValue(request.guidance)
        self.count.setValue(request.count)
        self.scheduler.setCurrentIndex(max(self.scheduler.findData(request.scheduler), 0))
        self.quality.setCurrentIndex(max(self.quality.findData(request.quality), 0))
        self.style.setCurrentIndex(max(self.style.findData(request.style), 0))
        if request.seed is not None:
            self.random_seed.setChecked(False)
            self.seed.setText(str(request.seed))
        else:
            self.random_seed.setChecked(True)

    def state(self) -> dict:
        data = self.request().to_dict()
        data["random_seed"] = self.random_seed.isChecked()
        return data

    def restore(self, state: dict) -> None:
        if not state:
            return
        try:
            request = GenerationRequest.from_dict(state)
        except (TypeError, ValueError):
            return
        self.apply_request(request)
        self.random_seed.setChecked(bool(state.get("random_seed", True)))

    def set_busy(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.generate_button.setText("Add to queue" if running else "Generate")
