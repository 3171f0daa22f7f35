"""The Campaign tab: plan a CSV x template x formats, run it through the window's engine process,
pause and resume without making anything twice, approve, export, and find it again after a restart."""

from __future__ import annotations

import csv

from desktop.ui.campaign_driver import FINISHED, PAUSED
from tests.ui.conftest import fill_form

SEGMENTS = [
    {"segment": "rock fans", "person": "young woman at a rock concert"},
    {"segment": "hikers", "person": "retired man hiking"},
    {"segment": "skaters", "person": "teenager at a skate park"},
]


def write_csv(path, rows=SEGMENTS):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def define(window, tmp_path, template="A {person} wearing our t-shirt", formats=("1:1", "9:16")):
    fill_form(window, steps=2, size=64)
    tab = window.campaign
    window.stage.setCurrentWidget(tab)
    tab.csv_path.setText(str(write_csv(tmp_path / "spring.csv")))
    tab.template.setPlainText(template)
    for name, box in tab.format_boxes.items():
        box.setChecked(name in formats)
    tab.output.setText(str(tmp_path / "out"))
    tab.refresh_plan()
    return tab


def test_the_plan_shows_every_expanded_prompt_and_the_count_before_running(window, tmp_path):
    tab = define(window, tmp_path)
    assert tab.plan_table.rowCount() == 6
    prompts = {tab.plan_table.item(i, 4).text() for i in range(6)}
    assert prompts == {f"A {row['person']} wearing our t-shirt" for row in SEGMENTS}
    assert tab.plan_table.item(1, 2).text() == "9:16"
    assert "6 images" in tab.summary.text() and "3 rows × 2 formats" in tab.summary.text()
    assert tab.run_button.isEnabled() and not tab.error.isVisible()

    tab.template.setPlainText("A {person} at {place}")
    tab.refresh_plan()
    assert tab.error.isVisible() and "place" in tab.error.text()
    assert tab.plan_table.rowCount() == 0 and not tab.run_button.isEnabled()


def run_until(qtbot, tab, state, timeout=120000):
    qtbot.waitUntil(lambda: tab.driver.state == state, timeout=timeout)


def test_run_pause_resume_approve_and_export(qtbot, window, tmp_path):
    tab = define(window, tmp_path)
    paused_after = []

    def pause_once(*_args) -> None:
        if not paused_after:
            paused_after.append(tab.review.list.count())
            tab.driver.pause()

    tab.driver.image_ready.connect(pause_once)
    tab.run()
    run_until(qtbot, tab, PAUSED)
    tab.driver.image_ready.disconnect(pause_once)
    made_before = window.library.db.count()
    assert 1 <= made_before < 6 and tab.run_button.text() == "Resume"

    tab.run()  # Resume: only what is missing
    run_until(qtbot, tab, FINISHED)
    assert window.library.db.count() == 6  # nothing made twice
    assert tab.review.list.count() == 6
    outputs = sorted((tmp_path / "out" / "spring").rglob("*.png"))
    assert len(outputs) == 6 and (tmp_path / "out" / "spring" / "manifest.csv").is_file()
    # Grouped by row, then format: the list follows the plan.
    keys = [tab.review.list.item(i).data(256)[:2] for i in range(6)]
    assert keys == [(1, "1:1"), (1, "9:16"), (2, "1:1"), (2, "9:16"), (3, "1:1"), (3, "9:16")]

    for index in (0, 3):
        tab.review.list.item(index).setSelected(True)
    tab.review.set_approved(True)
    tab.review.list.clearSelection()
    tab.review.list.item(5).setSelected(True)
    tab.review.set_approved(False)
    assert "2 approved · 1 rejected" in tab.review.counts.text()

    destination = tmp_path / "for the client"
    tab.review.export_approved(destination)
    qtbot.waitUntil(lambda: "Exported" in tab.review.status.text(), timeout=20000)
    exported = sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*.png"))
    assert len(exported) == 2 and exported[0].startswith("spring/1x1/001-rock-fans-")
    manifest = (destination / "spring" / "manifest.csv").read_text(encoding="utf-8-sig")
    assert manifest.count("\n") == 3  # header + the two approved

    tab.review.write_contact_sheet()
    qtbot.waitUntil(lambda: "Contact sheet" in tab.review.status.text(), timeout=30000)
    assert (tmp_path / "out" / "spring" / "contact-sheet.pdf").stat().st_size > 1000


def test_an_earlier_campaign_comes_back_after_a_restart_with_its_approvals(qtbot, make_window, settings, tmp_path):
    window = make_window(settings)
    tab = define(window, tmp_path, formats=("1:1",))
    tab.run()
    run_until(qtbot, tab, FINISHED)
    tab.review.list.item(1).setSelected(True)
    tab.review.set_approved(True)
    window.close()

    again = make_window(settings)
    tab = again.campaign
    names = [tab.earlier.itemText(i) for i in range(tab.earlier.count())]
    assert "spring" in names
    tab._load_earlier(names.index("spring"))
    assert tab.template.toPlainText() == "A {person} wearing our t-shirt"
    assert tab.review.list.count() == 3 and "1 approved" in tab.review.counts.text()
    tab.run()  # nothing is missing: nothing is made
    run_until(qtbot, tab, FINISHED)
    assert again.library.db.count() == 3


def test_a_non_commercial_model_is_questioned_before_the_campaign_makes_anything(qtbot, window, tiny_model, tmp_path):
    import shutil

    from tests.ui.test_animate import answer_warning

    model = shutil.copytree(tiny_model, tmp_path / "nc-model")
    (model / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n# a model for non-commercial use\n")
    tab = define(window, tmp_path, formats=("1:1",))
    window.form.model.setEditText(str(model))
    tab.refresh_plan()
    answers: list = []
    answer_warning(answers, "cancel")
    tab.run()
    assert len(answers) == 1 and "CC-BY-NC" in answers[0].upper()
    assert "not accepted" in tab.status.text() and window.library.db.count() == 0

    answer_warning(answers, "generate")
    tab.run()
    run_until(qtbot, tab, FINISHED)
    assert len(answers) == 2 and window.library.db.count() == 3
