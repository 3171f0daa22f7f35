"""`diffusion-studio models list | download | remove` as a user runs them, against the loopback hub."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from desktop.app import main as app_main
from desktop.models_cli import main
from tests.models import conftest as hub_fixtures
from tests.models.conftest import REPO

# The loopback hub's fixtures (tests/models/conftest.py), for this folder too.
tiny_hub_folder, hub, online = hub_fixtures.tiny_hub_folder, hub_fixtures.hub, hub_fixtures.online
ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = "text_encoder/model.safetensors"


def test_list_shows_the_catalogue_with_sizes_memory_and_licences(capsys):
    assert app_main(["models", "list", "--catalogue"]) == 0
    out = capsys.readouterr().out
    assert "damo-vilab/text-to-video-ms-1.7b" in out and "non-commercial only" in out
    assert "sdxl" in out and "GPU memory ~10 GB" in out and "fp16 6.9 GB" in out
    assert main(["list", "--catalogue", "--json", "--search", "3d"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {line["id"] for line in lines} == {"openai/shap-e", "openai/shap-e-img2img"}
    assert all(line["licence"] == "mit" and line["commercial"] for line in lines)


def test_download_then_list_then_remove(capsys, online):
    assert main(["download", REPO]) == 0
    captured = capsys.readouterr()
    folder = Path(captured.out.strip())
    assert (folder / "model_index.json").is_file() and folder.is_relative_to(online)
    assert f"Use it with --model {REPO}" in captured.err and "full-precision weights" in captured.err

    assert main(["list", "--installed", "--json"]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed["id"] == REPO and listed["usable"] and listed["licence"] == "apache-2.0"
    assert "text-to-image" in listed["tasks"] and listed["size_bytes"] > 300_000

    assert main(["remove", REPO]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"removed {REPO}: ") and out.strip().endswith("freed.")
    assert not (online / "models--tiny-org--tiny-sd").exists()


def test_a_missing_model_and_bad_usage_are_one_error_line(capsys, online):
    assert main(["download", "tiny-org/nothing-here"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "was not found" in err
    assert main(["remove", "tiny-org/nothing-here"]) == 1
    assert capsys.readouterr().err.startswith("error: tiny-org/nothing-here is not installed")
    assert main(["download"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_a_download_killed_mid_file_resumes_from_where_it_stopped(online, hub, tmp_path):
    """The process dies (kill -9) mid-file: the next run asks the hub only for the rest of that file."""
    hub.chunk_bytes = 8192
    hub.hold_after(WEIGHTS, 49_152)
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    child = subprocess.Popen(
        [sys.executable, "-m", "desktop", "models", "download", REPO], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        assert hub.hold.reached.wait(60)
        partials = []
        for _ in range(100):  # the held bytes reach the file
            partials = [p for p in online.rglob("*.partial") if p.stat().st_size == 49_152]
            if partials:
                break
            time.sleep(0.05)
        assert partials
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stderr.close()
    hub.release()
    hub.chunk_bytes = 64 * 1024
    hub.requests.clear()
    assert main(["download", REPO, "--json"]) == 0
    assert [r["range"] for r in hub.gets(WEIGHTS)] == ["bytes=49152-"]
