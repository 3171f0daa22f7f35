"""Text-to-3D and image-to-3D with OpenAI's Shap-E (diffusers' ShapEPipeline and ShapEImg2ImgPipeline).

The diffusers backend hands its loaded Shap-E pipeline to this module. Per object: the prior samples
a latent (the pipeline's own loop, with progress, cancel and a preview hooked onto its scheduler's
step, since Shap-E pipelines have no step callback), then the pipeline's own renderer turns the
latent into a mesh with vertex colours (marching cubes over its signed distance field) and renders a
turntable of views around it. The renderer's code is used piece by piece, not through
decode_to_mesh / decode_to_image, because those cannot be cancelled, query in small batches (slow on
a CPU), always render 20 views whose first and last are the same, and fail on an empty surface.

Torch-free at import: torch and diffusers load inside the functions, in the engine's process.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time

from PIL import Image

from desktop.engine import lazy_imports
from desktop.engine.backend import GUIDANCE, SEED, STEPS, Capabilities
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.presets import SHAP_E_IMAGE, SHAP_E_TEXT
from desktop.engine.request import (
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    STEPS_MAX,
    STEPS_MIN,
    GenerationRequest,
    check_range,
)
from desktop.engine.result import GeneratedImage, MeshData, Progress, ProgressCallback
from desktop.engine.tasks import Task

# The pipeline class a model folder's model_index.json names -> the one task it does.
SHAP_E_PIPELINES = {"ShapEPipeline": Task.TEXT_TO_3D, "ShapEImg2ImgPipeline": Task.IMAGE_TO_3D}
MESH_TASKS = frozenset(SHAP_E_PIPELINES.values())
# Shap-E takes no negative prompt (its unconditional embedding is zeros) and is made for its Heun
# scheduler (exponential betas, Karras sigmas), which other schedulers do not reproduce.
CONTROLS = frozenset({STEPS, GUIDANCE, SEED})

# Turntable frames are square; H.264 in yuv420p needs even sides, 8 keeps them tidy.
FRAME_MIN, FRAME_MAX, FRAME_MULTIPLE = 16, 512, 8
# The mesh's marching-cubes grid follows the frame size: twice it, from 32 to Shap-E's own 128
# (reached at its default 64-px frames). A small draft frame makes a quick, coarse mesh; 128 is
# the most this is worth (the released decoder's fields are no finer) and peaks near 1.7 GB.
GRID_MIN, GRID_MAX = 32, 128
# Points per MLP call: the renderer's own 4,096 spends most of a CPU's time on Python overhead.
QUERY_BATCH = 32768
RAY_BATCH = 4096
# The renderer's samples per ray for the turntable (decode_to_image's), and for previews.
SAMPLES, PREVIEW_SAMPLES = (64, 128), (16, 32)
PREVIEW_SIZE = 32
# Previews of the object while it is sampled may take at most this share of the sampling time.
PREVIEW_SHARE = 0.25
PREVIEWS_PER_RUN = 10

NOT_3D = "this model cannot make 3D objects: choose a Shap-E model (openai/shap-e, or openai/shap-e-img2img)"
WHY_NOT = {
    Task.TEXT_TO_3D: "this Shap-E model makes 3D objects from a picture: choose 3D object from a picture, "
    "or a text Shap-E model (openai/shap-e)",
    Task.IMAGE_TO_3D: "this Shap-E model makes 3D objects from text: choose 3D object (text to 3D), "
    "or an image Shap-E model (openai/shap-e-img2img)",
}
NOT_2D = "this is a Shap-E model: it makes 3D objects, not images or videos"


class _Cancelled(Exception):
    """Raised from the scheduler hook: Shap-E pipelines have no other way to stop."""


def model_tasks(class_name: str, all_tasks) -> tuple[frozenset[Task], dict[Task, str]]:
    """The one task a Shap-E pipeline class does, and why the others are out."""
    task = SHAP_E_PIPELINES[class_name]
    return frozenset({task}), {t: WHY_NOT.get(t, NOT_2D) for t in all_tasks if t is not task}


def capabilities(tasks: frozenset[Task], why_not: dict[Task, str], defaults: dict) -> Capabilities:
    return Capabilities(
        tasks=tasks,
        controls=CONTROLS,
        size_min=FRAME_MIN,
        size_max=FRAME_MAX,
        size_multiple=FRAME_MULTIPLE,
        defaults=defaults,
        why_not=why_not,
    )


def mesh_grid(frame_size: int) -> int:
    return max(GRID_MIN, min(GRID_MAX, 2 * frame_size))


def validate(request: GenerationRequest, defaults: dict) -> GenerationRequest:
    """Shap-E's rules; returns the request with the frame size filled in (the preset's, else 64)."""
    if "frames" not in defaults:  # a hub id not found yet: not this model's preset, Shap-E's own
        defaults = (SHAP_E_TEXT if request.task is Task.TEXT_TO_3D else SHAP_E_IMAGE).defaults
    width = int(defaults["width"]) if request.width is None else request.width
    height = width if request.height is None else request.height
    if width != height:
        raise ValidationError(
            "width", f"the 3D renderer makes square frames: give the same width and height (got {width}x{height})."
        )
    if not FRAME_MIN <= width <= FRAME_MAX or width % FRAME_MULTIPLE:
        raise ValidationError(
            "width",
            f"the 3D renderer's frame size must be a multiple of {FRAME_MULTIPLE} between {FRAME_MIN} and "
            f"{FRAME_MAX} (got {width}).",
        )
    check_range("steps", request.steps, STEPS_MIN, STEPS_MAX)
    check_range("guidance", request.guidance, GUIDANCE_MIN, GUIDANCE_MAX)
    if request.negative_prompt.strip():
        raise ValidationError("negative_prompt", "Shap-E takes no negative prompt: leave it empty.")
    if request.scheduler is not None:
        raise ValidationError("scheduler", "Shap-E runs with its own scheduler only: leave the scheduler unset.")
    for field in ("quality", "style"):
        if getattr(request, field) is not None:
            raise ValidationError(field, f"{field} applies to the OpenAI backend only; leave it unset.")
    return dataclasses.replace(request, width=width, height=height)


def check_renderer(pipe) -> None:
    """A renderer whose marching-cubes table is all zeros makes only empty meshes (a freshly built
    ShapERenderer has one; the released checkpoints ship theirs)."""
    renderer = getattr(pipe, "shap_e_renderer", None)
    if renderer is None or not bool(renderer.mesh_decoder.masks.any()):
        raise EngineError(
            "this Shap-E model's renderer has no marching-cubes table, so it cannot make a mesh: "
            "use a complete Shap-E folder (openai/shap-e or openai/shap-e-img2img)."
        )


def generate(
    pipe,
    request: GenerationRequest,
    seeds: list[int],
    on_progress: ProgressCallback | None,
    cancel: threading.Event,
    started: float,
) -> list[GeneratedImage]:
    """One object per seed (so that each seed alone reproduces its object), in order."""
    check_renderer(pipe)
    progress = _Progress(request, len(seeds), on_progress, cancel, started)
    condition = _condition(request)
    items = []
    try:
        for index, seed in enumerate(seeds):
            progress.start_object(index)
            items.append(_one_object(pipe, request, condition, seed, index, progress))
    except _Cancelled:
        raise GenerationCancelled() from None
    return items


def _condition(request: GenerationRequest) -> dict:
    """What the pipeline is conditioned on: the prompt, or the picture (on white where transparent)."""
    if request.task is Task.IMAGE_TO_3D:
        from desktop.engine.edit_inputs import as_rgb, open_picture

        return {"image": as_rgb(open_picture(request.image))}
    return {"prompt": request.prompt}


def _one_object(pipe, request: GenerationRequest, condition: dict, seed: int, index: int, progress: _Progress):
    torch = lazy_imports.torch()
    device = pipe._execution_device
    renderer = pipe.shap_e_renderer
    scheduler = pipe.scheduler
    original_step = scheduler.step

    def step(*args, **kwargs):
        output = original_step(*args, **kwargs)
        progress.scheduler_stepped(scheduler, output, lambda latent: _preview(renderer, latent, device, seed))
        return output

    # Shap-E pipelines call scheduler.step once per model evaluation and take no callback: an
    # instance attribute shadows the method for this call only.
    scheduler.step = step
    try:
        latents = pipe(
            **condition,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            # CPU generators: the same seed gives the same object whatever the device.
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="latent",
        ).images
    finally:
        del scheduler.step
    latent = latents[0][None]
    progress.check()
    mesh = decode_mesh(renderer, latent, device, mesh_grid(request.width), progress.check)
    progress.finished_unit(None)
    frames = render_turntable(
        renderer, latent, device, request.width, request.frames, seed, on_view=progress.finished_unit
    )
    return GeneratedImage(image=frames[0], seed=seed, index=index, frames=frames, fps=request.fps, mesh=mesh)


def _load_latent(renderer, latent) -> None:
    """Put the latent's projected weights into the renderer's MLP (what decode_to_* do first)."""
    projected = renderer.params_proj(latent)
    for name, parameter in renderer.mlp.state_dict().items():
        if f"nerstf.{name}" in projected:
            parameter.copy_(projected[f"nerstf.{name}"].squeeze(0))


def decode_mesh(renderer, latent, device, grid: int, check=lambda: None) -> MeshData:
    """The latent's surface as a mesh with vertex colours, as the renderer's decode_to_mesh makes it
    (its signed distance field on a grid, closed by a negative border, through its marching cubes;
    colours from its STF head, in linear RGB), turned y-up and wound counter-clockwise outwards."""
    torch = lazy_imports.torch()
    from diffusers.pipelines.shap_e.renderer import volume_query_points

    with torch.no_grad():
        _load_latent(renderer, latent)
        points = volume_query_points(renderer.volume, grid).to(device=device, dtype=renderer.mlp.dtype)[None]
        fields = _query(renderer, points, "signed_distance", check)
        field = torch.cat(fields, dim=1).float().reshape(grid, grid, grid)
        closed = torch.full((grid + 2,) * 3, -1.0, device=field.device, dtype=field.dtype)
        closed[1:-1, 1:-1, 1:-1] = field
        del fields, field, points
        check()
        volume = renderer.volume
        raw = renderer.mesh_decoder(closed, volume.bbox_min, volume.bbox_max - volume.bbox_min)
        del closed
        if len(raw.faces) == 0:
            raise EngineError("the model made no surface for this prompt and seed: try another seed or prompt.")
        vertices = raw.verts.to(device=device, dtype=renderer.mlp.dtype)[None]
        colours = _query(renderer, vertices, "channels", check)
        srgb = torch.cat(colours, dim=1)[0].float().clamp(0, 1)
        linear = torch.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return to_mesh_data(raw.verts.float().cpu().numpy(), raw.faces.cpu().numpy(), linear.cpu().numpy())


def to_mesh_data(vertices, faces, colours) -> MeshData:
    """Shap-E's z-up arrays as a y-up MeshData (glTF's axes: x, z, -y is a rotation, so windings
    hold), wound so that the enclosed volume is positive (normals outwards) whatever the
    marching-cubes table's own convention."""
    import numpy as np

    vertices = np.ascontiguousarray(np.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]], axis=1), np.float32)
    faces = np.ascontiguousarray(faces, dtype=np.uint32)
    corners = vertices[faces.astype(np.int64)]
    signed_volume = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum()
    if signed_volume < 0:
        faces = np.ascontiguousarray(faces[:, ::-1])
    return MeshData(vertices=vertices, faces=faces, colors=np.ascontiguousarray(colours, np.float32))


def turntable_cameras(size: int, views: int):
    """diffusers' create_pan_cameras with a chosen number of views, not repeating the first at the end
    (so the turntable loops without a stutter): the camera circles the object 4 units out, a little
    above it, looking at its centre."""
    import numpy as np

    torch = lazy_imports.torch()
    from diffusers.pipelines.shap_e.camera import DifferentiableProjectiveCamera

    origins, xs, ys, zs = [], [], [], []
    for theta in np.linspace(0, 2 * np.pi, num=views, endpoint=False):
        z = np.array([np.sin(theta), np.cos(theta), -0.5])
        z /= np.sqrt(np.sum(z**2))
        x = np.array([np.cos(theta), -np.sin(theta), 0.0])
        origins.append(-z * 4)
        xs.append(x)
        ys.append(np.cross(z, x))
        zs.append(z)
    return DifferentiableProjectiveCamera(
        origin=torch.from_numpy(np.stack(origins)).float(),
        x=torch.from_numpy(np.stack(xs)).float(),
        y=torch.from_numpy(np.stack(ys)).float(),
        z=torch.from_numpy(np.stack(zs)).float(),
        width=size,
        height=size,
        x_fov=0.7,
        y_fov=0.7,
        shape=(1, views),
    )


def render_turntable(
    renderer, latent, device, size: int, views: int, seed: int, samples=SAMPLES, on_view=None
) -> list[Image.Image]:
    """`views` RGB pictures of the object turning once, rendered by the pipeline's own NeRF renderer
    (coarse then importance-sampled fine rays, as decode_to_image does). Its ray samplers draw from
    torch's global generator: a private one seeded with the object's seed makes the turntable
    reproducible and leaves everyone else's random state alone."""
    torch = lazy_imports.torch()
    from diffusers.pipelines.shap_e.renderer import StratifiedRaySampler

    devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
    frames = []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        _load_latent(renderer, latent)
        rays = turntable_cameras(size, views).camera_rays.to(device)
        per_view = size * size
        for view in range(views):
            chunks = []
            for start in range(view * per_view, (view + 1) * per_view, RAY_BATCH):
                batch = rays[:, start : min(start + RAY_BATCH, (view + 1) * per_view)]
                _, fine_sampler, coarse = renderer.render_rays(batch, StratifiedRaySampler(), samples[0])
                channels, _, _ = renderer.render_rays(batch, fine_sampler, samples[1], prev_model_out=coarse)
                chunks.append(channels)
            pixels = torch.cat(chunks, dim=1).view(size, size, -1).float().clamp(0, 1)
            frame = Image.fromarray((pixels * 255).round().to(torch.uint8).cpu().numpy(), "RGB")
            frames.append(frame)
            if on_view is not None:
                on_view(frame)
    return frames


def _preview(renderer, latent, device, seed: int) -> Image.Image:
    """One small, lightly sampled front view of the object the latent describes so far."""
    return render_turntable(renderer, latent, device, PREVIEW_SIZE, 1, seed, samples=PREVIEW_SAMPLES)[0]


class _Progress:
    """Counts progress over every object: its sampling steps, its mesh (one unit) and its turntable
    views; checks for cancel at each; decides when a preview is affordable."""

    def __init__(self, request: GenerationRequest, objects: int, on_progress, cancel, started: float) -> None:
        self.request, self.on_progress, self.cancel, self.started = request, on_progress, cancel, started
        self.per_object = request.steps + 1 + request.frames
        self.total = self.per_object * objects
        self.done = 0
        self.calls = 0  # scheduler steps taken for the current object (Heun takes two per step)
        self.object_start = 0
        self.preview_s = 0.0
        self.sampling_started = time.perf_counter()
        self.preview_every = max(1, math.ceil(request.steps / PREVIEWS_PER_RUN))

    def start_object(self, index: int) -> None:
        self.object_start = index * self.per_object
        self.done, self.calls = self.object_start, 0
        self.sampling_started = time.perf_counter()
        self.preview_s = 0.0

    def check(self) -> None:
        if self.cancel.is_set():
            raise _Cancelled()

    def scheduler_stepped(self, scheduler, output, render_preview) -> None:
        self.check()
        self.calls += 1
        calls_per_run = max(1, len(scheduler.timesteps))
        step = min(self.request.steps, self.calls * self.request.steps // calls_per_run)
        if self.object_start + step == self.done:
            return  # the first half of a two-evaluation step
        self.done = self.object_start + step
        preview = None
        sampling_s = time.perf_counter() - self.sampling_started - self.preview_s
        if (
            self.on_progress is not None
            and step % self.preview_every == 0
            and self.preview_s <= PREVIEW_SHARE * sampling_s
        ):
            began = time.perf_counter()
            latent = getattr(output, "pred_original_sample", None)
            latent = output.prev_sample if latent is None else latent
            preview = render_preview(latent[:1])
            self.preview_s += time.perf_counter() - began
        self._report(preview)

    def finished_unit(self, frame: Image.Image | None) -> None:
        """The mesh is made (frame None) or one turntable view is rendered (shown as the preview)."""
        self.check()
        self.done += 1
        self._report(frame)

    def _report(self, preview: Image.Image | None) -> None:
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    step=min(self.done, self.total),
                    total=self.total,
                    elapsed_s=time.perf_counter() - self.started,
                    preview=preview,
                )
            )


def _query(renderer, positions, field: str, check) -> list:
    """The renderer's MLP over positions in batches of QUERY_BATCH (memory stays bounded), checking for
    cancel between batches; one tensor of `field` per batch."""
    parts = []
    for start in range(0, positions.shape[1], QUERY_BATCH):
        check()
        out = renderer.mlp(
            position=positions[:, start : start + QUERY_BATCH],
            direction=None,
            ts=None,
            nerf_level="fine",
            rendering_mode="stf",
        )
        parts.append(getattr(out, field))
    return parts
