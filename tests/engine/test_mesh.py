"""Text-to-3D and image-to-3D on tiny Shap-E pipelines: the real pipelines, renderer, writer and files."""

from __future__ import annotations

import dataclasses
import threading
from types import SimpleNamespace

import numpy as np
import pygltflib
import pytest
import trimesh
from PIL import Image

from desktop.engine import shape_e
from desktop.engine.backend import GUIDANCE, SEED, STEPS
from desktop.engine.engine import Engine
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.request import GenerationRequest, Task
from desktop.library.mesh import read_glb_info, turntable_name
from desktop.library.metadata import read_record
from desktop.library.store import Library
from desktop.library.video import video_info

# 16-px frames (a 32-cube mesh grid) and four views keep an object near a second on a CPU.
SIZE, VIEWS, STEPS_RUN = 16, 4, 3


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models are bound by Python overhead: a second OpenMP thread gains nothing, and on a busy
    shared CPU its spin-waits made these tests ten times slower. Restored after the module."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    yield engine
    engine.release()


def mesh_request(model, **changes) -> GenerationRequest:
    base = GenerationRequest(
        task=Task.TEXT_TO_3D,
        prompt="sleek minimalist sneaker crafted from ocean plastic",
        model=str(model),
        width=SIZE,
        height=SIZE,
        steps=STEPS_RUN,
        guidance=15.0,
        frames=VIEWS,
        fps=4,
        seed=5,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def made(engine, tiny_shap_e):
    """One text-to-3D object and the progress it reported."""
    seen = []
    result = engine.generate(mesh_request(tiny_shap_e), on_progress=seen.append)
    return result, seen


def pixels(frames) -> np.ndarray:
    return np.stack([np.asarray(frame) for frame in frames])


def test_a_prompt_becomes_a_closed_coloured_mesh_with_a_turntable_and_a_poster(made):
    result, _ = made
    (item,) = result.images
    mesh = item.mesh
    assert item.is_mesh and not item.is_video
    assert mesh.vertices.dtype == np.float32 and mesh.vertices.shape == (mesh.vertex_count, 3)
    assert mesh.faces.dtype == np.uint32 and int(mesh.faces.max()) < mesh.vertex_count
    assert 100 < mesh.face_count < 20_000  # tamed: a blob, not a noise surface of millions of triangles
    assert np.abs(mesh.vertices).max() <= 1.01 and mesh.colors.min() >= 0 and mesh.colors.max() <= 1
    shape = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    assert shape.is_watertight and shape.volume > 0  # closed, normals outwards
    assert len(item.frames) == VIEWS and item.fps == 4 and item.image is item.frames[0]
    assert {frame.size for frame in item.frames} == {(SIZE, SIZE)}
    # The object turns: no two views alike, and each shows more than the white background.
    views = pixels(item.frames).astype(int)
    assert all(np.abs(views[i] - views[i + 1]).mean() > 1 for i in range(VIEWS - 1))
    assert all((view < 200).any() for view in views)


def test_progress_counts_sampling_mesh_and_views_and_previews_the_object(made):
    _, seen = made
    total = STEPS_RUN + 1 + VIEWS
    assert [p.step for p in seen] == list(range(1, total + 1)) and {p.total for p in seen} == {total}
    # The first step is previewed by the renderer (small, lightly sampled); every view is shown as it comes.
    assert seen[0].preview is not None and seen[0].preview.size == (shape_e.PREVIEW_SIZE,) * 2
    assert seen[STEPS_RUN].preview is None  # the mesh
    assert [p.preview.size for p in seen[-VIEWS:]] == [(SIZE, SIZE)] * VIEWS


def test_a_seed_reproduces_its_object_and_each_of_a_batch_is_its_own_seed(engine, tiny_shap_e, made):
    first = made[0].images[0]
    batch = engine.generate(mesh_request(tiny_shap_e, count=2)).images
    assert [item.seed for item in batch] == [5, 6]
    assert np.array_equal(batch[0].mesh.vertices, first.mesh.vertices)
    assert np.array_equal(batch[0].mesh.faces, first.mesh.faces)
    assert np.array_equal(pixels(batch[0].frames), pixels(first.frames))
    other = batch[1].mesh
    assert other.vertex_count != first.mesh.vertex_count or not np.allclose(other.vertices, first.mesh.vertices)


def test_a_picture_becomes_an_object(engine, tiny_shap_e_img2img, tmp_path):
    picture = Image.new("RGBA", (96, 80), (0, 0, 0, 0))  # transparent: conditioned on white there
    picture.paste((200, 40, 40, 255), (20, 20, 70, 60))
    path = tmp_path / "sketch.png"
    picture.save(path)
    request = mesh_request(tiny_shap_e_img2img, task=Task.IMAGE_TO_3D, image=str(path), prompt="", guidance=3.0)
    (item,) = engine.generate(request).images
    assert item.mesh.face_count > 0 and len(item.frames) == VIEWS and item.image.size == (SIZE, SIZE)


def test_the_object_is_saved_as_a_glb_that_third_party_readers_open_with_its_colours(made, isolated_home):
    result, _ = made
    (saved,) = Library().save(result)
    mesh = result.images[0].mesh
    assert saved.row.media == "mesh" and saved.path.suffix == ".glb" and saved.row.poster.endswith(".poster.png")
    loaded = trimesh.load(saved.path, force="mesh", process=False)
    assert (len(loaded.vertices), len(loaded.faces)) == (mesh.vertex_count, mesh.face_count)
    gltf = pygltflib.GLTF2().load(str(saved.path))
    primitive = gltf.meshes[0].primitives[0]
    assert gltf.accessors[primitive.attributes.POSITION].count == mesh.vertex_count
    assert gltf.accessors[primitive.indices].count == 3 * mesh.face_count
    # The colours, as pygltflib reads them: COLOR_0, normalized bytes, the mesh's linear colours.
    colours = gltf.accessors[primitive.attributes.COLOR_0]
    view = gltf.bufferViews[colours.bufferView]
    data = gltf.binary_blob()[view.byteOffset + (colours.byteOffset or 0) :][: colours.count * 4]
    stored = np.frombuffer(data, np.uint8).reshape(-1, 4)[:, :3] / 255
    assert colours.normalized and np.abs(stored - mesh.colors).max() <= 0.5 / 255 + 1e-6
    material = gltf.materials[primitive.material].pbrMetallicRoughness
    assert material.metallicFactor == 0 and material.baseColorFactor == [1, 1, 1, 1]
    poster = isolated_home / saved.row.poster
    assert gltf.asset.extras == read_record(poster) and gltf.asset.extras["prompt"] == result.request.prompt
    assert read_glb_info(saved.path)["vertices"] == mesh.vertex_count
    info = video_info(turntable_name(saved.path))
    assert (info["frames"], info["width"], info["record"]["seed"]) == (VIEWS, SIZE, 5)


def test_cancel_stops_while_sampling_or_rendering_and_the_pipeline_runs_again(engine, tiny_shap_e):
    for at_step in (1, STEPS_RUN + 2):
        cancel = threading.Event()

        def stop_at(progress, at=at_step, cancel=cancel):
            if progress.step >= at:
                cancel.set()

        with pytest.raises(GenerationCancelled):
            engine.generate(mesh_request(tiny_shap_e, steps=2), on_progress=stop_at, cancel=cancel)
    pipe = engine.backend("diffusers")._cache._pipeline
    assert "step" not in vars(pipe.scheduler)  # the progress hook is gone
    assert engine.generate(mesh_request(tiny_shap_e, steps=1, frames=2)).images[0].mesh.face_count > 0


def test_shap_e_models_say_what_they_take_and_make(engine, tiny_shap_e, tiny_shap_e_img2img):
    text = engine.capabilities("diffusers", str(tiny_shap_e))
    image = engine.capabilities("diffusers", str(tiny_shap_e_img2img))
    assert text.tasks == {Task.TEXT_TO_3D} and image.tasks == {Task.IMAGE_TO_3D}
    assert text.controls == {STEPS, GUIDANCE, SEED}
    assert (text.defaults["steps"], text.defaults["guidance"], image.defaults["guidance"]) == (64, 15.0, 3.0)
    assert (text.defaults["width"], text.defaults["frames"], text.size_min, text.size_multiple) == (64, 20, 16, 8)
    # A hub id not found yet gets Shap-E's frame size, not an image model's 512.
    unresolved = engine.validate(GenerationRequest(prompt="a chair", task=Task.TEXT_TO_3D, model="openai/shap-e"))
    assert (unresolved.width, unresolved.height) == (64, 64)


def test_memory_options_meant_for_image_models_do_not_stop_shap_e(tiny_shap_e):
    from desktop.engine.devices import RuntimeOptions

    options = Engine(runtime=RuntimeOptions(attention_slicing=True, vae_tiling=True))  # Shap-E has no VAE
    try:
        assert options.generate(mesh_request(tiny_shap_e, steps=1, frames=2)).images[0].mesh.face_count > 0
    finally:
        options.release()


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "picture.png"
    Image.new("RGB", (64, 64), "white").save(path)
    return str(path)


BAD = {
    "an image Shap-E model for text": (dict(model="img2img"), "task", "from a picture"),
    "a text Shap-E model for a picture": (dict(task=Task.IMAGE_TO_3D, image="picture"), "task", "from text"),
    "an image model for 3D": (dict(model="sd"), "task", "cannot make 3D objects"),
    "a Shap-E model for an image": (dict(task=Task.TEXT_TO_IMAGE), "task", "not images or videos"),
    "a picture that cannot be read": (
        dict(model="img2img", task=Task.IMAGE_TO_3D, image="garbage"),
        "image",
        "not a picture this app can read",
    ),
    "no picture": (dict(model="img2img", task=Task.IMAGE_TO_3D), "image", "needs a picture"),
    "frames that are not square": (dict(width=16, height=24), "width", "square frames"),
    "a frame size off the grid": (dict(width=20, height=20), "width", "multiple of 8"),
    "a frame too small": (dict(width=8, height=8), "width", "between 16 and 512"),
    "a frame too large": (dict(width=1024, height=1024), "width", "between 16 and 512"),
    "a negative prompt": (dict(negative_prompt="blurry"), "negative_prompt", "no negative prompt"),
    "another scheduler": (dict(scheduler="euler"), "scheduler", "its own scheduler"),
    "too few turntable views": (dict(frames=1), "frames", "frames must be between"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_refused_in_one_sentence_before_anything_is_written(
    case, engine, tiny_shap_e, tiny_shap_e_img2img, tiny_model, picture, tmp_path, isolated_home
):
    changes, field, words = BAD[case]
    garbage = tmp_path / "garbage.png"
    garbage.write_text("not a picture")
    models = {"img2img": str(tiny_shap_e_img2img), "sd": str(tiny_model)}
    paths = {"picture": picture, "garbage": str(garbage)}
    changes = {k: models.get(v, paths.get(v, v)) if isinstance(v, str) else v for k, v in changes.items()}
    request = dataclasses.replace(mesh_request(tiny_shap_e), **changes)
    with pytest.raises(ValidationError) as caught:
        engine.validate(request)
    message = str(caught.value)
    assert caught.value.field == field and words in message
    assert message.endswith(".") and "\n" not in message
    assert not isolated_home.exists() or not any(isolated_home.rglob("*.glb"))


def test_a_renderer_without_a_marching_cubes_table_is_refused():
    import torch

    empty = SimpleNamespace(shap_e_renderer=SimpleNamespace(mesh_decoder=SimpleNamespace(masks=torch.zeros(256, 5))))
    with pytest.raises(EngineError, match="no marching-cubes table"):
        shape_e.check_renderer(empty)


def test_the_mesh_grid_follows_the_frame_size_up_to_shap_e_s_own():
    assert [shape_e.mesh_grid(size) for size in (16, 24, 64, 256)] == [32, 48, 128, 128]


def test_the_built_marching_cubes_table_closes_every_surface():
    """The tests' own table (tiny_shap_e.py) on a sphere and a torus: watertight, wound outwards."""
    import torch
    from diffusers.pipelines.shap_e.renderer import MeshDecoder
    from tiny_shap_e import marching_cubes_table

    decoder = MeshDecoder()
    cases, masks = marching_cubes_table()
    decoder.cases.copy_(torch.from_numpy(cases))
    decoder.masks.copy_(torch.from_numpy(masks))
    axis = torch.linspace(-1, 1, 24)
    x, y, z = torch.meshgrid(axis, axis, axis, indexing="ij")
    sphere = 0.7 - (x**2 + y**2 + z**2).sqrt()
    torus = 0.09 - ((x**2 + y**2).sqrt() - 0.55) ** 2 - z**2  # tube 0.3 around a 0.55 ring
    for field in (sphere, torus):
        raw = decoder(field, torch.tensor([-1.0, -1, -1]), torch.tensor([2.0, 2, 2]))
        shape = trimesh.Trimesh(raw.verts.numpy(), raw.faces.numpy(), process=False)
        assert shape.is_watertight and shape.volume > 0
