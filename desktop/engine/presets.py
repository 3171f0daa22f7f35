"""Model presets in one place: the settings and recipes particular models were made for.

The built-in demo model's defaults and vocabulary hint, ModelScope text-to-video's recipe, and the
defaults every other diffusers model gets. Backends and the form read these; nothing else
special-cases a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop.resources import DEMO_MODEL_DIR

DEMO_MODEL = "demo"  # what --model, the settings and the history say for the built-in model
DEMO_LABEL = "Demo (built-in)"  # what the form's model list says


@dataclass(frozen=True)
class ModelPreset:
    name: str
    # width, height, steps, guidance (and frames, fps for video models)
    defaults: dict[str, float] = field(default_factory=dict)
    # diffusers scheduler class the model card prescribes (None: the one it ships with).
    scheduler_class: str | None = None
    # Below this much GPU memory, offload sub-models to the CPU and slice the VAE.
    offload_below_gib: float | None = None
    # Said beside the words the model ignored ("it knows simple shapes, ...").
    vocabulary_hint: str = ""


IMAGE_DEFAULTS = ModelPreset("diffusers image model", {"width": 512, "height": 512, "steps": 25, "guidance": 7.5})

# It was trained at 64x64; these make a picture in well under a second on a CPU. Guidance 2 scored
# best in the demo's evaluation: colours and backgrounds are right at any guidance from 1.5 to 5, but
# higher guidance rounds the squares' corners (shape right 79% at 2, 67% at 5).
DEMO = ModelPreset(
    "built-in demo model",
    {"width": 64, "height": 64, "steps": 20, "guidance": 2.0},
    vocabulary_hint="it knows simple shapes, colours, sizes and positions",
)

# What the demo model knows, word by word (its tokenizer's vocabulary; a test keeps the two in step).
DEMO_VOCABULARY = {
    "shapes": ("circle", "square", "triangle"),
    "colours": ("red", "green", "blue", "yellow", "white", "black", "purple", "orange"),
    "backgrounds": ("any of those colours", "gray"),
    "sizes": ("small", "large"),
    "positions": ("left", "right", "top", "bottom", "centre"),
}

# damo-vilab/text-to-video-ms-1.7b and its fine-tunes, after the model card: DPM-Solver++
# multistep, 25 steps, 16 frames at 8 fps, 256x256; offload and VAE slicing on GPUs under 16 GiB.
MODELSCOPE = ModelPreset(
    "ModelScope text-to-video",
    {"width": 256, "height": 256, "steps": 25, "guidance": 9.0, "frames": 16, "fps": 8},
    scheduler_class="DPMSolverMultistepScheduler",
    offload_below_gib=16,
)

# OpenAI's Shap-E (openai/shap-e, openai/shap-e-img2img), after diffusers' examples: 64 steps,
# guidance 15 from text and 3 from a picture. The size is the turntable's frame size (the pipeline's
# default, 64 px; the mesh's detail follows it, see desktop/engine/shape_e.py); 20 views at 10 fps
# make the renderer's own two-second turn.
SHAP_E_TEXT = ModelPreset(
    "Shap-E text to 3D", {"width": 64, "height": 64, "steps": 64, "guidance": 15.0, "frames": 20, "fps": 10}
)
SHAP_E_IMAGE = ModelPreset(
    "Shap-E image to 3D", {"width": 64, "height": 64, "steps": 64, "guidance": 3.0, "frames": 20, "fps": 10}
)

# Presets found by the pipeline class a model folder's model_index.json names.
BY_PIPELINE_CLASS = {
    "TextToVideoSDPipeline": MODELSCOPE,
    "ShapEPipeline": SHAP_E_TEXT,
    "ShapEImg2ImgPipeline": SHAP_E_IMAGE,
}


def is_demo(model: str) -> bool:
    return model.strip() == DEMO_MODEL


def demo_installed() -> bool:
    return (DEMO_MODEL_DIR / "model_index.json").is_file()


def preset_for(model: str, pipeline_class: str = "") -> ModelPreset:
    if is_demo(model):
        return DEMO
    return BY_PIPELINE_CLASS.get(pipeline_class, IMAGE_DEFAULTS)


def model_label(model: str) -> str:
    return DEMO_LABEL if is_demo(model) else model


def model_from_label(label: str) -> str:
    return DEMO_MODEL if label.strip() == DEMO_LABEL else label.strip()
