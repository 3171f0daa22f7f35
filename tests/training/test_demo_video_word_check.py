"""The direction word check: its floor, and a short run measured on its own clips."""

from __future__ import annotations

import pytest
import torch

from desktop.training.demo_video import word_check
from desktop.training.demo_video.word_check import direction_floor


def test_the_floor_is_what_the_mean_of_a_clip_and_itself_backwards_loses():
    palindrome = torch.tensor([0.0, 1.0, 1.0, 0.0]).reshape(1, 1, 4, 1, 1)  # (clips, channels, frames, h, w)
    ramp = torch.arange(4.0).reshape(1, 1, 4, 1, 1)
    assert direction_floor(palindrome) == 0.0
    assert direction_floor(ramp) == 1.25  # each frame 1.5 or 0.5 from the mean 1.5 of it and its mirror


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("plain", [False, True])
def test_a_short_run_measures_the_word_on_its_own_clips(plain):
    measured = word_check.main(["--clips", "2", "--max-steps", "2", "--minutes", "1", *(["--plain"] if plain else [])])
    assert [m["steps"] for m in measured] == [0, 2]
    start = measured[0]
    assert start["floor"] > 0.01  # the two clips move (left, then right): a clip and its reverse differ
    # The image demo's UNet already reads the new words, at random: its prediction changes with them.
    assert start["word_changes"] > 0.01 and start["true_caption"] != start["opposite_caption"]
