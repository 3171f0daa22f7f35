"""The high-noise loss floors: leave-one-out means, and on drawn clips the direction word's worth."""

from __future__ import annotations

import dataclasses
import random

import numpy as np

from desktop.training.demo_video.clips import MOTIONS, REVERSED, draw, random_clip
from desktop.training.demo_video.floors import floor, floors, with_reversed


def test_a_groups_spread_is_its_unbiased_variance_and_a_clip_alone_is_left_out():
    a, b, alone = np.zeros((1, 1, 2, 1, 1)), np.full((1, 1, 2, 1, 1), 2.0), np.full((1, 1, 2, 1, 1), 9.0)
    latents = np.concatenate([a, b, alone])
    # 0 and 2 about their mean 1: 1 each, times 2/(2-1); the clip alone has no mean to meet.
    assert floor(latents, ["x", "x", "y"]) == 2.0


def test_one_picture_for_all_frames_cannot_follow_a_clip_that_changes():
    ramp = np.arange(4.0).reshape(1, 1, 4, 1, 1)
    latents = np.concatenate([ramp, ramp, ramp])
    assert floor(latents, ["x"] * 3) == 0.0
    assert floor(latents, ["x"] * 3, one_picture=True) == np.mean((np.arange(4.0) - 1.5) ** 2)  # 1.25


def test_on_drawn_clips_the_direction_word_is_worth_more_than_the_axis():
    rng = random.Random(0)
    clips = [
        dataclasses.replace(random_clip(rng, motion, "narrow"), color="red", background="blue", wording=0)
        for motion in MOTIONS
        for _ in range(6)
    ]
    pixels = np.stack([draw(c) for c in clips]).transpose(0, 4, 1, 2, 3)[..., ::4, ::4] / 127.5 - 1
    latents, both_ways = with_reversed(pixels, clips)
    assert [c.motion for c in both_ways[len(clips) :]] == [REVERSED[c.motion] for c in clips]
    assert np.array_equal(latents[len(clips)], pixels[0][:, ::-1])
    found = floors(latents, both_ways)
    one_picture, per_frame, axis, direction = found.values()
    assert one_picture > per_frame > axis > direction
    assert direction < 0.7 * axis
