"""The demo video model's training clips and the classifier that reads clips back."""

from __future__ import annotations

import random

import numpy as np

from desktop.training.demo.shapes import BACKGROUNDS, PALETTE, SHAPES
from desktop.training.demo_video.clips import FRAMES, MOTIONS, REVERSED, Clip, classify, dataset, draw, random_clip


def test_the_same_seed_gives_the_same_clips_and_captions():
    first, clips = dataset(12, seed=7)
    again, clips_again = dataset(12, seed=7)
    other, _ = dataset(12, seed=8)
    assert first.shape == (12, FRAMES, 64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again) and clips == clips_again
    assert not np.array_equal(first, other)


def test_captions_name_what_is_drawn_and_every_motion_is_as_common():
    clip = Clip("circle", "red", "blue", "moving right")
    assert clip.caption == "a red circle moving right on a blue background"
    assert Clip("square", "green", "gray", "moving left", wording=1).caption == (
        "a green square moving to the left on a gray background"
    )
    assert Clip("triangle", "white", "black", "growing", wording=1).caption == (
        "a white triangle growing on a black background"
    )
    _, clips = dataset(60, seed=1)
    assert {m: sum(c.motion == m for c in clips) for m in MOTIONS} == dict.fromkeys(MOTIONS, 10)
    for c in clips:
        assert c.color != c.background and c.color in c.caption and c.shape in c.caption
        assert c.motion.split()[-1] in c.caption.split()


def test_the_classifier_reads_every_colour_background_and_motion_back():
    rng = random.Random(3)
    for color in PALETTE:
        for background in BACKGROUNDS:
            if background == color:
                continue
            for motion in MOTIONS:
                clip = random_clip(rng, motion)
                clip = Clip(rng.choice(SHAPES), color, background, motion, clip.start, clip.end)
                seen = classify(draw(clip))
                assert (seen["color"], seen["background"], seen["motion"]) == (color, background, motion), (clip, seen)
                assert seen["differ"] > 2


def test_a_clip_played_backwards_is_the_reversed_motion():
    rng = random.Random(5)
    for motion in MOTIONS:
        frames = draw(random_clip(rng, motion))
        assert classify(frames[::-1])["motion"] == REVERSED[motion]


def test_a_still_and_an_empty_clip():
    frames = draw(Clip("square", "red", "blue", "moving left", (32, 32, 10), (32, 32, 10)))
    seen = classify(frames)
    assert (seen["motion"], seen["differ"]) == ("still", 0.0)
    empty = np.broadcast_to(np.array(BACKGROUNDS["gray"], dtype=np.uint8), (FRAMES, 64, 64, 3))
    assert classify(empty) == {"background": "gray", "color": "none", "motion": "none", "differ": 0.0}
