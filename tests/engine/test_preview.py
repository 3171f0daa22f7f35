"""The live preview resembles the picture it becomes: each model's latent space gets its own
latent -> RGB projection (fitted to its VAE where it is not Stable Diffusion's)."""

from __future__ import annotations

import numpy as np

from desktop.engine.engine import Engine
from desktop.engine.preview import SD_PROJECTION
from desktop.engine.request import GenerationRequest, Task


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


def test_video_vaes_get_a_projection_fitted_in_the_space_their_pipeline_denoises_in(tmp_path):
    """Wan's 16 channels (normalised by the VAE's per-channel mean and spread) get fitted factors; on
    pictures it was not fitted on they come closer to the true colours than the stretched channels
    shown before. (The tiny VAE has random weights: a trained one fits far better, as the demo's does.)"""
    import torch
    from tiny_video_models import build_wan_text_to_video

    from desktop.engine.preview import _denoising_space, preview_pixels

    engine = Engine()
    folder = build_wan_text_to_video(tmp_path / "wan")
    request = GenerationRequest(
        prompt="a red bottle", task=Task.TEXT_TO_VIDEO, model=str(folder), width=64, height=64, steps=2, frames=5
    )
    engine.generate(request, on_progress=lambda p: None)
    projection = engine.backend("diffusers")._projection
    assert projection is not None and len(projection.factors) == 16
    vae = engine.backend("diffusers")._cache._pipeline.vae

    pictures = torch.rand(4, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    pictures = torch.nn.functional.interpolate(pictures, size=(128, 128), mode="nearest")
    errors = {"fitted": [], "stretched": []}
    for picture in pictures:
        with torch.no_grad():
            latent = _denoising_space(vae, vae.encode((picture * 2 - 1)[None, :, None]).latent_dist.mean)
        for name, used in (("fitted", projection), ("stretched", None)):
            rgb = preview_pixels(latent, used).float().permute(2, 0, 1) / 255
            truth = torch.nn.functional.adaptive_avg_pool2d(picture[None], rgb.shape[-2:])[0]
            errors[name].append(float((rgb - truth).abs().mean()))
    assert np.mean(errors["fitted"]) < 0.9 * np.mean(errors["stretched"]), errors
