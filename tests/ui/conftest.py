from __future__ import annotations

from pathlib import Path

import pytest

from desktop.library.settings import Settings


@pytest.fixture
def settings(tiny_model) -> Settings:
    return Settings(model_folders=[str(tiny_model)])


@pytest.fixture
def make_window(qtbot, isolated_home):
    """Opens main windows over the test's library; closes whatever is still open at the end."""
    from desktop.ui.application import create_window

    windows = []

    def make(settings: Settings):
        window = create_window(settings)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def window(make_window, settings):
    return make_window(settings)


def fill_form(window, prompt="a red circle on a blue background", steps=4, size=64, **extra):
    form = window.form
    form.prompt.setPlainText(prompt)
    form.set_size(size, size)
    form.steps.setValue(steps)
    for name, value in extra.items():
        getattr(form, name).setValue(value)


def library_pngs(home: Path) -> list[Path]:
    """The pictures saved in a test's library."""
    folder = home / "images"
    return sorted(folder.rglob("*.png")) if folder.exists() else []
