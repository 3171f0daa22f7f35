"""A product designer's path: a prompt becomes a 3D object in the gallery, shown by the 3D viewer
(offscreen: its turntable), and exported as GLB."""

from __future__ import annotations

from desktop.library.settings import Settings
from tests.ui.conftest import fill_form


def test_a_prompt_becomes_an_object_in_the_gallery_and_the_details_pane_shows_it(qtbot, make_window, tmp_path):
    from tiny_shap_e import build_text_to_3d

    model = build_text_to_3d(tmp_path / "tiny-shap-e")
    out = tmp_path / "exports"
    window = make_window(Settings(model_folders=[str(model)], export_destinations=[], mesh_export_format="glb"))
    form = window.form
    form.task.setCurrentIndex(form.task.findData("text-to-3d"))
    assert form.task_value.value == "text-to-3d" and form.backend_value == "diffusers"
    fill_form(window, prompt="sleek minimalist sneaker", steps=3, size=16)
    form.frames.setValue(4)
    with qtbot.waitSignal(window.bridge.finished_job, timeout=120000) as finished:
        window.generate()
    row = window.library.db.get(finished.args[1][0])
    assert row.media == "mesh" and window.library.absolute(row).suffix == ".glb"
    assert window.gallery_model.data(window.gallery_model.index(0)).startswith("⬢ ")
    qtbot.waitUntil(lambda: window.details.mesh_viewer is not None, timeout=10000)
    assert window.details.mesh_viewer.isVisibleTo(window.details) and not window.details.image.isVisibleTo(
        window.details
    )
    from desktop.library.mesh import export_mesh, read_glb_info

    out.mkdir()
    exported = export_mesh(window.library.absolute(row), row, out, "{prompt}", "glb")
    assert exported.suffix == ".glb" and read_glb_info(exported)["vertices"] > 0
