"""3D objects in the library and on export.

A 3D result is three files with one stem: `<stem>.glb` (the mesh, binary glTF with vertex colours,
the full record in its `asset.extras`), `<stem>.turntable.mp4` (the renderer's views of it turning
once) and `<stem>.poster.png` (the first view, carrying the record like every poster). Exports: the
GLB as it is, OBJ with an MTL beside it, PLY, or the turntable as MP4 or GIF, under names from the
same templates as every export, never overwriting a file.

GLB is written with trimesh (numpy only) and read back directly with numpy; it passes the Khronos
glTF validator with no errors, warnings or hints. Colours in the GLB are linear, as glTF defines
COLOR_0; OBJ and PLY readers take vertex colours as display (sRGB) values, so exports convert them.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.library.atomic import atomic_produce

if TYPE_CHECKING:
    from desktop.engine.result import MeshData
    from desktop.library.history import HistoryRow

MESH_SUFFIX = ".glb"
TURNTABLE_SUFFIX = ".turntable.mp4"
POSTER_SUFFIX = ".poster.png"
# What "Export to" offers for a 3D object: format -> (file extension, what the menu says).
EXPORT_FORMATS = {
    "glb": (".glb", "GLB (binary glTF)"),
    "obj": (".obj", "OBJ + MTL"),
    "ply": (".ply", "PLY"),
    "mp4": (".mp4", "Turntable MP4"),
    "gif": (".gif", "Turntable GIF"),
}
EXTENSIONS = {fmt: extension for fmt, (extension, _) in EXPORT_FORMATS.items()}
GENERATOR = "Diffusion Studio"
MESH_NAME = "object"
# glTF bufferView targets: vertex attributes and triangle indices.
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
# A GLB's JSON chunk beyond this is not ours (ours is a few KB): not read.
MAX_JSON_BYTES = 16 * 2**20
_GLB_MAGIC, _JSON_CHUNK, _BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942


class MeshError(Exception):
    """A mesh file could not be read or written (one sentence)."""


def turntable_name(mesh: Path) -> Path:
    """The turntable beside a mesh (`x.glb` -> `x.turntable.mp4`); works on relative paths too."""
    return mesh.with_name(mesh.name.removesuffix(MESH_SUFFIX) + TURNTABLE_SUFFIX)


def glb_bytes(mesh: MeshData, record: dict) -> bytes:
    """The mesh as a GLB: positions, triangle indices, normals and linear RGBA vertex colours; the
    record in asset.extras (where glTF lets applications keep their own data)."""
    import numpy as np
    import trimesh

    colours = np.empty((mesh.vertex_count, 4), dtype=np.uint8)
    colours[:, :3] = np.round(np.clip(mesh.colors, 0, 1) * 255)
    colours[:, 3] = 255
    # process=False: merging or removing vertices would change the counts the record promises.
    shape = trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_colors=colours, process=False)
    scene = trimesh.Scene()
    scene.add_geometry(shape, node_name=MESH_NAME, geom_name=MESH_NAME)

    def finish(tree: dict) -> None:
        tree["asset"]["generator"] = GENERATOR
        tree["asset"]["extras"] = record
        # A plain matte material: without one, viewers pick their own default (Qt's is metallic and
        # shows the colours dark); white, so the vertex colours are the object's colours.
        tree["materials"] = [
            {
                "name": MESH_NAME,
                "pbrMetallicRoughness": {
                    "baseColorFactor": [1, 1, 1, 1],
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.8,
                },
            }
        ]
        for shape_entry in tree["meshes"]:
            for primitive in shape_entry["primitives"]:
                primitive["material"] = 0
        indices = {primitive["indices"] for m in tree["meshes"] for primitive in m["primitives"]}
        for number, accessor in enumerate(tree["accessors"]):
            view = tree["bufferViews"][accessor["bufferView"]]
            view["target"] = ELEMENT_ARRAY_BUFFER if number in indices else ARRAY_BUFFER

    return trimesh.exchange.gltf.export_glb(scene, include_normals=True, tree_postprocessor=finish)


def write_glb(path: Path, mesh: MeshData, record: dict, staging: Path | None = None) -> Path:
    data = glb_bytes(mesh, record)
    return atomic_produce(path, lambda temp: temp.write_bytes(data), staging, overwrite=False)


def _read_glb(path: Path, binary: bool) -> tuple[dict, bytes]:
    """(the glTF JSON, the binary chunk or b"" when not asked for); MeshError for anything else."""
    name = Path(path).name
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
            if len(header) < 20:
                raise MeshError(f"{name} is not a GLB file (too short).")
            magic, version, _length, chunk_length, chunk_type = struct.unpack("<5I", header)
            if magic != _GLB_MAGIC or version != 2 or chunk_type != _JSON_CHUNK or chunk_length > MAX_JSON_BYTES:
                raise MeshError(f"{name} is not a glTF 2.0 binary (GLB) file.")
            tree = json.loads(handle.read(chunk_length).decode("utf-8"))
            blob = b""
            if binary:
                blob_header = handle.read(8)
                if len(blob_header) == 8 and struct.unpack("<2I", blob_header)[1] == _BIN_CHUNK:
                    blob = handle.read(struct.unpack("<2I", blob_header)[0])
    except OSError as exc:
        raise MeshError(f"{name} cannot be read: {exc.strerror or exc}.") from None
    except (ValueError, UnicodeDecodeError):
        raise MeshError(f"{name} is not a GLB file: its glTF description is not JSON.") from None
    if not isinstance(tree, dict):
        raise MeshError(f"{name} is not a GLB file: its glTF description is not JSON.")
    return tree, blob


def _primitive(tree: dict) -> dict:
    primitive = tree["meshes"][0]["primitives"][0]
    if not isinstance(primitive, dict):
        raise TypeError
    return primitive


def read_glb_info(path: Path) -> dict:
    """{'vertices', 'faces', 'record'} from a GLB's JSON chunk alone (no mesh decoding): what the CLI
    and the gallery say about a file. Raises MeshError for anything that is not a readable GLB."""
    tree, _ = _read_glb(path, binary=False)
    try:
        accessors, primitive = tree["accessors"], _primitive(tree)
        vertices = int(accessors[primitive["attributes"]["POSITION"]]["count"])
        faces = int(accessors[primitive["indices"]]["count"]) // 3
    except (ValueError, KeyError, IndexError, TypeError):
        raise MeshError(f"{Path(path).name} holds no triangle mesh this app can read.") from None
    record = tree.get("asset", {}).get("extras") if isinstance(tree.get("asset"), dict) else None
    return {"vertices": vertices, "faces": faces, "record": record if isinstance(record, dict) else None}


def mesh_summary(path: Path) -> dict:
    """The fields `generate --json` adds for a 3D object: vertices, faces and the turntable's path."""
    info = read_glb_info(path)
    return {"vertices": info["vertices"], "faces": info["faces"], "turntable": str(turntable_name(Path(path)))}


# glTF component types -> numpy types, and how many components each accessor type has.
_COMPONENTS = {5121: "u1", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_WIDTHS = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}


def _accessor(tree: dict, blob: bytes, index: int):
    import numpy as np

    accessor = tree["accessors"][index]
    view = tree["bufferViews"][accessor["bufferView"]]
    dtype = np.dtype(_COMPONENTS[accessor["componentType"]])
    width, count = _WIDTHS[accessor["type"]], int(accessor["count"])
    start = int(view.get("byteOffset", 0)) + int(accessor.get("byteOffset", 0))
    stride = int(view.get("byteStride", 0)) or dtype.itemsize * width
    if start + stride * (count - 1) + dtype.itemsize * width > len(blob):
        raise ValueError("accessor outside the binary chunk")
    rows = np.lib.stride_tricks.as_strided(
        np.frombuffer(blob, dtype=np.uint8, offset=start), shape=(count, dtype.itemsize * width), strides=(stride, 1)
    )
    values = np.ascontiguousarray(rows).view(dtype).reshape(count, width)
    if accessor.get("normalized"):
        values = values.astype(np.float32) / np.iinfo(dtype).max
    return values


def load_mesh(path: Path) -> MeshData:
    """A GLB's first triangle mesh back as MeshData: positions, triangles and COLOR_0 (linear, as
    stored; white where it has none). Read directly, not through trimesh, which drops vertex colours
    from a primitive that has a material (ours has one)."""
    import numpy as np

    from desktop.engine.result import MeshData

    tree, blob = _read_glb(path, binary=True)
    try:
        primitive = _primitive(tree)
        if primitive.get("mode", 4) != 4:
            raise ValueError("not triangles")
        attributes = primitive["attributes"]
        vertices = _accessor(tree, blob, attributes["POSITION"]).astype(np.float32)
        faces = _accessor(tree, blob, primitive["indices"]).astype(np.uint32).reshape(-1, 3)
        if "COLOR_0" in attributes:
            colours = _accessor(tree, blob, attributes["COLOR_0"])[:, :3].astype(np.float32)
        else:
            colours = np.ones_like(vertices)
        if len(colours) != len(vertices) or (len(faces) and int(faces.max()) >= len(vertices)):
            raise ValueError("inconsistent accessors")
    except (ValueError, KeyError, IndexError, TypeError):
        raise MeshError(f"{Path(path).name} holds no triangle mesh this app can read.") from None
    return MeshData(vertices=vertices, faces=faces, colors=colours)


def to_srgb(linear):
    import numpy as np

    linear = np.clip(linear, 0, 1)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def obj_text(mesh: MeshData, material_file: str) -> str:
    """Wavefront OBJ: `v x y z r g b` (the vertex-colour extension Blender, MeshLab and trimesh
    read; sRGB), one material from the MTL beside it, 1-based triangles."""
    return obj_header(mesh, material_file) + obj_body(mesh)


def obj_header(mesh: MeshData, material_file: str) -> str:
    return f"# {GENERATOR}: {mesh.vertex_count} vertices, {mesh.face_count} triangles\nmtllib {material_file}\n"


def obj_body(mesh: MeshData) -> str:
    import numpy as np

    rows = np.hstack([mesh.vertices.astype(np.float64), to_srgb(mesh.colors)])
    vertex_lines = "\n".join("v " + " ".join(f"{value:.6f}" for value in row) for row in rows)
    face_lines = "\n".join(f"f {a} {b} {c}" for a, b, c in (mesh.faces.astype(np.int64) + 1))
    return f"o {MESH_NAME}\n{vertex_lines}\nusemtl {MESH_NAME}\n{face_lines}\n"


def mtl_text() -> str:
    # A white, matte material: the vertex colours carry the object's colours.
    return f"# {GENERATOR}\nnewmtl {MESH_NAME}\nKa 0 0 0\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\n"


def ply_bytes(mesh: MeshData) -> bytes:
    """Binary PLY with uchar sRGB vertex colours, as trimesh writes it."""
    import numpy as np
    import trimesh

    colours = np.empty((mesh.vertex_count, 4), dtype=np.uint8)
    colours[:, :3] = np.round(to_srgb(mesh.colors) * 255)
    colours[:, 3] = 255
    shape = trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_colors=colours, process=False)
    return trimesh.exchange.ply.export_ply(shape, encoding="binary", vertex_normal=False)


def export_mesh(source: Path, row: HistoryRow, folder: Path, template: str, fmt: str) -> Path:
    """Write a 3D object (source: its GLB in the library) into folder as fmt under a templated name;
    return the path written (the OBJ for obj, its MTL beside it)."""
    from desktop.library.export import ExportError, _place, _target

    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"3D export format '{fmt}' is unknown; choose one of: {', '.join(EXPORT_FORMATS)}.")
    source = Path(source)
    if fmt in ("mp4", "gif"):
        from desktop.library.export import export_video

        turntable = turntable_name(source)
        if not turntable.is_file():
            raise ExportError(f"the turntable {turntable.name} is missing from the library: export the GLB instead.")
        return export_video(turntable, row, folder, template, fmt)
    if not source.is_file():
        raise ExportError(f"the 3D object {source.name} is missing from the library.")
    target = _target(folder, template, row, EXTENSIONS[fmt])
    if fmt == "glb":
        data = source.read_bytes()
        return _place(target, lambda temp: temp.write_bytes(data))
    try:
        mesh = load_mesh(source)
    except MeshError as exc:
        raise ExportError(str(exc)) from None
    if fmt == "ply":
        data = ply_bytes(mesh)
        return _place(target, lambda temp: temp.write_bytes(data))
    return _place_obj(target, mesh)


def _place_obj(target: Path, mesh: MeshData) -> Path:
    """The OBJ and its MTL under one free stem (neither file existing), the MTL first so that the
    OBJ never names a material file that is not there; never overwrites either."""
    from desktop.library.export import ExportError

    mtl_data, body = mtl_text(), obj_body(mesh)
    for n in range(100):
        stem = target.stem if n == 0 else f"{target.stem}-{n}"
        obj_path, mtl_path = target.with_name(stem + ".obj"), target.with_name(stem + ".mtl")
        if obj_path.exists() or mtl_path.exists():
            continue
        try:
            atomic_produce(mtl_path, lambda temp: temp.write_text(mtl_data, "utf-8"), overwrite=False)
        except FileExistsError:
            continue
        obj_data = obj_header(mesh, mtl_path.name) + body
        try:
            return atomic_produce(obj_path, lambda temp, text=obj_data: temp.write_text(text, "utf-8"), overwrite=False)
        except FileExistsError:
            mtl_path.unlink(missing_ok=True)
            continue
        except BaseException:
            mtl_path.unlink(missing_ok=True)
            raise
    raise ExportError(f"could not find a free file name for {target.name} in {target.parent}.")
