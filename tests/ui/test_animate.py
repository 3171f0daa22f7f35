"""A marketer's path: a product shot in the gallery becomes a short clip with "Animate" (a tiny Wan
image-to-video model), the clip plays in the details pane with its licence, and exports; a model whose
licence is non-commercial is questioned before its first job, with "Don't ask again"."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop.engine.request import GenerationRequest, Task
from desktop.engine.result import GeneratedImage, GenerationResult
from desktop.library.export import export_video
from desktop.library.settings import Settings
from desktop.ui.licence_warning import LicenceWarning
from tests.ui.conftest import fill_form


def product_shot_in_gallery(window) -> int:
    """A picture saved into the window's library as a result (what a generated product shot is)."""
    picture = Image.new("RGB", (96, 64), (230, 220, 200))
    picture.paste((40, 40, 160), (36, 12, 60, 56))  # a bottle on a light background
    result = GenerationResult(
        request=GenerationRequest(prompt="a perfume bottle, studio light", model="studio", width=96, height=64, seed=3),
        images=[GeneratedImage(image=picture, seed=3, index=0)],
        device="cpu",
    )
    (saved,) = window.library.save(result)
    window.gallery_model.reload()
    window.gallery.select_id(saved.row.id)
    return saved.row.id


def test_animate_turns_a_product_shot_into_a_clip_that_plays_and_exports(qtbot, make_window, tmp_path, tiny_model):
    from tiny_video_models import build_wan_image_to_video

    i2v = build_wan_image_to_video(tmp_path / "wan-i2v")
    window = make_window(Settings(model_folders=[str(tiny_model), str(i2v)]))
    window.form.select_model(str(tiny_model))
    source_id = product_shot_in_gallery(window)
    assert window.actions.animate.isEnabled()

    window.actions.animate.trigger()
    form = window.form
    # The form switched to image-to-video and to the model that animates pictures, with its recipe.
    assert form.task_value is Task.IMAGE_TO_VIDEO and form.model_value == str(i2v)
    assert (form.width.value(), form.height.value(), form.frames.value()) == (832, 480, 81)
    assert window.stage.currentWidget() is window.edit_panel and window.edit_panel.source_id == source_id
    assert "Apache-2.0" in form.licence_note.text() and form.licence_note.isVisibleTo(form)

    form.prompt.setPlainText("the bottle slowly turns, studio light")
    form.set_size(64, 64)
    form.steps.setValue(2)
    form.frames.setValue(5)
    with qtbot.waitSignal(window.bridge.finished_job, timeout=120000) as finished:
        window.generate()
    row = window.library.db.get(finished.args[1][0])
    assert row.media == "video" and row.task == "image-to-video" and (row.width, row.height) == (64, 64)
    assert row.request["source_id"] == source_id and row.request["licence"] == "Apache-2.0"
    qtbot.waitUntil(lambda: window.details.player is not None, timeout=10000)
    assert window.details.player.isVisibleTo(window.details)
    text = window.details.parameters.text()
    assert "Licence" in text and "Apache-2.0" in text and "Animated from" in text
    out = tmp_path / "campaign"
    out.mkdir()
    exported = export_video(window.library.absolute(row), row, out, "{prompt}", "mp4")
    assert exported.suffix == ".mp4" and exported.stat().st_size > 0


def test_animate_is_offered_on_pictures_only(qtbot, window):
    assert not window.actions.animate.isEnabled()  # nothing selected
    product_shot_in_gallery(window)
    assert window.actions.animate.isEnabled()
    # The menu bar's Edit menu offers it too, beside Edit (the same actions as the gallery's menu).
    edit_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    assert {window.actions.edit, window.actions.animate} <= set(edit_menu.actions())


def answer_warning(answers: list, click: str, dont_ask: bool = False, tries: int = 250) -> None:
    """Answer the next licence warning once it is open (exec() runs its own loop), noting what it said;
    stops looking after about five seconds."""

    def respond(left: int = tries):
        box = QApplication.activeModalWidget()
        if not isinstance(box, LicenceWarning):
            if left:
                QTimer.singleShot(20, lambda: respond(left - 1))
            return
        answers.append(box.text())
        box.dont_ask.setChecked(dont_ask)
        (box.generate_button if click == "generate" else box.cancel_button).click()

    QTimer.singleShot(0, respond)


def test_a_non_commercial_model_is_questioned_once_then_never_with_dont_ask_again(qtbot, make_window, tmp_path):
    from tiny_video_models import build_wan_text_to_video

    model = build_wan_text_to_video(tmp_path / "nc-wan", licence="cc-by-nc-4.0")
    window = make_window(Settings(model_folders=[str(model)]))
    form = window.form
    form.select_model(str(model))
    form.task.setCurrentIndex(form.task.findData(Task.TEXT_TO_VIDEO.value))
    assert "non-commercial" in form.licence_note.text()
    assert "non-commercial" in form.model.itemData(0, 3)  # the model list's tooltip (ToolTipRole)
    fill_form(window, prompt="a woman wearing a smart watch", steps=2, frames=5)

    answers: list[str] = []
    answer_warning(answers, "cancel")
    window.generate()
    assert len(answers) == 1 and "CC-BY-NC-4.0" in answers[0] and not window.bridge.jobs()

    answer_warning(answers, "generate", dont_ask=True)
    with qtbot.waitSignal(window.bridge.job_added, timeout=5000):
        window.generate()
    assert len(answers) == 2 and window.settings.licence_acknowledged == [str(model)]

    answer_warning(answers, "cancel", tries=50)  # a third question would be answered "Cancel" and seen
    with qtbot.waitSignal(window.bridge.job_added, timeout=5000):
        window.generate()
    assert len(answers) == 2
    qtbot.waitUntil(lambda: not any(job.active for job in window.bridge.jobs()), timeout=120000)
    assert window.library.db.count() == 2
