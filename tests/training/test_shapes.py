"""The demo model's training pictures and the classifier that reads pictures back."""

from __future__ import annotations

import random

import numpy as np

from desktop.training.demo.shapes import BACKGROUNDS, PALETTE, SHAPES, Scene, classify, dataset, draw, random_scene


def test_the_same_seed_gives_the_same_pictures_and_captions():
    first, captions = dataset(20, seed=7)
    again, captions_again = dataset(20, seed=7)
    other, _ = dataset(20, seed=8)
    assert np.array_equal(first, again) and captions == captions_again
    assert not np.array_equal(first, other)


def test_captions_name_what_is_drawn():
    scene = Scene("circle", "red", "blue", size="small", position="left")
    assert scene.caption == "a small red circle on the left on a blue background"
    centred = Scene("square", "green", "gray", position="centre")
    assert centred.caption == "a green square in the centre on a gray background"
    rng = random.Random(1)
    for _ in range(200):
        scene = random_scene(rng)
        assert scene.color != scene.background and scene.color in scene.caption and scene.shape in scene.caption


def test_the_classifier_reads_every_drawn_combination_back():
    for shape in SHAPES:
        for color in PALETTE:
            for background in BACKGROUNDS:
                if background == color:
                    continue
                seen = classify(draw(Scene(shape, color, background)))
                assert (seen["shape"], seen["color"], seen["background"]) == (shape, color, background)


def test_an_empty_picture_has_no_shape():
    from PIL import Image

    seen = classify(Image.new("RGB", (64, 64), BACKGROUNDS["gray"]))
    assert seen["shape"] == "none" and seen["background"] == "gray"
