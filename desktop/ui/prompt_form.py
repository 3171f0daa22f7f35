"""The prompt editor and the generation settings: prompt, negative prompt, templates, backend,
model, size, steps, guidance, seed, count. It builds a GenerationRequest; it does not run one.

Which rows show, which sizes are offered and which defaults apply come from the chosen model's
capabilities (its backend says), and from the task's spec: nothing here names a backend or a model.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.backend import GUIDANCE, NEGATIVE_PROMPT, QUALITY, SCHEDULER, SEED, STEPS, STYLE, Capabilities
from desktop.engine.presets import model_from_label, model_label
from desktop.engine.request import (
    COUNT_MAX,
    FPS_MAX,
    FPS_MIN,
    FRAMES_MAX,
    FRAMES_MIN,
    GUIDANCE_MAX,
    SEED_MAX,
    STEPS_MAX,
    GenerationRequest,
)
from desktop.engine.schedulers import SCHEDULERS
from desktop.engine.tasks import FPS, FRAMES, SCALE, TASKS, Task
from desktop.engine.vocabulary import unknown_words
from desktop.models.memory import device_memory, memory_note
from desktop.models.picker import models_for_task, tasks_of_list
from desktop.ui.seed_row import SeedRow
from desktop.ui.size_picker import SizePicker
from desktop.ui.templates_button import TemplatesButton
from desktop.ui.theme import error_colors


class PromptForm(QWidget):
    SEED_MAX = SEED_MAX
    task_changed = Signal(object)  # Task
    generate_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, engine, parent=None) -> None:
        """engine: the window's Engine, asked for backends and capabilities (it never generates)."""
        super().__init__(parent)
        self._engine = engine
        self._models: dict[str, list[str]] = {}
        self._listed_tasks: frozenset[Task] = frozenset()  # what the listed models can do, together
        self._shown_task = Task.TEXT_TO_IMAGE
        self._tuning_by_media: dict = {}  # MediaKind -> size, steps, ... as the user left them

        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Describe the image: subject, setting, style, light…")
        self.prompt.setTabChangesFocus(True)
        self.prompt.setMinimumHeight(90)
        self.negative_prompt = QPlainTextEdit()
        self.negative_prompt.setPlaceholderText("What to keep out (blurry, text, watermark…)")
        self.negative_prompt.setTabChangesFocus(True)
        self.negative_prompt.setMaximumHeight(60)
        self.negative_label = QLabel("Negative prompt")
        # Words the chosen model does not know, named while the prompt is typed (not after a job).
        self.vocabulary_note = QLabel()
        self.vocabulary_note.setWordWrap(True)
        self.vocabulary_note.hide()
        self._vocabulary_timer = QTimer(self, singleShot=True, interval=250)
        # A model that needs more memory than the device has says so before it loads.
        self.memory_note = QLabel()
        self.memory_note.setWordWrap(True)
        self.memory_note.hide()
        self._memory_timer = QTimer(self, singleShot=True, interval=500)  # asks again while the device is probed
        self._memory_timer.timeout.connect(self._show_memory_note)
        self._vocabulary_timer.timeout.connect(self._check_vocabulary)

        self.templates_button = TemplatesButton()

        self.task = QComboBox()
        for spec in TASKS.values():
            self.task.addItem(spec.label, spec.task.value)
        self.frames = QSpinBox(minimum=FRAMES_MIN, maximum=FRAMES_MAX, value=16)
        self.fps = QSpinBox(minimum=FPS_MIN, maximum=FPS_MAX, value=8)
        self.fps.setToolTip("Frames per second of the video")
        self.scale = QSpinBox(minimum=2, maximum=4, value=2, suffix=" ×")
        self.scale.setToolTip("How many times larger the picture becomes")
        self.backend = QComboBox()
        self._fill_backends()
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model.lineEdit().setPlaceholderText("model folder or org/name")
        self.browse = QToolButton(text="…")
        self.browse.setToolTip("Choose a diffusers model folder")
        # The chosen model's licence, as its card says (a warning colour where it is non-commercial).
        self.licence_note = QLabel()
        self.licence_note.setWordWrap(True)
        self.licence_note.hide()

        self.size_picker = SizePicker()
        self.size_preset = self.size_picker.preset
        self.width, self.height = self.size_picker.width_spin, self.size_picker.height_spin
        self.steps = QSpinBox(minimum=1, maximum=STEPS_MAX, value=25)
        self.guidance = QDoubleSpinBox(minimum=0.0, maximum=GUIDANCE_MAX, singleStep=0.5, value=7.5, decimals=1)
        self.seed_row = SeedRow()
        self.seed, self.random_seed, self.reuse_seed = self.seed_row.seed, self.seed_row.random, self.seed_row.reuse
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
        background, text = error_colors()
        self.error.setStyleSheet(
            f"#formError {{ background: {background}; color: {text}; padding: 6px; border-radius: 4px; }}"
        )
        self.error.hide()

        self.generate_button = QPushButton("Generate")
        self.generate_button.setDefault(True)
        self.generate_button.setToolTip("Generate (Ctrl+Enter); queues if one is running")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the running generation (Esc)")
        self.cancel_button.setEnabled(False)

        self._layout()
        self._connect()
        self._backend_changed()
        self._offer_backends_for(self.task_value)
        self._show_task_rows()

    def _layout(self) -> None:
        prompt_header = QHBoxLayout()
        prompt_header.addWidget(QLabel("<b>Prompt</b>"))
        prompt_header.addStretch()
        prompt_header.addWidget(self.templates_button)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.browse)

        form = QFormLayout()
        form.addRow("Make", self.task)
        form.addRow("Backend", self.backend)
        form.addRow("Model", model_row)
        form.addRow("", self.licence_note)
        form.addRow("Size", self.size_picker)
        form.addRow("Steps", self.steps)
        form.addRow("Guidance", self.guidance)
        form.addRow("Scheduler", self.scheduler)
        form.addRow("Seed", self.seed_row)
        form.addRow("Frames", self.frames)
        form.addRow("FPS", self.fps)
        form.addRow("Scale", self.scale)  # short: a long label widens the label column and clips the seed field
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
        outer.addWidget(self.vocabulary_note)
        outer.addWidget(self.negative_label)
        outer.addWidget(self.negative_prompt)
        outer.addLayout(form)
        outer.addWidget(self.memory_note)
        outer.addWidget(self.error)
        outer.addLayout(buttons)
        outer.addStretch()

    def _connect(self) -> None:
        self.task.currentIndexChanged.connect(self._task_changed)
        self.prompt.textChanged.connect(self._vocabulary_timer.start)
        self.backend.currentIndexChanged.connect(self._backend_changed)
        self.model.currentTextChanged.connect(self._model_changed)
        self.templates_button.template_chosen.connect(self._use_template)
        self.templates_button.recent_chosen.connect(self.prompt.setPlainText)
        self.browse.clicked.connect(self._browse_model)
        self.model.activated.connect(self._model_chosen)
        self.generate_button.clicked.connect(self.generate_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)

    # --- task- and backend-dependent fields ---------------------------------------------

    @property
    def task_value(self) -> Task:
        return Task(self.task.currentData())

    @property
    def backend_value(self) -> str:
        return self.backend.currentData()

    @property
    def _backend(self):
        return self._engine.backend(self.backend_value)

    @property
    def model_value(self) -> str:
        return model_from_label(self.model.currentText())

    def capabilities(self) -> Capabilities:
        return self._engine.capabilities(self.backend_value, self.model_value)

    def _tuning(self) -> dict:
        return {
            "size": self.size_picker.value(),
            "steps": self.steps.value(),
            "guidance": self.guidance.value(),
            "frames": self.frames.value(),
            "fps": self.fps.value(),
        }

    def _restore_tuning(self, tuning: dict) -> None:
        self.size_picker.set_size(*tuning["size"])
        for name in ("steps", "guidance", "frames", "fps"):
            getattr(self, name).setValue(tuning[name])

    def _task_changed(self) -> None:
        task = self.task_value
        # Leaving a task keeps what the user had there; coming back restores it (a video model's
        # 256x256 and 25 steps must not follow the user back to the demo's 64x64 pictures).
        self._tuning_by_media[self._shown_task.spec.media] = self._tuning()
        self._shown_task = task
        self.task_changed.emit(task)
        self._offer_backends_for(task)
        self._fill_models(self._models.get(self.backend_value, []), self.model.currentText())
        if task.spec.media in self._tuning_by_media:
            self._restore_tuning(self._tuning_by_media[task.spec.media])
        elif task.spec.uses(FRAMES) and task in self.capabilities().tasks:
            self.apply_defaults()  # a video model's recipe: its size, steps, frames and fps
        self._show_task_rows()
        self._show_size_rows()

    def _offer_backends_for(self, task: Task) -> None:
        """Backends are offered only where one of their models can do the task (the Images API makes no
        videos, upscalers only upscale); the current one moves to the first that can."""
        for index in range(self.backend.count()):
            backend = self._engine.backend(self.backend.itemData(index))
            # A folder-taking backend can do a task if some folder could ("" stands for any of them);
            # a remote one is asked nothing here (a network call on the UI thread).
            models = [""] if backend.models_are_paths or _remote(backend) else backend.models()
            able = any(task in self._engine.capabilities(backend.id, model).tasks for model in models)
            self.backend.model().item(index).setEnabled(able)
        if not self.backend.model().item(self.backend.currentIndex()).isEnabled():
            first = next(i for i in range(self.backend.count()) if self.backend.model().item(i).isEnabled())
            self.backend.setCurrentIndex(first)

    def _show_size_rows(self) -> None:
        # A local edit works at the picture's own size; a backend with fixed sizes takes only those.
        follows_picture = self.task_value.spec.sized_by_picture and not self.capabilities().sizes
        self._form.setRowVisible(self.size_picker, not follows_picture)

    def _show_task_rows(self) -> None:
        spec = self.task_value.spec
        self._form.setRowVisible(self.frames, spec.uses(FRAMES))
        self._form.setRowVisible(self.fps, spec.uses(FPS))
        self._form.setRowVisible(self.scale, spec.uses(SCALE))
        self._form.labelForField(self.count).setText(f"{spec.noun.capitalize()}s")

    def set_models(self, backend_id: str, models: list[str]) -> None:
        """The models offered for a backend (for local models: folders from Settings, the HF cache, the demo)."""
        self._models[backend_id] = list(models)
        if self.backend_value == backend_id:
            self._fill_models(self._models[backend_id], self.model.currentText())

    def _fill_models(self, names: list[str], current: str) -> None:
        # Only the models that can do the chosen task (a listed one that cannot gives way to the first that
        # can; a typed path stays); what the whole list can do keeps those tasks enabled in Make.
        self._listed_tasks = tasks_of_list(self._engine, self.backend_value, names)
        able = models_for_task(self._engine, self.backend_value, names, self.task_value)
        if able and model_from_label(current) in names and model_from_label(current) not in able:
            current = able[0]
        names = able
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems([model_label(name) for name in names])
        self._mark_licences(names)
        current = model_label(model_from_label(current))
        self.model.setEditText(current or (model_label(names[0]) if names else ""))
        self.model.blockSignals(False)
        self._model_changed()

    def _licence(self, model: str):
        """The model's licence where its backend reads one from a model card (local models)."""
        read = getattr(self._backend, "licence", None)
        try:
            return read(model) if read is not None and model else None
        except (OSError, ValueError):
            return None

    def _mark_licences(self, names: list[str]) -> None:
        """Each listed model's licence in its tooltip; a warning sign on those that forbid commercial use."""
        warning = QWidget.style(self).standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for index, name in enumerate(names):
            licence = self._licence(name)
            if licence is not None:
                self.model.setItemData(index, f"Licence: {licence.describe()}", Qt.ItemDataRole.ToolTipRole)
                if licence.non_commercial:
                    self.model.setItemIcon(index, warning)

    def _show_licence(self) -> None:
        licence = self._licence(self.model_value)
        self.licence_note.setVisible(licence is not None)
        if licence is None:
            return
        if licence.non_commercial:
            background, text = error_colors()
            self.licence_note.setStyleSheet(f"background: {background}; color: {text}; padding: 3px;")
        else:
            self.licence_note.setStyleSheet("")
        self.licence_note.setText(f"Licence: {html.escape(licence.describe())}")

    def offer_task(self, task: Task) -> None:
        """Choose task ("Animate" chooses image-to-video); where the model cannot do it, the first listed
        model that surely can, with its recipe. A hub id not yet found in the cache claims every task, so
        only models that make nothing else (video folders) are picked."""
        self.task.setCurrentIndex(self.task.findData(task.value))
        if task in self.capabilities().tasks:
            return
        for name in self._models.get(self.backend_value, []):
            tasks = self._engine.capabilities(self.backend_value, name).tasks
            if task in tasks and Task.TEXT_TO_IMAGE not in tasks:
                self.select_model(name)
                self.apply_defaults()
                return

    def _backend_changed(self) -> None:
        backend = self._backend
        self.model.setEditable(backend.models_are_paths or _remote(backend))
        self.browse.setVisible(backend.models_are_paths)
        if backend.id not in self._models:
            self._models[backend.id] = [] if backend.models_are_paths or _remote(backend) else backend.models()
        default = "" if backend.models_are_paths or _remote(backend) else backend.default_model()
        self._fill_models(self._models[backend.id], default)
        self._show_size_rows()

    def _check_vocabulary(self) -> None:
        vocabulary = self.capabilities().vocabulary_file
        unknown = unknown_words(vocabulary, self.prompt.toPlainText()) if vocabulary else []
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            self.vocabulary_note.setText(
                f"{self.model.currentText()} does not know the word{plural} <b>{html.escape(', '.join(unknown))}</b> "
                f"and will ignore {'them' if plural else 'it'} (Help → Getting started lists what it knows)."
            )
        self.vocabulary_note.setVisible(bool(unknown))

    def _show_memory_note(self) -> None:
        """Where the chosen local model needs more memory than this computer's device has, say so now."""
        runtime = getattr(getattr(self._engine, "config", None), "runtime", None)
        local = getattr(self._backend, "models_are_paths", False)
        note = memory_note(self.model_value, runtime, self.model.currentText()) if local else ""
        if local and not note and device_memory(getattr(runtime, "device", "auto") or "auto", wait=False) is None:
            self._memory_timer.start()  # the device is still being asked (nvidia-smi)
        self.memory_note.setText(html.escape(note[:1].upper() + note[1:]))
        self.memory_note.setVisible(bool(note))

    def _model_changed(self) -> None:
        caps = self.capabilities()
        self._show_licence()
        # Tasks this model cannot do stay listed, disabled, saying why.
        for index in range(self.task.count()):
            task = Task(self.task.itemData(index))
            item = self.task.model().item(index)
            able = task in caps.tasks or task in self._listed_tasks  # choosing it picks a model that can
            item.setEnabled(able)
            item.setToolTip("" if able else caps.why_not.get(task, "this model cannot do it") + ".")
        self._vocabulary_timer.start()
        self._show_memory_note()
        for widget, control in (
            (self.steps, STEPS),
            (self.guidance, GUIDANCE),
            (self.scheduler, SCHEDULER),
            (self.seed_row, SEED),
        ):
            self._form.setRowVisible(widget, caps.takes(control))
        self.negative_prompt.setVisible(caps.takes(NEGATIVE_PROMPT))
        self.negative_label.setVisible(caps.takes(NEGATIVE_PROMPT))
        for combo, control, values in ((self.quality, QUALITY, caps.qualities), (self.style, STYLE, caps.styles)):
            combo.clear()
            combo.addItem("Default", None)
            for value in values:
                combo.addItem(value, value)
            self._form.setRowVisible(combo, caps.takes(control))
        self.size_picker.offer(caps)
        self._show_size_rows()

    def set_size(self, width: int, height: int) -> None:
        self.size_picker.set_size(width, height)

    def _model_chosen(self) -> None:
        """The user picked a model from the list: it gets the settings it was made for."""
        self.apply_defaults()

    def apply_defaults(self) -> None:
        """The chosen model's own defaults (its preset): size, steps, guidance, and frames and fps for
        video models."""
        defaults = self.capabilities().defaults
        if "width" in defaults and "height" in defaults:
            self.size_picker.set_size(int(defaults["width"]), int(defaults["height"]))
        for name in ("steps", "frames", "fps"):
            if name in defaults:
                getattr(self, name).setValue(int(defaults[name]))
        if "guidance" in defaults:
            self.guidance.setValue(float(defaults["guidance"]))

    def select_model(self, model: str) -> None:
        self.model.setEditText(model_label(model))
        self._model_changed()

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a diffusers model folder (it holds model_index.json)")
        if folder:
            self.model.setEditText(folder)

    # --- seeds and templates ---------------------------------------------------------------

    def set_last_seed(self, seed: int | None) -> None:
        self.seed_row.set_last(seed)

    def set_recent_prompts(self, prompts: list[str]) -> None:
        self.templates_button.set_recent(prompts)

    def _use_template(self, prompt: str, negative_prompt: str) -> None:
        self.prompt.setPlainText(prompt)
        self.negative_prompt.setPlainText(negative_prompt)

    # --- request in and out ----------------------------------------------------------------

    def show_error(self, message: str, field: str | None = None) -> None:
        """Say what is wrong; where a request field is at fault, mark its widget and put the cursor there."""
        self.error.setText(message[:1].upper() + message[1:] if message else "")
        self.error.setVisible(bool(message))
        for widget in self._field_widgets().values():
            if widget.property("invalid"):
                widget.setProperty("invalid", False)
                widget.setStyleSheet("")
        widget = self._field_widgets().get(field or "")
        if widget is not None and message:
            widget.setProperty("invalid", True)
            widget.setStyleSheet("border: 1px solid #c62828;")
            widget.setFocus(Qt.FocusReason.OtherFocusReason)

    def _field_widgets(self) -> dict[str, QWidget]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "task": self.task,
            "backend": self.backend,
            "model": self.model,
            "size": self.size_preset,
            "width": self.width,
            "height": self.height,
            "steps": self.steps,
            "guidance": self.guidance,
            "scheduler": self.scheduler,
            "seed": self.seed,
            "count": self.count,
            "quality": self.quality,
            "style": self.style,
            "frames": self.frames,
            "fps": self.fps,
        }

    def set_engine(self, engine) -> None:
        """New settings made a new engine: ask it from now on (a team server may have come or gone)."""
        self._engine = engine
        self._models = {}
        current = self.backend_value
        self.backend.blockSignals(True)
        self._fill_backends()
        self.backend.setCurrentIndex(max(self.backend.findData(current), 0))
        self.backend.blockSignals(False)
        self._backend_changed()

    def _fill_backends(self) -> None:
        self.backend.clear()
        for backend in self._engine.backends():
            if getattr(backend, "configured", True):  # a team server only once its URL is set
                self.backend.addItem(backend.label, backend.id)

    def request(self) -> GenerationRequest:
        caps = self.capabilities()
        # A local edit takes its size from the picture.
        by_picture = self.task_value.spec.sized_by_picture and not caps.sizes
        return GenerationRequest(
            task=self.task_value,
            prompt=self.prompt.toPlainText(),
            negative_prompt=self.negative_prompt.toPlainText().strip() if caps.takes(NEGATIVE_PROMPT) else "",
            backend=self.backend_value,
            model=self.model_value,
            width=None if by_picture else self.width.value(),
            height=None if by_picture else self.height.value(),
            steps=self.steps.value(),
            guidance=round(self.guidance.value(), 2),
            seed=self.seed_row.value() if caps.takes(SEED) else None,
            count=self.count.value(),
            scheduler=self.scheduler.currentData() if caps.takes(SCHEDULER) else None,
            quality=self.quality.currentData() if caps.takes(QUALITY) else None,
            style=self.style.currentData() if caps.takes(STYLE) else None,
            frames=self.frames.value(),
            fps=self.fps.value(),
            scale=self.scale.value() if self.task_value.spec.uses(SCALE) else None,
        )

    def apply_request(self, request: GenerationRequest) -> None:
        """Fill the form from a request ("use these settings again")."""
        self.prompt.setPlainText(request.prompt)
        self.negative_prompt.setPlainText(request.negative_prompt)
        self.task.setCurrentIndex(max(self.task.findData(request.task.value), 0))
        self.frames.setValue(request.frames)
        self.fps.setValue(request.fps)
        self.backend.setCurrentIndex(max(self.backend.findData(request.backend), 0))
        self.select_model(request.model)
        if request.width and request.height:
            self.size_picker.set_size(request.width, request.height)
        self.steps.setValue(request.steps)
        self.guidance.setValue(request.guidance)
        self.count.setValue(request.count)
        self.scheduler.setCurrentIndex(max(self.scheduler.findData(request.scheduler), 0))
        self.quality.setCurrentIndex(max(self.quality.findData(request.quality), 0))
        self.style.setCurrentIndex(max(self.style.findData(request.style), 0))
        self.seed_row.set_value(request.seed)

    def apply_found(self, found) -> list[str]:
        """Fill the form from a picture's settings (PNG Info); returns what could not be used, to say so.
        The model stays: another tool's model name is not a model on this computer."""
        skipped = []
        self.prompt.setPlainText(found.prompt)
        self.negative_prompt.setPlainText(found.negative_prompt)
        caps = self.capabilities()
        if found.steps is not None:
            self.steps.setValue(found.steps)
        if found.guidance is not None:
            self.guidance.setValue(found.guidance)
        if found.seed is not None and 0 <= found.seed <= self.SEED_MAX:
            self.seed_row.set_value(found.seed)
        if found.width and found.height:
            fits = (
                f"{found.width}x{found.height}" in caps.sizes
                if caps.sizes
                else all(
                    caps.size_min <= v <= caps.size_max and v % caps.size_multiple == 0
                    for v in (found.width, found.height)
                )
            )
            if fits:
                self.size_picker.set_size(found.width, found.height)
            else:
                skipped.append(f"size {found.width}x{found.height}")
        if found.sampler:
            skipped.append(f"sampler {found.sampler}")
        if found.model:
            skipped.append(f"model {found.model}")
        return skipped

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


def _remote(backend) -> bool:
    return bool(getattr(backend, "models_are_remote", False))
