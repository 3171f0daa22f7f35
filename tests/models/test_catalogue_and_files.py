"""The catalogue's data, and which of a repository's files a download takes."""

from __future__ import annotations

import json

import pytest

from desktop.engine.models import is_hub_id
from desktop.engine.tasks import Task
from desktop.models.catalogue import CATALOGUE_FILE, catalogue, find_entry, load_catalogue
from desktop.models.hub_files import NothingToDownload, RepoFile, choose_files, weights_variant

REQUIRED = {
    "stable-diffusion-v1-5/stable-diffusion-v1-5": {"text-to-image"},
    "stable-diffusion-v1-5/stable-diffusion-inpainting": {"inpaint"},
    "stabilityai/stable-diffusion-xl-base-1.0": {"text-to-image"},
    "stabilityai/stable-diffusion-x4-upscaler": {"upscale"},
    "Comfy-Org/Real-ESRGAN_repackaged": {"upscale"},
    "openai/shap-e": {"text-to-3d"},
    "openai/shap-e-img2img": {"image-to-3d"},
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": {"text-to-video"},
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers": {"text-to-video", "image-to-video"},
    "damo-vilab/text-to-video-ms-1.7b": {"text-to-video"},
}


def test_the_catalogue_is_data_in_resources_with_every_model_the_issue_asks_for():
    assert CATALOGUE_FILE.parent.name == "resources" and CATALOGUE_FILE.suffix == ".json"
    raw = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))["models"]
    entries = catalogue()
    assert len(entries) == len(raw), "every entry in the file is well formed"
    by_id = {e.id: e for e in entries}
    for hub_id, tasks in REQUIRED.items():
        assert tasks <= set(by_id[hub_id].tasks), hub_id
    known = {t.value for t in Task} | {"image-to-video"}  # Wan 2.2 also animates a picture
    for entry in entries:
        assert is_hub_id(entry.id) and set(entry.tasks) <= known
        assert entry.download_gb > 0 and entry.memory_gb >= entry.offload_memory_gb > 0
        assert entry.licence and entry.description.endswith(".") and len(entry.description) < 140
    assert len({e.key for e in entries}) == len(entries)


def test_modelscope_is_marked_non_commercial_and_the_open_licences_commercial():
    assert find_entry("damo-vilab/text-to-video-ms-1.7b").commercial is False
    assert find_entry("damo-vilab/text-to-video-ms-1.7b").licence == "cc-by-nc-4.0"
    assert find_entry("wan-ai/wan2.1-t2v-1.3b-diffusers").commercial is True  # ids match in any case
    assert find_entry("sd15").id == "stable-diffusion-v1-5/stable-diffusion-v1-5"  # and by key
    assert find_entry("realesrgan-x4").files == ("RealESRGAN_x4plus.safetensors",)


def test_search_matches_words_in_any_field():
    entries = catalogue()
    assert {e.key for e in entries if e.matches("video non-commercial")} == {"modelscope-t2v"}
    assert {e.key for e in entries if e.matches("upscale")} == {"sd-x4-upscaler", "realesrgan-x4"}
    assert {e.key for e in entries if e.matches("WAN apache")} == {"wan21-t2v-1.3b", "wan22-ti2v-5b"}


def test_a_damaged_entry_is_left_out_not_a_crash(tmp_path):
    path = tmp_path / "catalogue.json"
    good = {
        "key": "a",
        "id": "org/a",
        "name": "A",
        "tasks": ["text-to-image"],
        "download_gb": 1,
        "memory_gb": 2,
        "licence": "mit",
        "commercial": True,
        "description": "A.",
    }
    bad = [dict(good, key="b", id="not an id"), dict(good, key="c", commercial="yes"), "junk", dict(good, key="d")]
    path.write_text(json.dumps({"models": [good, *bad]}))
    assert [e.key for e in load_catalogue(path)] == ["a"]  # d repeats a's id
    path.write_text("{not json")
    assert load_catalogue(path) == []


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("unet/diffusion_pytorch_model.safetensors", None),
        ("unet/diffusion_pytorch_model.fp16.safetensors", "fp16"),
        ("text_encoder/model-00001-of-00002.safetensors", None),
        ("text_encoder/model.fp16-00001-of-00002.safetensors", "fp16"),
        ("text_encoder/model.safetensors.index.json", None),
        ("text_encoder/model.safetensors.index.fp16.json", "fp16"),
    ],
)
def test_the_variant_of_a_weights_file(name, variant):
    assert weights_variant(name) == variant


SDXL_LIKE = [
    RepoFile("model_index.json", 1),
    RepoFile("README.md", 1),
    RepoFile("sd_xl_base_1.0.safetensors", 6_900),
    RepoFile("sd_xl_offset_example-lora_1.0.safetensors", 49),
    RepoFile("unet/config.json", 1),
    RepoFile("unet/diffusion_pytorch_model.safetensors", 10_000),
    RepoFile("unet/diffusion_pytorch_model.fp16.safetensors", 5_000),
    RepoFile("unet/diffusion_flax_model.msgpack", 10_000),
    RepoFile("unet/openvino_model.bin", 10_000),
    RepoFile("text_encoder_2/config.json", 1),
    RepoFile("text_encoder_2/model.safetensors.index.json", 1),
    RepoFile("text_encoder_2/model-00001-of-00002.safetensors", 1_500),
    RepoFile("text_encoder_2/model-00002-of-00002.safetensors", 1_500),
    RepoFile("text_encoder_2/pytorch_model.bin.index.json", 1),
    RepoFile("tokenizer_2/vocab.json", 1),
    RepoFile("tokenizer_2/merges.txt", 1),
    RepoFile("scheduler/scheduler_config.json", 1),
    RepoFile("vae_1_0/diffusion_pytorch_model.safetensors", 300),
    RepoFile("vae/config.json", 1),
    RepoFile("vae/diffusion_pytorch_model.safetensors", 300),
    RepoFile("vae/diffusion_pytorch_model.fp16.safetensors", 150),
]
SDXL_INDEX = {
    "_class_name": "StableDiffusionXLPipeline",
    "unet": ["diffusers", "UNet2DConditionModel"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "vae": ["diffusers", "AutoencoderKL"],
    "image_encoder": [None, None],
    "force_zeros_for_empty_prompt": True,
}


def test_a_pipeline_gets_its_components_in_one_precision_and_model_index_last():
    fp16 = [f.path for f in choose_files(SDXL_LIKE, SDXL_INDEX, "fp16")]
    assert fp16[-1] == "model_index.json"
    assert set(fp16) == {
        "model_index.json",
        "README.md",
        "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder_2/config.json",
        "text_encoder_2/model.safetensors.index.json",  # no fp16 shards: the full-precision ones
        "text_encoder_2/model-00001-of-00002.safetensors",
        "text_encoder_2/model-00002-of-00002.safetensors",
        "tokenizer_2/vocab.json",
        "tokenizer_2/merges.txt",
        "scheduler/scheduler_config.json",
        "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    }
    full = {f.path for f in choose_files(SDXL_LIKE, SDXL_INDEX, None)}
    assert "unet/diffusion_pytorch_model.safetensors" in full and not {p for p in full if ".fp16." in p}


def test_a_repository_without_anything_the_app_loads_is_refused_in_one_sentence():
    with pytest.raises(NothingToDownload, match="no .safetensors weights"):
        choose_files([RepoFile("model.ckpt", 5), RepoFile("README.md", 1)], None, None)
    with pytest.raises(NothingToDownload, match="no file x.safetensors"):
        choose_files([RepoFile("y.safetensors", 5)], None, None, only=("x.safetensors",))
