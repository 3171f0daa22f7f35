"""The shipped demo video model (resources/models/demo-video), run through the app's engine like any
local video model: the 48 colour x motion prompts, two seeds each (96 clips of 16 frames, a few
seconds each on a CPU)."""

from __future__ import annotations

import json

from desktop.engine.presets import DEMO_VIDEO, DEMO_VIDEO_MODEL_DIR
from desktop.training.demo_video.evaluate import TARGETS, evaluate

# What the shipped model reached in desktop.training.demo_video.evaluate (also in its training.json),
# less a margin for arithmetic that differs between CPUs. A broken text path, a tokenizer that drops
# words, frames denoised one by one (no motion modules) or a scheduler that does not match the
# training fall far below these (a model that ignores the direction word sits near 50% motion).
REACHED = {"color": 1.0, "background": 1.0, "motion": 0.802, "differ": 1.0}
MARGIN = 0.08


def test_it_is_a_standard_safetensors_animatediff_folder_under_25_mb():
    index = json.loads((DEMO_VIDEO_MODEL_DIR / "model_index.json").read_text())
    assert index["_class_name"] == "AnimateDiffPipeline" and index["unet"] == ["diffusers", "UNetMotionModel"]
    files = [p for p in DEMO_VIDEO_MODEL_DIR.rglob("*") if p.is_file()]
    weights = [p for p in files if p.suffix in (".safetensors", ".bin", ".pt", ".ckpt")]
    assert sorted(p.parent.name for p in weights) == ["text_encoder", "unet", "vae"]
    assert all(p.suffix == ".safetensors" for p in weights)
    assert sum(p.stat().st_size for p in files) < 25 * 2**20


def test_it_follows_colour_background_and_motion_on_the_48_evaluation_prompts():
    result = evaluate(str(DEMO_VIDEO_MODEL_DIR))  # the folder, through the engine, at the preset's settings
    assert result["clips"] == 96 and result["frames"] == DEMO_VIDEO.defaults["frames"]
    for measure, reached in REACHED.items():
        assert result[measure] >= reached - MARGIN, (measure, result)
    # What each motion came out as: every clip once, the right ones as many as the share says.
    table = result["motions"]
    assert sum(sum(seen.values()) for seen in table.values()) == 96
    assert round(sum(seen.get(asked, 0) for asked, seen in table.items()) / 96, 3) == result["motion"]
    # The shipped figures meet the targets.
    assert all(REACHED[m] >= TARGETS[m] for m in TARGETS)


def test_recorded_figures_are_the_ones_this_test_checks():
    recorded = json.loads((DEMO_VIDEO_MODEL_DIR / "training.json").read_text())["evaluation"]
    assert {k: recorded[k] for k in REACHED} == REACHED
    assert (recorded["steps"], recorded["guidance"]) == (DEMO_VIDEO.defaults["steps"], DEMO_VIDEO.defaults["guidance"])
