"""Video models in one place: which diffusers pipeline classes make videos and from what (text, a
picture), each family's frame and size rules, the memory options it gets on a GPU, and the call.

A model counts as a video model because its pipeline class is in VIDEO_PIPELINES, not because of
its name; a folder's recipe (steps, guidance, frames, fps, size, flow shift) is its preset
(presets.py). The diffusers backend dispatches here for every video task.

Torch-free at import: torch and diffusers load inside the functions, in the engine's process.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from desktop.engine import lazy_imports
from desktop.engine.backend import SAMPLING_CONTROLS, SCHEDULER
from desktop.engine.errors import EngineError, ValidationError
from desktop.engine.presets import ModelPreset
from desktop.engine.request import GenerationRequest
from desktop.engine.result import GeneratedImage
from desktop.engine.tasks import Task
from desktop.engine.video_frames import frames_to_pil

T2V, I2V = Task.TEXT_TO_VIDEO, Task.IMAGE_TO_VIDEO
VIDEO_TASKS = frozenset({T2V, I2V})


@dataclass(frozen=True)
class VideoFamily:
    name: str
    # Frames must be frame_step * k + 1 (the VAE packs frame_step frames into one latent frame after
    # the first); 1: any number.
    frame_step: int = 1
    size_multiple: int = 8  # the VAE's spatial factor times the transformer's patch
    # Flow-matching models run with their own scheduler (the recipe's shift): the DDPM-family choices
    # of the form would make noise.
    flow_matching: bool = False
    # The pipeline takes the frame rate (LTX-Video conditions its motion on it).
    takes_frame_rate: bool = False
    # What the pipeline's call names the number of frames (Latte: video_length).
    frames_argument: str = "num_frames"
    # Exactly this many frames (Latte: its frame positions are a fixed table of 16); None: any.
    fixed_frames: int | None = None


MODELSCOPE = VideoFamily("ModelScope")
ANIMATEDIFF = VideoFamily("AnimateDiff")
WAN = VideoFamily("Wan", frame_step=4, size_multiple=16, flow_matching=True)
# Wan 2.2 TI2V 5B: its VAE compresses 16x spatially.
WAN_TI2V = VideoFamily("Wan 2.2 TI2V", frame_step=4, size_multiple=32, flow_matching=True)
LTX = VideoFamily("LTX-Video", frame_step=8, size_multiple=32, flow_matching=True, takes_frame_rate=True)
COGVIDEOX = VideoFamily("CogVideoX", frame_step=4, size_multiple=16)
HUNYUAN = VideoFamily("HunyuanVideo", frame_step=4, size_multiple=16, flow_matching=True)
# Latte (Latte-1; the demo video training's --denoiser latte): a 2D VAE frame by frame, 2x2 patches. Its
# frame positions are a table of video_length (16 in Latte-1) that takes no other count.
LATTE = VideoFamily("Latte", size_multiple=16, frames_argument="video_length", fixed_frames=16)


@dataclass(frozen=True)
class VideoPipeline:
    family: VideoFamily
    # task -> the diffusers class that runs it: the folder's own, or one made from it with from_pipe
    # (the same components: LTX's text and image pipelines share every weight).
    runs: dict[Task, str]


# The pipeline class a model folder's model_index.json names -> what it makes.
VIDEO_PIPELINES: dict[str, VideoPipeline] = {
    "TextToVideoSDPipeline": VideoPipeline(MODELSCOPE, {T2V: "TextToVideoSDPipeline"}),
    "AnimateDiffPipeline": VideoPipeline(ANIMATEDIFF, {T2V: "AnimateDiffPipeline"}),
    "WanPipeline": VideoPipeline(WAN, {T2V: "WanPipeline"}),
    "WanImageToVideoPipeline": VideoPipeline(WAN, {I2V: "WanImageToVideoPipeline"}),
    "LTXPipeline": VideoPipeline(LTX, {T2V: "LTXPipeline", I2V: "LTXImageToVideoPipeline"}),
    "LTXImageToVideoPipeline": VideoPipeline(LTX, {T2V: "LTXPipeline", I2V: "LTXImageToVideoPipeline"}),
    "CogVideoXPipeline": VideoPipeline(COGVIDEOX, {T2V: "CogVideoXPipeline"}),
    "CogVideoXImageToVideoPipeline": VideoPipeline(COGVIDEOX, {I2V: "CogVideoXImageToVideoPipeline"}),
    "HunyuanVideoPipeline": VideoPipeline(HUNYUAN, {T2V: "HunyuanVideoPipeline"}),
    "LattePipeline": VideoPipeline(LATTE, {T2V: "LattePipeline"}),
}
# Wan 2.2 TI2V 5B ships as a WanPipeline whose config says expand_timesteps: one model, both tasks.
WAN_TI2V_PIPELINE = VideoPipeline(WAN_TI2V, {T2V: "WanPipeline", I2V: "WanImageToVideoPipeline"})

SUPPORTED = "Wan, LTX-Video, CogVideoX, HunyuanVideo, Latte, ModelScope or AnimateDiff"
WHY_NOT = {
    T2V: "this model animates a picture: choose Video from a picture (animate), or a text-to-video model",
    I2V: "this model makes videos from text only: choose Video, or an image-to-video model "
    "(Wan I2V or TI2V, LTX-Video, CogVideoX I2V)",
}
NOT_IMAGES = "this model makes videos, not images: choose Video"


def model_index(folder: Path) -> dict:
    try:
        data = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def video_pipeline(folder: Path | None) -> VideoPipeline | None:
    """What a model folder's pipeline makes, where it makes videos; None for other models."""
    if folder is None:
        return None
    index = model_index(folder)
    class_name = str(index.get("_class_name", ""))
    if class_name == "WanPipeline" and index.get("expand_timesteps") is True:
        return WAN_TI2V_PIPELINE
    return VIDEO_PIPELINES.get(class_name)


def has_two_experts(index: dict) -> bool:
    """Wan 2.2 A14B: a second transformer for the low-noise steps, and where it takes over."""
    second = index.get("transformer_2")
    return index.get("boundary_ratio") is not None and isinstance(second, list) and None not in second


def preset_key(folder: Path | None, class_name: str) -> str:
    """The key of the folder's recipe in presets.BY_PIPELINE_CLASS (Wan 2.2 TI2V and A14B folders have
    their own)."""
    if folder is None:
        return class_name
    if video_pipeline(folder) is WAN_TI2V_PIPELINE:
        return "WanPipeline+expand_timesteps"
    if class_name.startswith("Wan") and has_two_experts(model_index(folder)):
        return f"{class_name}+two_experts"
    return class_name


def expert_guidance(pipe, preset) -> dict:
    """The second expert's guidance where the pipeline has one (Wan 2.2 A14B)."""
    if preset.low_noise_guidance is None or getattr(pipe.config, "boundary_ratio", None) is None:
        return {}
    return {"guidance_scale_2": preset.low_noise_guidance}


def is_unsupported_video(class_name: str) -> bool:
    """A video pipeline this app has no recipe for (its call and outputs are unknown here)."""
    return "Video" in class_name and class_name not in VIDEO_PIPELINES


def model_tasks(video: VideoPipeline, other_tasks) -> tuple[frozenset[Task], dict[Task, str]]:
    """The video tasks a video pipeline does, and why every other task is out."""
    tasks = frozenset(video.runs)
    why_not = {task: WHY_NOT[task] for task in VIDEO_TASKS - tasks}
    why_not.update({task: NOT_IMAGES for task in other_tasks})
    return tasks, why_not


def controls(family: VideoFamily | None) -> frozenset[str]:
    return SAMPLING_CONTROLS - {SCHEDULER} if family is not None and family.flow_matching else SAMPLING_CONTROLS


def validate(request: GenerationRequest, preset: ModelPreset, family: VideoFamily | None) -> GenerationRequest:
    """The video request with its size and negative prompt filled in from the recipe, checked against
    the family's rules (the rules every sampler shares are checked by the caller)."""
    defaults = preset.defaults
    width = int(defaults.get("width", 512)) if request.width is None else request.width
    height = int(defaults.get("height", 512)) if request.height is None else request.height
    request = dataclasses.replace(
        request, width=width, height=height, negative_prompt=request.negative_prompt or preset.negative_prompt
    )
    if family is not None:
        check_family_rules(request, family)
    return request


def check_family_rules(request: GenerationRequest, family: VideoFamily) -> None:
    """Frames, size and scheduler as the family takes them; one sentence naming the nearest good values."""
    step = family.frame_step
    fixed = family.fixed_frames
    if fixed is not None and request.frames != fixed:
        raise ValidationError(
            "frames",
            f"frames must be {fixed} for {family.name} models (they place each frame by a table of {fixed}): "
            f"{request.frames} is not; choose {fixed}.",
        )
    if step > 1 and (request.frames - 1) % step:
        below = (request.frames - 1) // step * step + 1
        examples = ", ".join(str(step * k + 1) for k in (1, 2, 3)) + f", ..., {step * 20 + 1}"
        raise ValidationError(
            "frames",
            f"frames must be {step}k+1 for {family.name} models ({examples}): {request.frames} is not; "
            f"choose {below if below > 1 else step + 1} or {below + step}.",
        )
    multiple = family.size_multiple
    for field, value in (("width", request.width), ("height", request.height)):
        if value % multiple:
            raise ValidationError(
                field,
                f"{field} must be a multiple of {multiple} for {family.name} models (got {value}): "
                f"choose {max(multiple, value // multiple * multiple)} or {(value // multiple + 1) * multiple}.",
            )
    if family.flow_matching and request.scheduler is not None:
        raise ValidationError(
            "scheduler",
            f"the scheduler must be left unset: {family.name} models run with their own flow-matching scheduler.",
        )


def pipeline_for(task: Task, base, video: VideoPipeline | None, derived: dict):
    """The loaded pipeline, or the one for task made from it with from_pipe (no second copy of weights)."""
    wanted = video.runs.get(task) if video is not None else None
    if wanted is None or type(base).__name__ == wanted:
        return base
    if task not in derived:
        diffusers = lazy_imports.diffusers()
        pipe = getattr(diffusers, wanted).from_pipe(base)
        pipe.set_progress_bar_config(disable=True)
        derived[task] = pipe
    return derived[task]


def apply_memory_options(pipe, preset: ModelPreset, device: str, offload: bool) -> None:
    """Move the pipeline onto device with what the recipe needs on this GPU: group offload on GPUs below
    the recipe's group threshold, else model CPU offload below its offload threshold (or where the user
    asked for it); then VAE tiling where the recipe decodes in tiles, and slicing whenever offloading."""
    torch = lazy_imports.torch()
    offloaded = False
    if device == "cuda":
        total_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
        if preset.group_offload_below_gib and total_gib < preset.group_offload_below_gib:
            pipe.enable_group_offload(onload_device=torch.device("cuda"), offload_type="leaf_level", use_stream=True)
            offloaded = True
        elif offload or (preset.offload_below_gib and total_gib < preset.offload_below_gib):
            pipe.enable_model_cpu_offload()
            offloaded = True
    if not offloaded:
        pipe.to(device)
    vae = getattr(pipe, "vae", None)
    if vae is None:
        return
    if preset.vae_tiling and device == "cuda" and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    if offloaded and hasattr(vae, "enable_slicing"):
        vae.enable_slicing()  # one video's frames at a time through the VAE


def apply_flow_shift(pipe, preset: ModelPreset) -> None:
    """The recipe's flow shift on the scheduler the model ships (UniPC says flow_shift, FlowMatch shift)."""
    if preset.flow_shift is None:
        return
    config = pipe.scheduler.config
    key = "flow_shift" if "flow_shift" in config else "shift" if "shift" in config else None
    if key is not None:
        pipe.scheduler = type(pipe.scheduler).from_config(config, **{key: preset.flow_shift})


def first_frame(path: str, width: int, height: int) -> Image.Image:
    """The picture as the clip's first frame: centre-cropped to the clip's shape, scaled to its size."""
    from desktop.engine.edit_inputs import as_rgb, open_picture

    return ImageOps.fit(as_rgb(open_picture(path)), (width, height), Image.Resampling.LANCZOS)


def make_clip(pipe, request: GenerationRequest, seed: int, index: int, shared: dict) -> GeneratedImage:
    """One clip for one seed: the pipeline's call with the request's size, frames, picture and frame rate."""
    torch = lazy_imports.torch()
    video = VIDEO_PIPELINES.get(type(pipe).__name__)
    frames_argument = video.family.frames_argument if video is not None else "num_frames"
    kwargs = dict(
        width=request.width,
        height=request.height,
        generator=torch.Generator("cpu").manual_seed(seed),
        **{frames_argument: request.frames},
        **shared,
    )
    if kwargs.get("negative_prompt", "") is None:
        del kwargs["negative_prompt"]  # the pipeline's own default (Latte's is "", and it takes no None)
    if request.task is I2V:
        kwargs["image"] = first_frame(request.image, request.width, request.height)
    if video is not None and video.family.takes_frame_rate:
        kwargs["frame_rate"] = request.fps
    output = pipe(**kwargs)
    frames = frames_to_pil(output.frames)[0]
    if not frames:
        raise EngineError("the model returned no frames: try more frames or another model.")
    return GeneratedImage(image=frames[0], seed=seed, index=index, frames=frames, fps=request.fps)


def preview_view(pipe, request: GenerationRequest):
    """A function turning the step callback's latents into (batch, channels, frames, h, w) for the preview,
    or None where they already are. LTX-Video packs its latents into a sequence of patches."""
    unpack = getattr(pipe, "_unpack_latents", None)
    ratio = getattr(pipe, "vae_spatial_compression_ratio", None)
    temporal = getattr(pipe, "vae_temporal_compression_ratio", None)
    if unpack is None or not ratio or not temporal:
        return None
    frames = (request.frames - 1) // temporal + 1
    height, width = request.height // ratio, request.width // ratio
    patch = getattr(pipe, "transformer_spatial_patch_size", 1)
    patch_t = getattr(pipe, "transformer_temporal_patch_size", 1)

    def view(latents):
        if latents.ndim != 3:
            return latents
        return unpack(latents, frames, height, width, patch, patch_t)

    return view
