"""The GPU trials script at CPU size: each recipe trains in its own process, and its log and the best
folders come back where OUT says."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_each_recipe_trains_and_the_best_folders_are_packed(tmp_path):
    environment = {
        **os.environ,
        "OUT": str(tmp_path),
        "CLIPS": "4",
        "STEPS": "2",
        "MINUTES": "1",
        "DEVICE": "cpu",
        "PYTHON": sys.executable,
    }
    recipes = ["plain", "--batch 2 --no-evaluate", "curriculum", "--batch 2 --high-first 1 --no-evaluate"]
    script = ROOT / "desktop/training/demo_video/trials.sh"
    done = subprocess.run(["bash", str(script), *recipes], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in ("plain", "curriculum"):
        log = (tmp_path / f"{name}.log").read_text()
        assert log.rstrip().endswith("exit 0") and "saved to" in log, log
    assert "curriculum 2 " in done.stdout and "plain 2 " in done.stdout  # each ran its two steps
    for rank in ("best", "second"):
        with tarfile.open(tmp_path / f"{rank}.tar.gz") as tar:
            names = tar.getnames()
        assert any(n.endswith("unet/diffusion_pytorch_model.safetensors") for n in names), names
