from __future__ import annotations

import pytest
from PIL import Image

from desktop.library.export import ExportError, export_image, export_name
from desktop.library.history import HistoryRow
from desktop.library.metadata import read_metadata


def row(prompt="Sleek sneaker: ocean plastic", seed=42, model="/models/sd-1.5", **changes) -> HistoryRow:
    values = dict(
        created_at="2026-11-24T10:15:30.123+00:00",
        task="text-to-image",
        backend="diffusers",
        model=model,
        prompt=prompt,
        negative_prompt="",
        width=64,
        height=64,
        seed=seed,
        batch_id="b",
        batch_index=0,
        device="cpu",
        request={
            "prompt": prompt,
            "steps": 25,
            "backend": "diffusers",
            "width": 64,
            "height": 64,
            "model": model,
            "task": "text-to-image",
            "guidance": 7.5,
        },
        timings={},
        path="images/x.png",
        id=7,
    )
    values.update(changes)
    return HistoryRow(**values)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source.png"
    Image.new("RGB", (64, 64), (10, 200, 30)).save(path)
    return path


def test_template_fields_make_a_readable_name():
    assert export_name("{date}_{prompt}_{seed}", row(), ".png") == "2026-11-24_sleek-sneaker-ocean-plastic_42.png"
    assert export_name("{model}-{width}x{height}-{steps}-{id}", row(), ".jpg") == "sd-1.5-64x64-25-7.jpg"
    assert export_name("{prompt}", row(seed=None, prompt="   "), ".png") == "image.png"
    assert export_name("{seed}", row(seed=None), ".png") == "noseed.png"


@pytest.mark.parametrize(
    "prompt",
    ["../../etc/passwd", "..\\..\\windows\\system32", "/absolute/path", "a/b/c", "con", "name\x00with\nnull", "...."],
)
def test_no_prompt_can_name_a_file_outside_the_folder(prompt, source, tmp_path):
    folder = tmp_path / "campaign"
    folder.mkdir()
    written = export_image(source, row(prompt=prompt), folder, "{prompt}", "png")
    assert written.parent == folder
    assert "/" not in written.name and "\\" not in written.name and "\x00" not in written.name
    assert written.name.split(".")[0].lower() not in ("con", "")


def test_a_template_cannot_escape_either(source, tmp_path):
    folder = tmp_path / "campaign"
    folder.mkdir()
    written = export_image(source, row(), folder, "../../{prompt}", "png")
    assert written.parent == folder


def test_existing_files_are_never_overwritten(source, tmp_path):
    folder = tmp_path / "campaign"
    folder.mkdir()
    (folder / "2026-11-24_sleek-sneaker-ocean-plastic_42.png").write_bytes(b"theirs")
    first = export_image(source, row(), folder, "{date}_{prompt}_{seed}", "png")
    second = export_image(source, row(), folder, "{date}_{prompt}_{seed}", "png")
    assert (first.name, second.name) == (
        "2026-11-24_sleek-sneaker-ocean-plastic_42-1.png",
        "2026-11-24_sleek-sneaker-ocean-plastic_42-2.png",
    )
    assert (folder / "2026-11-24_sleek-sneaker-ocean-plastic_42.png").read_bytes() == b"theirs"


@pytest.mark.parametrize(
    ("fmt", "pil_format", "suffix"), [("png", "PNG", ".png"), ("jpeg", "JPEG", ".jpg"), ("webp", "WEBP", ".webp")]
)
def test_formats_carry_the_parameters(fmt, pil_format, suffix, source, tmp_path):
    written = export_image(source, row(), tmp_path, "{seed}", fmt)
    assert written.suffix == suffix
    with Image.open(written) as image:
        assert image.format == pil_format and image.size == (64, 64)
        if fmt == "png":
            assert read_metadata(written)["parameters"]["Seed"] == "42"
        else:
            assert "Seed: 42" in image.getexif()[0x9286]


@pytest.mark.parametrize(
    ("template", "fmt", "folder", "says"),
    [
        ("{nope}", "png", None, "unknown field {nope}"),
        ("", "png", None, "template is empty"),
        ("{date", "png", None, "template is not valid"),
        ("{seed}", "gif", None, "export format 'gif' is unknown"),
        ("{seed}", "png", "missing", "does not exist: create it or pick another"),
    ],
)
def test_bad_settings_get_one_sentence_and_write_nothing(template, fmt, folder, says, source, tmp_path):
    target = tmp_path / (folder or "out")
    if folder is None:
        target.mkdir()
    with pytest.raises(ExportError, match=says.replace("{", r"\{").replace("}", r"\}")):
        export_image(source, row(), target, template, fmt)
    assert not target.exists() or list(target.iterdir()) == []
