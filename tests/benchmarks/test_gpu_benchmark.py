"""benchmarks/gpu.py at CI size: a real run of the same code a GPU runs at full size, on the CPU.

Each architecture is built from the published configs in benchmarks/architectures/ (--tiny scales
them down), saved as a model folder with random weights, and timed through plain diffusers, the app's
engine and each speed option; the JSON report is what the GPU table is filled from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(tmp_path: Path, *arguments: str) -> dict:
    out = tmp_path / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIFFUSION_STUDIO_HOME": str(tmp_path / "home")}
    env["DIFFUSION_STUDIO_CONFIG"] = str(tmp_path / "config")
    completed = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", *arguments, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert json.loads(completed.stdout) == report
    return report


def timed(figures: dict) -> None:
    assert figures["seconds"] > 0 and figures["it_per_s"] > 0 and figures["peak_mb"] > 0, figures


def test_sd15_tiny_times_diffusers_the_engine_and_each_speed_option(tmp_path):
    report = run_benchmark(tmp_path, "--architecture", "sd15", "--tiny")
    assert report["device"] == "cpu" and report["dtype"] == "float32"
    (run,) = report["runs"]
    assert run["architecture"] == "sd15" and run["tiny"] is True
    assert set(run["parameters"]) == {"unet", "vae", "text_encoder"}
    assert run["recipe"]["task"] == "text-to-image"
    for name in ("diffusers", "engine", "engine_previews", "classic_attention", "vae_tiling"):
        timed(run[name])
    # The engine makes the same picture as plain diffusers from the same seed (8-bit rounding apart).
    assert run["engine"]["psnr_db"] > 40
    assert run["engine_previews"]["previews"] >= run["recipe"]["steps"]  # a preview every step
    assert run["engine_over_diffusers"] > 0 and run["engine_previews_over_diffusers"] > 0
    options = run["options"]
    for name in ("channels_last", "compile_denoiser"):
        timed(options[name])
        assert options[name]["applied"].startswith("on")
        assert options[name]["gain"] > 0
        assert options[name]["psnr_db"] > 40  # the same picture to within float rounding
    assert options["compile_denoiser"]["compile_s"] > 0
    assert "DiT" in options["first_block_cache"]["skipped"]  # a UNet has no transformer-block cache
    assert "CUDA" in run["cpu_offload"]["skipped"]


def test_wan_tiny_runs_the_first_block_cache_on_its_transformer(tmp_path):
    # Compiling is covered above and in tests/engine/test_speed.py: left out here to keep CI short.
    report = run_benchmark(tmp_path, "--architecture", "wan-1.3b", "--tiny", "--skip", "compile_denoiser")
    (run,) = report["runs"]
    assert run["architecture"] == "wan-1.3b" and set(run["parameters"]) == {"transformer", "vae", "text_encoder"}
    assert run["recipe"]["task"] == "text-to-video"
    timed(run["diffusers"])
    cache = run["options"]["first_block_cache"]
    timed(cache)
    assert cache["applied"].startswith("on") and cache["psnr_db"] is not None
    assert "2D convolutions" in run["options"]["channels_last"]["skipped"]
    assert "compile_denoiser" not in run["options"]
    # The engine either runs Wan (then its video matches diffusers') or says why it cannot.
    engine = run["engine"]
    assert "error" in engine or engine["psnr_db"] is not None
