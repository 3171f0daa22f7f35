"""Video files through imageio-ffmpeg's bundled ffmpeg: MP4 (H.264, yuv420p) written atomically,
GIF and WebM made from it on export, and what a file holds read back."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from desktop.engine.errors import EngineError
from desktop.library.atomic import atomic_produce

METADATA_KEY = "comment"  # ffmpeg writes it as the MP4's ©cmt tag, which players show
VIDEO_FORMATS = ("mp4", "gif", "webm")


class VideoError(EngineError):
    """A video could not be written or converted (one sentence, from ffmpeg's last line)."""


def _ffmetadata_escape(text: str) -> str:
    """ffmetadata's escaping: a backslash before = ; # \\ and newlines."""
    return re.sub(r"([=;#\\\n])", r"\\\1", text)


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def write_mp4(
    path: Path,
    frames: Sequence[Image.Image],
    fps: int,
    record: dict,
    staging: Path | None = None,
    overwrite: bool = False,
) -> Path:
    """H.264 in yuv420p, so every player and social site takes it; the record rides in the metadata."""
    import numpy as np

    width, height = frames[0].size

    def produce(temp: Path) -> None:
        # The record goes to ffmpeg through an ffmetadata file beside the temp video, not on its
        # command line: a long prompt would exceed the system's argument length limit.
        metadata = temp.with_name(temp.name + ".ffmetadata")
        metadata.write_text(f";FFMETADATA1\n{METADATA_KEY}={_ffmetadata_escape(json.dumps(record))}\n", "utf-8")
        command = [
            ffmpeg(), "-y", "-v", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
            "-f", "ffmetadata", "-i", str(metadata),
            "-map", "0:v", "-map_metadata", "1",
            # crf 10: near-lossless at these sizes; sizes are multiples of 8 already, so never rescaled.
            "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-crf", "10", "-movflags", "+faststart",
            str(temp),
        ]  # fmt: skip
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                for frame in frames:
                    process.stdin.write(np.ascontiguousarray(np.asarray(frame.convert("RGB"))).tobytes())
                process.stdin.close()
            except BrokenPipeError:
                pass  # ffmpeg stopped early: its own message says why
            error = process.stderr.read(64 * 1024).decode("utf-8", "replace")
            if process.wait() != 0:
                reason = (error.strip().splitlines() or ["ffmpeg failed"])[-1]
                raise VideoError(f"the video could not be written: {reason}")
        finally:
            metadata.unlink(missing_ok=True)

    return atomic_produce(path, produce, staging, overwrite)


def convert(source: Path, target: Path, fmt: str) -> None:
    """Write source (an MP4) to target as fmt: mp4 copies, gif uses a per-video palette, webm is VP9.

    target is written in place: give it a temp path (see export.py) to keep the write atomic.
    """
    if fmt not in VIDEO_FORMATS:
        raise VideoError(f"video format '{fmt}' is unknown; choose one of: {', '.join(VIDEO_FORMATS)}.")
    options = {
        "mp4": ["-c", "copy", "-movflags", "+faststart", "-f", "mp4"],
        "gif": ["-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse", "-loop", "0", "-f", "gif"],
        "webm": ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "32", "-row-mt", "1", "-an", "-f", "webm"],
    }[fmt]
    done = subprocess.run(
        [ffmpeg(), "-v", "error", "-y", "-i", str(source), *options, str(target)], capture_output=True, text=True
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
        raise VideoError(f"converting {source.name} to {fmt} failed: {reason}")


def video_info(path: Path) -> dict:
    """frames, fps, width, height, codec, pix_fmt and the embedded record, read back with ffmpeg."""
    import imageio_ffmpeg

    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    probe = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    stream = re.search(r"Video: (\w+).*?, (\w+)(?:\([^)]*\))?, (\d+)x(\d+).*?, ([\d.]+) fps", probe)
    # ffmpeg's console listing cuts long tags; its ffmetadata output holds them whole.
    tags = subprocess.run(
        [ffmpeg(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"], capture_output=True, text=True
    ).stdout
    record = None
    match = re.search(rf"^{METADATA_KEY}=(.*)$", tags, re.MULTILINE)
    if match:
        try:
            # ffmetadata escapes = ; # \ and newlines with a backslash.
            record = json.loads(re.sub(r"\\(.)", r"\1", match.group(1)))
        except json.JSONDecodeError:
            record = None
    if stream is None:
        raise VideoError(f"{path.name} is not a readable video.")
    codec, pix_fmt, width, height, fps = stream.groups()
    return {
        "frames": frames,
        "fps": float(fps),
        "width": int(width),
        "height": int(height),
        "codec": codec,
        "pix_fmt": pix_fmt,
        "record": record,
    }
