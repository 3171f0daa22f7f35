from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.ui.seed_row import SeedRow


def test_random_until_a_seed_is_set_and_then_that_seed(qtbot):
    row = SeedRow()
    qtbot.addWidget(row)
    assert row.value() is None
    assert not row.seed.isEnabled()
    row.set_value(42)
    assert (row.value(), row.seed.isEnabled()) == (42, True)
    row.random.setChecked(True)
    assert row.value() is None  # the typed seed stays, unused


def test_reuse_last_gives_back_the_newest_results_seed(qtbot):
    row = SeedRow()
    qtbot.addWidget(row)
    assert not row.reuse.isEnabled()
    row.set_last(7)
    assert row.reuse.isEnabled() and "7" in row.reuse.toolTip()
    qtbot.mouseClick(row.reuse, Qt.MouseButton.LeftButton)
    assert row.value() == 7
