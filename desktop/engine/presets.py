"""Model presets in one place: the settings and recipes particular models were made for.

The built-in demo model's defaults and vocabulary hint, the video families' recipes (ModelScope,
Wan, LTX-Video, CogVideoX, HunyuanVideo, Latte, AnimateDiff: size, steps, guidance, frames, fps, flow
shift, scheduler, and the memory options a consumer GPU needs), and the defaults every other
diffusers model gets. Backends and the form read these; nothing else special-cases a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

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
    # Flow-matching models (Wan, LTX, HunyuanVideo): the scheduler's shift, larger for larger frames.
    flow_shift: float | None = None
    # Used when the user gives none (recorded with the result): what the model card's examples use.
    negative_prompt: str = ""
    # Below this much GPU memory, offload group by group (leaf level, overlapped with a CUDA stream):
    # slower than model offload, but a 14B transformer no longer has to fit at once.
    group_offload_below_gib: float | None = None
    # Decode the video in tiles: a video VAE's decode is the peak of a run (81 frames at 480p).
    vae_tiling: bool = False
    # Wan 2.2 A14B's second expert (the low-noise transformer) guides at this scale; the form's
    # guidance is the first (high-noise) expert's.
    low_noise_guidance: float | None = None
    # The licence of every model of this family (the model's own card, when it has one, says more).
    licence: str = ""
    # The weights' precision on a CUDA GPU: the video transformers (Wan, LTX, CogVideoX, Hunyuan) were
    # trained in bfloat16, and their T5 text encoders overflow in float16 (black or noisy clips).
    cuda_dtype: str = "float16"


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

# The built-in demo video model (resources/models/demo-video, trained by desktop.training.demo_video):
# the image demo's shapes and colours, moving. 16 frames at 64x64 in a few seconds on a CPU.
DEMO_VIDEO_MODEL = "demo-video"  # what --model, the settings and the history say for it
DEMO_VIDEO_LABEL = "Demo video (built-in)"  # what the form's model list says
DEMO_VIDEO_MODEL_DIR = DEMO_MODEL_DIR.parent / DEMO_VIDEO_MODEL
DEMO_VIDEO = ModelPreset(
    "built-in demo video model",
    {"width": 64, "height": 64, "steps": 12, "guidance": 2.0, "frames": 16, "fps": 8},
    vocabulary_hint="it knows simple shapes, colours and motions",
)
# What the demo video model knows, word by word (its tokenizer's vocabulary; a test keeps the two in step).
DEMO_VIDEO_VOCABULARY = {
    "shapes": DEMO_VOCABULARY["shapes"],
    "colours": DEMO_VOCABULARY["colours"],
    "backgrounds": DEMO_VOCABULARY["backgrounds"],
    "motions": ("moving left", "moving right", "moving up", "moving down", "growing", "shrinking"),
}


def is_demo_video(model: str) -> bool:
    return model.strip() == DEMO_VIDEO_MODEL


def demo_video_installed() -> bool:
    return (DEMO_VIDEO_MODEL_DIR / "model_index.json").is_file()


# damo-vilab/text-to-video-ms-1.7b and its fine-tunes, after the model card: DPM-Solver++
# multistep, 25 steps, 16 frames at 8 fps, 256x256; offload and VAE slicing on GPUs under 16 GiB.
# Its weights are CC-BY-NC-4.0: no commercial use (the window warns before the first generation).
MODELSCOPE = ModelPreset(
    "ModelScope text-to-video",
    {"width": 256, "height": 256, "steps": 25, "guidance": 9.0, "frames": 16, "fps": 8},
    scheduler_class="DPMSolverMultistepScheduler",
    offload_below_gib=16,
    licence="cc-by-nc-4.0",
)

# Wan's own negative prompt (the model card's, in English), used when the user gives none.
WAN_NEGATIVE_PROMPT = (
    "Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, static, "
    "overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, extra fingers, poorly "
    "drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, fused fingers, still picture, messy "
    "background, three legs, many people in the background, walking backwards"
)
# Wan 2.1 T2V (1.3B and 14B) at 480p, after the model card and diffusers' docs: 81 frames (5 s at
# 16 fps), 50 steps, guidance 5, UniPC with flow shift 3 (5 for 720p). Measured on an H200
# (benchmarks/README.md): 1.3B peaks at 14.7 GB whole and 11.0 GB with model offload, whose peak is
# the 5.7B T5 encoder alone (its 11 GB must be on the GPU at once), so below 12 GiB only group
# offload (block by block) fits; the 14B needs group offload below 24 GB. Wan 2.x weights are Apache-2.0.
WAN_T2V = ModelPreset(
    "Wan 2.1 text-to-video",
    {"width": 832, "height": 480, "steps": 50, "guidance": 5.0, "frames": 81, "fps": 16},
    offload_below_gib=24,
    group_offload_below_gib=12,
    flow_shift=3.0,
    negative_prompt=WAN_NEGATIVE_PROMPT,
    vae_tiling=True,
    licence="apache-2.0",
    cuda_dtype="bfloat16",
)
# Wan 2.1 I2V 14B at 480p: the same recipe; the picture is the first frame.
WAN_I2V = ModelPreset(
    "Wan 2.1 image-to-video",
    {"width": 832, "height": 480, "steps": 50, "guidance": 5.0, "frames": 81, "fps": 16},
    offload_below_gib=48,
    group_offload_below_gib=24,
    flow_shift=3.0,
    negative_prompt=WAN_NEGATIVE_PROMPT,
    vae_tiling=True,
    licence="apache-2.0",
    cuda_dtype="bfloat16",
)
# Wan 2.2 TI2V 5B (text and picture in one model): 1280x704, 121 frames at 24 fps, flow shift 5.
WAN_TI2V = ModelPreset(
    "Wan 2.2 text/image-to-video",
    {"width": 1280, "height": 704, "steps": 50, "guidance": 5.0, "frames": 121, "fps": 24},
    offload_below_gib=32,
    group_offload_below_gib=16,
    flow_shift=5.0,
    negative_prompt=WAN_NEGATIVE_PROMPT,
    vae_tiling=True,
    licence="apache-2.0",
    cuda_dtype="bfloat16",
)
# LTX-Video (0.9.x), after diffusers' docs: 704x480, 161 frames at 25 fps (the pipeline passes the
# frame rate to the model), 50 steps, guidance 3. Licences differ by release: the card says which.
LTX = ModelPreset(
    "LTX-Video",
    {"width": 704, "height": 480, "steps": 50, "guidance": 3.0, "frames": 161, "fps": 25},
    offload_below_gib=24,
    negative_prompt="worst quality, inconsistent motion, blurry, jittery, distorted",
    vae_tiling=True,
    cuda_dtype="bfloat16",
)
# CogVideoX 2B/5B (and their I2V): 720x480, 49 frames at 8 fps, 50 steps, guidance 6; the 5B needs
# offload and VAE tiling below 24 GB. 2B is Apache-2.0, 5B has its own licence: the card says which.
COGVIDEOX = ModelPreset(
    "CogVideoX",
    {"width": 720, "height": 480, "steps": 50, "guidance": 6.0, "frames": 49, "fps": 8},
    offload_below_gib=24,
    group_offload_below_gib=12,
    vae_tiling=True,
    cuda_dtype="bfloat16",
)
# HunyuanVideo (13B), after diffusers' docs: 512x320, 61 frames at 15 fps, 30 steps, guidance 6
# (distilled guidance); group offload below 48 GB.
HUNYUAN_VIDEO = ModelPreset(
    "HunyuanVideo",
    {"width": 512, "height": 320, "steps": 30, "guidance": 6.0, "frames": 61, "fps": 15},
    offload_below_gib=80,
    group_offload_below_gib=48,
    vae_tiling=True,
    cuda_dtype="bfloat16",
)
# AnimateDiff (a Stable Diffusion 1.5 model with a motion adapter): 512x512, 16 frames (its motion
# module's context) at 8 fps, 25 steps, guidance 7.5.
ANIMATEDIFF = ModelPreset(
    "AnimateDiff",
    {"width": 512, "height": 512, "steps": 25, "guidance": 7.5, "frames": 16, "fps": 8},
    offload_below_gib=12,
)
# Latte (maxin-cn/Latte-1: a T5 text encoder and Stable Diffusion's VAE), after diffusers' docs:
# 512x512, 16 frames, 50 steps, guidance 7.5; shown at 8 fps.
LATTE = ModelPreset(
    "Latte",
    {"width": 512, "height": 512, "steps": 50, "guidance": 7.5, "frames": 16, "fps": 8},
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

# Wan 2.2 A14B (T2V and I2V): two 14B experts, the first for high noise, the second for the rest
# (the folder's boundary_ratio says where), after diffusers' docs: 40 steps, guidance 4 and 3 (T2V,
# 1280x720) or 3.5 and 3.5 (I2V, 832x480), 81 frames at 16 fps, the folder's own flow shift. Both
# experts in bfloat16 are about 57 GB: model offload (one expert on the GPU at a time) below 96 GB,
# group offload below 40 GB.
WAN_A14B_T2V = ModelPreset(
    "Wan 2.2 A14B text-to-video",
    {"width": 1280, "height": 720, "steps": 40, "guidance": 4.0, "frames": 81, "fps": 16},
    offload_below_gib=96,
    group_offload_below_gib=40,
    negative_prompt=WAN_NEGATIVE_PROMPT,
    vae_tiling=True,
    licence="apache-2.0",
    cuda_dtype="bfloat16",
    low_noise_guidance=3.0,
)
WAN_A14B_I2V = replace(
    WAN_A14B_T2V,
    name="Wan 2.2 A14B image-to-video",
    defaults={"width": 832, "height": 480, "steps": 40, "guidance": 3.5, "frames": 81, "fps": 16},
    low_noise_guidance=3.5,
)

# Presets found by the pipeline class a model folder's model_index.json names.
BY_PIPELINE_CLASS = {
    "TextToVideoSDPipeline": MODELSCOPE,
    "WanPipeline": WAN_T2V,
    "WanImageToVideoPipeline": WAN_I2V,
    # Wan 2.2 TI2V's model_index.json names WanPipeline with expand_timesteps (video_models.py).
    "WanPipeline+expand_timesteps": WAN_TI2V,
    # Wan 2.2 A14B's names a second transformer and a boundary_ratio (video_models.py).
    "WanPipeline+two_experts": WAN_A14B_T2V,
    "WanImageToVideoPipeline+two_experts": WAN_A14B_I2V,
    "LTXPipeline": LTX,
    "LTXImageToVideoPipeline": LTX,
    "CogVideoXPipeline": COGVIDEOX,
    "CogVideoXImageToVideoPipeline": COGVIDEOX,
    "HunyuanVideoPipeline": HUNYUAN_VIDEO,
    "AnimateDiffPipeline": ANIMATEDIFF,
    "LattePipeline": LATTE,
    "ShapEPipeline": SHAP_E_TEXT,
    "ShapEImg2ImgPipeline": SHAP_E_IMAGE,
}


def is_demo(model: str) -> bool:
    return model.strip() == DEMO_MODEL


def built_in_folder(model: str) -> Path | None:
    """The folder of a built-in model named by model ("demo", "demo-video"), else None."""
    return {DEMO_MODEL: DEMO_MODEL_DIR, DEMO_VIDEO_MODEL: DEMO_VIDEO_MODEL_DIR}.get(model.strip())


def installed_built_ins() -> list[str]:
    """The built-in models shipped with this install (the demo video model may not be)."""
    return [name for name in (DEMO_MODEL, DEMO_VIDEO_MODEL) if (built_in_folder(name) / "model_index.json").is_file()]


def demo_installed() -> bool:
    return (DEMO_MODEL_DIR / "model_index.json").is_file()


def preset_for(model: str, pipeline_class: str = "") -> ModelPreset:
    if is_demo(model):
        return DEMO
    if is_demo_video(model):
        return DEMO_VIDEO
    return BY_PIPELINE_CLASS.get(pipeline_class, IMAGE_DEFAULTS)


def model_label(model: str) -> str:
    if is_demo_video(model):
        return DEMO_VIDEO_LABEL
    return DEMO_LABEL if is_demo(model) else model


def model_from_label(label: str) -> str:
    names = {DEMO_LABEL: DEMO_MODEL, DEMO_VIDEO_LABEL: DEMO_VIDEO_MODEL}
    return names.get(label.strip(), label.strip())
