"""PNG Info and interop: other tools' pictures read with sd-parsers, and ours read by sd-parsers too."""

from __future__ import annotations

import json

from PIL import Image, PngImagePlugin
from sd_parsers import ParserManager

from desktop.engine.request import GenerationRequest, validate
from desktop.engine.result import GeneratedImage, GenerationResult
from desktop.library.png_info import read_settings
from desktop.library.store import Library

A1111 = (
    "a cat in a hat, masterpiece\nNegative prompt: blurry, text\n"
    "Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, "
    "Model hash: abc123, Model: v1-5-pruned, Version: v1.9.0"
)


def png_with(path, size=(64, 64), **chunks) -> str:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    Image.new("RGB", size, (90, 90, 90)).save(path, pnginfo=info)
    return str(path)


def comfyui_chunks() -> dict:
    """What ComfyUI writes: the API prompt (nodes and inputs) and the editor's workflow (with its links)."""
    prompt = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 25, "cfg": 6.5, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0],
              "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a sneaker on a beach", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["8", 0]}},
    }  # fmt: skip
    links = [
        [1, 4, 0, 3, 0, "MODEL"], [2, 6, 0, 3, 1, "CONDITIONING"], [3, 7, 0, 3, 2, "CONDITIONING"],
        [4, 5, 0, 3, 3, "LATENT"], [5, 4, 1, 6, 0, "CLIP"], [6, 4, 1, 7, 0, "CLIP"],
        [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"], [9, 8, 0, 9, 0, "IMAGE"],
    ]  # fmt: skip
    return {"prompt": json.dumps(prompt), "workflow": json.dumps({"nodes": [], "links": links})}


def test_an_automatic1111_picture_gives_its_prompt_and_settings(tmp_path):
    found = read_settings(png_with(tmp_path / "a1111.png", parameters=A1111))
    assert found.generator == "AUTOMATIC1111"
    assert (found.prompt, found.negative_prompt) == ("a cat in a hat, masterpiece", "blurry, text")
    assert (found.steps, found.guidance, found.seed, found.width, found.height) == (20, 7.0, 1234, 512, 768)
    assert (found.sampler, found.model) == ("Euler a", "v1-5-pruned")


def test_a_comfyui_picture_gives_its_prompt_and_settings(tmp_path):
    found = read_settings(png_with(tmp_path / "comfy.png", **comfyui_chunks()))
    assert found.generator == "ComfyUI"
    assert (found.prompt, found.negative_prompt) == ("a sneaker on a beach", "blurry")
    assert (found.steps, found.guidance, found.seed) == (25, 6.5, 42)


def our_picture(home) -> str:
    request = validate(
        GenerationRequest(
            prompt="a red circle\nNegative prompt: forged", negative_prompt="blurry", model="/m", width=64,
            height=64, steps=12, guidance=3.5, seed=77, scheduler="euler-a",
        )
    )  # fmt: skip
    result = GenerationResult(request, [GeneratedImage(Image.new("RGB", (64, 64)), 77, 0)], "cpu", {})
    library = Library(home)
    try:
        return str(library.save(result)[0].path)
    finally:
        library.close()


def test_our_pictures_are_read_back_whole_and_by_sd_parsers_as_automatic1111(isolated_home):
    path = our_picture(isolated_home)
    found = read_settings(path)
    assert (found.generator, found.steps, found.seed, found.guidance) == ("Diffusion Studio", 12, 77, 3.5)
    assert found.prompt == "a red circle\nNegative prompt: forged"
    # A real third-party reader of AUTOMATIC1111's format finds every field, and no forged one.
    info = ParserManager().parse(Image.open(path))
    assert info is not None and str(info.generator.value) == "AUTOMATIC1111"
    sampler = info.samplers[0]
    assert sampler.name == "Euler a" and sampler.parameters["steps"] == "12" and sampler.parameters["seed"] == "77"
    assert sampler.parameters["cfg_scale"] == "3.5" and info.full_negative_prompt == "blurry"
    assert "forged" in info.full_prompt and "forged" not in info.full_negative_prompt


def test_hostile_or_empty_pictures_carry_nothing(tmp_path):
    assert read_settings(png_with(tmp_path / "plain.png")) is None
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert read_settings(tmp_path / "garbage.png") is None
    # 1.5 MB of parameters: more than any tool writes; refused before any parser sees it.
    assert read_settings(png_with(tmp_path / "huge.png", parameters="Steps: 1, " * 150_000)) is None
    assert read_settings(tmp_path / "missing.png") is None
