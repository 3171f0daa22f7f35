"""The built-in demo model: the pictures it is trained on, its training, and its evaluation.

A small StableDiffusionPipeline trained on this machine on procedurally drawn shapes, so a fresh
install makes a picture that follows the prompt, offline, on a CPU.
"""

DEMO_MODEL = "demo"  # what --model and the form say for it
DEMO_LABEL = "Demo (built-in)"
# It was trained at 64x64; these make a picture in about a second on a CPU.
DEMO_DEFAULTS = {"width": 64, "height": 64, "steps": 20, "guidance": 5.0}
