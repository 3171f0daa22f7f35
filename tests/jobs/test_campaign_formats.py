"""Format sizing: about the model's pixel count, both sides on the backend's grid and inside its limits."""

from __future__ import annotations

import pytest

from desktop.engine.backend import Capabilities
from desktop.engine.openai_backend import OpenAIBackend
from desktop.jobs.campaign_formats import FORMATS, FormatError, format_size, master_layout, parse_formats

DIFFUSERS = Capabilities(tasks=frozenset(), controls=frozenset(), size_min=64, size_max=2048, size_multiple=8)


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("1:1", (64, 64)),
        ("4:5", (64, 80)),
        ("9:16", (64, 112)),
        ("16:9", (112, 64)),  # not 85x48: the short side stays at the 64-pixel minimum
        ("1.91:1", (120, 64)),
        ("2:3", (64, 96)),
        ("3:2", (96, 64)),
    ],
)
def test_at_the_demo_models_64x64_the_short_side_stays_at_the_minimum(name, size):
    assert format_size(name, DIFFUSERS, 64, 64) == size


def test_at_512x512_formats_keep_about_the_pixel_count_on_the_8_pixel_grid():
    for name, ratio in FORMATS.items():
        width, height = format_size(name, DIFFUSERS, 512, 512)
        assert width % 8 == 0 and height % 8 == 0
        assert abs(width * height / 512**2 - 1) < 0.06, name
        assert abs(width / height / ratio - 1) < 0.03, name
    assert format_size("16:9", DIFFUSERS, 512, 512) == (680, 384)


def test_a_long_side_cut_at_the_maximum_shortens_the_short_side_to_keep_the_shape():
    width, height = format_size("1.91:1", DIFFUSERS, 2048, 2048)
    assert width == 2048 and abs(width / height - 1.91) < 0.02


def test_fixed_size_backends_get_the_models_nearest_shape():
    dalle3 = OpenAIBackend().capabilities("dall-e-3")
    assert format_size("1:1", dalle3, 1024, 1024) == (1024, 1024)
    assert format_size("9:16", dalle3, 1024, 1024) == (1024, 1792)
    assert format_size("16:9", dalle3, 1024, 1024) == (1792, 1024)
    assert format_size("4:5", dalle3, 1024, 1024) == (1024, 1024)
    gpt = OpenAIBackend().capabilities("gpt-image-1")
    assert format_size("2:3", gpt, 1024, 1024) == (1024, 1536)
    # Among sizes of one shape, the pixel count asked for decides.
    dalle2 = OpenAIBackend().capabilities("dall-e-2")
    assert format_size("1:1", dalle2, 512, 512) == (512, 512)


def test_format_names_are_checked_and_deduplicated():
    assert parse_formats("1:1, 9:16;16:9 1:1", "--formats") == ("1:1", "9:16", "16:9")
    with pytest.raises(FormatError) as error:
        parse_formats("1:1,5:4", "--formats")
    assert str(error.value) == (
        "--formats: '5:4' is not a format; the formats are: 1:1, 4:5, 9:16, 16:9, 1.91:1, 2:3, 3:2."
    )


def test_a_master_is_fitted_inside_the_target_and_the_rest_outpainted_in_steps_of_8():
    layout = master_layout((64, 64), (112, 64))
    assert layout.scaled == (64, 64) and layout.extend == (24, 0, 24, 0) and layout.canvas == (112, 64)
    layout = master_layout((64, 64), (64, 112))
    assert layout.extend == (0, 24, 0, 24)
    # A smaller target on one side: the master is scaled down first, never cropped.
    layout = master_layout((112, 64), (64, 112))
    assert layout.scaled == (64, 32) and layout.canvas == (64, 112)
    assert all(side % 8 == 0 for side in layout.extend)
    layout = master_layout((1024, 1024), (1792, 1024))
    assert layout.scaled == (1024, 1024) and layout.extend == (384, 0, 384, 0)
