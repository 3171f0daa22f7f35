"""The settings dialog: OpenAI key and server, model folders, device and memory, export destinations."""

from __future__ import annotations

import copy

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.devices import DEVICE_CHOICES
from desktop.library.export import FORMATS, TEMPLATE_FIELDS, ExportError, check_template
from desktop.library.mesh import EXPORT_FORMATS as MESH_EXPORT_FORMATS
from desktop.library.settings import ExportDestination, Settings
from desktop.library.video import VIDEO_FORMATS
from desktop.ui.theme import error_text_color


class SettingsDialog(QDialog):
    def __init__(
        self,
        settings: Settings,
        api_key: str,
        cached_models: list[str],
        parent=None,
        upscalers: list[tuple[str, str]] | None = None,
        server_token: str = "",
    ) -> None:
        """upscalers: (label, model) of the upscalers found (the plain resize first)."""
        super().__init__(parent)
        self._upscalers = upscalers or [("Plain resize (Lanczos)", "")]
        self.setWindowTitle("Settings")
        self.resize(640, 460)
        self._settings = copy.deepcopy(settings)
        tabs = QTabWidget()
        tabs.addTab(self._openai_tab(api_key), "OpenAI")
        tabs.addTab(self._models_tab(cached_models), "Models")
        tabs.addTab(self._device_tab(), "Device")
        tabs.addTab(self._export_tab(), "Export")
        tabs.addTab(self._server_tab(server_token), "Team server")
        tabs.addTab(self._appearance_tab(), "Appearance")
        self.tabs = tabs
        self.error = QLabel()
        self.error.setStyleSheet(f"color: {error_text_color()}")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    # --- tabs ------------------------------------------------------------------------------

    def _server_tab(self, server_token: str) -> QWidget:
        self.server_url = QLineEdit(self._settings.server_url)
        self.server_url.setPlaceholderText("http://gpu-server:8000 (diffusion-studio serve)")
        self.server_token = QLineEdit(server_token)
        self.server_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.server_token.setPlaceholderText("the token your admin gave you (or DIFFUSION_STUDIO_SERVER_TOKEN)")
        page = QWidget()
        form = QFormLayout(page)
        form.addRow("Server URL", self.server_url)
        form.addRow("Token", self.server_token)
        note = QLabel(
            "The team server's root address, without /v1. The token is kept in the system keyring (else in a "
            "file only you can read), never in the settings file. Once set, the backend list offers "
            "“Team server” with the models the server lists."
        )
        note.setWordWrap(True)
        form.addRow(note)
        return page

    def _openai_tab(self, api_key: str) -> QWidget:
        self.api_key = QLineEdit(api_key)
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("sk-… (or set OPENAI_API_KEY)")
        self.base_url = QLineEdit(self._settings.openai_base_url)
        self.base_url.setPlaceholderText("https://api.openai.com/v1 (or OPENAI_BASE_URL)")
        self.timeout = QDoubleSpinBox(minimum=5, maximum=1800, value=self._settings.openai_timeout_s, suffix=" s")
        page = QWidget()
        form = QFormLayout(page)
        form.addRow("API key", self.api_key)
        form.addRow("Base URL", self.base_url)
        form.addRow("Timeout", self.timeout)
        note = QLabel(
            "The key is kept in the system keyring where there is one, else in a file only you can "
            "read. Any server that speaks the OpenAI Images API works: give its base URL."
        )
        note.setWordWrap(True)
        form.addRow(note)
        return page

    def _models_tab(self, cached_models: list[str]) -> QWidget:
        self.model_folders = QListWidget()
        self.model_folders.addItems(self._settings.model_folders)
        add = QPushButton("Add folder…")
        remove = QPushButton("Remove")
        add.clicked.connect(self._add_model_folder)
        remove.clicked.connect(
            lambda: [self.model_folders.takeItem(self.model_folders.row(i)) for i in self.model_folders.selectedItems()]
        )
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch()
        cached = QLabel(
            "Found in the Hugging Face cache: "
            + (", ".join(cached_models) if cached_models else "none")
            + ". Nothing is downloaded unless you ask: Models → Manage downloads from the catalogue or any "
            "Hugging Face id; a diffusers folder added here is used where it is."
        )
        cached.setWordWrap(True)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("Diffusers model folders (each holds a model_index.json):"))
        layout.addWidget(self.model_folders)
        layout.addLayout(buttons)
        layout.addWidget(cached)
        self.default_upscaler = QComboBox()
        for label, model in self._upscalers:
            self.default_upscaler.addItem(label, model)
        self.default_upscaler.setCurrentIndex(max(self.default_upscaler.findData(self._settings.default_upscaler), 0))
        self.default_upscaler.setToolTip("What Upscale uses; upscaler files are found in the folders above")
        upscaler_row = QHBoxLayout()
        upscaler_row.addWidget(QLabel("Upscale with:"))
        upscaler_row.addWidget(self.default_upscaler, 1)
        layout.addLayout(upscaler_row)
        return page

    def _device_tab(self) -> QWidget:
        s = self._settings
        self.device = QComboBox()
        self.device.addItems(DEVICE_CHOICES)
        self.device.setCurrentText(s.device)
        self.cpu_offload = QCheckBox("Model CPU offload (large models in little GPU memory; slower)")
        self.cpu_offload.setChecked(s.cpu_offload)
        self.attention_slicing = QCheckBox("Attention slicing (less memory, a little slower)")
        self.attention_slicing.setChecked(s.attention_slicing)
        self.vae_tiling = QCheckBox("VAE tiling (very large images)")
        self.vae_tiling.setChecked(s.vae_tiling)
        self.allow_pickle = QCheckBox("Allow pickle weights (.bin/.ckpt can run code: only for models you trust)")
        self.allow_pickle.setChecked(s.allow_pickle_weights)
        # The measured gains are in benchmarks/README.md (GPU section).
        self.compile_denoiser = QComboBox()
        for value, label in (
            ("auto", "Where it pays (SDXL, Wan)"),
            ("on", "Always"),
            ("off", "Never"),
        ):
            self.compile_denoiser.addItem(label, value)
        self.compile_denoiser.setCurrentIndex(max(self.compile_denoiser.findData(s.compile_denoiser), 0))
        self.compile_denoiser.setToolTip(
            "torch.compile on a GPU: the first picture after loading waits for the compile (about 10 s), "
            "later ones are faster (measured: SDXL 1.3x, Wan 1.16x; SD 1.5 and ModelScope barely gain)"
        )
        self.first_block_cache = QCheckBox("First-block cache for Wan-type models (faster; the clip changes a little)")
        self.first_block_cache.setChecked(s.first_block_cache)
        page = QWidget()
        form = QFormLayout(page)
        form.addRow("Device", self.device)
        for box in (self.cpu_offload, self.attention_slicing, self.vae_tiling, self.allow_pickle):
            form.addRow(box)
        form.addRow("Compile on a GPU", self.compile_denoiser)
        form.addRow(self.first_block_cache)
        return page

    def _appearance_tab(self) -> QWidget:
        self.theme = QComboBox()
        for value, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(self.theme.findData(self._settings.theme), 0))
        page = QWidget()
        form = QFormLayout(page)
        form.addRow("Theme", self.theme)
        return page

    def _export_tab(self) -> QWidget:
        s = self._settings
        self.destinations = QTableWidget(0, 2)
        self.destinations.setHorizontalHeaderLabels(["Name", "Folder"])
        self.destinations.horizontalHeader().setStretchLastSection(True)
        for destination in s.export_destinations:
            self._add_destination_row(destination.name, destination.folder)
        add = QPushButton("Add folder…")
        remove = QPushButton("Remove")
        add.clicked.connect(self._add_destination)
        remove.clicked.connect(
            lambda: [
                self.destinations.removeRow(r)
                for r in sorted({i.row() for i in self.destinations.selectedIndexes()}, reverse=True)
            ]
        )
        self.template = QLineEdit(s.export_template)
        self.template.setToolTip("Fields: " + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS))
        self.export_format = QComboBox()
        self.export_format.addItems(list(FORMATS))
        self.export_format.setCurrentText(s.export_format)
        self.video_export_format = QComboBox()
        self.video_export_format.addItems(list(VIDEO_FORMATS))
        self.video_export_format.setCurrentText(s.video_export_format)
        self.mesh_export_format = QComboBox()
        for fmt, (_suffix, label) in MESH_EXPORT_FORMATS.items():
            self.mesh_export_format.addItem(label, fmt)
        self.mesh_export_format.setCurrentIndex(max(self.mesh_export_format.findData(s.mesh_export_format), 0))
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch()
        form = QFormLayout()
        form.addRow("File name", self.template)
        form.addRow("Image format", self.export_format)
        form.addRow("Video format", self.video_export_format)
        form.addRow("3D format", self.mesh_export_format)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("Export destinations (your team's marketing folders):"))
        layout.addWidget(self.destinations)
        layout.addLayout(buttons)
        layout.addLayout(form)
        return page

    def _add_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a diffusers model folder")
        if folder:
            self.model_folders.addItem(folder)

    def _add_destination(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an export folder")
        if folder:
            self._add_destination_row(folder.rstrip("/").rsplit("/", 1)[-1] or folder, folder)

    def _add_destination_row(self, name: str, folder: str) -> None:
        row = self.destinations.rowCount()
        self.destinations.insertRow(row)
        self.destinations.setItem(row, 0, QTableWidgetItem(name))
        self.destinations.setItem(row, 1, QTableWidgetItem(folder))

    # --- result ----------------------------------------------------------------------------

    def accept(self) -> None:
        try:
            check_template(self.template.text())
        except ExportError as exc:
            self.error.setText(str(exc)[:1].upper() + str(exc)[1:])
            self.tabs.setCurrentIndex(3)
            return
        super().accept()

    def result_settings(self) -> Settings:
        s = copy.deepcopy(self._settings)
        s.openai_base_url = self.base_url.text().strip()
        s.openai_timeout_s = self.timeout.value()
        s.model_folders = [self.model_folders.item(i).text() for i in range(self.model_folders.count())]
        s.device = self.device.currentText()
        s.cpu_offload = self.cpu_offload.isChecked()
        s.attention_slicing = self.attention_slicing.isChecked()
        s.vae_tiling = self.vae_tiling.isChecked()
        s.allow_pickle_weights = self.allow_pickle.isChecked()
        s.compile_denoiser = self.compile_denoiser.currentData()
        s.first_block_cache = self.first_block_cache.isChecked()
        s.export_destinations = []
        for row in range(self.destinations.rowCount()):
            name, folder = (self.destinations.item(row, c) for c in (0, 1))
            if folder is not None and folder.text().strip():
                s.export_destinations.append(
                    ExportDestination((name.text() if name else "") or folder.text(), folder.text().strip())
                )
        s.export_template = self.template.text().strip()
        s.export_format = self.export_format.currentText()
        s.video_export_format = self.video_export_format.currentText()
        s.mesh_export_format = self.mesh_export_format.currentData()
        s.theme = self.theme.currentData()
        s.server_url = self.server_url.text().strip()
        s.default_upscaler = self.default_upscaler.currentData() or ""
        return s

    def result_api_key(self) -> str:
        return self.api_key.text().strip()

    def result_server_token(self) -> str:
        return self.server_token.text().strip()
