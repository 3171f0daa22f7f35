"""The built-in demo model: the pictures it is trained on, its training, and its evaluation.

A small StableDiffusionPipeline trained on this machine on procedurally drawn shapes, so a fresh
install makes a picture that follows the prompt, offline, on a CPU.
"""

DEMO_MODEL = "demo"  # what --model and the form say for it
DEMO_LABEL = "Demo (built-in)"
# It was trained at 64x64; these make a picture in well under a second on a CPU. Guidance 2 scored
# best in desktop.demo.evaluate: colours and backgrounds are right at any guidance from 1.5 to 5, but
# higher guidance rounds the squares' corners (shape right 79% at 2, 67% at 5).
DEMO_DEFAULTS = {"width": 64, "height": 64, "steps": 20, "guidance": 2.0}
