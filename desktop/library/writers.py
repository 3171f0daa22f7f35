"""How each kind of result is written: one writer per media kind, the library looks them up.

A new media kind (a mesh, say) is one writer here plus its entry in WRITERS. Every writer leaves a
PNG that stands for the result in the gallery (the picture itself, or a poster) and carries the
full record, so the history can always be rebuilt from the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from desktop.engine.tasks import MediaKind
from desktop.library.atomic import atomic_write
from desktop.library.metadata import png_info

if TYPE_CHECKING:
    from desktop.engine.result import GeneratedImage


class MediaWriter(Protocol):
    def names(self, stem: Path) -> tuple[Path, Path | None]:
        """(the result's file, its poster or None), relative to the library, from a name stem."""

    def write(self, root: Path, staging: Path, item: GeneratedImage, record: dict, path: Path, poster: Path | None):
        """Write the files atomically (never overwriting); return the absolute paths written, in order."""


def write_png(root: Path, staging: Path, relative: Path, image, record: dict) -> Path:
    return atomic_write(
        root / relative,
        lambda f: image.save(f, format="PNG", pnginfo=png_info(record)),
        staging=staging,
        overwrite=False,
    )


class ImageWriter:
    def names(self, stem: Path) -> tuple[Path, Path | None]:
        return stem.with_name(stem.name + ".png"), None

    def write(self, root, staging, item, record, path, poster) -> list[Path]:
        return [write_png(root, staging, path, item.image, record)]


class VideoWriter:
    """An H.264 MP4 and a poster PNG (its first frame), both carrying the record."""

    def names(self, stem: Path) -> tuple[Path, Path | None]:
        return stem.with_name(stem.name + ".mp4"), stem.with_name(stem.name + ".poster.png")

    def write(self, root, staging, item, record, path, poster) -> list[Path]:
        from desktop.library.video import write_mp4

        written = [write_png(root, staging, poster, item.image, record)]
        try:
            written.append(write_mp4(root / path, item.frames, item.fps, record, staging=staging))
        except BaseException:
            written[0].unlink(missing_ok=True)
            raise
        return written


class MeshWriter:
    """A 3D object: the poster PNG (its first turntable view, carrying the record), the GLB (the
    record also in its asset.extras) and the turntable MP4 beside it (desktop/library/mesh.py)."""

    def names(self, stem: Path) -> tuple[Path, Path | None]:
        return stem.with_name(stem.name + ".glb"), stem.with_name(stem.name + ".poster.png")

    def write(self, root, staging, item, record, path, poster) -> list[Path]:
        from desktop.library.mesh import turntable_name, write_glb
        from desktop.library.video import write_mp4

        written = [write_png(root, staging, poster, item.image, record)]
        try:
            written.append(write_glb(root / path, item.mesh, record, staging=staging))
            written.append(write_mp4(root / turntable_name(path), item.frames, item.fps, record, staging=staging))
        except BaseException:
            for done in written:
                done.unlink(missing_ok=True)
            raise
        return written


WRITERS: dict[MediaKind, MediaWriter] = {
    MediaKind.IMAGE: ImageWriter(),
    MediaKind.VIDEO: VideoWriter(),
    MediaKind.MESH: MeshWriter(),
}
