"""The live preview resembles the picture it becomes: each model's latent space gets its own
latent -> RGB projection (fitted to its VAE where it is not Stable Diffusion's)."""

from __future__ import annotations

import numpy as np

from desktop.engine.engine import Engine
from desktop.engine.preview import SD_PROJECTION
from desktop.engine.request import GenerationRequest


def last_preview_error(engine: Engine, request: GenerationRequest) -> float:
    previews = []
    result = engine.generate(request, on_progress=previews.append)
    last = np.asarray(previews[-1].preview, dtype=float)
    final = np.asarray(result.images[0].image.resize(previews[-1].preview.size), dtype=float)
    return float(np.abs(final - last).mean())


def test_the_demo_models_preview_looks_like_its_picture_and_sd_factors_would_not():
    engine = Engine()
    request = GenerationRequest(prompt="a red circle on a blue background", model="demo", steps=20, guidance=2, seed=1)
    fitted = last_preview_error(engine, request)
    engine.backend("diffusers")._projection = SD_PROJECTION  # what every model used before
    with_sd_factors = last_preview_error(engine, request)
    assert fitted < 40 and fitted < with_sd_factors / 2, (fitted, with_sd_factors)


def test_stable_diffusion_vaes_keep_the_known_factors(tiny_model):
    engine = Engine()
    engine.generate(GenerationRequest(prompt="x", model=str(tiny_model), width=64, height=64, steps=2))
    assert engine.backend("diffusers")._projection is SD_PROJECTION
