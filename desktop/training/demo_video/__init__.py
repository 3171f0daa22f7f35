"""The built-in demo video model's training clips, training and evaluation.

A small AnimateDiffPipeline made on this machine from the image demo model (its autoencoder as it is,
its UNet and text encoder as the starting point) and procedurally drawn clips of one moving shape, so
a fresh install makes a video that follows the prompt, offline, on a CPU (or, as a try, a LattePipeline
whose transformer starts from scratch). floors.py measures what the caption's parts are worth. Its
runtime defaults live in desktop.engine.presets (DEMO_VIDEO).
"""
