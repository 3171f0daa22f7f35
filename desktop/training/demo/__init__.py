"""The built-in demo model's training pictures, training and evaluation.

A small StableDiffusionPipeline trained on this machine on procedurally drawn shapes, so a fresh
install makes a picture that follows the prompt, offline, on a CPU. Its runtime defaults live in
desktop.engine.presets (DEMO).
"""
