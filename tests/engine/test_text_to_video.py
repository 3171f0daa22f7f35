"""Text-to-video on a tiny TextToVideoSDPipeline: the deprecated pipeline's legacy callback path."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from desktop.engine.engine import Engine
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.request import GenerationRequest, Task, validate


@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    yield engine
    engine.release()


def video_request(model, **changes) -> GenerationRequest:
    base = GenerationRequest(
        task=Task.TEXT_TO_VIDEO,
        prompt="A woman is wearing a smart watch for health monitoring.",
        model=str(model),
        width=64,
        height=64,
        steps=3,
        frames=8,
        fps=8,
        seed=21,
    )
    return dataclasses.replace(base, **changes)


def frames_of(result, index=0) -> np.ndarray:
    return np.stack([np.asarray(f) for f in result.images[index].frames])


def test_makes_the_requested_frames_with_progress_and_a_preview_at_every_step(engine, tiny_video_model):
    seen = []
    result = engine.generate(video_request(tiny_video_model), on_progress=seen.append)
    (video,) = result.images
    assert video.is_video and len(video.frames) == 8 and video.fps == 8
    assert video.frames[0].size == (64, 64) and video.image is video.frames[0]
    assert [p.step for p in seen] == [1, 2, 3] and all(p.preview is not None for p in seen)


def test_the_modelscope_recipe_uses_dpm_solver_multistep(engine, tiny_video_model):
    engine.generate(video_request(tiny_video_model, steps=1))
    assert type(engine.backend("diffusers")._cache._pipeline.scheduler).__name__ == "DPMSolverMultistepScheduler"


def test_a_seed_gives_reproducible_frames(engine, tiny_video_model):
    first = engine.generate(video_request(tiny_video_model))
    again = engine.generate(video_request(tiny_video_model))
    other = engine.generate(video_request(tiny_video_model, seed=22))
    assert np.array_equal(frames_of(first), frames_of(again))
    assert not np.array_equal(frames_of(first), frames_of(other))


def test_count_makes_one_video_per_seed(engine, tiny_video_model):
    result = engine.generate(video_request(tiny_video_model, count=2, steps=2))
    assert [v.seed for v in result.images] == [21, 22]


def test_cancel_mid_run_stops_and_the_pipeline_stays_usable(engine, tiny_video_model):
    cancel = threading.Event()
    steps = []

    def on_progress(progress):
        steps.append(progress.step)
        if progress.step == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        engine.generate(video_request(tiny_video_model, steps=20), on_progress=on_progress, cancel=cancel)
    assert steps == [1, 2]
    after = engine.generate(video_request(tiny_video_model))
    fresh = Engine().generate(video_request(tiny_video_model))
    assert np.array_equal(frames_of(after), frames_of(fresh))


def test_task_and_model_must_match(engine, tiny_model, tiny_video_model):
    with pytest.raises(EngineError, match="makes images, not videos: choose a text-to-video model"):
        engine.generate(video_request(tiny_model))
    with pytest.raises(EngineError, match="makes videos, not images: choose Video"):
        engine.generate(video_request(tiny_video_model, task=Task.TEXT_TO_IMAGE))


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"frames": 1}, "frames must be between 2 and 257"),
        ({"frames": 500}, "frames must be between 2 and 257"),
        ({"fps": 0}, "fps must be between 1 and 60"),
        ({"backend": "openai"}, "the OpenAI Images API makes no videos"),
    ],
)
def test_video_parameters_are_validated(changes, says, tiny_video_model):
    with pytest.raises(ValidationError, match=says):
        validate(video_request(tiny_video_model, **changes))
