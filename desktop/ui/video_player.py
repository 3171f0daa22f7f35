"""The video player in the details pane: QMediaPlayer with a QVideoWidget, play/pause, loop, scrub,
step a frame, mute. QtMultimedia is imported on first use (it costs start-up time), and where it
cannot load the pane shows the poster and says why."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QVBoxLayout, QWidget

from desktop.ui.theme import error_text_color


def load_multimedia():
    """(QtMultimedia, QtMultimediaWidgets), or the sentence that says why they cannot load."""
    try:
        from PySide6 import QtMultimedia, QtMultimediaWidgets
    except (ImportError, OSError) as exc:
        return None, (
            f"Video playback is unavailable: Qt's multimedia module could not load ({exc}). On Debian or "
            "Ubuntu, install the system package libpulse0 and restart."
        )
    return (QtMultimedia, QtMultimediaWidgets), ""


class VideoPlayer(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._fps = 8
        modules, self.unavailable_reason = load_multimedia()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.poster = QLabel()
        self.poster.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.poster.setWordWrap(True)
        self.poster.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {error_text_color()}")
        self.message.hide()
        self.player = None
        if modules is None:
            layout.addWidget(self.poster, 1)
            self.message.setText(self.unavailable_reason)
            self.message.show()
            layout.addWidget(self.message)
            return
        multimedia, widgets = modules
        self.video = widgets.QVideoWidget()
        self.video.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.audio = multimedia.QAudioOutput(self)
        self.player = multimedia.QMediaPlayer(self)
        self.player.setAudioOutput(self.audio)
        self.player.setVideoOutput(self.video)
        self._playing_state = multimedia.QMediaPlayer.PlaybackState.PlayingState
        self._infinite = multimedia.QMediaPlayer.Loops.Infinite

        self.play_button = QPushButton("Play")
        self.step_button = QPushButton("Next frame")
        self.loop = QCheckBox("Loop")
        self.loop.setChecked(True)
        self.mute = QCheckBox("Mute")
        self.mute.setChecked(True)
        self.position = QSlider(Qt.Orientation.Horizontal)
        self.time = QLabel("0.0 s")
        scrub = QHBoxLayout()
        scrub.addWidget(self.position, 1)
        scrub.addWidget(self.time)
        controls = QHBoxLayout()
        for widget in (self.play_button, self.step_button, self.loop, self.mute):
            controls.addWidget(widget)
        controls.addStretch()
        layout.addWidget(self.video, 1)
        layout.addWidget(self.message)
        layout.addLayout(scrub)
        layout.addLayout(controls)

        self.play_button.clicked.connect(self.toggle_play)
        self.step_button.clicked.connect(self.step_frame)
        self.loop.toggled.connect(self._apply_loop)
        self.mute.toggled.connect(self.audio.setMuted)
        self.audio.setMuted(True)
        self.position.sliderMoved.connect(self.player.setPosition)
        self.player.durationChanged.connect(lambda ms: self.position.setRange(0, ms))
        self.player.positionChanged.connect(self._position_changed)
        self.player.playbackStateChanged.connect(self._state_changed)
        self.player.errorOccurred.connect(self._error)
        self._apply_loop(True)

    def load(self, video: Path, poster: Path, fps: int) -> None:
        self._fps = max(int(fps or 8), 1)
        pixmap = QPixmap(str(poster))
        self.poster.setPixmap(
            pixmap.scaled(320, 320, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            if not pixmap.isNull()
            else QPixmap()
        )
        if self.player is None:
            return
        self.message.hide()
        self.player.setSource(QUrl.fromLocalFile(str(video)))
        self.player.play()

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.player.setSource(QUrl())

    def toggle_play(self) -> None:
        if self.player.playbackState() == self._playing_state:
            self.player.pause()
        else:
            self.player.play()

    def step_frame(self) -> None:
        self.player.pause()
        self.player.setPosition(min(self.player.position() + round(1000 / self._fps), self.player.duration()))

    def _apply_loop(self, on: bool) -> None:
        self.player.setLoops(self._infinite if on else 1)

    def _position_changed(self, ms: int) -> None:
        if not self.position.isSliderDown():
            self.position.setValue(ms)
        self.time.setText(f"{ms / 1000:.1f} s")

    def _state_changed(self, state) -> None:
        self.play_button.setText("Pause" if state == self._playing_state else "Play")

    def _error(self, error, text: str) -> None:
        self.message.setText(f"This video cannot be played: {text or error}.")
        self.message.show()
