"""Upscale from the gallery, as a new user does it: a 64x64 demo picture becomes 256x256."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QItemSelectionModel

from desktop.library.settings import Settings
from tests.ui.conftest import fill_form


def test_a_demo_picture_becomes_256_pixels_with_upscale_x4_and_links_to_its_source(qtbot, make_window):
    window = make_window(Settings())  # a fresh install: no upscaler file, so the plain resize
    fill_form(window, prompt="a red circle on a blue background", steps=4, size=64)
    with qtbot.waitSignal(window.bridge.finished_job, timeout=60000) as made:
        window.generate()
    (source_id,) = made.args[1]
    window.gallery.list.selectionModel().select(
        window.gallery_model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    assert window.actions.upscale_4.isEnabled()
    with qtbot.waitSignal(window.bridge.finished_job, timeout=60000) as upscaled:
        window.actions.upscale_4.trigger()
    row = window.library.db.get(upscaled.args[1][0])
    assert (row.task, row.model, row.request["source_id"]) == ("upscale", "lanczos", source_id)
    assert Image.open(window.library.absolute(row)).size == (256, 256)


def test_a_4x_upscaler_file_in_a_model_folder_is_listed_and_used(qtbot, make_window, tmp_path):
    from tiny_upscalers import build_realesrgan

    folder = tmp_path / "upscalers"
    folder.mkdir()
    weights = build_realesrgan(folder / "4x-tiny.safetensors", scale=4)
    window = make_window(Settings(model_folders=[str(folder)], default_upscaler=str(weights)))
    listed = {info.model: info for info in window.engine.backend("upscale").upscalers()}
    assert str(weights) in listed and "×4" in listed[str(weights)].label
    fill_form(window, prompt="a red circle on a blue background", steps=2, size=64)
    with qtbot.waitSignal(window.bridge.finished_job, timeout=60000):
        window.generate()
    source = window.library.db.query()[0]
    with qtbot.waitSignal(window.bridge.finished_job, timeout=60000) as upscaled:
        window.upscale_row(source, 4)
    row = window.library.db.get(upscaled.args[1][0])
    assert row.model == str(weights) and Image.open(window.library.absolute(row)).size == (256, 256)
