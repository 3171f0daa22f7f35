"""Shared fixtures: tiny local diffusers models, a loopback OpenAI server, a throwaway library."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

# Tests never read the user's settings or library, and never reach a model hub.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

from openai_server import API_KEY, ImagesServer  # noqa: E402
from tiny_models import build_inpainting, build_text_to_image, build_text_to_video  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Folder of a tiny random-weight StableDiffusionPipeline, saved as safetensors."""
    return build_text_to_image(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_video_model(tmp_path_factory) -> Path:
    """Folder of a tiny random-weight TextToVideoSDPipeline (ModelScope's layout)."""
    return build_text_to_video(tmp_path_factory.mktemp("models") / "tiny-t2v")


@pytest.fixture(scope="session")
def tiny_inpainting_model(tmp_path_factory) -> Path:
    """Folder of a tiny StableDiffusionInpaintPipeline (9-channel UNet)."""
    return build_inpainting(tmp_path_factory.mktemp("models") / "tiny-inpaint")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own library and config folders, and no OpenAI settings from outside."""
    home = tmp_path / "home"
    monkeypatch.setenv("DIFFUSION_STUDIO_HOME", str(home))
    monkeypatch.setenv("DIFFUSION_STUDIO_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return home


@pytest.fixture
def openai_server(monkeypatch):
    """The loopback Images server, with OPENAI_BASE_URL and OPENAI_API_KEY pointing the client at it."""
    server = ImagesServer().start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    yield server
    server.stop()
