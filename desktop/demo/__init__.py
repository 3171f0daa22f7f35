"""The built-in demo model: the pictures it is trained on, its training, and its evaluation.

A small StableDiffusionPipeline trained on this machine on procedurally drawn shapes, so a fresh
install makes a picture that follows the prompt, offline, on a CPU.
"""
