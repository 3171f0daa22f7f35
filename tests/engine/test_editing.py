"""Image-to-image, inpaint and outpaint on tiny local pipelines (4- and 9-channel UNets)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageDraw

from desktop.engine.edit_inputs import OUTPAINT_OVERLAP, banner_extension, outpaint_canvas, paste_back
from desktop.engine.engine import Engine
from desktop.engine.errors import EngineError, ValidationError
from desktop.engine.request import GenerationRequest, Task, validate


@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    yield engine
    engine.release()


@pytest.fixture
def photo(tmp_path):
    """A 'product photo': a red disc on a light background, 96x72 (not square)."""
    image = Image.new("RGB", (96, 72), (235, 235, 225))
    ImageDraw.Draw(image).ellipse((30, 18, 66, 54), fill=(200, 30, 30))
    path = tmp_path / "photo.png"
    image.save(path)
    return path


@pytest.fixture
def mask(tmp_path):
    """White (repaint) over the disc's right half."""
    image = Image.new("L", (96, 72), 0)
    ImageDraw.Draw(image).rectangle((48, 10, 80, 60), fill=255)
    path = tmp_path / "mask.png"
    image.save(path)
    return path


def edit(model, task, **changes) -> GenerationRequest:
    values = {"prompt": "a blue disc", "model": str(model), "steps": 4, "seed": 5, **changes}
    return GenerationRequest(task=task, **values)


def array(image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


def test_image_to_image_keeps_the_size_and_runs_the_strength_part_of_the_schedule(engine, tiny_model, photo):
    seen = []
    result = engine.generate(
        edit(tiny_model, Task.IMAGE_TO_IMAGE, image=str(photo), strength=0.5, steps=8), on_progress=seen.append
    )
    assert result.images[0].image.size == (96, 72)
    assert [p.step for p in seen] == [1, 2, 3, 4] and seen[-1].total == 4
    weak_steps = []
    weak = engine.generate(
        edit(tiny_model, Task.IMAGE_TO_IMAGE, image=str(photo), strength=0.25, steps=8), on_progress=weak_steps.append
    )
    assert [p.step for p in weak_steps] == [1, 2]
    # (A random-weight VAE does not reconstruct the photo, so closeness to it means nothing here;
    # that the strength reaches the pipeline does.)
    assert not np.array_equal(array(weak.images[0].image), array(result.images[0].image))


@pytest.mark.parametrize("model_fixture", ["tiny_model", "tiny_inpainting_model"])
def test_inpaint_changes_only_the_masked_pixels(engine, request, model_fixture, photo, mask):
    model = request.getfixturevalue(model_fixture)
    result = engine.generate(edit(model, Task.INPAINT, image=str(photo), mask=str(mask)))
    out, original = array(result.images[0].image), array(Image.open(photo))
    outside = np.asarray(Image.open(mask)) == 0
    assert out.shape == original.shape
    assert np.array_equal(out[outside], original[outside])
    assert not np.array_equal(out[~outside], original[~outside])


@pytest.mark.parametrize("model_fixture", ["tiny_model", "tiny_inpainting_model"])
def test_outpaint_to_a_banner_keeps_the_original_pixel_identical(engine, request, model_fixture, photo):
    model = request.getfixturevalue(model_fixture)
    result = engine.generate(edit(model, Task.OUTPAINT, image=str(photo), extend=(40, 0, 56, 8)))
    out = array(result.images[0].image)
    assert out.shape == (80, 192, 3)
    # Identical except the overlap band along the extended sides (left, right, bottom), where the
    # original fades into the new border; the top was not extended, so its edge stays exact.
    band = OUTPAINT_OVERLAP
    original = array(Image.open(photo))
    assert np.array_equal(out[0 : 72 - band, 40 + band : 136 - band], original[: 72 - band, band : 96 - band])
    assert out[:, :40].std() > 0  # the new area was drawn, not left flat


def test_the_outpainted_border_blends_into_the_original_across_the_overlap_band():
    original = Image.new("RGB", (96, 64), (0, 0, 0))
    inputs = outpaint_canvas(original, (32, 0, 0, 0))
    generated = Image.new("RGB", inputs.canvas.size, (255, 255, 255))
    row = array(paste_back(generated, inputs))[32, :, 0].astype(int)
    assert list(row[:32]) == [255] * 32  # the new border: all generated
    band = row[32 : 32 + OUTPAINT_OVERLAP]
    assert all(a > b for a, b in zip(band, band[1:], strict=False)) and 0 < band[-1] < band[0] < 255
    assert list(row[32 + OUTPAINT_OVERLAP :]) == [0] * (96 - OUTPAINT_OVERLAP)  # the rest: the original, exact
    mask = array(inputs.mask)[32]
    assert mask[: 32 + OUTPAINT_OVERLAP].min() == 255 and mask[32 + OUTPAINT_OVERLAP :].max() == 0


@pytest.mark.parametrize(
    ("size", "extension", "result"),
    [
        ((64, 64), (24, 0, 24, 0), (112, 64)),  # 1.75: the nearest multiple of 8 to 16:9 (113.8), not 128x64
        ((512, 512), (200, 0, 200, 0), (912, 512)),
        ((1024, 400), (0, 88, 0, 88), (1024, 576)),  # too wide: extended top and bottom
        ((1024, 576), (0, 0, 0, 0), (1024, 576)),
    ],
)
def test_the_16_9_banner_extension_is_16_9_to_the_nearest_8_pixels(size, extension, result):
    left, top, right, bottom = banner_extension(*size)
    assert (left, top, right, bottom) == extension and all(v % 8 == 0 for v in extension)
    assert (size[0] + left + right, size[1] + top + bottom) == result


def test_the_inpainting_model_refuses_text_to_image(engine, tiny_inpainting_model):
    with pytest.raises(EngineError, match="is an inpainting model: use it to inpaint or outpaint"):
        engine.generate(GenerationRequest(prompt="x", model=str(tiny_inpainting_model), width=64, height=64, steps=2))


def test_edit_pipelines_share_the_loaded_weights(tiny_model, photo, mask):
    engine = Engine()
    engine.generate(edit(tiny_model, Task.TEXT_TO_IMAGE, width=64, height=64))
    engine.generate(edit(tiny_model, Task.INPAINT, image=str(photo), mask=str(mask)))
    base = engine.backend("diffusers")._cache._pipeline
    inpaint = engine.backend("diffusers")._derived[Task.INPAINT]
    assert inpaint is not base and inpaint.unet is base.unet and inpaint.vae is base.vae


@pytest.mark.parametrize(
    ("task", "changes", "field", "says"),
    [
        (Task.IMAGE_TO_IMAGE, {}, "image", "image-to-image needs a picture to edit"),
        (Task.IMAGE_TO_IMAGE, {"image": "missing.png"}, "image", "does not exist"),
        (Task.IMAGE_TO_IMAGE, {"image": "NOT_AN_IMAGE"}, "image", "is not a picture this app can read"),
        (Task.IMAGE_TO_IMAGE, {"image": "HUGE"}, "image", "at most 4096 px a side can be edited"),
        (Task.IMAGE_TO_IMAGE, {"image": "PHOTO", "strength": 1.5}, "strength", "more than 0 and at most 1"),
        (Task.IMAGE_TO_IMAGE, {"image": "PHOTO", "strength": 0.0}, "strength", "more than 0 and at most 1"),
        (Task.INPAINT, {"image": "PHOTO"}, "mask", "inpaint needs a mask"),
        (Task.INPAINT, {"image": "PHOTO", "mask": "SMALL_MASK"}, "mask", "the mask is 32x32 but the image is 96x72"),
        (Task.IMAGE_TO_IMAGE, {"image": "PHOTO", "strength": 0.2}, "strength", "of 4 steps runs no step at all"),
        (Task.INPAINT, {"image": "PHOTO", "mask": "EMPTY_MASK"}, "mask", "the mask is empty: paint over"),
        (Task.OUTPAINT, {"image": "PHOTO"}, "extend", "at least one side"),
        (Task.OUTPAINT, {"image": "PHOTO", "extend": (10, 0, 0, 0)}, "extend", "extend left must be a multiple of 8"),
        (Task.OUTPAINT, {"image": "PHOTO", "extend": (0, 0, 2048, 0)}, "extend", "between 0 and 1024"),
        (Task.IMAGE_TO_IMAGE, {"image": "PHOTO", "extend": (8, 0, 0, 0)}, "extend", "applies to outpaint only"),
    ],
)
def test_bad_edit_inputs_get_one_sentence(task, changes, field, says, photo, tmp_path):
    paths = {"PHOTO": photo}
    (tmp_path / "not.png").write_text("hello")
    paths["NOT_AN_IMAGE"] = tmp_path / "not.png"
    Image.new("L", (32, 32)).save(tmp_path / "small.png")
    paths["SMALL_MASK"] = tmp_path / "small.png"
    Image.new("L", (96, 72), 0).save(tmp_path / "empty.png")
    paths["EMPTY_MASK"] = tmp_path / "empty.png"
    Image.new("1", (5000, 10)).save(tmp_path / "huge.png")
    paths["HUGE"] = tmp_path / "huge.png"
    changes = {k: str(paths.get(v, v)) if isinstance(v, str) else v for k, v in changes.items()}
    with pytest.raises(ValidationError) as caught:
        validate(edit("/models/sd", task, **changes))
    assert caught.value.field == field and says in str(caught.value)


def test_openai_editing_models_are_checked_before_sending(photo):
    base = GenerationRequest(task=Task.INPAINT, prompt="x", backend="openai", image=str(photo), mask=str(photo))
    with pytest.raises(ValidationError, match="dall-e-3 cannot edit images; choose one of: dall-e-2, gpt-image-1"):
        validate(dataclasses.replace(base, model="dall-e-3"))
    with pytest.raises(ValidationError, match="dall-e-2 edits only through a mask"):
        validate(dataclasses.replace(base, task=Task.IMAGE_TO_IMAGE, mask=None, model="dall-e-2"))
    # No size given: the model's size closest to the photo's shape (4:3 -> landscape).
    assert validate(dataclasses.replace(base, model="gpt-image-1")).width == 1536
