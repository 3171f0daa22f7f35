from __future__ import annotations

import dataclasses

import pytest

from desktop.engine.errors import ValidationError
from desktop.engine.request import GenerationRequest, validate

DIFFUSERS = GenerationRequest(prompt="a red circle", model="some/model", width=64, height=64)
OPENAI = GenerationRequest(prompt="a red circle", backend="openai", model="dall-e-2", width=256, height=256)


@pytest.mark.parametrize(
    ("base", "changes", "field", "says"),
    [
        (DIFFUSERS, {"prompt": ""}, "prompt", "prompt is empty"),
        (DIFFUSERS, {"prompt": "   \n\t"}, "prompt", "prompt is empty"),
        (DIFFUSERS, {"model": " "}, "model", "model is not set"),
        (DIFFUSERS, {"width": 65}, "width", "multiple of 8 between 64 and 2048"),
        (DIFFUSERS, {"height": 56}, "height", "between 64 and 2048 (got 56)"),
        (DIFFUSERS, {"width": 2056}, "width", "(got 2056)"),
        (DIFFUSERS, {"steps": 0}, "steps", "steps must be between 1 and 150"),
        (DIFFUSERS, {"steps": 151}, "steps", "(got 151)"),
        (DIFFUSERS, {"guidance": -0.5}, "guidance", "guidance must be between 0.0 and 30.0"),
        (DIFFUSERS, {"guidance": 30.5}, "guidance", "(got 30.5)"),
        (DIFFUSERS, {"count": 0}, "count", "count must be between 1 and 8"),
        (DIFFUSERS, {"count": 9}, "count", "(got 9)"),
        (DIFFUSERS, {"seed": -1}, "seed", "seed must be between 0 and 4294967295"),
        (DIFFUSERS, {"seed": 2**32}, "seed", "(got 4294967296)"),
        (DIFFUSERS, {"scheduler": "warp"}, "scheduler", "choose one of: euler, euler-a"),
        (DIFFUSERS, {"quality": "hd"}, "quality", "OpenAI backend only"),
        (
            OPENAI,
            {"width": 512, "height": 768},
            "size",
            "dall-e-2 does not make 512x768 images; choose one of: 256x256, 512x512, 1024x1024",
        ),
        (
            OPENAI,
            {"model": "dall-e-3", "width": 512, "height": 512},
            "size",
            "1024x1024, 1792x1024, 1024x1792",
        ),
        (
            OPENAI,
            {"model": "gpt-image-1", "width": 1792, "height": 1024},
            "size",
            "1024x1024, 1536x1024, 1024x1536",
        ),
        (OPENAI, {"model": "dall-e-9"}, "model", "OpenAI model 'dall-e-9' is unknown"),
        (OPENAI, {"quality": "hd"}, "quality", "dall-e-2 takes no quality"),
        (
            OPENAI,
            {"model": "dall-e-3", "width": 1024, "height": 1024, "quality": "ultra"},
            "quality",
            "choose one of: standard, hd",
        ),
        (
            OPENAI,
            {"model": "gpt-image-1", "width": 1024, "height": 1024, "style": "vivid"},
            "style",
            "gpt-image-1 takes no style",
        ),
        (OPENAI, {"scheduler": "euler"}, "scheduler", "diffusers backend only"),
    ],
)
def test_invalid_field_gets_one_message_naming_it(base, changes, field, says):
    with pytest.raises(ValidationError) as caught:
        validate(dataclasses.replace(base, **changes))
    assert caught.value.field == field
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_seed_is_drawn_when_missing_and_kept_when_given():
    drawn = {validate(DIFFUSERS).seed for _ in range(5)}
    assert all(0 <= seed < 2**32 for seed in drawn)
    assert len(drawn) > 1
    assert validate(dataclasses.replace(DIFFUSERS, seed=0)).seed == 0


def test_defaults_are_filled_per_backend():
    diffusers = validate(GenerationRequest(prompt=" a cat ", model="m"))
    assert (diffusers.width, diffusers.height, diffusers.prompt) == (512, 512, "a cat")
    openai = validate(GenerationRequest(prompt="a cat", backend="openai"))
    assert (openai.model, openai.width, openai.height) == ("dall-e-3", 1024, 1024)
    # The Images API takes no seed, so none is recorded.
    assert openai.seed is None


def test_validation_is_idempotent_and_round_trips_through_a_dict():
    once = validate(DIFFUSERS)
    assert validate(once) == once
    assert GenerationRequest.from_dict(once.to_dict()) == once
