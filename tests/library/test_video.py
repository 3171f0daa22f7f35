"""Videos in the library: MP4 (H.264, yuv420p) with a poster and metadata; GIF and WebM on export."""

from __future__ import annotations

import pytest
from PIL import Image

from desktop.engine.request import GenerationRequest, Task, validate
from desktop.engine.result import GeneratedImage, GenerationResult
from desktop.library.errors import LibraryError
from desktop.library.export import ExportError, export_video
from desktop.library.store import Library
from desktop.library.video import video_info


def video_result(frames=8, fps=8, size=64, prompt="a smart watch") -> GenerationResult:
    request = validate(
        GenerationRequest(
            task=Task.TEXT_TO_VIDEO,
            prompt=prompt,
            model="/m",
            width=size,
            height=size,
            frames=frames,
            fps=fps,
            seed=3,
        )
    )
    pictures = [Image.new("RGB", (size, size), (i * 30 % 256, 80, 200 - i * 10)) for i in range(frames)]
    return GenerationResult(request, [GeneratedImage(pictures[0], 3, 0, frames=pictures, fps=fps)], "cpu", {})


def test_a_video_is_saved_as_mp4_with_poster_and_read_back(isolated_home):
    library = Library()
    (item,) = library.save(video_result(frames=12, fps=6, size=96))
    row = item.row
    assert (row.media, item.path.suffix) == ("video", ".mp4")
    assert library.still(row).name.endswith(".poster.png") and library.still(row).is_file()
    info = video_info(item.path)
    assert (info["frames"], info["fps"], info["width"], info["height"]) == (12, 6.0, 96, 96)
    assert (info["codec"], info["pix_fmt"]) == ("h264", "yuv420p")
    assert info["record"]["request"]["frames"] == 12 and info["record"]["seed"] == 3
    assert item.summary()["frames"] == 12 and item.summary()["fps"] == 6


def test_a_prompt_longer_than_any_command_line_is_kept_whole_in_the_mp4(isolated_home):
    # 6,000 emoji with the characters ffmetadata escapes: over the kernel's 128 KiB per-argument limit.
    prompt = "⌚=;#\\\n" * 6000
    (item,) = Library().save(video_result(frames=4, prompt=prompt))
    assert video_info(item.path)["record"]["prompt"] == prompt.strip()
    assert not list((isolated_home / ".partial").glob("*")), "the metadata file goes with the temp video"


def test_a_failed_mp4_write_leaves_neither_poster_nor_row(isolated_home, monkeypatch):
    def broken_ffmpeg(*args, **kwargs):
        raise OSError("ffmpeg is missing")

    monkeypatch.setattr("desktop.library.video.ffmpeg", broken_ffmpeg)
    library = Library()
    with pytest.raises(LibraryError, match="ffmpeg is missing"):
        library.save(video_result())
    assert [p for p in isolated_home.rglob("*") if p.is_file() and p.suffix in (".png", ".mp4")] == []
    assert library.db.count() == 0


def test_trash_and_restore_move_the_video_and_its_poster(isolated_home):
    library = Library()
    (item,) = library.save(video_result())
    library.trash(item.row)
    assert not item.path.exists() and not library.still(item.row).exists()
    library.restore(item.row)
    assert item.path.exists() and library.still(item.row).exists()


@pytest.mark.parametrize("fmt", ["mp4", "gif", "webm"])
def test_export_formats_keep_every_frame(fmt, isolated_home, tmp_path):
    library = Library()
    (item,) = library.save(video_result(frames=8, fps=8))
    written = export_video(item.path, item.row, tmp_path, "{prompt}_{seed}", fmt)
    again = export_video(item.path, item.row, tmp_path, "{prompt}_{seed}", fmt)
    assert written.name == f"a-smart-watch_3.{fmt}" and again.name == f"a-smart-watch_3-1.{fmt}"
    if fmt == "gif":
        with Image.open(written) as gif:
            assert gif.n_frames == 8
    else:
        info = video_info(written)
        assert info["frames"] == 8 and info["codec"] == {"mp4": "h264", "webm": "vp9"}[fmt]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_unknown_video_format_is_one_sentence(isolated_home, tmp_path):
    library = Library()
    (item,) = library.save(video_result())
    with pytest.raises(ExportError, match="video export format 'avi' is unknown; choose one of: mp4, gif, webm"):
        export_video(item.path, item.row, tmp_path, "{seed}", "avi")
