"""A cheap live preview of the latents: a linear latent-to-RGB projection, no VAE decode per step."""

from __future__ import annotations

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


def latents_to_preview(latents: torch.Tensor) -> Image.Image:
    """RGB picture (latent resolution: width/8 x height/8) of the first latent in a batch.

    Video latents (batch, channels, frames, h, w) show their middle frame.
    """
    import torch

    latent = latents[0]
    if latent.ndim == 4:
        latent = latent[:, latent.shape[1] // 2]
    latent = latent.detach().to("cpu", torch.float32)  # (channels, h, w)
    if latent.shape[0] == 4:
        factors = torch.tensor(SD_LATENT_RGB)
        rgb = torch.einsum("chw,cr->rhw", latent, factors) + torch.tensor(SD_LATENT_RGB_BIAS)[:, None, None]
        rgb = (rgb + 1) / 2
    else:
        # Unknown latent space: show the first three channels, each stretched to its own range.
        rgb = latent[:3] if latent.shape[0] >= 3 else latent[:1].expand(3, -1, -1)
        low = rgb.amin(dim=(1, 2), keepdim=True)
        high = rgb.amax(dim=(1, 2), keepdim=True)
        rgb = (rgb - low) / (high - low).clamp(min=1e-6)
    pixels = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(pixels, "RGB")
