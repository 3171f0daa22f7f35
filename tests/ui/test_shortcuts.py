"""Keyboard shortcuts are window-level actions: they keep working whatever the buttons say and
wherever the focus is."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt

from tests.ui.conftest import fill_form


def test_ctrl_enter_queues_a_job_every_time_it_is_pressed(qtbot, window):
    fill_form(window, steps=2)
    window.form.prompt.setFocus()
    with qtbot.waitSignal(window.bridge.job_added, timeout=5000):
        qtbot.keyClick(window.form.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    # The button now says "Add to queue"; the shortcut must still be there.
    assert window.form.generate_button.text() == "Add to queue"
    with qtbot.waitSignal(window.bridge.job_added, timeout=5000):
        qtbot.keyClick(window.form.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(window.bridge.jobs()) == 2
    qtbot.waitUntil(lambda: not any(job.active for job in window.bridge.jobs()), timeout=60000)
    assert window.library.db.count() == 2


def test_ctrl_z_undoes_a_delete_when_the_gallery_does_not_have_the_focus(qtbot, window):
    fill_form(window, steps=2)
    with qtbot.waitSignal(window.bridge.finished_job, timeout=60000):
        window.generate()
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 1)
    window.gallery.list.selectionModel().select(
        window.gallery_model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    window.actions.delete.trigger()
    assert window.library.db.count() == 0 and "Ctrl+Z" in window.statusBar().currentMessage()
    window.details.setFocus()  # away from the gallery and from any text field
    qtbot.keyClick(window.details, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.library.db.count() == 1
