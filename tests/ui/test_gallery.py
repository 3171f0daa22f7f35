"""The gallery over a real library: search, filters, drag-out mime data, delete/undo, export, reuse."""

from __future__ import annotations

import pytest
from PIL import Image
from PySide6.QtCore import QItemSelectionModel

from desktop.engine.request import GenerationRequest, validate
from desktop.engine.result import GeneratedImage, GenerationResult
from desktop.library.settings import ExportDestination, Settings
from desktop.library.store import Library

PROMPTS = [
    ("A young woman at a rock concert wearing a t-shirt", "diffusers", "/models/sd15"),
    ("Sleek, minimalist sneaker crafted from ocean plastic", "diffusers", "/models/sdxl"),
    ("A woman is wearing a smart watch for health monitoring.", "openai", "dall-e-2"),
]


@pytest.fixture
def filled_library(isolated_home):
    library = Library()
    for i, (prompt, backend, model) in enumerate(PROMPTS):
        size = (256, 256) if backend == "openai" else (64, 64)
        request = validate(
            GenerationRequest(prompt=prompt, backend=backend, model=model, width=size[0], height=size[1], seed=i)
        )
        image = Image.new("RGB", size, (60 * i, 100, 200))
        library.save(GenerationResult(request, [GeneratedImage(image, request.seed, 0)], "cpu", {"generate_s": 1}))
    library.close()
    return isolated_home


@pytest.fixture
def gallery_window(make_window, filled_library, tmp_path):
    settings = Settings(
        export_destinations=[ExportDestination("Spring campaign", str(tmp_path / "spring"))],
        export_template="{prompt}_{seed}",
    )
    (tmp_path / "spring").mkdir()
    return make_window(settings)


def prompts_shown(window) -> list[str]:
    model = window.gallery_model
    return [model.row_at(model.index(i)).prompt for i in range(model.rowCount())]


def select(window, *positions):
    selection = window.gallery.list.selectionModel()
    selection.clearSelection()
    for position in positions:
        selection.select(window.gallery_model.index(position), QItemSelectionModel.SelectionFlag.Select)


def test_newest_first_and_search_by_prompt_text(qtbot, gallery_window):
    assert prompts_shown(gallery_window) == [p for p, _, _ in reversed(PROMPTS)]
    gallery_window.gallery.search.setText("woman")
    qtbot.waitUntil(lambda: gallery_window.gallery_model.rowCount() == 2)
    gallery_window.gallery.search.setText("woman concert")
    qtbot.waitUntil(lambda: prompts_shown(gallery_window) == [PROMPTS[0][0]])


def test_filter_by_backend_and_model(qtbot, gallery_window):
    gallery = gallery_window.gallery
    gallery.backend_filter.setCurrentIndex(gallery.backend_filter.findData("openai"))
    assert prompts_shown(gallery_window) == [PROMPTS[2][0]]
    gallery.backend_filter.setCurrentIndex(0)
    gallery.model_filter.setCurrentIndex(gallery.model_filter.findData("/models/sdxl"))
    assert prompts_shown(gallery_window) == [PROMPTS[1][0]]
    assert gallery.task_filter.findData("text-to-image") > 0


def test_thumbnails_are_made_off_the_ui_thread_and_cached_on_disk(qtbot, gallery_window, filled_library):
    model = gallery_window.gallery_model
    for i in range(model.rowCount()):
        model.data(model.index(i), 1)  # DecorationRole asks for the thumbnail
    qtbot.waitUntil(lambda: len(model._pixmaps) == 3, timeout=10000)
    assert len(list((filled_library / ".thumbnails").glob("*.png"))) == 3


def test_dragging_items_out_carries_file_urls_and_the_image(gallery_window):
    model = gallery_window.gallery_model
    mime = model.mimeData([model.index(0), model.index(1)])
    paths = [url.toLocalFile() for url in mime.urls()]
    assert paths == [str(model.library.absolute(model.row_at(model.index(i)))) for i in (0, 1)]
    assert mime.hasImage() and mime.imageData().width() == 256
    assert model.flags(model.index(0)) & model.flags(model.index(0)).ItemIsDragEnabled


def test_delete_then_undo_restores_file_and_row(qtbot, gallery_window):
    select(gallery_window, 0)
    row = gallery_window.gallery.selected_rows()[0]
    path = gallery_window.library.absolute(row)
    gallery_window.actions.delete.trigger()
    assert not path.exists() and gallery_window.gallery_model.rowCount() == 2
    assert gallery_window.library.db.count() == 2
    gallery_window.actions.undo.trigger()
    assert path.exists() and gallery_window.gallery_model.rowCount() == 3
    assert prompts_shown(gallery_window)[0] == row.prompt


def test_export_to_a_named_destination_never_overwrites(qtbot, gallery_window, tmp_path):
    select(gallery_window, 0, 1)
    first = gallery_window.actions.export_to(tmp_path / "spring")
    second = gallery_window.actions.export_to(tmp_path / "spring")
    names = sorted(p.name for p in (tmp_path / "spring").iterdir())
    assert len(first) == len(second) == 2 and len(names) == 4
    assert "a-woman-is-wearing-a-smart-watch-for-health-monitoring_noseed.png" in names
    assert "a-woman-is-wearing-a-smart-watch-for-health-monitoring_noseed-1.png" in names
    gallery_window.actions._fill_export_menu()
    labels = [a.text() for a in gallery_window.actions.export_menu.actions()]
    assert labels[0].startswith("Spring campaign")


def test_use_these_settings_again_fills_the_form(qtbot, gallery_window):
    select(gallery_window, 2)  # the oldest: diffusers, /models/sd15, seed 0
    gallery_window.actions.reuse.trigger()
    form = gallery_window.form
    assert form.prompt.toPlainText() == PROMPTS[0][0]
    assert form.model.currentText() == "/models/sd15"
    assert (form.width.value(), form.height.value(), form.seed.text()) == (64, 64, "0")
    assert not form.random_seed.isChecked()
    assert form.request().seed == 0
