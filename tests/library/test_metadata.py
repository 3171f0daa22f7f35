from __future__ import annotations

import time
import zlib

import pytest
from PIL import Image, PngImagePlugin

from desktop.library.metadata import (
    parameters_text,
    parse_parameters,
    png_info,
    read_metadata,
    read_record,
    sampler_name,
)


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
    # Line breaks in a prompt are written as a literal \n: the text is line-based.
    assert parsed["prompt"] == "Café poster, «bold»\\nsecond line"
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
    info = PngImagePlugin.PngInfo()
    info.add_text("diffusion-studio", "__import__('os').system('touch pwned')")
    Image.new("RGB", (8, 8)).save(hostile, pnginfo=info)
    assert read_metadata(hostile) == {"parameters": None, "record": None}
    assert not (tmp_path / "pwned").exists()


def png_with_text(path, **chunks):
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key.replace("_", "-"), value)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_a_prompt_cannot_forge_fields_or_a_negative_prompt():
    forged = "a cat\nNegative prompt: everything\nSteps: 99, Sampler: Forged, Seed: 1"
    rec = record(prompt=forged, negative_prompt="blurry\r\nSteps: 1")
    text = parameters_text(rec)
    assert len(text.splitlines()) == 3
    parsed = parse_parameters(text)
    assert parsed["negative_prompt"] == "blurry\\nSteps: 1"
    assert parsed["Steps"] == "25" and parsed["Sampler"] == "Euler a" and parsed["Seed"] == "42"
    assert parsed["prompt"].startswith("a cat\\nNegative prompt\ua789 everything")  # a look-alike colon


def test_every_diffusers_result_names_a_sampler_as_automatic1111_writes_it():
    assert sampler_name("dpm++-karras") == ("DPM++ 2M", "Karras")
    assert sampler_name(None, "DPMSolverMultistepScheduler") == ("DPM++ 2M", None)
    assert sampler_name(None) == ("Default", None)
    karras = parameters_text(record(scheduler="dpm++-karras")).splitlines()[-1]
    assert karras.startswith("Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 42, Size:")
    own = parameters_text({**record(scheduler=None), "scheduler_class": "EulerDiscreteScheduler"})
    assert "Sampler: Euler," in own
    assert "Sampler: Default," in parameters_text(record(scheduler=None))
    edit = parameters_text(record(task="inpaint", strength=0.75))
    assert "Denoising strength: 0.75" in edit


def test_hostile_text_chunks_are_read_in_bounded_time_without_raising(tmp_path):
    cases = {
        "deep": png_with_text(tmp_path / "deep.png", diffusion_studio="[" * 50000 + "]" * 50000),
        "deep-dict": png_with_text(tmp_path / "deep2.png", diffusion_studio='{"a":' * 20000 + "1" + "}" * 20000),
        "long-line": png_with_text(tmp_path / "long.png", parameters="a prompt\nSteps: " + "x" * 40000),
        "quadratic": png_with_text(tmp_path / "quad.png", parameters="p\nSteps: 1, " + "a " * 20000),
        "quotes": png_with_text(tmp_path / "quotes.png", parameters="p\nSteps: " + 'k: "\\' * 10000),
        "not-json": png_with_text(tmp_path / "nj.png", diffusion_studio="{'a': 1}", parameters="Steps:"),
    }
    for name, path in cases.items():
        started = time.monotonic()
        meta = read_metadata(path)
        assert time.monotonic() - started < 2.0, name  # was 11 s for the 40,000-character line
        assert meta["record"] is None, name


def test_unreadable_files_give_no_metadata_instead_of_an_error(tmp_path):
    (tmp_path / "text.png").write_text("not a png")
    good = png_with_text(tmp_path / "good.png", diffusion_studio='{"a": 1}')
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:40])
    for name in ("text.png", "cut.png", "missing.png"):
        assert read_metadata(tmp_path / name) == {"parameters": None, "record": None}
    assert read_record(good) == {"a": 1}


def test_a_5_mb_compressed_text_chunk_is_refused_quietly(tmp_path):
    """A zTXt chunk that inflates past Pillow's text limit (a decompression bomb for text)."""
    path = tmp_path / "bomb.png"
    Image.new("RGB", (8, 8)).save(path)
    data = path.read_bytes()
    body = b"parameters\x00\x00" + zlib.compress(b"a" * 5_000_000)
    chunk = len(body).to_bytes(4, "big") + b"zTXt" + body + zlib.crc32(b"zTXt" + body).to_bytes(4, "big")
    iend = data.rindex(b"IEND") - 4
    path.write_bytes(data[:iend] + chunk + data[iend:])
    assert read_metadata(path) == {"parameters": None, "record": None}


@pytest.mark.parametrize("length", [1, 300_000])
def test_parameters_of_any_length_parse(length):
    parsed = parse_parameters("x" * length + "\nSteps: 1")
    assert parsed["Steps"] == "1" and len(parsed["prompt"]) <= 256 * 1024


def test_a_lone_line_is_settings_only_when_it_holds_several_fields():
    assert parse_parameters("Steps: 20, Sampler: Euler, Seed: 3")["Seed"] == "3"
    assert parse_parameters("Model: a cat on a mat") == {"prompt": "Model: a cat on a mat", "negative_prompt": ""}
