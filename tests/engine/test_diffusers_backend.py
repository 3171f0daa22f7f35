"""The diffusers backend on a tiny local pipeline: the real loading and generation code."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading

import numpy as np
import pytest

from desktop.engine.diffusers_backend import DiffusersBackend
from desktop.engine.engine import Engine
from desktop.engine.errors import EngineError, GenerationCancelled
from desktop.engine.request import GenerationRequest, validate


@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    yield engine
    engine.release()


def request_for(model, **changes) -> GenerationRequest:
    base = GenerationRequest(
        prompt="a red circle on a blue background", model=str(model), width=64, height=64, steps=4, seed=1234
    )
    return dataclasses.replace(base, **changes)


def pixels(result, index=0) -> np.ndarray:
    return np.asarray(result.images[index].image)


def test_generates_an_image_of_the_requested_size_with_progress_and_previews(engine, tiny_model):
    seen = []
    result = engine.generate(request_for(tiny_model, width=96, height=64), on_progress=seen.append)
    image = result.images[0].image
    assert image.size == (96, 64) and image.mode == "RGB"
    assert [p.step for p in seen] == [1, 2, 3, 4]
    assert all(p.total == 4 for p in seen)
    # A preview at every step, at latent resolution (this VAE downsamples by 2).
    assert all(p.preview is not None and p.preview.size == (48, 32) for p in seen)
    assert result.request.seed == 1234 and result.images[0].seed == 1234
    assert result.device == "cpu"


def test_same_request_and_seed_give_identical_pixels_and_other_seeds_differ(engine, tiny_model):
    first = engine.generate(request_for(tiny_model))
    again = engine.generate(request_for(tiny_model))
    other = engine.generate(request_for(tiny_model, seed=99))
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_each_image_of_a_batch_records_the_seed_that_reproduces_it(engine, tiny_model):
    batch = engine.generate(request_for(tiny_model, count=2))
    assert [img.seed for img in batch.images] == [1234, 1235]
    assert not np.array_equal(pixels(batch, 0), pixels(batch, 1))
    alone = engine.generate(request_for(tiny_model, seed=1235))
    # Batched and single runs may differ in the last bit of float math, not in the picture.
    assert np.abs(pixels(batch, 1).astype(int) - pixels(alone).astype(int)).max() <= 2


def test_the_pipeline_is_cached_between_generations_and_replaced_on_a_model_switch(tiny_model, tmp_path):
    backend = DiffusersBackend()
    first = backend.generate(validate(request_for(tiny_model)))
    second = backend.generate(validate(request_for(tiny_model)))
    assert first.timings["load_s"] > 0
    assert second.timings["load_s"] == 0.0
    assert backend.loaded_model == str(tiny_model)
    other = shutil.copytree(tiny_model, tmp_path / "other-model")
    switched = backend.generate(validate(request_for(other)))
    assert switched.timings["load_s"] > 0
    assert backend.loaded_model == str(other)
    backend.release()
    assert backend.loaded_model is None


def test_cancel_stops_at_the_next_step_and_leaves_the_pipeline_usable(engine, tiny_model):
    cancel = threading.Event()
    steps = []

    def on_progress(progress):
        steps.append(progress.step)
        if progress.step == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        engine.generate(request_for(tiny_model, steps=10), on_progress=on_progress, cancel=cancel)
    assert steps == [1, 2]
    after = engine.generate(request_for(tiny_model))
    fresh = Engine().generate(request_for(tiny_model))
    assert np.array_equal(pixels(after), pixels(fresh))


def test_out_of_memory_becomes_a_hint_and_the_pipeline_stays_usable(engine, tiny_model):
    import torch

    def run_out_of_memory(progress):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(EngineError) as caught:
        engine.generate(request_for(tiny_model, width=128, height=128), on_progress=run_out_of_memory)
    message = str(caught.value)
    assert "out of GPU memory at 128x128" in message
    assert "smaller size" in message and "CPU offload" in message
    assert engine.generate(request_for(tiny_model)).images[0].image.size == (64, 64)


def test_a_scheduler_choice_changes_the_sampling_and_the_default_comes_back(engine, tiny_model):
    default = engine.generate(request_for(tiny_model))
    euler = engine.generate(request_for(tiny_model, scheduler="euler"))
    assert type(engine.backend("diffusers")._cache._pipeline.scheduler).__name__ == "EulerDiscreteScheduler"
    back = engine.generate(request_for(tiny_model))
    assert type(engine.backend("diffusers")._cache._pipeline.scheduler).__name__ == "DDIMScheduler"
    assert not np.array_equal(pixels(default), pixels(euler))
    assert np.array_equal(pixels(default), pixels(back))


def test_a_missing_folder_says_where_it_looked(engine, tmp_path):
    with pytest.raises(EngineError, match=f"model folder {tmp_path / 'nope'} does not exist"):
        engine.generate(request_for(tmp_path / "nope"))


def test_an_uncached_hub_id_names_the_cache_it_searched(tmp_path):
    engine = Engine(hf_cache_dir=tmp_path / "hub")
    with pytest.raises(EngineError) as caught:
        engine.generate(request_for("someone/not-downloaded"))
    assert "not found" in str(caught.value) and str(tmp_path / "hub") in str(caught.value)


def test_a_hub_id_loads_from_the_hugging_face_cache_without_network(tiny_model, tmp_path):
    repo = tmp_path / "hub" / "models--acme--tiny-sd"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_model, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    engine = Engine(hf_cache_dir=tmp_path / "hub")
    from_cache = engine.generate(request_for("acme/tiny-sd"))
    from_folder = Engine().generate(request_for(tiny_model))
    assert np.array_equal(pixels(from_cache), pixels(from_folder))


def test_a_folder_without_model_index_is_not_a_model(engine, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EngineError, match="model_index.json is missing"):
        engine.generate(request_for(tmp_path / "empty"))


def test_corrupt_weights_are_reported_as_a_broken_folder(engine, tiny_model, tmp_path):
    broken = shutil.copytree(tiny_model, tmp_path / "broken")
    (broken / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(EngineError, match=f"model folder {broken} could not be loaded"):
        engine.generate(request_for(broken))


def test_a_model_with_an_unknown_pipeline_class_is_reported(engine, tiny_model, tmp_path):
    odd = shutil.copytree(tiny_model, tmp_path / "odd")
    index = json.loads((odd / "model_index.json").read_text())
    index["_class_name"] = "NoSuchPipeline"
    (odd / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(EngineError, match="could not be loaded"):
        engine.generate(request_for(odd))


def test_pickle_weights_are_refused_unless_allowed(tiny_model, tmp_path):
    import torch
    from safetensors.torch import load_file

    pickled = shutil.copytree(tiny_model, tmp_path / "pickled")
    for weights in list(pickled.glob("*/*.safetensors")):
        name = "pytorch_model.bin" if weights.parent.name == "text_encoder" else "diffusion_pytorch_model.bin"
        torch.save(load_file(weights), weights.with_name(name))
        weights.unlink()
    with pytest.raises(EngineError, match="no .safetensors weights"):
        Engine().generate(request_for(pickled))
    from desktop.engine.devices import RuntimeOptions

    allowed = Engine(runtime=RuntimeOptions(allow_pickle_weights=True)).generate(request_for(pickled))
    reference = Engine().generate(request_for(tiny_model))
    assert np.array_equal(pixels(allowed), pixels(reference))


def test_asking_for_a_gpu_that_is_not_there_is_a_clear_error(tiny_model):
    import torch

    from desktop.engine.devices import RuntimeOptions

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU, so asking for one is not an error")
    with pytest.raises(EngineError, match="no CUDA GPU is available: choose auto or cpu"):
        Engine(runtime=RuntimeOptions(device="cuda")).generate(request_for(tiny_model))


def test_an_upscaler_folder_makes_nothing_here_and_says_where_it_belongs(tmp_path):
    from desktop.engine.diffusers_backend import model_tasks
    from desktop.engine.tasks import Task

    folder = tmp_path / "sd-x4-upscaler"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionUpscalePipeline"}))
    tasks, why_not = model_tasks(folder)
    assert tasks == frozenset()
    assert "Upscalers backend" in why_not[Task.TEXT_TO_IMAGE] and "Upscalers backend" in why_not[Task.UPSCALE]


def test_a_missing_built_in_video_model_says_how_to_get_it_and_is_not_listed(tmp_path, monkeypatch):
    from desktop.engine.models import resolve_model
    from desktop.engine.presets import installed_built_ins

    monkeypatch.setattr("desktop.engine.presets.DEMO_VIDEO_MODEL_DIR", tmp_path / "no-demo-video")
    with pytest.raises(
        EngineError, match=r"built-in model demo-video is missing .* desktop\.training\.demo_video\.train"
    ):
        resolve_model("demo-video")
    assert "demo-video" not in installed_built_ins() and "demo-video" not in DiffusersBackend().models()
