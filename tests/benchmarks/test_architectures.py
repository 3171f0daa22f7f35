"""The full-size configs in benchmarks/architectures/ build the published models: parameter counts
checked on the meta device (no memory, no weights), and every --tiny build loads as diffusers does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "benchmarks"))

from gpu_architectures import ARCHITECTURES, architecture, build, build_tokenizer, parameter_counts  # noqa: E402


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_full_size_configs_have_the_published_parameter_counts(name):
    counts = parameter_counts(name)
    published = architecture(name)["published_parameters"]
    assert published
    for component, expected in published.items():
        # Exact where the release's tensors were counted; 1% where the count comes from file sizes.
        assert counts[component] == pytest.approx(expected, rel=0.01), (component, counts[component])


def test_the_counts_are_the_known_ones():
    sd15, sdxl, wan = parameter_counts("sd15"), parameter_counts("sdxl"), parameter_counts("wan-1.3b")
    assert sd15 == {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480}
    assert sdxl["unet"] == 2_567_463_684 and sdxl["text_encoder_2"] == 694_659_840
    assert round(wan["transformer"] / 1e9, 2) == 1.42
    assert round(wan["text_encoder"] / 1e9, 2) == 5.68  # UMT5-XXL's encoder: why Wan is built on the GPU


def test_tokenizers_have_the_published_vocabulary_and_length():
    clip = build_tokenizer(architecture("sdxl")["tokenizers"]["tokenizer_2"])
    assert len(clip) == 49408 and clip.model_max_length == 77 and clip.pad_token == "!"
    ids = clip("a red sneaker", padding="max_length", max_length=77).input_ids
    assert len(ids) == 77 and ids[0] == clip.bos_token_id == 49406
    t5 = build_tokenizer(architecture("wan-1.3b")["tokenizers"]["tokenizer"])
    assert len(t5) == 256384 and t5.model_max_length == 512
    assert max(t5("a woman wearing a smart watch").input_ids) < 256384


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_tiny_builds_load_as_model_folders(name, tmp_path):
    import torch
    from diffusers import DiffusionPipeline

    folder = build(name, tmp_path / name, tiny=True, device="cpu", dtype=torch.float32)
    pipe = DiffusionPipeline.from_pretrained(folder, local_files_only=True)
    assert type(pipe).__name__ == __import__("json").loads((folder / "model_index.json").read_text())["_class_name"]
    counts = parameter_counts(name, tiny=True)
    for component, count in counts.items():
        assert sum(p.numel() for p in getattr(pipe, component).parameters()) == count
