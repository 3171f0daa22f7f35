from __future__ import annotations

from desktop.resources import prompt_templates
from desktop.ui.templates_button import TemplatesButton


def actions(menu) -> dict:
    return {action.text(): action for action in menu.actions()}


def test_a_shipped_template_gives_its_prompt_and_negative_prompt(qtbot):
    button = TemplatesButton()
    qtbot.addWidget(button)
    button.menu().aboutToShow.emit()
    group = prompt_templates()[0]
    template = group["templates"][0]
    with qtbot.waitSignal(button.template_chosen) as chosen:
        actions(actions(button.menu())[group["name"]].menu())[template["title"]].trigger()
    assert chosen.args == [template["prompt"], template.get("negative_prompt", "")]


def test_recent_prompts_are_offered_shortened_and_given_back_whole(qtbot):
    button = TemplatesButton()
    qtbot.addWidget(button)
    button.menu().aboutToShow.emit()
    assert not actions(button.menu())["Recent prompts"].isEnabled()
    long_prompt = "a poster " * 20
    button.set_recent([long_prompt])
    button.menu().aboutToShow.emit()
    (item,) = actions(button.menu())["Recent prompts"].menu().actions()
    assert len(item.text()) == 70 and item.text().endswith("…")
    with qtbot.waitSignal(button.recent_chosen) as chosen:
        item.trigger()
    assert chosen.args == [long_prompt]
