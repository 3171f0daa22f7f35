"""What the preview area says before there is anything to show."""

from __future__ import annotations

from desktop.ui.welcome import DEMO_WELCOME, FIRST_PROMPT, NEXT_STEP, WELCOME, idle_message


def test_a_fresh_install_without_any_model_is_told_where_to_get_one():
    assert idle_message(gallery_empty=True, demo_selected=False, has_model=False) == WELCOME
    assert "Models → Manage" in WELCOME and "Settings → OpenAI" in WELCOME


def test_the_demo_model_selected_suggests_prompts_it_knows():
    assert idle_message(gallery_empty=True, demo_selected=True, has_model=True) == DEMO_WELCOME
    assert "a red circle on a blue background" in DEMO_WELCOME


def test_with_a_model_and_an_empty_gallery_it_says_how_to_generate():
    assert idle_message(gallery_empty=True, demo_selected=False, has_model=True) == FIRST_PROMPT


def test_with_pictures_in_the_gallery_it_points_to_them_whatever_the_model():
    for demo in (True, False):
        assert idle_message(gallery_empty=False, demo_selected=demo, has_model=True) == NEXT_STEP
