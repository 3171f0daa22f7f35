"""Upscaler files: recognised from their header, loaded in both ESRGAN layouts, listed from the model folders."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_upscalers import (
    build_esrgan,
    build_pickled_realesrgan,
    build_realesrgan,
    build_sd_x4_upscaler,
    rrdb_state_dict,
    to_esrgan_names,
)

from desktop.engine.devices import RuntimeOptions
from desktop.engine.errors import EngineError
from desktop.engine.registry import EngineConfig
from desktop.engine.rrdbnet import RRDBNet, detect
from desktop.engine.upscalers.backend import UpscaleBackend
from desktop.engine.upscalers.catalog import Catalog, read_safetensors_shapes

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "builder, scale, layout",
    [
        (build_realesrgan, 4, "Real-ESRGAN"),
        (build_realesrgan, 2, "Real-ESRGAN"),
        (build_esrgan, 4, "ESRGAN"),
        (build_esrgan, 2, "ESRGAN"),
    ],
)
def test_architecture_and_scale_come_from_the_header_alone(tmp_path, builder, scale, layout):
    path = builder(tmp_path / "up.safetensors", scale=scale)
    config, _ = detect(read_safetensors_shapes(path))
    assert (config.layout, config.scale, config.blocks, config.features, config.growth) == (layout, scale, 1, 8, 4)
    # Real-ESRGAN's x2 model sees the picture pixel-unshuffled: 12 channels into its first conv.
    assert config.unshuffle == (2 if (layout, scale) == ("Real-ESRGAN", 2) else 1)
    info = Catalog().inspect(str(path))
    assert info.usable and info.kind == "rrdbnet" and info.scale == scale
    assert info.label == f"up.safetensors ({layout} ×{scale}, 1 block, 8 features)"


def test_the_published_network_sizes_are_recognised_from_shapes():
    """RealESRGAN_x4plus: 23 blocks of width 64 (shapes only; no weights are made)."""
    from desktop.engine.rrdbnet import RRDBConfig, expected_shapes

    real = RRDBConfig("Real-ESRGAN", 3, 64, 32, 23, 2, 1)
    config, _ = detect(expected_shapes(real))
    assert config == real and config.describe() == "Real-ESRGAN ×4, 23 blocks, 64 features"
    assert len(expected_shapes(real)) == 702  # what RealESRGAN_x4plus.pth holds


def test_both_layouts_of_the_same_weights_make_the_same_picture():
    import torch

    state = rrdb_state_dict(blocks=2, seed=7)
    real = RRDBNet.from_state_dict(state)
    original = RRDBNet.from_state_dict(to_esrgan_names(state, upsamples=2, blocks=2))
    assert original.config.layout == "ESRGAN" and original.config.blocks == 2
    picture = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(real(picture), original(picture))
    assert real(picture).shape == (1, 3, 48, 40)


def test_a_file_that_is_not_an_upscaler_is_one_sentence(tmp_path, tiny_model):
    catalog = Catalog()
    unet = catalog.inspect(str(tiny_model / "unet" / "diffusion_pytorch_model.safetensors"))
    assert not unet.usable
    assert unet.error == (
        "diffusion_pytorch_model.safetensors is not an upscaler this app can load: its layers are not an ESRGAN "
        "or Real-ESRGAN network (other architectures need the optional spandrel package)."
    )
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    assert catalog.inspect(str(broken)).error == (
        "broken.safetensors is not a readable safetensors file: it may be damaged or incomplete."
    )
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG")
    assert "photo.png is not an upscaler weights file" in catalog.inspect(str(photo)).error
    pipeline = catalog.inspect(str(tiny_model))
    assert pipeline.error.startswith("tiny-sd is a StableDiffusionPipeline model, not an upscaler")
    missing = catalog.inspect(str(tmp_path / "nowhere.safetensors"))
    assert missing.error.startswith("upscaler ") and "does not exist" in missing.error


def test_a_restoration_model_of_scale_one_is_not_an_upscaler(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "1x-denoise.safetensors"
    save_file(rrdb_state_dict(upsamples=2, unshuffle=4), str(path))  # Real-ESRGAN's x1: 48 channels in
    assert Catalog().inspect(str(path)).error == "1x-denoise.safetensors is a x1 restoration model, not an upscaler."


def test_pickle_files_need_the_setting_and_even_then_run_no_code(tmp_path):
    import torch

    path = build_pickled_realesrgan(tmp_path / "RealESRGAN_x4plus.pth")
    refused = Catalog(allow_pickle=False).inspect(str(path))
    assert refused.error.startswith("RealESRGAN_x4plus.pth is a pickle file, which can run code when loaded")
    allowed = Catalog(allow_pickle=True).inspect(str(path))
    assert allowed.usable and allowed.kind == "pickle" and allowed.scale is None

    from desktop.engine.upscalers.loading import load

    options = RuntimeOptions(device="cpu", allow_pickle_weights=True)
    upscaler = load(allowed, "cpu", torch.float32, options)
    assert upscaler.scale == 4 and upscaler.architecture.startswith("Real-ESRGAN ×4")

    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "4x-evil.pth"
    torch.save({"params_ema": Payload()}, str(evil))
    with pytest.raises(EngineError, match="4x-evil.pth could not be read as PyTorch weights"):
        load(Catalog(allow_pickle=True).inspect(str(evil)), "cpu", torch.float32, options)
    assert not marker.exists()


def test_upscalers_in_the_model_folders_are_listed_with_architecture_scale_and_licence(tmp_path, tiny_model):
    models = tmp_path / "models"
    (models / "ESRGAN").mkdir(parents=True)
    ultra = build_esrgan(models / "ESRGAN" / "4x-UltraSharp.safetensors", scale=4)
    (models / "ESRGAN" / "README.md").write_text("---\nlicense: cc-by-nc-sa-4.0\n---\n# 4x-UltraSharp\n")
    x2 = build_realesrgan(models / "RealESRGAN_x2plus.safetensors", scale=2)
    (models / "notes.txt").write_text("not a model")
    (models / "lora.safetensors").write_bytes((tiny_model / "vae" / "diffusion_pytorch_model.safetensors").read_bytes())
    sd_x4 = build_sd_x4_upscaler(models / "sd-x4-upscaler")
    # The Hugging Face cache's layout: models--org--name/snapshots/<revision>/; generators there are skipped.
    cache = tmp_path / "hf-cache"
    shutil.copytree(sd_x4, cache / "models--stabilityai--stable-diffusion-x4-upscaler" / "snapshots" / "abc123")
    shutil.copytree(tiny_model, cache / "models--org--tiny-sd" / "snapshots" / "def456")
    # A weights file Models -> Manage downloaded (a repository that is no pipeline).
    snapshot = cache / "models--Comfy-Org--Real-ESRGAN_repackaged" / "snapshots" / "ghi789"
    snapshot.mkdir(parents=True)
    downloaded = build_realesrgan(snapshot / "RealESRGAN_x4plus.safetensors")
    config = EngineConfig(model_folders=(str(models), str(tiny_model)), hf_cache_dir=str(cache))
    backend = UpscaleBackend(config)
    # The folder's own files first, then each subfolder's; the generator model folder is no upscaler.
    hub_id = "stabilityai/stable-diffusion-x4-upscaler"
    assert backend.models() == ["lanczos", str(x2), str(ultra), str(sd_x4), hub_id, str(downloaded)]
    labels = [info.label for info in backend.upscalers()]
    assert labels == [
        "Plain resize (Lanczos)",
        "RealESRGAN_x2plus.safetensors (Real-ESRGAN ×2, 1 block, 8 features)",
        "4x-UltraSharp.safetensors (ESRGAN ×4, 1 block, 8 features, licence cc-by-nc-sa-4.0)",
        "sd-x4-upscaler (StableDiffusionUpscalePipeline ×4)",
        "stabilityai/stable-diffusion-x4-upscaler (StableDiffusionUpscalePipeline ×4)",
        "RealESRGAN_x4plus.safetensors (Real-ESRGAN ×4, 1 block, 8 features)",
    ]
    assert backend.capabilities(hub_id).defaults["scale"] == 4.0
    assert backend.capabilities(str(ultra)).defaults == {"scale": 4.0}
    pipeline = backend.capabilities(str(sd_x4))
    assert pipeline.defaults["scale"] == 4.0 and pipeline.takes("steps") and pipeline.takes("seed")
    assert not backend.capabilities("").controls and backend.capabilities("").defaults == {"scale": 2.0}
    assert backend.describe("") == "Plain resize (Lanczos)"


def test_listing_and_capabilities_never_import_torch(tmp_path):
    """The window's process lists models and reads capabilities; it must not pay for torch."""
    path = build_realesrgan(tmp_path / "4x.safetensors")
    script = (
        "import sys, json\n"
        "from desktop.engine.registry import EngineConfig\n"
        "from desktop.engine.upscalers.backend import UpscaleBackend\n"
        f"backend = UpscaleBackend(EngineConfig(model_folders=({str(tmp_path)!r},)))\n"
        f"caps = backend.capabilities({str(path)!r})\n"
        "print(json.dumps([backend.models(), caps.defaults, 'torch' in sys.modules]))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    models, defaults, torch_imported = json.loads(output.stdout)
    assert models == ["lanczos", str(path)] and defaults == {"scale": 4.0}
    assert torch_imported is False


def test_a_changed_file_is_read_again(tmp_path):
    catalog = Catalog()
    path = build_realesrgan(tmp_path / "up.safetensors", scale=4)
    assert catalog.inspect(str(path)).scale == 4
    build_realesrgan(path, scale=2)
    assert catalog.inspect(str(path)).scale == 2


def test_shapes_read_from_the_header_match_the_tensors(tmp_path):
    from safetensors.torch import load_file

    path = build_realesrgan(tmp_path / "up.safetensors")
    tensors = load_file(str(path))
    assert read_safetensors_shapes(path) == {name: list(t.shape) for name, t in tensors.items()}
    assert np.isclose(float(tensors["conv_first.weight"][0, 0, 1, 1]), 1.0, atol=0.1)
