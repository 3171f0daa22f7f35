"""The main window's splitters: the Campaign tab's own split, and the layout kept across restarts."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QTabWidget

from desktop.ui.window_layout import WindowLayout


@pytest.fixture
def layout(qtbot):
    window = QMainWindow()
    stage, campaign = QTabWidget(), QLabel("campaign")
    stage.addTab(QLabel("generate"), "Generate")
    stage.addTab(QLabel("edit"), "Edit")
    stage.addTab(campaign, "Campaign")
    middle = QSplitter(Qt.Orientation.Vertical)
    middle.addWidget(stage)
    middle.addWidget(QLabel("gallery"))
    window.setCentralWidget(middle)
    window.resize(600, 600)  # inside the offscreen screen (800x800): restoring keeps it as it is
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return WindowLayout(window, {"middle": middle}, stage, campaign)


def test_the_campaign_tab_keeps_its_own_split_and_the_others_get_theirs_back(layout):
    middle = layout.splitters["middle"]
    middle.setSizes([300, 500])
    generate_split = middle.sizes()
    layout.stage.setCurrentWidget(layout.campaign)
    campaign_split = middle.sizes()
    assert campaign_split[0] > campaign_split[1], "the campaign needs the height, not the gallery"
    layout.stage.setCurrentIndex(1)  # Edit: the other tabs' split comes back
    assert middle.sizes() == generate_split
    layout.stage.setCurrentWidget(layout.campaign)
    assert middle.sizes() == campaign_split


def test_the_state_saved_on_the_campaign_tab_is_the_other_tabs_split(layout):
    middle = layout.splitters["middle"]
    middle.setSizes([300, 500])
    generate_split = middle.sizes()
    layout.stage.setCurrentWidget(layout.campaign)
    assert layout.state()["middle_splitter"] == generate_split


def test_a_saved_state_comes_back_and_a_malformed_one_is_ignored(layout):
    middle = layout.splitters["middle"]
    middle.setSizes([600, 200])
    state = layout.state()
    middle.setSizes([200, 600])
    layout.restore(state)
    assert middle.sizes() == state["middle_splitter"]
    kept = middle.sizes()
    for bad in ({"middle_splitter": [1, 2, 3]}, {"middle_splitter": "wide"}, {"geometry": "zz" * 5000}, {"tab": "x"}):
        layout.restore(bad)
        assert middle.sizes() == kept
