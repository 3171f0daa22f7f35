"""Upscaling: a picture made `scale` times larger by an upscaler weights file (the ESRGAN family with
our RRDBNet, other architectures with spandrel where it imports), a diffusers upscaler pipeline, or a
plain Lanczos resize that always works.

checks.py and catalog.py are torch-free (the window's process validates and lists models); loading.py
imports torch and runs in the engine's process only.
"""
