"""Qt-free generation engine: requests and validation, backends, pipeline cache, devices, previews.

Importing this package is cheap: torch, diffusers and openai are imported only by the backend
that needs them, on first use.
"""
