"""Tiling: tiles cover the picture, neighbours blend, and a tiled result matches an untiled one."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from desktop.engine import tiling
from desktop.engine.errors import GenerationCancelled


def gradient(width: int, height: int) -> np.ndarray:
    """A smooth picture: red rises left to right, green top to bottom, blue along the diagonal."""
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    rgb = np.stack(np.broadcast_arrays(x, y, (x + y) / 2), axis=-1)
    return (rgb * 255).round().astype(np.uint8)


def nearest(scale: int):
    def upscale(pixels: np.ndarray) -> np.ndarray:
        return pixels.repeat(scale, 0).repeat(scale, 1).astype(np.float32) / 255

    return upscale


@pytest.mark.parametrize(
    "length, tile, overlap, multiple", [(100, 32, 8, 1), (481, 256, 32, 1), (132, 40, 12, 4), (4096, 512, 64, 8)]
)
def test_tiles_cover_the_picture_and_neighbours_overlap_by_at_least_the_overlap(length, tile, overlap, multiple):
    spans = tiling.spans(length, tile, overlap, multiple)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(end - start == tile for start, end in spans)
    assert all(start % multiple == 0 for start, _ in spans)
    assert all(b_start <= a_end - overlap for (_, a_end), (b_start, _) in zip(spans[:-1], spans[1:], strict=True))


def test_a_picture_smaller_than_a_tile_is_one_tile():
    assert tiling.plan(50, 40, 64, 16) == [tiling.Tile(0, 0, 50, 40)]
    assert tiling.count(50, 40, 64, 16) == 1


def test_the_weights_of_two_neighbours_sum_to_one_across_their_overlap():
    overlap = 32
    left = tiling.ramp(96, False, True, overlap)
    right = tiling.ramp(96, True, False, overlap)
    # Overlapping by exactly `overlap`: left's last 32 pixels lie over right's first 32.
    assert np.allclose(left[-overlap:] + right[:overlap], 1.0)
    assert left[-overlap // 4 :].max() == 0.0 and right[: overlap // 4].max() == 0.0  # the edge margin
    assert left[0] == 1.0 and right[-1] == 1.0  # the picture's border keeps full weight


def test_blending_an_exact_upscaler_gives_the_untiled_result_bit_for_bit():
    pixels = gradient(150, 90)
    whole = tiling.upscale_tiled(pixels, nearest(3), 3, tile=512, overlap=16)
    tiled = tiling.upscale_tiled(pixels, nearest(3), 3, tile=40, overlap=16)
    assert tiled.shape == (270, 450, 3)
    assert np.array_equal(whole, tiled)


def test_sides_the_upscaler_cannot_take_are_padded_and_cut_off_again():
    seen = []

    def upscale(pixels):
        seen.append(pixels.shape[:2])
        return nearest(2)(pixels)

    result = tiling.upscale_tiled(gradient(45, 31), upscale, 2, tile=24, overlap=8, multiple=4)
    assert result.shape == (62, 90, 3)
    assert all(h % 4 == 0 and w % 4 == 0 for h, w in seen)


def test_progress_after_each_tile_and_cancel_before_the_next():
    cancel = threading.Event()
    done = []

    def on_tile(finished, total):
        done.append((finished, total))
        if finished == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        tiling.upscale_tiled(gradient(100, 100), nearest(2), 2, 40, 8, on_tile=on_tile, cancel=cancel)
    assert done == [(1, 9), (2, 9)]


def test_a_tile_of_the_wrong_size_is_an_error_not_a_distorted_picture():
    with pytest.raises(ValueError, match="40x40"):
        tiling.upscale_tiled(gradient(20, 20), nearest(3), 2, 64, 8)


def test_no_seam_in_a_tiled_rrdbnet_result(tmp_path):
    """A tiny RRDBNet pads each tile's border with zeros; blended tiles must still match the untiled
    picture closely, and show no step where tiles meet."""
    import torch
    from tiny_upscalers import rrdb_state_dict

    from desktop.engine.rrdbnet import RRDBNet

    net = RRDBNet.from_state_dict(rrdb_state_dict(noise=0.03, seed=3))

    def upscale(pixels):
        batch = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            return net(batch).clamp(0, 1)[0].permute(1, 2, 0).numpy()

    pixels = gradient(96, 80)
    whole = tiling.upscale_tiled(pixels, upscale, 4, tile=512, overlap=32).astype(int)
    tiled = tiling.upscale_tiled(pixels, upscale, 4, tile=48, overlap=24).astype(int)
    hard_cut = tiling.upscale_tiled(pixels, upscale, 4, tile=48, overlap=0).astype(int)
    assert tiling.count(96, 80, 48, 24) == 9
    difference = np.abs(whole - tiled)
    assert difference.max() <= 3 and difference.mean() < 0.3
    # No seam: across every line where one tile starts or ends, the step between neighbouring pixels
    # is the untiled picture's step. Tiles cut without overlap show what a seam looks like.
    borders = {edge * 4 for box in tiling.plan(96, 80, 48, 24) for edge in (box.left, box.right) if 0 < edge < 96}
    columns = sorted(borders)
    step_tiled = np.diff(tiled, axis=1)[:, [c - 1 for c in columns]]
    step_whole = np.diff(whole, axis=1)[:, [c - 1 for c in columns]]
    assert np.abs(step_tiled - step_whole).max() <= 3
    assert np.abs(hard_cut - whole).max() > 30
