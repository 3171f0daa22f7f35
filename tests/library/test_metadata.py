from __future__ import annotations

from PIL import Image

from desktop.library.metadata import parameters_text, parse_parameters, png_info, read_metadata


def record(**request_changes) -> dict:
    request = {
        "prompt": "Sleek sneaker, ocean plastic: coral patterns",
        "negative_prompt": "blurry, text",
        "backend": "diffusers",
        "task": "text-to-image",
        "model": "/models/sd15",
        "width": 512,
        "height": 768,
        "steps": 25,
        "guidance": 7.5,
        "seed": 42,
        "scheduler": "euler-a",
        "count": 1,
    }
    request.update(request_changes)
    return {"request": request, "seed": 42, "prompt": request["prompt"]}


def test_parameters_text_follows_the_automatic1111_layout():
    text = parameters_text(record())
    assert text.splitlines() == [
        "Sleek sneaker, ocean plastic: coral patterns",
        "Negative prompt: blurry, text",
        "Steps: 25, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x768, Model: /models/sd15, "
        "Backend: diffusers, Task: text-to-image",
    ]


def test_parameters_round_trip_including_quoted_values_and_unicode():
    rec = record(prompt="Café poster, «bold»\nsecond line", model="C:\\models, v2")
    parsed = parse_parameters(parameters_text(rec))
    assert parsed["prompt"] == "Café poster, «bold»\nsecond line"
    assert parsed["negative_prompt"] == "blurry, text"
    assert parsed["Model"] == "C:\\models, v2"
    assert parsed["Seed"] == "42" and parsed["Size"] == "512x768" and parsed["Sampler"] == "Euler a"


def test_another_tools_parameters_are_read():
    a1111 = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 512x512"
    parsed = parse_parameters(a1111)
    assert parsed["prompt"] == "a cat" and parsed["Steps"] == "20" and parsed["Sampler"] == "DPM++ 2M"


def test_png_chunks_round_trip_and_reading_evaluates_nothing(tmp_path):
    rec = record(prompt="温かい coffee mug")
    path = tmp_path / "out.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=png_info(rec))
    meta = read_metadata(path)
    assert meta["record"] == rec
    assert meta["parameters"]["prompt"] == "温かい coffee mug"
    hostile = tmp_path / "hostile.png"
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("diffusion-studio", "__import__('os').system('touch pwned')")
    Image.new("RGB", (8, 8)).save(hostile, pnginfo=info)
    assert read_metadata(hostile) == {"parameters": None, "record": None}
    assert not (tmp_path / "pwned").exists()
