"""Planning a campaign: every image's prompt, size, seed and name, and every mistake caught first.

No model loads here: plan() validates through the engine's capabilities only.
"""

from __future__ import annotations

import pytest

from desktop.engine.engine import Engine
from desktop.jobs.campaign import Campaign, CampaignError, CampaignSettings, plan


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def write_csv(folder, text: str, name: str = "segments.csv"):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def campaign_from(tmp_path, text: str, template: str = "a {colour} {shape}", **options) -> Campaign:
    return Campaign.from_csv(write_csv(tmp_path, text), template, **options)


def plan_error(engine, campaign: Campaign) -> str:
    with pytest.raises(CampaignError) as error:
        plan(campaign, engine)
    return str(error.value)


def test_rows_expand_to_prompts_sizes_seeds_and_names(tmp_path, engine):
    campaign = campaign_from(
        tmp_path,
        "segment,colour,shape,seed,count\nBjørn,red,circle,,\nZoë,blue,square,99,2\n",
        negative_template="no {colour}",
        formats=("1:1", "16:9"),
        settings=CampaignSettings(seed=5),
        name="Spring Launch",
    )
    items = plan(campaign, engine)
    assert [(i.row, i.format, i.image, i.width, i.height, i.seed) for i in items] == [
        (1, "1:1", 0, 64, 64, 5),
        (1, "16:9", 0, 112, 64, 5),
        (2, "1:1", 0, 64, 64, 99),  # the row's seed column wins over --seed
        (2, "1:1", 1, 64, 64, 100),  # image i of a row: seed + i
        (2, "16:9", 0, 112, 64, 99),
        (2, "16:9", 1, 112, 64, 100),
    ]
    assert items[0].prompt == "a red circle" and items[0].negative_prompt == "no red"
    assert items[0].values == {"segment": "Bjørn", "colour": "red", "shape": "circle", "seed": "", "count": ""}
    assert [i.output_name for i in items[:4]] == [
        "spring-launch/1x1/001-bjørn-5.png",
        "spring-launch/16x9/001-bjørn-5.png",
        "spring-launch/1x1/002-zoë-99.png",
        "spring-launch/1x1/002-zoë-100.png",
    ]
    assert (items[0].steps, items[0].guidance) == (20, 2.0)  # the demo model's own defaults


def test_seeds_come_from_the_journal_once_drawn_and_the_fingerprint_follows_the_row(tmp_path, engine):
    campaign = campaign_from(tmp_path, "colour,shape\nred,circle\nblue,square\n")
    preview = plan(campaign, engine)
    assert [i.seed for i in preview] == [None, None]  # not drawn yet: a preview writes nothing
    items = plan(campaign, engine, {1: 11, 2: 22})
    assert [i.seed for i in items] == [11, 22]
    assert [i.output_name for i in items] == ["segments/1x1/001-red-11.png", "segments/1x1/002-blue-22.png"]
    assert [i.fingerprint for i in plan(campaign, engine, {1: 11, 2: 22})] == [i.fingerprint for i in items]
    edited = campaign_from(tmp_path, "colour,shape\nred,circle\nblue,triangle\n")
    again = plan(edited, engine, {1: 11, 2: 22})
    assert again[0].fingerprint == items[0].fingerprint and again[1].fingerprint != items[1].fingerprint


def test_template_mistakes_name_the_placeholder_and_the_columns(tmp_path, engine):
    text = "colour,shape\nred,circle\n"
    assert plan_error(engine, campaign_from(tmp_path, text, "a {colour} {shap}")) == (
        "the prompt template uses {shap}, but segments.csv has no such column; its columns are: colour, shape."
    )
    assert plan_error(engine, campaign_from(tmp_path, text, "a {colour} {shape.__class__}")).startswith(
        "the prompt template uses {shape.__class__}, but segments.csv has no such column"
    )
    assert plan_error(engine, campaign_from(tmp_path, text, "a {colour")) == (
        "the prompt template has an unmatched { or }: write {{ and }} for a literal brace."
    )
    assert plan_error(engine, campaign_from(tmp_path, text, "a {} shape")) == (
        "the prompt template has a placeholder {} without a column name: write {column}."
    )
    assert plan_error(engine, campaign_from(tmp_path, text, "a {colour!r} shape")) == (
        "the prompt template writes {colour!r}: write just {colour}."
    )
    assert plan_error(engine, campaign_from(tmp_path, text, "a {colour}", negative_template="no {size}")) == (
        "the negative template uses {size}, but segments.csv has no such column; its columns are: colour, shape."
    )
    braces = plan(campaign_from(tmp_path, text, "a {colour} {{logo}}"), engine)
    assert braces[0].prompt == "a red {logo}"


def test_bad_overrides_name_row_and_column(tmp_path, engine):
    rows = "".join(f"red,circle,{i},,,,\n" for i in range(6))
    header = "colour,shape,seed,count,formats,image,strength\n"
    cases = {
        "red,circle,abc,,,,": "row 7, column seed: 'abc' is not a whole number.",
        "red,circle,5000000000,,,,": "row 7, column seed: 5000000000 is out of range (0 to 4294967295).",
        "red,circle,,9,,,": "row 7, column count: 9 images per row and format is out of range (1 to 8).",
        "red,circle,,,5:4,,": (
            "row 7, column formats: '5:4' is not a format; the formats are: 1:1, 4:5, 9:16, 16:9, 1.91:1, 2:3, 3:2."
        ),
        "red,circle,,,,,0.5": "row 7, column strength: a strength needs a reference picture in the image column.",
        ",circle,,,,,": "row 7, column colour: the value is empty, and the template uses it.",
    }
    for last, message in cases.items():
        assert plan_error(engine, campaign_from(tmp_path, header + rows + last + "\n")) == message
    missing = plan_error(engine, campaign_from(tmp_path, header + "red,circle,,,,pics/shirt.png,\n"))
    assert missing.startswith("row 1, column image: pics/shirt.png does not exist (looked for ")


def test_settings_and_backends_are_checked_before_anything_runs(tmp_path, engine):
    text = "colour,shape,model\nred,circle,\nblue,square,dall-e-9\n"
    assert plan_error(engine, campaign_from(tmp_path, text, settings=CampaignSettings(steps=500))) == (
        "steps must be between 1 and 150 (got 500)."
    )
    openai = CampaignSettings(backend="openai")
    assert plan_error(engine, campaign_from(tmp_path, text, settings=openai)) == (
        "row 2, column model: OpenAI model 'dall-e-9' is unknown; choose one of: dall-e-2, dall-e-3, gpt-image-1."
    )
    assert plan_error(
        engine,
        campaign_from(tmp_path, "colour,shape\nred,circle\n", settings=openai, formats=("1:1", "16:9"),
                      formats_from_master=True),
    ) == (
        "--formats-from-master needs a model that outpaints: dall-e-3 cannot edit images; "
        "choose one of: dall-e-2, gpt-image-1."
    )  # fmt: skip
    assert plan_error(engine, campaign_from(tmp_path, text, settings=CampaignSettings(count=0))) == (
        "--count: 0 images per row and format is out of range (1 to 8)."
    )


def test_file_names_stay_inside_the_output_folder(tmp_path, engine):
    text = 'segment,colour,shape\n"../../etc/pa\x07sswd",red,circle\nCON,blue,square\n'
    items = plan(campaign_from(tmp_path, text, name="../Launch: Q3"), engine, {1: 1, 2: 2})
    names = [i.output_name for i in items]
    assert names == ["launch-q3/1x1/001-etcpasswd-1.png", "launch-q3/1x1/002-con-2.png"]
    custom = campaign_from(tmp_path, text, name_template="{format}_{shape}_{row:02}/{colour}")
    assert [i.output_name for i in plan(custom, engine, {1: 1, 2: 2})] == [
        "1x1_circle_01/red.png",
        "1x1_square_02/blue.png",
    ]
    for template in ("../{row}", "/abs/{row}", "a/../../{row}"):
        assert plan_error(engine, campaign_from(tmp_path, text, name_template=template)) == (
            "--name-template must stay inside --output: no leading / or ~, no '..'."
        )
    assert plan_error(engine, campaign_from(tmp_path, text, name_template="{row}-{size}")).startswith(
        "--name-template uses {size}, but the name template has no such column; its columns are: campaign, format"
    )
