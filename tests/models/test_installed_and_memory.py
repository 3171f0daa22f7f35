"""What is installed (the cache, Settings folders, other tools' folders), removing, and will-it-fit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop.models.download import download
from desktop.models.installed import RemoveError, disk_use, remove, scan_cache, scan_installed
from desktop.models.memory import DeviceMemory, Need, catalogue_need, estimate_need, memory_warning, model_need
from tests.models.conftest import REPO


def test_a_downloaded_model_is_listed_with_its_disk_use_tasks_and_licence_then_removed(online):
    download(REPO, cache_dir=online)
    (model,) = scan_cache(online)
    assert (model.id, model.source, model.kind) == (REPO, "hf-cache", "pipeline") and model.usable
    assert model.size_bytes == disk_use(online / "models--tiny-org--tiny-sd") > 300_000
    assert "text-to-image" in model.tasks and "text-to-video" not in model.tasks
    assert model.licence == "apache-2.0" and model.where == "Hugging Face cache"
    assert remove(model, online) == model.size_bytes
    assert scan_cache(online) == [] and not (online / "models--tiny-org--tiny-sd").exists()


def make_tools(root: Path, tiny_model: Path) -> dict[str, Path]:
    a1111 = root / "stable-diffusion-webui"
    (a1111 / "models" / "Stable-diffusion").mkdir(parents=True)
    (a1111 / "models" / "Stable-diffusion" / "dreamshaper_8.safetensors").write_bytes(b"\0" * 2048)
    (a1111 / "models" / "ESRGAN").mkdir()
    (a1111 / "models" / "ESRGAN" / "4x-UltraSharp.pth").write_bytes(b"\0" * 1024)
    (a1111 / "models" / "Lora").mkdir()
    (a1111 / "models" / "Lora" / "style.safetensors").write_bytes(b"\0" * 100)
    comfy = root / "ComfyUI"
    for sub in ("checkpoints", "loras", "upscale_models", "diffusers"):
        (comfy / "models" / sub).mkdir(parents=True)
    shutil.copytree(tiny_model, comfy / "models" / "diffusers" / "tiny-sd")
    (comfy / "models" / "upscale_models" / "RealESRGAN_x4plus.safetensors").write_bytes(b"\0" * 512)
    invoke = root / "invokeai"
    (invoke / "models" / "sd-1" / "main").mkdir(parents=True)
    (invoke / "invokeai.yaml").write_text("schema_version: 4.0.2\n")
    shutil.copytree(tiny_model, invoke / "models" / "sd-1" / "main" / "tiny")
    return {"automatic1111": a1111, "comfyui": comfy, "invokeai": invoke}


def test_models_in_other_tools_folders_are_found_where_they_are(tmp_path, tiny_model):
    tools = make_tools(tmp_path / "tools", tiny_model)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "tools").rglob("*")}
    found = scan_installed(
        [str(tools["automatic1111"]), str(tools["comfyui"] / "models"), str(tools["invokeai"])], tmp_path / "no-cache"
    )
    by_name = {(m.source, m.name): m for m in found}
    checkpoint = by_name[("automatic1111", "dreamshaper_8.safetensors")]
    assert checkpoint.kind == "checkpoint" and not checkpoint.usable and "from_single_file" in checkpoint.problem
    assert by_name[("automatic1111", "4x-UltraSharp.pth")].tasks == ("upscale",)
    assert ("automatic1111", "style.safetensors") not in by_name  # LoRAs are not models the app runs
    comfy_pipeline = by_name[("comfyui", "tiny-sd")]
    assert comfy_pipeline.usable and "text-to-image" in comfy_pipeline.tasks
    assert comfy_pipeline.path == tools["comfyui"] / "models" / "diffusers" / "tiny-sd"  # used in place
    assert by_name[("comfyui", "RealESRGAN_x4plus.safetensors")].kind == "upscaler"
    assert by_name[("invokeai", "tiny")].usable and by_name[("invokeai", "tiny")].where == "InvokeAI"
    # Nothing copied, nothing touched.
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "tools").rglob("*")} == before
    assert not (tmp_path / "no-cache").exists()
    with pytest.raises(RemoveError, match="never deletes it"):
        remove(comfy_pipeline)
    assert comfy_pipeline.path.is_dir()


def test_a_settings_folder_that_is_a_pipeline_is_one_model(tiny_model, tmp_path):
    (model,) = scan_installed([str(tiny_model)], tmp_path / "no-cache")
    assert (model.source, model.kind, model.id) == ("folder", "pipeline", str(tiny_model)) and model.usable


def test_memory_warnings_say_what_to_do_before_loading():
    sdxl = Need(10, 6)
    small_gpu = DeviceMemory("cuda", 8)
    text = memory_warning(sdxl, small_gpu, cpu_offload=False, name="SDXL")
    assert "needs about 10 GB of GPU memory and this GPU has 8.0 GB" in text and "CPU offload" in text
    assert memory_warning(sdxl, small_gpu, cpu_offload=True, name="SDXL") == ""
    tiny_gpu = DeviceMemory("cuda", 4)
    assert "choose a smaller model" in memory_warning(sdxl, tiny_gpu, cpu_offload=True, name="SDXL")
    assert memory_warning(Need(4, 3), DeviceMemory("cuda", 24), False, "SD 1.5") == ""
    # The CPU runs in fp32: twice the memory.
    assert "needs about 20 GB of memory and this computer has 16 GB" in memory_warning(
        sdxl, DeviceMemory("cpu", 16), False, "SDXL"
    )
    assert memory_warning(None, small_gpu, False, "?") == "" and memory_warning(sdxl, None, False, "?") == ""


def test_what_a_model_needs_comes_from_the_catalogue_or_its_weights(tiny_model):
    from desktop.models.catalogue import find_entry

    assert model_need("stabilityai/stable-diffusion-xl-base-1.0") == catalogue_need(find_entry("sdxl"))
    estimated = estimate_need(tiny_model)
    assert estimated is not None and 1.0 < estimated.whole_gb < 1.1  # a few hundred thousand parameters
    assert model_need(str(tiny_model)) == estimated
    assert model_need("demo") is None and model_need("") is None


def test_the_gpu_memory_is_read_from_nvidia_smi_without_torch(tmp_path, monkeypatch):
    from desktop.models.memory import nvidia_gpu

    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '81559, NVIDIA H100 80GB HBM3'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    gpu = nvidia_gpu()
    assert gpu is not None and gpu.gpu and gpu.name == "NVIDIA H100 80GB HBM3" and round(gpu.total_gb) == 80
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert nvidia_gpu() is None
