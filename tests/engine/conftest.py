"""Engine fixtures: tiny random-weight Shap-E pipelines (text and image), built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_shap_e import build_image_to_3d, build_text_to_3d


@pytest.fixture(scope="session")
def tiny_shap_e(tmp_path_factory) -> Path:
    """Folder of a tiny ShapEPipeline (text to 3D) with a filled marching-cubes table."""
    return build_text_to_3d(tmp_path_factory.mktemp("models") / "tiny-shap-e")


@pytest.fixture(scope="session")
def tiny_shap_e_img2img(tmp_path_factory) -> Path:
    """Folder of a tiny ShapEImg2ImgPipeline (picture to 3D) with a locally built image processor."""
    return build_image_to_3d(tmp_path_factory.mktemp("models") / "tiny-shap-e-img2img")
