"""A cheap live preview of the latents: a linear latent-to-RGB projection, no VAE decode per step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    import torch

# Stable Diffusion 1.x/2.x latent channels -> RGB, the factors ComfyUI and A1111 use for their
# "approximate" previews. Good enough to watch a composition form; the final image is decoded.
SD_LATENT_RGB = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
SD_LATENT_RGB_BIAS = (0.1, 0.1, 0.1)


# Stable Diffusion's VAE scales its latents by this; another factor means another latent space.
SD_SCALING_FACTOR = 0.18215


@dataclass(frozen=True)
class LatentProjection:
    """Latent channels -> RGB in 0..1: rgb = latent @ factors + bias."""

    factors: tuple[tuple[float, float, float], ...]  # one row per latent channel
    bias: tuple[float, float, float]


SD_PROJECTION = LatentProjection(
    tuple(tuple((v / 2) for v in row) for row in SD_LATENT_RGB), tuple((b + 1) / 2 for b in SD_LATENT_RGB_BIAS)
)


# The video families' autoencoders: they encode (batch, 3, frames, h, w); one frame is a picture.
VIDEO_VAES = {"AutoencoderKLWan", "AutoencoderKLLTXVideo", "AutoencoderKLCogVideoX", "AutoencoderKLHunyuanVideo"}


def projection_for(pipe) -> LatentProjection | None:
    """The preview projection for a pipeline's latent space: Stable Diffusion's known factors for its
    VAE, factors fitted to the pipeline's own VAE otherwise (the demo model's VAE is its own: SD's
    factors show colour noise there; Wan's 16 or 48 channels have no published factors of ours)."""
    vae = getattr(pipe, "vae", None)
    config = getattr(vae, "config", None)
    if config is None:
        return None
    channels = getattr(config, "latent_channels", None)
    if channels == 4 and abs(float(getattr(config, "scaling_factor", 0) or 0) - SD_SCALING_FACTOR) < 1e-6:
        return SD_PROJECTION
    kind = type(vae).__name__
    if kind != "AutoencoderKL" and kind not in VIDEO_VAES:
        return None
    try:
        if kind in VIDEO_VAES:
            return fit_video_projection(vae)
        return fit_projection(vae, float(getattr(config, "scaling_factor", 1.0) or 1.0))
    except Exception:  # a preview is a nicety: never let it stop a model from loading
        return None


def _colour_blocks(samples: int, size: int):
    """Made-up pictures of random colour blocks (0..1): no data, no download."""
    import torch

    generator = torch.Generator("cpu").manual_seed(0)
    blocks = torch.rand(samples, 3, 4, 4, generator=generator)
    return torch.nn.functional.interpolate(blocks, size=(size, size), mode="nearest")


def _least_squares(latents, pictures) -> LatentProjection:
    """latent (n, c, h, w) -> RGB of the pictures averaged over each latent pixel, with a bias."""
    import torch

    height, width = latents.shape[-2:]
    targets = torch.nn.functional.adaptive_avg_pool2d(pictures, (height, width))
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    x = torch.cat([x, torch.ones(x.shape[0], 1)], dim=1)
    y = targets.permute(0, 2, 3, 1).reshape(-1, 3)
    solution = torch.linalg.lstsq(x, y).solution  # (channels + 1, 3)
    rows = tuple(tuple(float(v) for v in row) for row in solution[:-1])
    return LatentProjection(rows, tuple(float(v) for v in solution[-1]))


def fit_projection(vae, scaling_factor: float, samples: int = 8, size: int = 64) -> LatentProjection:
    """Least-squares fit of latent -> RGB on pictures of random colour blocks, encoded by the VAE itself.

    A few milliseconds for small VAEs; the pictures are made up, so it needs no data and no download.
    """
    import torch

    pictures = _colour_blocks(samples, size)
    parameter = next(vae.parameters())
    with torch.no_grad():
        latents = vae.encode((pictures * 2 - 1).to(parameter.device, parameter.dtype)).latent_dist.mean
    return _least_squares(latents.float().cpu() * scaling_factor, pictures)


def fit_video_projection(vae, samples: int = 16, size: int = 128) -> LatentProjection:
    """The same for a video VAE: each picture is a one-frame clip, and its latent is taken into the
    space the pipeline denoises in (Wan's and LTX's per-channel mean and spread, else the scaling
    factor), where the step callback's latents are. 128x128 leaves LTX's 32x-compressed latents 4x4
    pixels, enough rows for its 128 channels."""
    import torch

    pictures = _colour_blocks(samples, size)
    parameter = next(vae.parameters())
    clips = (pictures * 2 - 1)[:, :, None].to(parameter.device, parameter.dtype)
    with torch.no_grad():
        raw = torch.cat([vae.encode(clip[None]).latent_dist.mean for clip in clips]).float().cpu()
    return _least_squares(_denoising_space(vae, raw)[:, :, 0], pictures)


def _denoising_space(vae, raw):
    import torch

    config = vae.config
    scaling = float(getattr(config, "scaling_factor", None) or 1.0)
    mean = getattr(config, "latents_mean", None)
    std = getattr(config, "latents_std", None)
    if mean is None or std is None:  # LTX keeps them as buffers
        mean, std = getattr(vae, "latents_mean", None), getattr(vae, "latents_std", None)
    if mean is None or std is None:
        return raw * scaling
    shape = (1, -1, 1, 1, 1)
    mean = torch.as_tensor(mean).float().cpu().view(shape)
    std = torch.as_tensor(std).float().cpu().view(shape)
    return (raw - mean) * scaling / std


def latents_to_preview(latents: torch.Tensor, projection: LatentProjection | None = None) -> Image.Image | None:
    """RGB picture (latent resolution: width/8 x height/8) of the first latent in a batch.

    Video latents (batch, channels, frames, h, w) show their middle frame (a latent space without a
    projection as its first three channels stretched). None for a layout this does not know
    (latents packed into a sequence of patches): no preview, the run goes on.
    """
    rgb = preview_pixels(latents, projection)
    return None if rgb is None else pixels_to_image(rgb.cpu())


def preview_pixels(latents: torch.Tensor, projection: LatentProjection | None = None, constants: dict | None = None):
    """The preview as a (h, w, 3) uint8 tensor on the latents' own device (a GPU computes it without
    waiting for the host), or None for a layout this does not know. constants caches the projection's
    tensors per device: copying them from the host each step would make the GPU wait."""
    import torch

    if latents.ndim not in (4, 5):
        return None
    latent = latents[0].detach()
    if latent.ndim == 4:
        latent = latent[:, latent.shape[1] // 2]
    latent = latent.float()  # (channels, h, w)
    if projection is None and latent.shape[0] == 4:
        projection = SD_PROJECTION
    if projection is not None and len(projection.factors) == latent.shape[0]:
        key = (projection, latent.device)
        cache = constants if constants is not None else {}
        if key not in cache:
            cache[key] = (
                torch.tensor(projection.factors, device=latent.device),
                torch.tensor(projection.bias, device=latent.device)[:, None, None],
            )
        factors, bias = cache[key]
        rgb = torch.einsum("chw,cr->rhw", latent, factors) + bias
    else:
        # Unknown latent space: show the first three channels, each stretched to its own range.
        rgb = latent[:3] if latent.shape[0] >= 3 else latent[:1].expand(3, -1, -1)
        low = rgb.amin(dim=(1, 2), keepdim=True)
        high = rgb.amax(dim=(1, 2), keepdim=True)
        rgb = (rgb - low) / (high - low).clamp(min=1e-6)
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous()


def pixels_to_image(rgb) -> Image.Image:
    """A preview's (h, w, 3) uint8 CPU tensor as a picture."""
    return Image.fromarray(rgb.numpy(), "RGB")
