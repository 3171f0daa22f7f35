"""Downloads through the real huggingface_hub client, from a loopback server that speaks the hub's file API."""

from __future__ import annotations

import errno
import hashlib
import threading
import time

import pytest

from desktop.models.download import Download, DownloadCancelled, DownloadError, download
from desktop.models.installed import cached_snapshot, hub_model_usable, scan_cache
from tests.models.conftest import REPO
from tests.models.hub_server import Repo

WEIGHTS = "text_encoder/model.safetensors"


def snapshot_files(cache) -> set[str]:
    snapshot = cached_snapshot(REPO, cache)
    return {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()}


def offered(cache) -> bool:
    """Whether the engine's model list (what the window's picker is filled from) names the repo."""
    from desktop.engine.models import cached_pipelines

    return REPO in cached_pipelines(cache)


def test_a_tiny_model_downloads_and_then_generates_through_the_engine(online, hub, monkeypatch):
    from desktop.engine.engine import Engine
    from desktop.engine.request import GenerationRequest

    seen = []
    result = download(REPO, cache_dir=online, on_progress=seen.append)
    assert result.folder == cached_snapshot(REPO, online) and result.variant is None
    # Only what the pipeline needs: no pickle copies, no single-file checkpoint, no unnamed folder, no variant.
    files = snapshot_files(online)
    assert "model_index.json" in files and "unet/diffusion_pytorch_model.safetensors" in files
    assert "README.md" in files  # the model card: its licence
    assert not {f for f in files if f.endswith((".bin", ".ckpt")) or ".fp16." in f or f.startswith("unet_old")}
    assert result.downloaded_bytes == result.total_bytes == sum((result.folder / f).stat().st_size for f in files)
    assert seen[0].stage == "listing" and seen[-1].stage == "done" and seen[-1].fraction == 1.0
    assert seen[-1].files_done == seen[-1].files_total == len(files)
    assert offered(online) and hub_model_usable(REPO, online)

    engine = Engine(hf_cache_dir=online)
    request = GenerationRequest(prompt="a red circle", model=REPO, width=64, height=64, steps=2, seed=1)
    generated = engine.generate(request)
    assert generated.images[0].image.size == (64, 64)

    # Asked again, nothing moves: every file is already filed. (Loading the engine turned this process
    # offline, as it does every engine process: allow it again.)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    hub.requests.clear()
    again = download(REPO, cache_dir=online)
    assert again.downloaded_bytes == 0 and not hub.gets(".safetensors")


def test_the_fp16_variant_is_taken_where_a_component_ships_one(online):
    result = download(REPO, cache_dir=online, variant="fp16")
    files = snapshot_files(online)
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in files
    assert "unet/diffusion_pytorch_model.safetensors" not in files
    # The other components ship no fp16 files: their full-precision weights come instead.
    assert {"text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors"} <= files
    assert result.variant == "fp16"


def test_cancel_mid_file_keeps_the_bytes_and_the_next_download_asks_only_for_the_rest(online, hub):
    size = len(hub.repos[REPO].files[WEIGHTS])
    hub.chunk_bytes = 8192
    hub.hold_after(WEIGHTS, 40_960)  # the line stalls mid-file: cancel must not wait for it
    job = Download(REPO, cache_dir=online)
    outcome = {}

    def run():
        try:
            job.run()
        except DownloadError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    assert hub.hold.reached.wait(30)
    time.sleep(0.2)  # the bytes reach the client
    started = time.monotonic()
    job.cancel()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 3
    assert isinstance(outcome["error"], DownloadCancelled) and "resumes" in str(outcome["error"])
    (partial,) = online.rglob("*.partial")
    assert partial.stat().st_size == 40_960
    # Half-downloaded: not offered as a model, listed as unfinished.
    assert not offered(online) and not hub_model_usable(REPO, online)
    (listed,) = scan_cache(online)
    assert not listed.usable and "did not finish" in listed.problem

    hub.release()
    hub.chunk_bytes = 64 * 1024
    hub.requests.clear()
    result = download(REPO, cache_dir=online)
    (ranged,) = [r for r in hub.gets(WEIGHTS)]
    assert ranged["range"] == "bytes=40960-"
    assert result.resumed_bytes >= 40_960 and result.downloaded_bytes < result.total_bytes
    data = (result.folder / WEIGHTS).read_bytes()
    assert len(data) == size and hashlib.sha256(data).hexdigest() == hub.repos[REPO].etag(WEIGHTS)
    assert not list(online.rglob("*.partial")) and offered(online)


def test_progress_gives_speed_and_time_left_while_bytes_flow(online, hub):
    hub.chunk_bytes = 4096
    hub.chunk_delay_s = 0.01
    seen = []
    download(REPO, cache_dir=online, on_progress=seen.append)
    moving = [p for p in seen if p.stage == "downloading" and p.speed_bps > 0]
    assert moving and all(p.eta_s is not None for p in moving)
    assert [p.done_bytes for p in seen] == sorted(p.done_bytes for p in seen)


def one_sentence(error: DownloadError) -> str:
    text = str(error)
    assert "\n" not in text and text.endswith(".") and "Traceback" not in text
    return text


def test_a_missing_repository_is_one_sentence_and_leaves_nothing(online):
    with pytest.raises(DownloadError) as caught:
        download("tiny-org/no-such-model", cache_dir=online)
    assert caught.value.kind == "missing" and "was not found" in one_sentence(caught.value)
    assert not (online / "models--tiny-org--no-such-model").exists()


def test_a_gated_repository_says_how_to_get_access(online, hub):
    hub.repos["gated-org/gated"] = Repo({"model.safetensors": b"x" * 100}, gated=True)
    with pytest.raises(DownloadError) as caught:
        download("gated-org/gated", cache_dir=online)
    text = one_sentence(caught.value)
    assert caught.value.kind == "gated" and "accept its licence" in text and "hf auth login" in text


def test_no_network_is_one_sentence(online, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError) as caught:
        download(REPO, cache_dir=online, endpoint=f"http://127.0.0.1:{port}")
    assert caught.value.kind == "network" and "could not be reached" in one_sentence(caught.value)


def test_downloads_switched_off_by_hf_hub_offline_say_so(online, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError) as caught:
        download(REPO, cache_dir=online)
    assert caught.value.kind == "offline" and "HF_HUB_OFFLINE" in one_sentence(caught.value)


def test_a_full_disk_is_found_before_the_first_byte(online, hub):
    with pytest.raises(DownloadError) as caught:
        download(REPO, cache_dir=online, free_bytes=10_000)
    text = one_sentence(caught.value)
    assert caught.value.kind == "disk" and "10.0 KB" in text and "free" in text
    assert not hub.gets(".safetensors") and not list(online.rglob("blobs/*"))


def test_a_disk_that_fills_up_mid_file_is_one_sentence_and_resumes_later(online, hub, monkeypatch):
    import desktop.models.download as module

    writes = []

    def full_disk(out, chunk):
        writes.append(len(chunk))
        if len(writes) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        out.write(chunk)

    hub.chunk_bytes = 4096
    monkeypatch.setattr(module, "_write", full_disk)
    with pytest.raises(DownloadError) as caught:
        download(REPO, cache_dir=online)
    assert caught.value.kind == "disk" and "disk filled up" in one_sentence(caught.value)
    assert not offered(online)
    monkeypatch.setattr(module, "_write", lambda out, chunk: out.write(chunk))
    assert download(REPO, cache_dir=online).resumed_bytes > 0 and offered(online)


def test_a_file_that_arrives_damaged_is_not_kept(online, hub):
    repo = hub.repos[REPO]
    original = repo.files[WEIGHTS]
    repo.etag = lambda path, etag=repo.etag: "0" * 64 if path == WEIGHTS else etag(path)
    with pytest.raises(DownloadError) as caught:
        download(REPO, cache_dir=online)
    assert caught.value.kind == "damaged" and WEIGHTS in one_sentence(caught.value)
    assert not list(online.rglob("*.partial")) and not offered(online)
    assert repo.files[WEIGHTS] == original


def test_a_repository_with_only_pickle_weights_is_refused_before_downloading(online, hub):
    hub.repos["pickle-org/old"] = Repo(
        {
            "model_index.json": b'{"_class_name": "X", "unet": ["diffusers", "UNet2DConditionModel"]}',
            "unet/config.json": b"{}",
            "unet/diffusion_pytorch_model.bin": b"x" * 100,
        }
    )
    with pytest.raises(DownloadError) as caught:
        download("pickle-org/old", cache_dir=online)
    assert caught.value.kind == "unusable" and "safetensors" in one_sentence(caught.value)
    assert not hub.gets(".bin")


def test_one_file_of_a_repository_when_the_catalogue_says_which(online, hub):
    hub.repos["upscale-org/esrgan"] = Repo(
        {"RealESRGAN_x4plus.safetensors": b"a" * 500, "other.safetensors": b"b" * 50}
    )
    result = download("upscale-org/esrgan", cache_dir=online, files=("RealESRGAN_x4plus.safetensors",))
    assert [p.name for p in result.folder.iterdir()] == ["RealESRGAN_x4plus.safetensors"]


def test_two_downloads_of_one_model_at_once_are_refused(online, hub):
    hub.hold_after(WEIGHTS, 8192)
    first = Download(REPO, cache_dir=online)
    thread = threading.Thread(target=lambda: pytest.raises(DownloadCancelled, first.run))
    thread.start()
    assert hub.hold.reached.wait(30)
    with pytest.raises(DownloadError) as caught:
        download(REPO, cache_dir=online)
    assert caught.value.kind == "busy"
    first.cancel()
    thread.join(10)
