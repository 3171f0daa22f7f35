"""The real main window, driven with pytest-qt, generating with a tiny local pipeline."""

from __future__ import annotations

import subprocess
import sys

from PIL import Image
from PySide6.QtCore import Qt

from desktop.jobs.runner import JobState
from tests.ui.conftest import fill_form, library_pngs


def test_the_window_paints_without_importing_torch_diffusers_transformers_or_openai(tmp_path):
    code = (
        "import sys, os\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        f"os.environ['DIFFUSION_STUDIO_HOME'] = {str(tmp_path / 'home')!r}\n"
        f"os.environ['DIFFUSION_STUDIO_CONFIG'] = {str(tmp_path / 'config')!r}\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from desktop.ui.application import create_window\n"
        "window = create_window()\n"
        "window.show()\n"
        "window.repaint()\n"  # painted; the demo model's warm-up (which imports torch) comes later
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'openai') if m in sys.modules))\n"
        "window.close()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


def test_without_any_model_the_first_run_says_what_to_do(make_window, monkeypatch, tmp_path):
    from desktop.library.settings import Settings

    monkeypatch.setattr("desktop.engine.presets.DEMO_MODEL_DIR", tmp_path / "no-demo")
    monkeypatch.setattr("desktop.engine.presets.DEMO_VIDEO_MODEL_DIR", tmp_path / "no-demo-video")
    window = make_window(Settings())
    assert "Welcome to Diffusion Studio" in window.progress.preview.text()
    assert "Settings" in window.progress.preview.text() and window.form.model.currentText() == ""


def test_a_fresh_install_selects_the_demo_model_and_it_draws_what_the_prompt_says(qtbot, make_window):
    from desktop.library.settings import Settings
    from desktop.training.demo.shapes import classify
    from desktop.ui.welcome import DEMO_WELCOME

    window = make_window(Settings())
    form = window.form
    assert form.model.currentText() == "Demo (built-in)"
    assert (form.width.value(), form.height.value(), form.steps.value()) == (64, 64, 20)
    assert window.progress.preview.text() == DEMO_WELCOME
    # While the user types, the model is loaded on the worker thread: the click does not wait for it.
    qtbot.waitUntil(lambda: window.device_label.text() == "Device: cpu · demo", timeout=60000)
    form.prompt.setPlainText("a red circle on a blue background")
    form.random_seed.setChecked(False)
    form.seed.setText("1")
    with qtbot.waitSignal(window.bridge.finished_job, timeout=60000) as finished:
        qtbot.mouseClick(form.generate_button, Qt.MouseButton.LeftButton)
    row = window.library.db.get(finished.args[1][0])
    assert row.timings["load_s"] == 0
    seen = classify(Image.open(window.library.absolute(row)))
    assert (seen["color"], seen["background"]) == ("red", "blue")


def test_a_model_the_user_added_comes_before_the_demo(window, tiny_model):
    assert window.form.model.currentText() == str(tiny_model)
    names = [window.form.model.itemText(i) for i in range(window.form.model.count())]
    assert names == [str(tiny_model), "Demo (built-in)"]


def test_generate_shows_previews_then_lands_in_the_gallery_and_details(qtbot, window, tiny_model, isolated_home):
    assert window.form.model.currentText() == str(tiny_model)
    fill_form(window, steps=4)
    progress = []
    window.bridge.progress.connect(lambda *args: progress.append(args))
    with qtbot.waitSignal(window.bridge.finished_job, timeout=60000) as finished:
        qtbot.mouseClick(window.form.generate_button, Qt.MouseButton.LeftButton)
    job_id, row_ids = finished.args
    rows = [window.library.db.get(i) for i in row_ids]
    assert [p[1] for p in progress] == [1, 2, 3, 4]
    assert all(not p[4].isNull() for p in progress)
    assert window.progress.preview.pixmap() is not None and not window.progress.preview.pixmap().isNull()
    assert window.gallery_model.rowCount() == 1
    assert len(library_pngs(isolated_home)) == 1
    # The new image is selected and described.
    qtbot.waitUntil(lambda: "a red circle on a blue background" in window.details.parameters.text())
    assert f"{rows[0].seed}" in window.details.parameters.text()
    assert window.form.reuse_seed.isEnabled()
    assert "cpu" in window.device_label.text()


def test_invalid_input_is_one_sentence_in_the_window_and_nothing_is_queued(qtbot, window):
    fill_form(window, prompt="   ")
    qtbot.mouseClick(window.form.generate_button, Qt.MouseButton.LeftButton)
    assert window.form.error.isVisible()
    assert window.form.error.text() == "Prompt is empty: describe the image you want."
    assert window.bridge.jobs() == []


def test_a_broken_model_folder_is_reported_and_the_form_keeps_what_was_typed(qtbot, window, tmp_path):
    fill_form(window, prompt="a sneaker made of ocean plastic")
    window.form.model.setEditText(str(tmp_path))
    with qtbot.waitSignal(
        window.bridge.job_changed,
        timeout=60000,
        check_params_cb=lambda job_id, state, message: state == JobState.FAILED.value,
    ):
        window.generate()
    assert window.form.error.isVisible()
    assert "model_index.json is missing" in window.form.error.text()
    assert window.form.prompt.toPlainText() == "a sneaker made of ocean plastic"
    assert window.isVisible()


def test_closing_during_a_generation_stops_the_worker_and_leaves_nothing(qtbot, window, isolated_home):
    fill_form(window, steps=150, size=256)
    with qtbot.waitSignal(window.bridge.progress, timeout=60000):
        window.generate()
    window.close()
    assert not window.bridge.isRunning()
    assert library_pngs(isolated_home) == []
    assert not list((isolated_home / ".partial").glob("*"))


def test_the_history_is_in_the_gallery_after_a_restart(qtbot, make_window, settings, isolated_home):
    first = make_window(settings)
    fill_form(first, prompt="a product launch poster", steps=2)
    with qtbot.waitSignal(first.bridge.finished_job, timeout=60000):
        first.generate()
    first.close()
    second = make_window(settings)
    assert second.gallery_model.rowCount() == 1
    assert second.gallery_model.row_at(second.gallery_model.index(0)).prompt == "a product launch poster"
    # The form comes back as the user left it.
    assert second.form.prompt.toPlainText() == "a product launch poster"
    assert second.form.steps.value() == 2


def test_openai_generation_through_the_window(qtbot, window, openai_server):
    form = window.form
    form.backend.setCurrentIndex(form.backend.findData("openai"))
    form.model.setCurrentText("dall-e-2")
    assert [form.size_preset.itemText(i) for i in range(form.size_preset.count())] == [
        "256x256",
        "512x512",
        "1024x1024",
    ]
    form.size_preset.setCurrentIndex(0)
    form.prompt.setPlainText("A woman is wearing a smart watch for health monitoring.")
    with qtbot.waitSignal(window.bridge.finished_job, timeout=60000) as finished:
        window.generate()
    (row_id,) = finished.args[1]
    row = window.library.db.get(row_id)
    assert (row.backend, row.model, row.width, row.height, row.seed) == ("openai", "dall-e-2", 256, 256, None)


def test_window_size_and_splitters_come_back_after_a_restart(make_window, settings):
    from desktop.library.settings import load_settings

    first = make_window(settings)
    assert first.minimumSizeHint().width() <= 1000, "the window must fit a 1024-pixel screen"
    # The offscreen screen is 800x800: restoring clamps a window wider than that, so the height and
    # the vertical splitter are what can be compared here.
    first.resize(first.width(), 640)
    first._splitters["middle"].setSizes([380, 200])
    wanted = first._splitters["middle"].sizes()
    first.close()
    second = make_window(load_settings())
    assert second.height() == 640
    assert second._splitters["middle"].sizes() == wanted


def test_words_the_demo_does_not_know_are_named_while_typing_and_3d_is_disabled_with_a_reason(qtbot, make_window):
    from desktop.engine.presets import demo_video_installed
    from desktop.library.settings import Settings

    window = make_window(Settings())
    form = window.form
    form.prompt.setPlainText("Sleek sneaker crafted from ocean plastic, a red circle")
    qtbot.waitUntil(form.vocabulary_note.isVisible, timeout=3000)
    note = form.vocabulary_note.text()
    assert all(word in note for word in ("sleek", "sneaker", "ocean", "plastic")) and "circle" not in note
    form.prompt.setPlainText("a red circle on a blue background")
    qtbot.waitUntil(lambda: not form.vocabulary_note.isVisible(), timeout=3000)
    # Video is there (the built-in demo video model makes clips); 3D needs a model nothing listed is.
    assert form.task.model().item(form.task.findData("text-to-video")).isEnabled() == demo_video_installed()
    three_d = form.task.model().item(form.task.findData("text-to-3d"))
    assert not three_d.isEnabled() and three_d.toolTip(), three_d.toolTip()
