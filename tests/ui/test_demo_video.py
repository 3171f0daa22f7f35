"""A fresh install's first video: Make → Video picks the built-in demo video model with its settings,
and "a yellow square moving left on a black background" becomes a 16-frame clip that plays."""

from __future__ import annotations

from desktop.engine.presets import DEMO_VIDEO_MODEL
from desktop.engine.request import Task
from desktop.library.settings import Settings


def test_make_video_on_a_fresh_install_plays_the_demo_video_models_clip(qtbot, make_window):
    window = make_window(Settings())
    form = window.form
    form.task.setCurrentIndex(form.task.findData(Task.TEXT_TO_VIDEO.value))
    assert form.model_value == DEMO_VIDEO_MODEL and form.model.currentText() == "Demo video (built-in)"
    assert (form.width.value(), form.height.value(), form.frames.value(), form.steps.value()) == (64, 64, 16, 12)
    form.prompt.setPlainText("a yellow square moving left on a black background")
    with qtbot.waitSignal(window.bridge.finished_job, timeout=120000) as finished:
        window.generate()
    row = window.library.db.get(finished.args[1][0])
    assert row.media == "video" and row.model == DEMO_VIDEO_MODEL and row.request["frames"] == 16
    qtbot.waitUntil(lambda: window.details.player is not None, timeout=10000)
    assert window.details.player.isVisibleTo(window.details)
