"""The details pane: the selected image, every parameter it was made with, and the item's actions."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.backend import GUIDANCE, QUALITY, SCHEDULER, SEED, STEPS, STYLE
from desktop.engine.errors import EngineError
from desktop.engine.licences import is_non_commercial
from desktop.engine.tasks import EXTEND, FPS, FRAMES, STRENGTH, MediaKind, Task, task_from
from desktop.library.history import HistoryRow
from desktop.ui.compare_view import CompareView
from desktop.ui.theme import muted_text_color


class DetailsPane(QWidget):
    def __init__(self, actions, capabilities=None, parent=None) -> None:
        """capabilities(backend, model) says which controls a row's model takes (the engine's)."""
        super().__init__(parent)
        self._capabilities = capabilities
        self._row: HistoryRow | None = None
        self.player = None  # the VideoPlayer, made when the first video is shown
        self.mesh_viewer = None  # the MeshViewer, made when the first 3D object is shown
        self._pixmap = QPixmap()
        self._source: Path | None = None
        self.compare = CompareView()
        self.compare.hide()
        self.compare_toggle = QCheckBox("Compare with the picture it was edited from")
        self.compare_toggle.hide()
        self.compare_toggle.toggled.connect(lambda _on: self._show_comparison())
        self.image = QLabel("Select an image in the gallery to see how it was made.")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setWordWrap(True)
        self.image.setMinimumHeight(200)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.parameters = QLabel()
        self.parameters.setWordWrap(True)
        self.parameters.setTextFormat(Qt.TextFormat.RichText)
        self.parameters.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.parameters.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.parameters)
        self._scroll = scroll

        # Two rows: seven buttons side by side would force the pane (and the splitter) wide.
        buttons = QGridLayout()
        # (action, label, row, column, column span) on a 4-column grid
        entries = [
            (actions.reuse, "Use settings again", 0, 0, 2),
            (actions.edit, "Edit", 0, 2, 1),
            (actions.animate, "Animate", 0, 3, 1),
            (actions.open, "Open", 1, 0, 1),
            (actions.copy, "Copy", 1, 1, 1),
            (actions.delete, "Delete", 1, 2, 1),
        ]
        for action, label, row, column, span in entries:
            button = QPushButton(label)
            button.setToolTip(action.text())
            button.clicked.connect(action.trigger)
            action.changed.connect(lambda b=button, a=action: b.setEnabled(a.isEnabled()))
            button.setEnabled(action.isEnabled())
            buttons.addWidget(button, row, column, 1, span)
        export = QPushButton("Export to…")
        export.setMenu(actions.export_menu)
        buttons.addWidget(export, 1, 3, 1, 1)
        self._buttons = QWidget()
        self._buttons.setLayout(buttons)
        buttons.setContentsMargins(0, 0, 0, 0)

        layout = QVBoxLayout(self)
        layout.addWidget(self.image, 3)
        layout.addWidget(self.compare, 3)
        layout.addWidget(self.compare_toggle)
        layout.addWidget(scroll, 2)
        layout.addWidget(self._buttons)
        self.show_row(None, None)

    def show_row(
        self, row: HistoryRow | None, path: Path | None, still: Path | None = None, source: Path | None = None
    ) -> None:
        """Show a row: its image, or for a video the player (poster where playback is unavailable); an
        edit whose source picture is known can be compared with it (before/after)."""
        self._row = row
        self._source = source if row is not None and row.media == MediaKind.IMAGE else None
        self.compare_toggle.setVisible(self._source is not None)
        if self._source is None:
            self.compare_toggle.setChecked(False)
        self._buttons.setVisible(row is not None)
        self._scroll.setVisible(row is not None)
        video = row is not None and row.media == MediaKind.VIDEO
        mesh = row is not None and row.media == MediaKind.MESH
        if self.player is not None and not video:
            self.player.stop()
            self.player.hide()
        if self.mesh_viewer is not None and not mesh:
            self.mesh_viewer.stop()
            self.mesh_viewer.hide()
        self.image.setVisible(not video and not mesh)
        if row is None or path is None:
            self._pixmap = QPixmap()
            self.image.setPixmap(QPixmap())
            self.image.setText("Select an image in the gallery to see how it was made.")
            self.parameters.setText("")
            return
        self.parameters.setText(_parameters_html(row, path, self._controls(row)))
        if video:
            self._video_player().show()
            self.player.load(path, still or path, row.request.get("fps", 8))
            return
        if mesh:
            from desktop.library.mesh import turntable_name

            self._mesh_viewer().show()
            self.mesh_viewer.load(path, turntable_name(path), still or path, row.request.get("fps", 10))
            return
        self._pixmap = QPixmap(str(path))
        if self._pixmap.isNull():
            self.image.setText(f"{path.name} cannot be shown (missing or unreadable).")
        self._rescale()
        self._show_comparison()

    def _show_comparison(self) -> None:
        comparing = self.compare_toggle.isChecked() and self._source is not None and not self._pixmap.isNull()
        self.compare.setVisible(comparing)
        self.image.setVisible(not comparing and (self._row is None or self._row.media == MediaKind.IMAGE))
        if comparing:
            extend = self._row.request.get("extend") or [0, 0, 0, 0]
            offset = (int(extend[0]), int(extend[1])) if self._row.task == "outpaint" and len(extend) == 4 else (0, 0)
            self.compare.set_pictures(QPixmap(str(self._source)), self._pixmap, offset)

    def _controls(self, row: HistoryRow) -> frozenset[str] | None:
        """The controls the row's model takes; None where that cannot be told (a backend gone since)."""
        if self._capabilities is None:
            return None
        try:
            return self._capabilities(row.backend, row.model).controls
        except (EngineError, OSError, ValueError):
            return None

    def _mesh_viewer(self):
        if self.mesh_viewer is None:
            from desktop.ui.mesh_viewer import MeshViewer  # Qt Quick 3D loads on the first 3D object only

            self.mesh_viewer = MeshViewer(self)
            self.layout().insertWidget(1, self.mesh_viewer, 3)
        return self.mesh_viewer

    def _video_player(self):
        if self.player is None:
            from desktop.ui.video_player import VideoPlayer  # QtMultimedia loads on the first video only

            self.player = VideoPlayer(self)
            self.layout().insertWidget(1, self.player, 3)
        return self.player

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if not self._pixmap.isNull():
            self.image.setPixmap(
                self._pixmap.scaled(
                    self.image.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            )


# The request's fields by the control that shows them, in the order the pane lists them.
SAMPLING_FIELDS = (
    (SEED, "Seed", "seed", None),
    (STEPS, "Steps", "steps", None),
    (GUIDANCE, "Guidance", "guidance", None),
    (SCHEDULER, "Scheduler", "scheduler", "model default"),
    (QUALITY, "Quality", "quality", "default"),
    (STYLE, "Style", "style", "default"),
)


def _parameters_html(row: HistoryRow, path: Path, controls: frozenset[str] | None = None) -> str:
    """Every parameter the row was made with; controls (what its model takes) picks the sampling rows,
    or, where unknown, the rows whose values were recorded."""
    request = row.request
    fields = [
        ("Prompt", row.prompt),
        ("Negative prompt", row.negative_prompt or "—"),
        ("Task", row.task),
        ("Backend", row.backend),
        ("Model", row.model),
    ]
    licence = request.get("licence")
    if isinstance(licence, str) and licence:  # as the model's card said when the result was made
        fields.append(("Licence", f"{licence} — non-commercial use only" if is_non_commercial(licence) else licence))
    fields.append(("Size", f"{row.width} × {row.height}"))
    try:
        spec = task_from(row.task).spec
    except ValueError:
        spec = Task.TEXT_TO_IMAGE.spec
    if spec.uses(FRAMES):
        fields.append(("Frames", request.get("frames")))
    if spec.uses(FPS):
        fields.append(("FPS", request.get("fps")))
    for control, label, key, empty in SAMPLING_FIELDS:
        value = row.seed if key == "seed" else request.get(key)
        if controls is not None and control not in controls:
            continue
        if controls is None and value is None:
            continue
        fields.append((label, empty if value is None else value))
    source = "Animated from" if spec.media is MediaKind.VIDEO else "Edited from"
    if request.get("source_id") is not None:
        fields.append((source, f"gallery item #{request['source_id']}"))
    elif request.get("image"):
        fields.append((source, request["image"]))
    if spec.uses(EXTEND):
        fields.append(("Extended by", "left {}, top {}, right {}, bottom {}".format(*request.get("extend", [0] * 4))))
    if spec.uses(STRENGTH):
        fields.append(("Strength", request.get("strength")))
    timings = row.timings
    took = f"{timings.get('generate_s', 0):.2f} s"
    if timings.get("load_s"):
        took += f" (+ {timings['load_s']:.2f} s loading)"
    fields += [
        ("Device", row.device),
        ("Time", took),
        ("Created", row.created_at.replace("T", " ")[:19]),
        ("File", str(path)),
    ]
    muted = muted_text_color()
    cells = "".join(
        f"<tr><td style='color:{muted};padding-right:8px;vertical-align:top'>{html.escape(k)}</td>"
        f"<td>{html.escape(str(v))}</td></tr>"
        for k, v in fields
    )
    return f"<table>{cells}</table>"
