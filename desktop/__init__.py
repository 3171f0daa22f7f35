"""Diffusion Studio: text-to-image and text-to-video on your own GPU or the OpenAI Images API."""

__version__ = "0.1.0"
