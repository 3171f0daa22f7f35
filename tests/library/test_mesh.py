"""3D objects in the library: GLB (+ record), turntable MP4 and poster; exports to GLB, OBJ+MTL, PLY,
MP4 and GIF under never-overwriting names; the history rebuilt from the files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pygltflib
import pytest
import trimesh
from PIL import Image

from desktop.engine.request import GenerationRequest, Task
from desktop.engine.result import GeneratedImage, GenerationResult, MeshData
from desktop.library import mesh as mesh_files
from desktop.library.export import ExportError
from desktop.library.mesh import (
    MeshError,
    export_mesh,
    load_mesh,
    mesh_summary,
    read_glb_info,
    turntable_name,
)
from desktop.library.metadata import read_record
from desktop.library.recovery import rebuild_library
from desktop.library.store import Library
from desktop.library.video import video_info

TEMPLATE = "{prompt}_{seed}"


def sphere() -> MeshData:
    shape = trimesh.creation.icosphere(subdivisions=2, radius=0.8)
    vertices = np.asarray(shape.vertices, np.float32)
    return MeshData(vertices, np.asarray(shape.faces, np.uint32), (vertices / 1.6 + 0.5).clip(0, 1))


def mesh_result(views: int = 6, size: int = 32, prompt: str = "a product prototype") -> GenerationResult:
    # A validated request as the engine returns it (the fields are what the library records).
    request = GenerationRequest(
        prompt=prompt, task=Task.TEXT_TO_3D, model="/models/shap-e", width=size, height=size, steps=64,
        guidance=15.0, frames=views, fps=10, seed=42,
    )  # fmt: skip
    frames = [Image.new("RGB", (size, size), (40 * i % 256, 90, 160)) for i in range(views)]
    item = GeneratedImage(frames[0], 42, 0, frames=frames, fps=10, mesh=sphere())
    return GenerationResult(request, [item], "cpu", {"generate_s": 1.0})


@pytest.fixture
def saved(isolated_home):
    library = Library()
    (item,) = library.save(mesh_result())
    return library, item


def test_a_3d_object_is_saved_as_glb_turntable_and_poster_with_its_record(saved):
    library, item = saved
    row = item.row
    assert (row.media, item.path.suffix, row.width, row.height) == ("mesh", ".glb", 32, 32)
    poster = library.still(row)
    assert poster.name.endswith(".poster.png") and Image.open(poster).size == (32, 32)
    record = read_record(poster)
    assert record["task"] == "text-to-3d" and record["request"]["frames"] == 6
    info = read_glb_info(item.path)
    assert (info["vertices"], info["faces"], info["record"]) == (162, 320, record)
    turntable = turntable_name(item.path)
    video = video_info(turntable)
    assert (video["frames"], video["fps"], video["width"], video["record"]) == (6, 10.0, 32, record)
    assert mesh_summary(item.path) == {"vertices": 162, "faces": 320, "turntable": str(turntable)}
    assert sorted(p.name.split(".", 1)[1] for p in item.path.parent.iterdir()) == [
        "glb",
        "poster.png",
        "turntable.mp4",
    ]


def test_the_glb_reads_back_the_same_in_trimesh_pygltflib_and_here(saved):
    _, item = saved
    original = sphere()
    loaded = trimesh.load(item.path, force="mesh", process=False)
    assert np.allclose(loaded.vertices, original.vertices) and np.array_equal(loaded.faces, original.faces)
    gltf = pygltflib.GLTF2().load(str(item.path))
    primitive = gltf.meshes[0].primitives[0]
    counts = (gltf.accessors[primitive.attributes.POSITION].count, gltf.accessors[primitive.indices].count // 3)
    assert counts == (162, 320) and primitive.attributes.COLOR_0 is not None
    assert gltf.asset.generator == "Diffusion Studio" and gltf.asset.extras["seed"] == 42
    back = load_mesh(item.path)
    assert np.array_equal(back.faces, original.faces) and np.allclose(back.vertices, original.vertices)
    assert np.abs(back.colors - original.colors).max() <= 0.5 / 255 + 1e-6


def _validator():
    """node and the Khronos glTF validator (npm's gltf-validator, found through NODE_PATH or npm's
    global folder), or None."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        return None
    paths = [p for p in os.environ.get("NODE_PATH", "").split(os.pathsep) if p]
    if npm:
        found = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=30)
        paths.append(found.stdout.strip())
    env = {**os.environ, "NODE_PATH": os.pathsep.join(paths)}
    probe = subprocess.run([node, "-e", "require.resolve('gltf-validator')"], env=env, capture_output=True)
    return (node, env) if probe.returncode == 0 else None


def test_the_glb_passes_the_khronos_gltf_validator(saved):
    found = _validator()
    if found is None:
        pytest.skip("the Khronos glTF validator is not installed (npm install gltf-validator; set NODE_PATH)")
    node, env = found
    script = (
        "const v = require('gltf-validator'); const fs = require('fs');"
        "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
        ".then(r => console.log(JSON.stringify(r.issues)));"
    )
    out = subprocess.run([node, "-e", script, str(saved[1].path)], env=env, capture_output=True, text=True, timeout=60)
    issues = json.loads(out.stdout)
    assert (issues["numErrors"], issues["numWarnings"], issues["numInfos"], issues["numHints"]) == (0, 0, 0, 0)


def test_exports_glb_obj_with_mtl_ply_and_the_turntable_under_template_names(saved, tmp_path):
    library, item = saved
    out = tmp_path / "campaign"
    out.mkdir()
    paths = {fmt: export_mesh(item.path, item.row, out, TEMPLATE, fmt) for fmt in mesh_files.EXPORT_FORMATS}
    stem = "a-product-prototype_42"
    assert {fmt: p.name for fmt, p in paths.items()} == {fmt: f"{stem}.{fmt}" for fmt in paths}
    assert paths["glb"].read_bytes() == item.path.read_bytes()
    obj_text = paths["obj"].read_text()
    assert f"mtllib {stem}.mtl" in obj_text and (out / f"{stem}.mtl").read_text().count("newmtl") == 1
    # trimesh prefers an OBJ's material to its vertex colours: read the colours with the material skipped.
    obj = trimesh.load(paths["obj"], process=False, skip_materials=True)
    assert trimesh.load(paths["obj"], process=False).visual.material is not None  # the MTL is found
    ply = trimesh.load(paths["ply"], process=False)
    for shape in (obj, ply):
        assert (len(shape.vertices), len(shape.faces)) == (162, 320)
    # OBJ and PLY hold display (sRGB) colours: brighter than the GLB's linear ones.
    linear = sphere().colors
    expected = np.round(mesh_files.to_srgb(linear) * 255)
    assert np.abs(ply.visual.vertex_colors[:, :3].astype(float) - expected).max() <= 1
    assert np.abs(obj.visual.vertex_colors[:, :3].astype(float) - expected).max() <= 1
    assert video_info(paths["mp4"])["frames"] == 6
    with Image.open(paths["gif"]) as gif:
        assert gif.n_frames == 6


def test_exports_never_overwrite_and_an_obj_keeps_its_mtl_beside_it(saved, tmp_path):
    _, item = saved
    stem = "a-product-prototype_42"
    (tmp_path / f"{stem}.mtl").write_text("someone else's material")  # the OBJ's name is free, its MTL's not
    (tmp_path / f"{stem}.glb").write_bytes(b"someone else's object")
    obj = export_mesh(item.path, item.row, tmp_path, TEMPLATE, "obj")
    glb = export_mesh(item.path, item.row, tmp_path, TEMPLATE, "glb")
    assert (obj.name, glb.name) == (f"{stem}-1.obj", f"{stem}-1.glb")
    assert f"mtllib {stem}-1.mtl" in obj.read_text() and (tmp_path / f"{stem}-1.mtl").is_file()
    assert (tmp_path / f"{stem}.mtl").read_text() == "someone else's material"
    assert (tmp_path / f"{stem}.glb").read_bytes() == b"someone else's object"


def test_export_problems_are_one_sentence(saved, tmp_path):
    _, item = saved
    with pytest.raises(ExportError, match=r"^3D export format 'fbx' is unknown; choose one of: glb, .*\.$"):
        export_mesh(item.path, item.row, tmp_path, TEMPLATE, "fbx")
    turntable_name(item.path).unlink()
    with pytest.raises(ExportError, match="turntable .* is missing"):
        export_mesh(item.path, item.row, tmp_path, TEMPLATE, "gif")
    assert [p.name for p in tmp_path.iterdir()] == ["home"]  # the library only: no export written


def test_a_file_that_is_not_a_glb_is_named_in_one_sentence(tmp_path):
    fake = tmp_path / "fake.glb"
    fake.write_bytes(b"glTF" + bytes(30))
    with pytest.raises(MeshError, match=r"^fake\.glb is not a glTF 2\.0 binary \(GLB\) file\.$"):
        read_glb_info(fake)
    with pytest.raises(MeshError, match="fake.glb"):
        load_mesh(fake)


def test_a_failed_write_leaves_no_file_and_no_row(isolated_home, monkeypatch):
    import desktop.library.video as video

    def broken(*args, **kwargs):
        raise video.VideoError("the video could not be written: disk full")

    monkeypatch.setattr(video, "write_mp4", broken)
    library = Library()
    with pytest.raises(video.VideoError):
        library.save(mesh_result())
    assert not [p for p in library.images_dir.rglob("*") if p.is_file()] and library.db.count() == 0


def test_the_history_is_rebuilt_from_a_3d_objects_files(saved):
    library, item = saved
    library.close()
    report = rebuild_library(library.root)
    assert report.rows == 1 and report.without_record == []
    rebuilt = Library(library.root)
    (row,) = rebuilt.db.query()
    assert (row.media, row.path, row.poster) == ("mesh", item.row.path, item.row.poster)
    rebuilt.close()
