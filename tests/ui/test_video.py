"""Video mode in the window, and the player in the details pane (QtMultimedia under offscreen)."""

from __future__ import annotations

import pytest

from desktop.library.settings import Settings
from desktop.library.video import video_info


@pytest.fixture
def video_window(make_window, tiny_video_model):
    return make_window(Settings(model_folders=[str(tiny_video_model)]))


def test_video_mode_shows_frames_and_fps_and_follows_the_modelscope_recipe(video_window):
    form = video_window.form
    assert not form._form.isRowVisible(form.frames)
    form.task.setCurrentIndex(form.task.findData("text-to-video"))
    assert form._form.isRowVisible(form.frames) and form._form.isRowVisible(form.fps)
    assert (form.width.value(), form.height.value(), form.steps.value(), form.frames.value(), form.fps.value()) == (
        256,
        256,
        25,
        16,
        8,
    )
    openai = form.backend.model().item(form.backend.findData("openai"))
    assert not openai.isEnabled()
    assert form._form.labelForField(form.count).text() == "Videos"


def test_a_generated_video_plays_to_the_end_in_the_details_pane(qtbot, video_window, isolated_home):
    form = video_window.form
    form.task.setCurrentIndex(form.task.findData("text-to-video"))
    form.prompt.setPlainText("A woman is wearing a smart watch for health monitoring.")
    form.set_size(64, 64)
    form.steps.setValue(3)
    form.frames.setValue(8)
    form.fps.setValue(8)
    with qtbot.waitSignal(video_window.bridge.finished_job, timeout=60000) as finished:
        video_window.generate()
    (row_id,) = finished.args[1]
    row = video_window.library.db.get(row_id)
    path = video_window.library.absolute(row)
    assert row.media == "video" and video_info(path)["frames"] == 8

    # The new video is selected; the player loads it and plays every frame through a QVideoSink.
    qtbot.waitUntil(lambda: video_window.details.player is not None, timeout=10000)
    player = video_window.details.player
    assert player.player is not None, player.unavailable_reason
    frames = []
    player.video.videoSink().videoFrameChanged.connect(lambda frame: frames.append(frame.startTime()))
    player.loop.setChecked(False)
    player.player.setPosition(0)
    player.player.play()
    from PySide6.QtMultimedia import QMediaPlayer

    qtbot.waitUntil(lambda: player.player.mediaStatus() == QMediaPlayer.MediaStatus.EndOfMedia, timeout=20000)
    assert len(set(frames)) >= 7  # every frame of 8 reached the sink (the first may be shown before we listen)
    assert player.play_button.text() == "Play"
    player.step_frame()
    assert player.player.playbackState() != QMediaPlayer.PlaybackState.PlayingState

    # The MP4 drags out like an image: its URL, with the poster as the picture.
    model = video_window.gallery_model
    mime = model.mimeData([model.index(0)])
    assert [u.toLocalFile() for u in mime.urls()] == [str(path)] and mime.hasImage()
    assert model.data(model.index(0)).startswith("▶ ")


def test_without_qtmultimedia_the_pane_shows_the_poster_and_says_why(qtbot, monkeypatch, tmp_path):
    import builtins

    from PIL import Image

    real_import = builtins.__import__

    def no_multimedia(name, *args, **kwargs):
        if name == "PySide6" and args and args[2] and "QtMultimedia" in args[2]:
            raise ImportError("libpulse.so.0: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_multimedia)
    from desktop.ui.video_player import VideoPlayer

    poster = tmp_path / "poster.png"
    Image.new("RGB", (32, 32), (200, 0, 0)).save(poster)
    player = VideoPlayer()
    qtbot.addWidget(player)
    player.load(tmp_path / "missing.mp4", poster, 8)
    assert player.player is None
    assert "install the system package libpulse0" in player.message.text()
    assert not player.poster.pixmap().isNull()


def test_leaving_video_gives_back_the_size_and_steps_the_user_had_for_images(make_window, tiny_video_model):
    from desktop.engine.presets import DEMO_MODEL

    window = make_window(Settings(model_folders=[str(tiny_video_model)]))
    form = window.form
    form.select_model(DEMO_MODEL)
    form.apply_defaults()
    assert (form.width.value(), form.steps.value()) == (64, 20)
    form.select_model(str(tiny_video_model))
    form.task.setCurrentIndex(form.task.findData("text-to-video"))
    assert (form.width.value(), form.steps.value()) == (256, 25)
    form.steps.setValue(30)
    form.task.setCurrentIndex(form.task.findData("text-to-image"))
    assert (form.width.value(), form.height.value(), form.steps.value()) == (64, 64, 20)
    form.task.setCurrentIndex(form.task.findData("text-to-video"))
    assert (form.width.value(), form.steps.value()) == (256, 30)
