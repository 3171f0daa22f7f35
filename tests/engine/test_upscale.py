"""The upscale task end to end: validation, the real loading and tiling code, the library."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest
from PIL import Image, ImageDraw
from tiny_upscalers import build_realesrgan, build_sd_x2_latent_upscaler, build_sd_x4_upscaler

from desktop.engine.engine import Engine
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.request import GenerationRequest, Task
from desktop.engine.upscalers import catalog, loading
from desktop.engine.upscalers.checks import scale_to_reach
from desktop.library.store import Library


@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    yield engine
    engine.release()


@pytest.fixture(scope="module")
def x4_file(tmp_path_factory):
    return build_realesrgan(tmp_path_factory.mktemp("upscalers") / "RealESRGAN_x4plus.safetensors", scale=4)


@pytest.fixture(scope="module")
def x2_file(tmp_path_factory):
    return build_realesrgan(tmp_path_factory.mktemp("upscalers") / "RealESRGAN_x2plus.safetensors", scale=2)


@pytest.fixture(scope="module")
def sd_x4(tmp_path_factory):
    return build_sd_x4_upscaler(tmp_path_factory.mktemp("upscalers") / "sd-x4-upscaler")


@pytest.fixture
def picture(tmp_path):
    """A 64x64 picture like the demo model's: a red disc on a light background."""
    image = Image.new("RGB", (64, 64), (235, 235, 225))
    ImageDraw.Draw(image).ellipse((16, 16, 48, 48), fill=(200, 30, 30))
    path = tmp_path / "demo.png"
    image.save(path)
    return path


def upscale(image, model="", **changes) -> GenerationRequest:
    values = {"prompt": "", "task": Task.UPSCALE, "backend": "upscale", "model": str(model), "image": str(image)}
    return GenerationRequest(**(values | changes))


def saved_files(library: Library) -> list:
    return sorted(p for p in library.images_dir.rglob("*") if p.is_file())


def test_a_fresh_install_upscales_with_the_plain_resize_and_the_library_keeps_it(engine, picture, tmp_path):
    seen = []
    result = engine.generate(upscale(picture, scale=4), on_progress=seen.append)
    assert result.images[0].image.size == (256, 256)
    assert result.request.model == "lanczos" and result.request.scale == 4
    assert (result.request.width, result.request.height) == (256, 256)
    assert result.images[0].seed is None and result.device == "cpu"
    assert [(p.step, p.total) for p in seen] == [(1, 1)]
    library = Library(tmp_path / "library")
    [item] = library.save(result)
    assert (item.row.task, item.row.backend, item.row.media) == ("upscale", "upscale", "image")
    assert (item.row.width, item.row.height) == (256, 256)
    assert Image.open(item.path).size == (256, 256)
    assert item.row.request["scale"] == 4
    # Without a scale, the plain resize doubles.
    assert engine.generate(upscale(picture)).images[0].image.size == (128, 128)


def test_a_4x_upscaler_file_enlarges_tile_by_tile_and_is_saved(engine, picture, x4_file, tmp_path, monkeypatch):
    monkeypatch.setitem(loading.NETWORK_TILE, "cpu", 32)
    engine.release()  # tile sizes are read when the upscaler loads
    seen = []
    result = engine.generate(upscale(picture, x4_file), on_progress=seen.append)
    image = result.images[0].image
    assert image.size == (256, 256) and result.request.scale == 4
    assert result.timings["tiles"] == 9.0
    assert [p.step for p in seen] == list(range(1, 10)) and all(p.total == 9 for p in seen)
    # The identity path of the tiny network: the disc is still red and the background light.
    pixels = np.asarray(image).astype(int)
    assert np.abs(pixels[128, 128] - (200, 30, 30)).max() < 40
    assert np.abs(pixels[8, 8] - (235, 235, 225)).max() < 40
    [item] = Library(tmp_path / "library").save(result)
    assert (item.row.width, item.row.height, item.row.model) == (256, 256, str(x4_file))
    engine.release()


def test_a_4x_model_asked_for_less_is_resized_down_and_says_so(engine, picture, x4_file):
    for scale, side in ((2, 128), (3, 192)):
        result = engine.generate(upscale(picture, x4_file, scale=scale))
        assert result.images[0].image.size == (side, side)
        assert result.notes == [f"this upscaler makes x4: its result was resized to x{scale} with Lanczos."]


def test_the_x2_pixel_unshuffle_model_and_odd_sizes(engine, tmp_path, x2_file):
    odd = tmp_path / "odd.png"
    Image.new("RGB", (45, 37), (10, 120, 200)).save(odd)
    result = engine.generate(upscale(odd, x2_file))
    assert result.images[0].image.size == (90, 74) and result.request.scale == 2
    assert np.abs(np.asarray(result.images[0].image).astype(int) - (10, 120, 200)).mean() < 25


def test_bad_input_is_one_sentence_and_nothing_is_written(engine, picture, x2_file, tmp_path):
    library = Library(tmp_path / "library")
    not_a_picture = tmp_path / "notes.png"
    not_a_picture.write_text("hello")
    wide = tmp_path / "wide.png"
    Image.new("RGB", (3000, 8)).save(wide)
    unet_file = tmp_path / "model.safetensors"
    unet_file.write_bytes(b'\x08\x00\x00\x00\x00\x00\x00\x00{"a": 1}')
    cases = [
        (
            upscale(picture, x2_file, scale=4),
            "scale",
            "RealESRGAN_x2plus.safetensors (Real-ESRGAN ×2, 1 block, 8 features) upscales x2: choose x2 or less, "
            "or an upscaler made for x4.",
        ),
        (upscale(picture, scale=5), "scale", "scale must be 2, 3 or 4 (got 5)."),
        (
            upscale(wide, scale=3),
            "scale",
            "x3 would make 3000x8 into 9000x24, over the limit of 8192 px a side: choose x2.",
        ),
        (
            upscale(not_a_picture),
            "image",
            f"image {not_a_picture} is not a picture this app can read: use a PNG, JPEG or WebP file.",
        ),
        (upscale(tmp_path / "gone.png"), "image", None),
        (GenerationRequest(prompt="", task=Task.UPSCALE, backend="upscale"), "image", None),
        (upscale(picture, unet_file), "model", None),
        (upscale(picture, mask=str(picture)), "mask", "mask does not apply to upscale; leave it out."),
        (
            GenerationRequest(prompt="a cat", scale=2),
            "scale",
            "scale applies to upscale only, not text-to-image; leave it out.",
        ),
        (
            upscale(picture, x2_file, count=2),
            "count",
            "an upscaler gives the same picture every time: count must be 1.",
        ),
    ]
    for request, field, message in cases:
        with pytest.raises(ValidationError) as caught:
            library.save(engine.generate(request))
        assert caught.value.field == field
        if message is not None:
            assert str(caught.value) == message
        assert str(caught.value).count(". ") == 0 and str(caught.value).endswith(".")
    assert saved_files(library) == []


def test_cancel_stops_between_tiles_and_the_upscaler_stays_usable(engine, picture, x4_file, monkeypatch):
    monkeypatch.setitem(loading.NETWORK_TILE, "cpu", 32)
    engine.release()
    cancel = threading.Event()
    seen = []

    def on_progress(progress):
        seen.append(progress.step)
        if progress.step == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        engine.generate(upscale(picture, x4_file), on_progress=on_progress, cancel=cancel)
    assert seen == [1, 2]
    assert engine.generate(upscale(picture, x4_file)).images[0].image.size == (256, 256)
    engine.release()


def test_out_of_gpu_memory_retries_with_smaller_tiles_then_says_so(engine, tmp_path, x4_file, monkeypatch):
    original = loading.NetworkUpscaler.upscale_tile
    sizes = []

    def fits_only_small_tiles(self, pixels, *args):
        sizes.append(pixels.shape[0])
        if pixels.shape[0] > 64:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, pixels, *args)

    larger = tmp_path / "larger.png"
    Image.new("RGB", (128, 128), (90, 90, 200)).save(larger)
    monkeypatch.setitem(loading.NETWORK_TILE, "cpu", 256)
    engine.release()
    monkeypatch.setattr(loading.NetworkUpscaler, "upscale_tile", fits_only_small_tiles)
    result = engine.generate(upscale(larger, x4_file))
    assert result.images[0].image.size == (512, 512)
    assert sizes[0] == 128 and set(sizes[1:]) == {64} and result.timings["tiles"] == 9.0

    def never_fits(self, pixels, *args):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(loading.NetworkUpscaler, "upscale_tile", never_fits)
    with pytest.raises(EngineError) as caught:
        engine.generate(upscale(larger, x4_file))
    assert str(caught.value) == (
        "out of GPU memory upscaling to 512x512: close other programs using the GPU, or choose the CPU device."
    )
    engine.release()


def test_a_diffusers_x4_upscaler_runs_per_tile_with_steps_progress_and_cancel(engine, tmp_path, sd_x4, monkeypatch):
    monkeypatch.setitem(loading.PIPELINE_TILE, 4, 32)
    monkeypatch.setitem(loading.PIPELINE_OVERLAP, 4, 16)
    small = tmp_path / "small.png"
    Image.new("RGB", (48, 32), (40, 160, 90)).save(small)
    request = upscale(small, sd_x4, prompt="a green field", steps=2, guidance=1.0, seed=3)
    seen = []
    result = engine.generate(request, on_progress=seen.append)
    assert result.images[0].image.size == (192, 128)
    assert result.request.seed == 3 and result.images[0].seed == 3 and result.request.scale == 4
    assert result.timings["tiles"] == 2.0
    assert [(p.step, p.total) for p in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    # Cancel inside a tile's steps: the pipeline stops at the next step and stays usable.
    cancel = threading.Event()
    steps = []

    def on_progress(progress):
        steps.append(progress.step)
        cancel.set()

    with pytest.raises(GenerationCancelled):
        engine.generate(request, on_progress=on_progress, cancel=cancel)
    assert steps == [1]
    again = engine.generate(request)
    assert np.array_equal(np.asarray(again.images[0].image), np.asarray(result.images[0].image))
    engine.release()


def test_a_diffusers_x2_latent_upscaler_pads_odd_sizes_and_refuses_x4(engine, tmp_path):
    folder = build_sd_x2_latent_upscaler(tmp_path / "sd-x2-latent-upscaler")
    odd = tmp_path / "odd.png"
    Image.new("RGB", (100, 70), (200, 30, 30)).save(odd)
    result = engine.generate(upscale(odd, folder, prompt="a red square", steps=2, guidance=1.0, seed=1))
    assert result.images[0].image.size == (200, 140) and result.request.scale == 2
    with pytest.raises(ValidationError, match=r"upscales x2: choose x2 or less, or an upscaler made for x4\.$"):
        engine.generate(upscale(odd, folder, scale=4))
    engine.release()


def test_other_architectures_load_through_spandrel_where_it_imports(engine, picture, tmp_path, monkeypatch):
    """spandrel cannot import here (torchvision): a stand-in with its API checks our side of it."""
    import torch
    from safetensors.torch import save_file

    class UnsupportedModelError(Exception):
        pass

    class ImageModelDescriptor:
        def __init__(self, scale):
            self.scale, self.input_channels, self.output_channels = scale, 3, 3
            self.architecture = types.SimpleNamespace(name="SwinIR")
            self.size_requirements = types.SimpleNamespace(multiple_of=8)
            self.supports_half = True

        def to(self, device):
            return self

        def eval(self):
            return self

        def float(self):
            return self

        def __call__(self, image):
            assert image.shape[-1] % 8 == 0 and image.shape[-2] % 8 == 0
            return torch.nn.functional.interpolate(image, scale_factor=self.scale, mode="nearest")

    class ModelLoader:
        def load_from_state_dict(self, state):
            if "swin.weight" not in state:
                raise UnsupportedModelError()
            return ImageModelDescriptor(scale=int(state["swin.weight"].shape[0]))

    fake = types.SimpleNamespace(
        ModelLoader=ModelLoader, ImageModelDescriptor=ImageModelDescriptor, UnsupportedModelError=UnsupportedModelError
    )
    monkeypatch.setitem(__import__("sys").modules, "spandrel", fake)
    monkeypatch.setattr(catalog, "spandrel_installed", lambda: True)
    swinir = tmp_path / "003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4.safetensors"
    save_file({"swin.weight": torch.zeros(4, 2)}, str(swinir))
    engine.release()
    result = engine.generate(upscale(picture, swinir))
    assert result.images[0].image.size == (256, 256) and result.request.scale == 4
    other = tmp_path / "lora.safetensors"
    save_file({"lora_up.weight": torch.zeros(4, 2)}, str(other))
    with pytest.raises(EngineError) as caught:
        engine.generate(upscale(picture, other))
    assert str(caught.value) == (
        "lora.safetensors is not an upscaler this app can load: its layers are not an ESRGAN or Real-ESRGAN "
        "network, and spandrel (for other architectures) is not usable here."
    )
    engine.release()


def test_the_scale_that_reaches_a_campaigns_target_size():
    assert scale_to_reach(512, 512, 2048) == 4
    assert scale_to_reach(768, 512, 2048) == 3
    assert scale_to_reach(1024, 576, 1920) == 2
    assert scale_to_reach(256, 256, 4096) == 4  # x4 at most
    assert scale_to_reach(2048, 1024, 2048) is None
