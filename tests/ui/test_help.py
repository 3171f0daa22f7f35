"""Help menu: getting started names the demo models' real vocabulary, the shortcuts, About's facts."""

from __future__ import annotations

import json

from desktop.engine.presets import DEMO_VOCABULARY, demo_video_installed
from desktop.resources import DEMO_MODEL_DIR


def test_the_demo_vocabulary_named_in_help_is_the_models_own():
    vocabulary = json.loads((DEMO_MODEL_DIR / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]
    named = [w for kind, words in DEMO_VOCABULARY.items() if kind != "backgrounds" for w in words]
    assert named and [w for w in named if w not in vocabulary] == []
    assert "gray" in vocabulary


def test_help_boxes_say_what_they_promise(window):
    started = window.show_getting_started()
    assert "triangle" in started.text() and "purple" in started.text()
    # The demo video model's motions are offered exactly where it is installed.
    assert ("moving left" in started.text()) == demo_video_installed()
    started.close()
    shortcuts = window.show_shortcuts()
    assert "Ctrl+Enter" in shortcuts.text() and "Ctrl+Z" in shortcuts.text()
    shortcuts.close()
    about = window.show_about()
    assert str(window.library.root) in about.text() and "Device:" in about.text()
    about.close()
