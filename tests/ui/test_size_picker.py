from __future__ import annotations

from desktop.engine.backend import Capabilities
from desktop.engine.tasks import Task
from desktop.ui.size_picker import CUSTOM, SizePicker


def caps(**fields) -> Capabilities:
    return Capabilities(tasks=frozenset({Task.TEXT_TO_IMAGE}), controls=frozenset(), **fields)


def labels(picker: SizePicker) -> list[str]:
    return [picker.preset.itemText(i) for i in range(picker.preset.count())]


def test_a_backend_with_fixed_sizes_offers_only_those_and_no_custom_row(qtbot):
    picker = SizePicker()
    qtbot.addWidget(picker)
    picker.offer(caps(sizes=("256x256", "512x512")))
    assert labels(picker) == ["256x256", "512x512"]
    picker.preset.setCurrentIndex(1)
    assert picker.value() == (512, 512)
    assert not picker.custom.isVisibleTo(picker)


def test_presets_follow_the_model_range_and_its_own_size_comes_first(qtbot):
    picker = SizePicker()
    qtbot.addWidget(picker)
    picker.offer(caps(size_min=64, size_max=512, defaults={"width": 64, "height": 64}))
    assert labels(picker) == ["Model's own 64x64", "Square 256", "Square 512", CUSTOM]
    assert (picker.width_spin.maximum(), picker.height_spin.minimum()) == (512, 64)


def test_a_size_no_preset_has_shows_custom_with_its_width_and_height(qtbot):
    picker = SizePicker()
    qtbot.addWidget(picker)
    picker.offer(caps())
    picker.set_size(640, 320)
    assert picker.preset.currentText() == CUSTOM
    assert picker.custom.isVisibleTo(picker)
    assert picker.value() == (640, 320)
    picker.set_size(512, 512)
    assert picker.preset.currentText() == "Square 512"
    assert not picker.custom.isVisibleTo(picker)
