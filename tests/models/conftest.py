"""Fixtures for the model manager: a loopback hub that serves a tiny model, and a process allowed online."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.models.hub_server import HubServer, Repo, repo_from_folder

REPO = "tiny-org/tiny-sd"


@pytest.fixture(scope="session")
def tiny_hub_folder(tiny_model, tmp_path_factory) -> Path:
    """The tiny pipeline as a hub repository holds it: fp16 variants beside the weights, pickle copies, a
    single-file checkpoint at the top, a folder no component names, and a model card with a licence."""
    import torch
    from diffusers import UNet2DConditionModel

    folder = tmp_path_factory.mktemp("hub") / "tiny-sd"
    shutil.copytree(tiny_model, folder)
    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    unet.to(torch.float16).save_pretrained(folder / "unet", variant="fp16", safe_serialization=True)
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickle" * 1000)
    (folder / "tiny-sd-pruned.ckpt").write_bytes(b"checkpoint" * 1000)
    (folder / "unet_old").mkdir()
    (folder / "unet_old" / "diffusion_pytorch_model.safetensors").write_bytes(b"x" * 1000)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\ntags: [tiny]\n---\n# Tiny SD\n")
    (folder / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    return folder


@pytest.fixture
def hub(tiny_hub_folder):
    server = HubServer().start()
    server.repos[REPO] = repo_from_folder(tiny_hub_folder)
    yield server
    server.stop()


@pytest.fixture
def online(monkeypatch, hub, tmp_path) -> Path:
    """Downloads allowed in this test (tests/conftest.py turns the hub off for all others), from the loopback
    hub (HF_ENDPOINT); returns the test's own Hugging Face cache (HF_HUB_CACHE)."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))  # read once at its import: the engine's cache
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return cache


def file_repo(files: dict[str, bytes]) -> Repo:
    return Repo(dict(files))
