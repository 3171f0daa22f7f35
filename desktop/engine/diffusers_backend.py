"""Images, edits, videos and 3D objects with Hugging Face diffusers, from a local folder or the HF
cache, fully offline. Video models (their tasks, rules, recipes and call) are in video_models.py, 3D in
shape_e.py: this module loads the pipeline and dispatches."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from pathlib import Path

from PIL import Image

from desktop.engine import lazy_imports, licences, shape_e, video_models
from desktop.engine.backend import SAMPLING_CONTROLS, BackendStatus, Capabilities
from desktop.engine.devices import RuntimeOptions, pick_device
from desktop.engine.edit_inputs import edit_inputs_for, model_size, paste_back
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.models import cached_pipelines, has_safetensors, has_variant, resolve_model
from desktop.engine.pipeline_cache import PipelineCache
from desktop.engine.presets import (
    DEMO_MODEL,
    ModelPreset,
    built_in_folder,
    demo_installed,
    installed_built_ins,
    preset_for,
)
from desktop.engine.preview import projection_for
from desktop.engine.registry import EngineConfig
from desktop.engine.request import (
    SEED_MAX,
    SIZE_MAX,
    SIZE_MIN,
    SIZE_MULTIPLE,
    GenerationRequest,
    check_sampling,
)
from desktop.engine.result import GeneratedImage, GenerationResult, ProgressCallback
from desktop.engine.schedulers import make_scheduler
from desktop.engine.speed import apply_speed_options
from desktop.engine.step_reports import Interrupted, StepReporter
from desktop.engine.tasks import MediaKind, Task
from desktop.engine.upscalers.catalog import PIPELINE_SCALES
from desktop.engine.vocabulary import word_level_tokenizer

# Upscaling makes an image too, but on its own backend (upscalers are not diffusers pipelines alone).
IMAGE_TASKS = frozenset(t for t in Task if t.spec.media is MediaKind.IMAGE and t is not Task.UPSCALE)
UPSCALE_ELSEWHERE = {Task.UPSCALE: "upscaling runs on the Upscalers backend: choose it"}
VIDEO_TASKS = frozenset(t for t in Task if t.spec.media is MediaKind.VIDEO)
MESH_TASKS = frozenset(t for t in Task if t.spec.media is MediaKind.MESH)
# Inpainting checkpoints (9-channel UNet) repaint through a mask and nothing else.
MASK_TASKS = frozenset({Task.INPAINT, Task.OUTPAINT})


def pipeline_class_name(folder: Path) -> str:
    try:
        return str(json.loads((folder / "model_index.json").read_text()).get("_class_name", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _is_byte_level(tokenizer_json: Path) -> bool:
    try:
        data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    parts = [data.get("pre_tokenizer"), data.get("decoder")] if isinstance(data, dict) else []
    while parts:
        part = parts.pop()
        if isinstance(part, dict):
            if part.get("type") == "ByteLevel":
                return True
            parts += [*part.get("pretokenizers", []), *part.get("decoders", [])]
    return False


def byte_level_llama_tokenizers(folder: Path) -> dict:
    """The folder's tokenizers that model_index.json calls LlamaTokenizer(Fast) but whose tokenizer.json
    is byte-level BPE (Llama 3's: HunyuanVideo's text encoder), loaded as that file says. transformers
    5's LlamaTokenizer puts SentencePiece's Metaspace in place of the file's pre-tokenizer: spaces are
    lost, every id changes, and HunyuanVideo's crop of its prompt template no longer ends at the prompt."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError):
        return {}
    names = [
        name
        for name, value in (index.items() if isinstance(index, dict) else ())
        if isinstance(value, list)
        and value[-1:] in (["LlamaTokenizer"], ["LlamaTokenizerFast"])
        and _is_byte_level(folder / name / "tokenizer.json")
    ]
    if not names:
        return {}
    lazy_imports.diffusers()
    from transformers import PreTrainedTokenizerFast

    return {name: PreTrainedTokenizerFast.from_pretrained(folder / name, local_files_only=True) for name in names}


def model_tasks(folder: Path | None) -> tuple[frozenset[Task], dict[Task, str]]:
    """The tasks a model folder's pipeline can do, and why the others are out, from model_index.json.

    A folder not found here (a hub id not yet resolved) may do any image task: generating says
    what is wrong with it.
    """
    tasks, why_not = _pipeline_tasks(folder)
    return tasks, {**why_not, **UPSCALE_ELSEWHERE}


def _pipeline_tasks(folder: Path | None) -> tuple[frozenset[Task], dict[Task, str]]:
    if folder is None:
        return IMAGE_TASKS | VIDEO_TASKS | MESH_TASKS, {}
    class_name = pipeline_class_name(folder)
    if class_name in shape_e.SHAP_E_PIPELINES:
        return shape_e.model_tasks(class_name, Task)
    no_3d = {t: shape_e.NOT_3D for t in MESH_TASKS}
    video = video_models.video_pipeline(folder)
    if video is not None:  # the explicit table of video pipeline classes, not the class's name
        tasks, why_not = video_models.model_tasks(video, IMAGE_TASKS)
        return tasks, {**why_not, **no_3d}
    if video_models.is_unsupported_video(class_name):
        why = f"{class_name} is a video pipeline this app has no recipe for: use a {video_models.SUPPORTED} model"
        return frozenset(), {t: why for t in Task}
    why_video = {
        Task.TEXT_TO_VIDEO: "this model makes images, not videos: choose a text-to-video model",
        Task.IMAGE_TO_VIDEO: "this model makes images, not videos: choose an image-to-video model "
        "(Wan I2V or TI2V, LTX-Video, CogVideoX I2V)",
    }
    if class_name in PIPELINE_SCALES:  # an upscaler: it enlarges a picture, on the Upscalers backend
        why = "this is an upscaling model: choose the Upscalers backend and Upscale"
        return frozenset(), {t: why for t in Task}
    if "Inpaint" in class_name:
        why = "this is an inpainting model: use it to inpaint or outpaint"
        return MASK_TASKS, {**{t: why for t in IMAGE_TASKS - MASK_TASKS}, **why_video, **no_3d}
    return IMAGE_TASKS, {**why_video, **no_3d}


class DiffusersBackend:
    id = "diffusers"
    label = "Local GPU/CPU (diffusers)"
    models_are_paths = True

    def __init__(self, config: EngineConfig | None = None) -> None:
        config = config or EngineConfig()
        self.config = config
        self.options = config.runtime or RuntimeOptions()
        self.hf_cache_dir = config.hf_cache_dir
        self._cache = PipelineCache()
        # The scheduler each loaded pipeline shipped with, restored when a request names none.
        self._original_scheduler = None
        self._projection = None  # the loaded model's latent -> RGB preview projection
        self._preview_cache: dict = {}  # its tensors on the device, and the previews' pinned buffer
        # Pipelines for other tasks made from the loaded one with from_pipe (shared weights).
        self._derived: dict = {}

    @property
    def loaded_model(self) -> str | None:
        return None if self._cache.key is None else str(self._cache.key[0])

    def status(self) -> BackendStatus:
        return BackendStatus(device=self._cache.key[1] if self._cache.key else "", loaded_model=self.loaded_model)

    def models(self) -> list[str]:
        """The user's folders, then the HF cache's pipelines, then the demo (a model the user added
        is the one they mean to use)."""
        try:
            cached = cached_pipelines(self.hf_cache_dir)
        except OSError:
            cached = []
        local, built_in = self.local_models(), installed_built_ins()
        return list(dict.fromkeys([*(m for m in local if m not in built_in), *cached, *built_in]))

    def local_models(self) -> list[str]:
        """The settings' pipeline folders, then the built-in demo models: listed before the HF cache is scanned.
        Settings' model folders also hold other kinds (a folder of upscaler files): those are left out; a
        folder not there (yet) stays, so generating with it says what is wrong."""
        folders = [f for f in self.config.model_folders if _may_be_pipeline(Path(f).expanduser())]
        return [*folders, *installed_built_ins()]

    def default_model(self) -> str:
        return DEMO_MODEL if demo_installed() else ""

    def capabilities(self, model: str) -> Capabilities:
        folder = _local_folder(model)
        tasks, why_not = model_tasks(folder)
        preset = _preset(model, folder)
        if tasks and tasks <= MESH_TASKS:  # Shap-E: its own controls and frame sizes
            return shape_e.capabilities(tasks, why_not, dict(preset.defaults))
        video = video_models.video_pipeline(folder)
        return Capabilities(
            tasks=tasks,
            controls=video_models.controls(video.family) if video else SAMPLING_CONTROLS,
            size_min=SIZE_MIN,
            size_max=SIZE_MAX,
            size_multiple=video.family.size_multiple if video else SIZE_MULTIPLE,
            defaults=dict(preset.defaults),
            why_not=why_not,
            vocabulary_file=word_level_tokenizer(folder),
        )

    def licence(self, model: str) -> licences.Licence | None:
        """The model's licence: its card's (the folder's or the HF cache's), else its family preset's."""
        folder = _local_folder(model)
        return licences.licence_for(model, folder, _preset(model, folder).licence, self.hf_cache_dir)

    def validate(self, request: GenerationRequest, canvas: tuple[int, int] | None = None) -> GenerationRequest:
        model = request.model.strip()
        if not model:
            raise ValidationError(
                "model", "model is not set: give a diffusers model folder or a Hugging Face id (org/name)."
            )
        defaults = self.capabilities(model).defaults
        licence = self.licence(model)
        # Recorded with the results, and what the window's warning reads before a job is queued.
        request = dataclasses.replace(request, model=model, licence=licence.label if licence else None)
        if request.task.spec.media is MediaKind.MESH:  # Shap-E's frame sizes and controls
            return shape_e.validate(request, defaults)
        if request.task.spec.media is MediaKind.VIDEO:  # the clip has the model's size, not its picture's
            folder = _local_folder(model)
            video = video_models.video_pipeline(folder)
            request = video_models.validate(request, _preset(model, folder), video.family if video else None)
            check_sampling(request, request.width, request.height)
            return request
        if canvas is not None:
            # The model works at the nearest multiple of 8; the result comes back at the picture's size.
            width, height = model_size(*canvas)
        else:
            width = int(defaults["width"]) if request.width is None else request.width
            height = int(defaults["height"]) if request.height is None else request.height
        check_sampling(request, width, height, edit=canvas is not None)
        return dataclasses.replace(request, model=model, width=width, height=height)

    def release(self) -> None:
        self._original_scheduler = None
        self._derived = {}
        self._cache.release()

    def generate(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        cancel = cancel or threading.Event()
        folder = resolve_model(request.model, self.hf_cache_dir)
        tasks, why_not = model_tasks(folder)
        if request.task not in tasks:  # a hub id is checked here, once it is found in the cache
            raise EngineError(f"{why_not[request.task]}.")
        video = request.task.spec.media is MediaKind.VIDEO
        kind = video_models.video_pipeline(folder) if video else None
        if kind is not None:  # a hub id's rules, now that it is found (before anything loads)
            video_models.check_family_rules(request, kind.family)
        pipe, device, load_s = self._loaded(folder, video)
        pipe = self._pipeline_for(request, pipe, folder)
        pipe.scheduler = (
            make_scheduler(request.scheduler, self._original_scheduler.config)
            if request.scheduler
            else self._original_scheduler
        )
        started = time.perf_counter()
        steps = StepReporter(request, cancel, on_progress, started, self._projection, self._preview_cache)
        seeds = [(request.seed + i) % (SEED_MAX + 1) for i in range(request.count)]
        try:
            if video:
                items = self._videos(pipe, request, seeds, steps, folder)
            elif request.task.spec.media is MediaKind.MESH:
                items = shape_e.generate(pipe, request, seeds, on_progress, cancel, started)
            elif request.task.spec.edits:
                items = self._edit(pipe, request, seeds, steps)
            else:
                items = self._images(pipe, request, seeds, steps)
        except Interrupted:
            raise GenerationCancelled() from None
        except Exception as exc:
            if _is_out_of_memory(exc):
                raise self._out_of_memory(request) from None
            raise
        if cancel.is_set():
            raise GenerationCancelled()
        return GenerationResult(
            request=request,
            images=items,
            device=device,
            timings={"load_s": round(load_s, 4), "generate_s": round(time.perf_counter() - started, 4)},
            notes=vocabulary_notes(pipe, request),
        )

    def prepare(self, model: str) -> str:
        """Load model for text-to-image now, so that the first generation does not wait for it (the
        app warms the demo model up while the user types). Returns the device it is on."""
        folder = resolve_model(model, self.hf_cache_dir)
        return self._loaded(folder, video=video_models.video_pipeline(folder) is not None)[1]

    def _loaded(self, folder: Path, video: bool):
        """(pipeline, device, seconds spent loading it: 0 when it already was)."""
        device, dtype = pick_device(self.options.device)
        if device == "cuda":  # the recipe's precision (bfloat16 for the video transformers)
            dtype = getattr(lazy_imports.torch(), _preset(str(folder), folder).cuda_dtype)
        key = (folder, device, str(dtype), self.options, video)
        pipe, load_s = self._cache.get(key, lambda: self._load(folder, device, dtype, video))
        if load_s:
            self._original_scheduler = pipe.scheduler
            self._projection = projection_for(pipe)
            self._preview_cache = {}
            self._derived = {}
        return pipe, device, load_s

    def _images(self, pipe, request: GenerationRequest, seeds: list[int], steps: StepReporter):
        torch = lazy_imports.torch()
        output = pipe(
            width=request.width,
            height=request.height,
            num_images_per_prompt=request.count,
            # CPU generators: the same seed gives the same noise whatever the device.
            generator=[torch.Generator("cpu").manual_seed(seed) for seed in seeds],
            **_shared_arguments(pipe, request, steps),
        )
        return [
            GeneratedImage(image=img, seed=seed, index=i)
            for i, (img, seed) in enumerate(zip(output.images, seeds, strict=True))
        ]

    def _edit(self, pipe, request: GenerationRequest, seeds: list[int], steps: StepReporter):
        torch = lazy_imports.torch()
        inputs = edit_inputs_for(request)
        size = (request.width, request.height)
        picture = inputs.canvas if inputs.canvas.size == size else inputs.canvas.resize(size, Image.Resampling.LANCZOS)
        kwargs = {"image": picture, "strength": request.strength}
        if inputs.mask is not None:
            mask = inputs.mask if inputs.mask.size == size else inputs.mask.resize(size, Image.Resampling.NEAREST)
            kwargs.update(mask_image=mask, width=request.width, height=request.height)
        output = pipe(
            num_images_per_prompt=request.count,
            generator=[torch.Generator("cpu").manual_seed(seed) for seed in seeds],
            **kwargs,
            **_shared_arguments(pipe, request, steps),
        )
        # The model's pixels are not the original's even where it kept them: paste the original back.
        return [
            GeneratedImage(image=paste_back(img, inputs), seed=seed, index=i)
            for i, (img, seed) in enumerate(zip(output.images, seeds, strict=True))
        ]

    def _pipeline_for(self, request: GenerationRequest, base, folder: Path):
        """The loaded pipeline, or one for the task made from it with from_pipe (no second copy of weights)."""
        if request.task.spec.media is MediaKind.VIDEO:  # LTX's text and picture pipelines share weights
            return video_models.pipeline_for(request.task, base, video_models.video_pipeline(folder), self._derived)
        if request.task.spec.media is not MediaKind.IMAGE:  # a 3D pipeline does one task
            return base
        diffusers = lazy_imports.diffusers()
        unet = getattr(base, "unet", None)
        inpainting_unet = unet is not None and getattr(unet.config, "in_channels", 4) == 9
        if request.task not in MASK_TASKS and inpainting_unet:
            raise EngineError("this is an inpainting model: use it to inpaint or outpaint.")
        wanted = {
            Task.TEXT_TO_IMAGE: diffusers.AutoPipelineForText2Image,
            Task.IMAGE_TO_IMAGE: diffusers.AutoPipelineForImage2Image,
        }.get(request.task, diffusers.AutoPipelineForInpainting)
        if request.task not in self._derived:
            try:
                pipe = base if _is_pipeline_for(base, wanted) else wanted.from_pipe(base)
            except (ValueError, KeyError) as exc:
                raise EngineError(f"model {folder} cannot do {request.task.value}: {exc}") from exc
            pipe.set_progress_bar_config(disable=True)
            self._derived[request.task] = pipe
        return self._derived[request.task]

    def _videos(self, pipe, request: GenerationRequest, seeds: list[int], steps: StepReporter, folder: Path):
        """One clip per seed, one after another (a video batch rarely fits a consumer GPU)."""
        steps.latents_view = video_models.preview_view(pipe, request)
        experts = video_models.expert_guidance(pipe, _preset(request.model, folder))
        clips = []
        for index, seed in enumerate(seeds):
            steps.video_index = index
            shared = {**_shared_arguments(pipe, request, steps), **experts}
            clips.append(video_models.make_clip(pipe, request, seed, index, shared))
        return clips

    def _out_of_memory(self, request: GenerationRequest) -> EngineError:
        torch = lazy_imports.torch()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        hint = "" if self.options.cpu_offload else " or turn on CPU offload"
        video = request.task.spec.media is MediaKind.VIDEO
        what = f"{request.frames} frames" if video else f"{request.count} image(s)"
        return EngineError(
            f"out of GPU memory at {request.width}x{request.height} with {what}: "
            f"try a smaller size, fewer {'frames' if video else 'images'}{hint}."
        )

    def _load(self, folder: Path, device: str, dtype, video: bool):
        diffusers = lazy_imports.diffusers()
        torch = lazy_imports.torch()
        options = self.options
        if not options.allow_pickle_weights and not has_safetensors(folder):
            raise EngineError(
                f"model {folder} has no .safetensors weights, only pickle files that can run code when "
                "loaded: convert it to safetensors, or allow pickle weights in the settings if you trust it."
            )
        variant = "fp16" if dtype == torch.float16 and has_variant(folder, "fp16") else None
        # AutoPipeline knows the image families; video pipelines load by their own class, and
        # inpainting checkpoints (9-channel UNet) as inpainting pipelines.
        if video or pipeline_class_name(folder) in shape_e.SHAP_E_PIPELINES:
            loader = diffusers.DiffusionPipeline
        elif "Inpaint" in pipeline_class_name(folder):
            loader = diffusers.AutoPipelineForInpainting
        else:
            loader = diffusers.AutoPipelineForText2Image
        try:
            pipe = loader.from_pretrained(
                folder,
                dtype=dtype,
                variant=variant,
                use_safetensors=None if options.allow_pickle_weights else True,
                local_files_only=True,
                **byte_level_llama_tokenizers(folder),
            )
        except Exception as exc:  # any failure to load means the folder is broken or incomplete
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EngineError(f"model folder {folder} could not be loaded: {reason}") from exc
        pipe.set_progress_bar_config(disable=True)
        offload = options.cpu_offload
        preset = _preset(str(folder), folder)
        if preset.scheduler_class:  # the model card's recipe
            pipe.scheduler = getattr(diffusers, preset.scheduler_class).from_config(pipe.scheduler.config)
        if video:  # the recipe's flow shift, and the offload, tiling and slicing its memory needs
            video_models.apply_flow_shift(pipe, preset)
            video_models.apply_memory_options(pipe, preset, device, offload)
        elif offload and device == "cuda":
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        if options.attention_slicing:
            pipe.enable_attention_slicing()
        if options.vae_tiling and getattr(pipe, "vae", None) is not None:  # Shap-E has no VAE
            pipe.vae.enable_tiling()
        apply_speed_options(pipe, options)
        return pipe


def _shared_arguments(pipe, request: GenerationRequest, steps: StepReporter) -> dict:
    """What every task passes the same way: prompts, steps, guidance, the step callback."""
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt or None,
        "num_inference_steps": request.steps,
        "guidance_scale": request.guidance,
        **steps.callback_kwargs(pipe),
    }


def _is_pipeline_for(pipe, auto_class) -> bool:
    """True if pipe already is the kind of pipeline auto_class would make from it."""
    name = type(pipe).__name__
    if auto_class.__name__ == "AutoPipelineForImage2Image":
        return "Img2Img" in name
    if auto_class.__name__ == "AutoPipelineForInpainting":
        return "Inpaint" in name
    return "Img2Img" not in name and "Inpaint" not in name


def vocabulary_notes(pipe, request: GenerationRequest) -> list[str]:
    """Words the model's tokenizer maps to its unknown token (word-level vocabularies like the demo's)."""
    tokenizer = getattr(pipe, "tokenizer", None)
    unk = getattr(tokenizer, "unk_token_id", None)
    if tokenizer is None or unk is None:
        return []
    unknown = []
    for word in re.findall(r"[\w'-]+", request.prompt):
        ids = tokenizer(word, add_special_tokens=False).input_ids
        if unk in ids and word.lower() not in unknown:
            unknown.append(word.lower())
    if not unknown:
        return []
    hint = preset_for(request.model).vocabulary_hint
    known = f" ({hint})" if hint else ""
    plural = "s" if len(unknown) > 1 else ""
    return [
        f"this model does not know the word{plural} {', '.join(unknown)} and ignored {'them' if plural else 'it'}"
        f"{known}."
    ]


def _preset(model: str, folder: Path | None) -> ModelPreset:
    """The model's recipe: by its pipeline class (a Wan 2.2 TI2V folder has its own)."""
    class_name = pipeline_class_name(folder) if folder is not None else ""
    return preset_for(model, video_models.preset_key(folder, class_name))


def _may_be_pipeline(folder: Path) -> bool:
    return not folder.is_dir() or (folder / "model_index.json").is_file()


def _local_folder(model: str) -> Path | None:
    """The model's folder where it can be found without touching the HF cache (cheap: the form asks often)."""
    try:
        folder = resolve_model(model) if built_in_folder(model) else Path(model).expanduser()
        return folder if (folder / "model_index.json").is_file() else None
    except (OSError, ValueError, EngineError):
        return None


def _is_out_of_memory(exc: BaseException) -> bool:
    torch = lazy_imports.torch()
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )
