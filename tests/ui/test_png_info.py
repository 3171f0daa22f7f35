"""PNG Info in the window: another tool's picture shows its settings, and they go into the form."""

from __future__ import annotations

from PIL import Image, PngImagePlugin

A1111 = (
    "a sneaker on a beach\nNegative prompt: blurry\n"
    "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 4242, Size: 512x512, "
    "Model: sd_xl_base_1.0"
)


def test_an_automatic1111_picture_fills_the_form_and_says_what_it_could_not_use(window, tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    path = tmp_path / "from-a1111.png"
    Image.new("RGB", (96, 64)).save(path, pnginfo=info)
    dialog = window.show_png_info(path)
    assert dialog is not None and "sneaker on a beach" in " ".join(v for _, v in dialog.settings.rows())
    dialog.use_button.click()
    form = window.form
    assert form.prompt.toPlainText() == "a sneaker on a beach"
    assert form.negative_prompt.toPlainText() == "blurry"
    assert (form.steps.value(), form.guidance.value(), form.seed.text()) == (30, 6.5, "4242")
    assert (form.width.value(), form.height.value()) == (512, 512)
    assert "sd_xl_base_1.0" in window.statusBar().currentMessage()  # the model is named, not used


def test_a_picture_without_settings_says_so(window, tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (64, 64)).save(path)
    assert window.show_png_info(path) is None
    assert "carries no generation settings" in window.statusBar().currentMessage()
