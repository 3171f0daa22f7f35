"""Today's video families on tiny random-weight pipelines built here (Wan 2.1 T2V and I2V, Wan 2.2
TI2V, LTX-Video, CogVideoX, HunyuanVideo, Latte), run through the engine's real loading and generation code."""

from __future__ import annotations

import dataclasses
import re
import threading

import numpy as np
import pytest
from PIL import Image
from tiny_video_models import (
    build_cogvideox_text_to_video,
    build_hunyuan_text_to_video,
    build_latte_text_to_video,
    build_ltx_text_to_video,
    build_wan_image_to_video,
    build_wan_text_to_video,
    build_wan_ti2v,
)

from desktop.engine.engine import Engine
from desktop.engine.errors import GenerationCancelled, ValidationError
from desktop.engine.presets import WAN_NEGATIVE_PROMPT
from desktop.engine.request import GenerationRequest, Task, validate

PROMPT = "a woman wearing a smart watch, the camera slowly turns"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("video-models")
    return {
        "wan": build_wan_text_to_video(root / "wan-t2v"),
        "wan-i2v": build_wan_image_to_video(root / "wan-i2v"),
        "ti2v": build_wan_ti2v(root / "wan-ti2v"),
        "ltx": build_ltx_text_to_video(root / "ltx"),
        "cogvideox": build_cogvideox_text_to_video(root / "cogvideox"),
        "latte": build_latte_text_to_video(root / "latte"),
        "a14b": build_wan_text_to_video(root / "wan-a14b", two_experts=True),
    }


@pytest.fixture(scope="module")
def hunyuan(tmp_path_factory):
    """Its own fixture: the family's test runs without building the others."""
    return build_hunyuan_text_to_video(tmp_path_factory.mktemp("video-models") / "hunyuan")


@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    yield engine
    engine.release()


@pytest.fixture(scope="module")
def product_shot(tmp_path_factory) -> str:
    """A 3:2 picture: red on the left half, blue on the right."""
    picture = Image.new("RGB", (96, 64), (220, 30, 30))
    picture.paste((30, 30, 220), (48, 0, 96, 64))
    path = tmp_path_factory.mktemp("pictures") / "product.png"
    picture.save(path)
    return str(path)


def clip(model, task=Task.TEXT_TO_VIDEO, **changes) -> GenerationRequest:
    request = GenerationRequest(
        prompt=PROMPT, task=task, model=str(model), width=64, height=64, steps=3, frames=9, fps=8, seed=5
    )
    return dataclasses.replace(request, **changes)


def frames_of(result) -> np.ndarray:
    return np.stack([np.asarray(f) for f in result.images[0].frames])


def run(engine, request, **kwargs):
    return engine.generate(validate(request, engine.backend("diffusers")), **kwargs)


def test_wan_makes_a_clip_with_progress_a_preview_and_its_recipe(engine, models):
    seen = []
    result = run(engine, clip(models["wan"]), on_progress=seen.append)
    (video,) = result.images
    assert video.is_video and len(video.frames) == 9 and video.fps == 8 and video.frames[0].size == (64, 64)
    assert [p.step for p in seen] == [1, 2, 3] and all(p.preview is not None for p in seen)
    # The recipe: Wan's negative prompt when none is given (recorded), its licence from the card.
    assert result.request.negative_prompt == WAN_NEGATIVE_PROMPT
    assert result.request.licence == "Apache-2.0"
    pipe = engine.backend("diffusers")._cache._pipeline
    assert type(pipe).__name__ == "WanPipeline" and pipe.scheduler.config.flow_shift == 3.0


def test_wan_counts_as_a_video_model_for_both_tasks_it_can_and_cannot_do(engine, models):
    caps = engine.capabilities("diffusers", str(models["wan"]))
    assert caps.tasks == {Task.TEXT_TO_VIDEO}
    assert caps.defaults["frames"] == 81 and (caps.defaults["width"], caps.defaults["height"]) == (832, 480)
    assert caps.size_multiple == 16 and not caps.takes("scheduler")
    assert "choose Video" in caps.why_not[Task.TEXT_TO_IMAGE]
    assert "image-to-video model" in caps.why_not[Task.IMAGE_TO_VIDEO]
    i2v = engine.capabilities("diffusers", str(models["wan-i2v"]))
    assert i2v.tasks == {Task.IMAGE_TO_VIDEO} and "animates a picture" in i2v.why_not[Task.TEXT_TO_VIDEO]
    assert engine.capabilities("diffusers", str(models["ti2v"])).tasks == {Task.TEXT_TO_VIDEO, Task.IMAGE_TO_VIDEO}
    assert engine.capabilities("diffusers", str(models["ltx"])).tasks == {Task.TEXT_TO_VIDEO, Task.IMAGE_TO_VIDEO}


def test_a_seed_gives_the_same_clip_and_another_seed_another(engine, models):
    first, again = run(engine, clip(models["wan"])), run(engine, clip(models["wan"]))
    other = run(engine, clip(models["wan"], seed=6))
    assert np.array_equal(frames_of(first), frames_of(again))
    assert not np.array_equal(frames_of(first), frames_of(other))


def test_wan_image_to_video_starts_from_the_picture(engine, models, product_shot, tmp_path):
    request = clip(models["wan-i2v"], Task.IMAGE_TO_VIDEO, image=product_shot)
    validated = validate(request, engine.backend("diffusers"))
    # The clip has the size asked for, not the picture's: the picture is cropped and scaled to it.
    assert (validated.width, validated.height) == (64, 64)
    result = engine.generate(validated)
    assert len(result.images[0].frames) == 9 and result.images[0].frames[0].size == (64, 64)
    green = tmp_path / "green.png"
    Image.new("RGB", (64, 64), (30, 200, 30)).save(green)
    other = run(engine, clip(models["wan-i2v"], Task.IMAGE_TO_VIDEO, image=str(green)))
    assert not np.array_equal(frames_of(result), frames_of(other))  # the picture conditions the clip


def test_the_picture_is_centre_cropped_to_the_clips_shape(product_shot):
    from desktop.engine.video_models import first_frame

    frame = first_frame(product_shot, 64, 64)  # 96x64 -> its middle 64x64, half red, half blue
    assert frame.size == (64, 64)
    assert frame.getpixel((2, 32))[0] > 200 and frame.getpixel((61, 32))[2] > 200


def test_wan_2_2_ti2v_makes_clips_from_text_and_from_a_picture_with_its_own_recipe(engine, models, product_shot):
    caps = engine.capabilities("diffusers", str(models["ti2v"]))
    assert (caps.defaults["width"], caps.defaults["height"], caps.defaults["frames"]) == (1280, 704, 121)
    assert caps.size_multiple == 32
    text = run(engine, clip(models["ti2v"]))
    picture = run(engine, clip(models["ti2v"], Task.IMAGE_TO_VIDEO, image=product_shot))
    assert len(text.images[0].frames) == len(picture.images[0].frames) == 9
    assert engine.backend("diffusers")._cache._pipeline.scheduler.config.flow_shift == 5.0


def test_ltx_makes_clips_from_text_and_from_a_picture_with_one_folder(engine, models, product_shot):
    seen = []
    text = run(engine, clip(models["ltx"]), on_progress=seen.append)
    assert len(text.images[0].frames) == 9
    # LTX packs its latents into patches: the preview unpacks them.
    assert all(p.preview is not None for p in seen)
    picture = run(engine, clip(models["ltx"], Task.IMAGE_TO_VIDEO, image=product_shot))
    assert len(picture.images[0].frames) == 9
    assert type(engine.backend("diffusers")._derived[Task.IMAGE_TO_VIDEO]).__name__ == "LTXImageToVideoPipeline"
    assert text.request.licence == "other (see the model card)"


def test_cogvideox_makes_a_clip_with_its_recipe(engine, models):
    caps = engine.capabilities("diffusers", str(models["cogvideox"]))
    assert caps.tasks == {Task.TEXT_TO_VIDEO} and caps.defaults["frames"] == 49 and caps.size_multiple == 16
    seen = []
    result = run(engine, clip(models["cogvideox"]), on_progress=seen.append)
    (video,) = result.images
    assert len(video.frames) == 9 and video.frames[0].size == (64, 64) and video.fps == 8
    assert [p.step for p in seen] == [1, 2, 3]
    assert result.request.licence == "Apache-2.0"
    assert type(engine.backend("diffusers")._cache._pipeline).__name__ == "CogVideoXPipeline"


def test_latte_makes_a_clip_with_its_recipe(engine, models):
    caps = engine.capabilities("diffusers", str(models["latte"]))
    assert caps.tasks == {Task.TEXT_TO_VIDEO} and caps.defaults["frames"] == 16 and caps.size_multiple == 16
    seen = []
    # Latte's call names the frames video_length (the engine passes it so).
    result = run(engine, clip(models["latte"], frames=16), on_progress=seen.append)
    (video,) = result.images
    assert len(video.frames) == 16 and video.frames[0].size == (64, 64) and video.fps == 8
    assert [p.step for p in seen] == [1, 2, 3] and all(p.preview is not None for p in seen)
    assert result.request.licence == "Apache-2.0"
    assert type(engine.backend("diffusers")._cache._pipeline).__name__ == "LattePipeline"


def test_hunyuan_video_makes_a_clip_with_its_recipe_and_the_whole_prompt(engine, hunyuan):
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

    caps = engine.capabilities("diffusers", str(hunyuan))
    assert caps.tasks == {Task.TEXT_TO_VIDEO} and caps.size_multiple == 16 and not caps.takes("scheduler")
    recipe = {key: caps.defaults[key] for key in ("width", "height", "frames", "fps", "steps", "guidance")}
    assert recipe == {"width": 512, "height": 320, "frames": 61, "fps": 15, "steps": 30, "guidance": 6.0}
    says = "frames must be 4k+1 for HunyuanVideo models (5, 9, 13, ..., 81): 16 is not; choose 13 or 17"
    with pytest.raises(ValidationError, match=re.escape(says)):
        validate(clip(hunyuan, frames=16))
    seen = []
    result = run(engine, clip(hunyuan), on_progress=seen.append)
    (video,) = result.images
    assert len(video.frames) == 9 and video.frames[0].size == (64, 64) and video.fps == 8
    assert [p.step for p in seen] == [1, 2, 3] and all(p.preview is not None for p in seen)
    assert result.request.licence == "other: tencent-hunyuan-community"
    pipe = engine.backend("diffusers")._cache._pipeline
    assert type(pipe).__name__ == "HunyuanVideoPipeline" and pipe.scheduler.config.shift == 7.0  # the folder's
    # The pipeline crops the prompt template's first 95 tokens off the text encoder's output: with the
    # folder's Llama 3 tokenizer read as its tokenizer.json says, what is left starts with the prompt.
    tokenizer, template = pipe.tokenizer, DEFAULT_PROMPT_TEMPLATE
    prompt = tokenizer(PROMPT, add_special_tokens=False).input_ids
    ids = tokenizer(template["template"].format(PROMPT)).input_ids
    assert ids[template["crop_start"] :] == [*prompt, tokenizer.convert_tokens_to_ids("<|eot_id|>")]
    assert tokenizer.decode(prompt) == PROMPT


def test_wan_2_2_a14b_hands_the_low_noise_steps_to_its_second_expert_with_its_own_guidance(engine, models):
    caps = engine.capabilities("diffusers", str(models["a14b"]))
    assert caps.defaults["steps"] == 40 and caps.defaults["guidance"] == 4.0 and caps.defaults["width"] == 1280
    run(engine, clip(models["a14b"]))  # loads it
    pipe = engine.backend("diffusers")._cache._pipeline
    calls = {"transformer": 0, "transformer_2": 0}
    hooks = [
        getattr(pipe, name).register_forward_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
        for name in calls
    ]
    try:
        run(engine, clip(models["a14b"], steps=8))
    finally:
        for hook in hooks:
            hook.remove()
    # Both experts ran (each step twice: with and without the prompt), and the second one at the
    # recipe's guidance while the first kept the request's.
    assert calls["transformer"] > 0 and calls["transformer_2"] > 0
    assert pipe._guidance_scale_2 == 3.0 and pipe._guidance_scale == clip(models["a14b"]).guidance
    # A Wan 2.1 folder (one transformer) gets no second guidance.
    run(engine, clip(models["wan"]))
    assert engine.backend("diffusers")._cache._pipeline._guidance_scale_2 is None


def test_cancel_stops_a_wan_clip_and_the_pipeline_stays_usable(engine, models):
    cancel = threading.Event()
    steps = []

    def on_progress(progress):
        steps.append(progress.step)
        if progress.step == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        run(engine, clip(models["wan"], steps=20), on_progress=on_progress, cancel=cancel)
    assert steps == [1, 2]
    assert np.array_equal(
        frames_of(run(engine, clip(models["wan"]))),
        frames_of(Engine().generate(validate(clip(models["wan"]), Engine().backend("diffusers")))),
    )


@pytest.mark.parametrize(
    ("model", "changes", "field", "says"),
    [
        (
            "wan",
            {"frames": 16},
            "frames",
            "frames must be 4k+1 for Wan models (5, 9, 13, ..., 81): 16 is not; choose 13 or 17",
        ),
        ("ltx", {"frames": 16}, "frames", "frames must be 8k+1 for LTX-Video models (9, 17, 25, ..., 161)"),
        ("cogvideox", {"frames": 16}, "frames", "frames must be 4k+1 for CogVideoX models (5, 9, 13, ..., 81)"),
        ("latte", {"frames": 9}, "frames", "frames must be 16 for Latte models (they place each frame by a table"),
        ("wan", {"width": 72}, "width", "width must be a multiple of 16 for Wan models (got 72): choose 64 or 80"),
        ("wan", {"scheduler": "euler"}, "scheduler", "the scheduler must be left unset: Wan models run with their own"),
        ("wan-i2v", {"task": Task.IMAGE_TO_VIDEO}, "image", "image-to-video needs a picture"),
        ("wan", {"task": Task.TEXT_TO_IMAGE}, "task", "this model makes videos, not images: choose Video"),
    ],
)
def test_video_requests_are_checked_before_anything_loads(models, model, changes, field, says):
    with pytest.raises(ValidationError, match=re.escape(says)) as caught:
        validate(clip(models[model], **changes))
    assert caught.value.field == field


def test_an_image_model_says_which_video_models_animate_a_picture(tiny_model, product_shot):
    with pytest.raises(ValidationError, match="makes images, not videos: choose an image-to-video model"):
        validate(clip(tiny_model, Task.IMAGE_TO_VIDEO, image=product_shot))


def test_a_video_pipeline_without_a_recipe_is_named_not_loaded(tmp_path):
    folder = tmp_path / "svd"
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "StableVideoDiffusionPipeline"}')
    with pytest.raises(
        ValidationError, match="StableVideoDiffusionPipeline is a video pipeline this app has no recipe"
    ):
        validate(clip(folder))


def test_the_modelscope_recipe_says_cc_by_nc_where_the_folder_has_no_card(tiny_video_model, tmp_path):
    import shutil

    folder = shutil.copytree(tiny_video_model, tmp_path / "modelscope", ignore=shutil.ignore_patterns("README.md"))
    assert validate(clip(folder, frames=8)).licence == "CC-BY-NC-4.0"
    assert validate(clip(tiny_video_model, frames=8)).licence == "MIT"  # the tiny model's own card


def test_a_hub_id_in_the_hf_cache_is_held_to_its_familys_rules_and_its_cards_licence(models, tmp_path):
    """A hub id is found only when generating (validating never scans the cache): generate() checks the
    family's frame rule before loading, and the licence comes from the snapshot's card."""
    import shutil

    from desktop.engine.registry import EngineConfig

    cache = tmp_path / "hub"
    repo = cache / "models--wan-ai--wan-tiny"
    shutil.copytree(models["wan"], repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123" / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n# A fork\n")
    engine = Engine(EngineConfig(hf_cache_dir=cache))
    request = validate(clip("wan-ai/wan-tiny", frames=16), engine.backend("diffusers"))
    assert request.licence == "CC-BY-NC-4.0"
    with pytest.raises(ValidationError, match=r"frames must be 4k\+1 for Wan models"):
        engine.generate(request)
    assert engine.backend("diffusers").loaded_model is None  # refused before loading
    assert len(engine.generate(dataclasses.replace(request, frames=5)).images[0].frames) == 5


def test_a_preview_of_an_unknown_latent_layout_is_skipped_not_a_crash():
    import torch

    from desktop.engine.preview import latents_to_preview

    assert latents_to_preview(torch.zeros(1, 768, 8)) is None  # patches, not a picture
    assert latents_to_preview(torch.randn(1, 16, 3, 8, 8)).size == (8, 8)  # Wan: 16 channels, 5-D
