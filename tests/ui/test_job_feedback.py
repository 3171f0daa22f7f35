"""What the window shows as jobs go (desktop.ui.job_feedback), driven through the real window: the
queue's rows, cancelling, a failed job's sentence in the form."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.jobs.runner import JobState
from tests.ui.conftest import fill_form, library_pngs


def test_cancel_stops_the_running_job_and_saves_nothing(qtbot, window, isolated_home):
    fill_form(window, steps=150, size=256)
    with qtbot.waitSignal(window.bridge.progress, timeout=60000):
        window.generate()
    assert window.form.cancel_button.isEnabled()
    with qtbot.waitSignal(
        window.bridge.job_changed,
        timeout=60000,
        check_params_cb=lambda job_id, state, message: state == JobState.CANCELLED.value,
    ):
        qtbot.mouseClick(window.form.cancel_button, Qt.MouseButton.LeftButton)
    assert library_pngs(isolated_home) == []
    assert window.gallery_model.rowCount() == 0
    assert "cancelled; nothing was saved" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not window.form.cancel_button.isEnabled())


def test_jobs_queue_and_a_queued_one_can_be_cancelled(qtbot, window, isolated_home):
    fill_form(window, steps=3)
    # Holding the queue's (re-entrant) lock keeps the worker from taking a job until all three are
    # queued and the second is cancelled: no race with a fast first job.
    with window.bridge.runner._cond:
        window.generate()
        window.form.prompt.setPlainText("a green square")
        window.generate()
        window.form.prompt.setPlainText("a blue circle")
        window.generate()
        first, second, third = window.bridge.jobs()
        assert window.progress.queue.count() == 3
        window.bridge.cancel(second.id)
    assert second.state is JobState.CANCELLED
    qtbot.waitUntil(lambda: third.state is JobState.DONE, timeout=60000)
    assert first.state is JobState.DONE
    assert sorted(r.prompt for r in window.library.db.query()) == ["a blue circle", "a red circle on a blue background"]
    assert window.gallery_model.rowCount() == 2


def test_a_rejected_key_is_shown_as_a_sentence(qtbot, window, openai_server):
    openai_server.mode = "401"
    form = window.form
    form.backend.setCurrentIndex(form.backend.findData("openai"))
    form.prompt.setPlainText("a poster")
    with qtbot.waitSignal(
        window.bridge.job_changed,
        timeout=60000,
        check_params_cb=lambda job_id, state, message: state == JobState.FAILED.value,
    ):
        window.generate()
    assert window.form.error.text() == (
        "The OpenAI API key was rejected (401): check the key in Settings or OPENAI_API_KEY."
    )
