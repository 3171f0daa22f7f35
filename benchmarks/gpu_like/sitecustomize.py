"""Loaded by every Python process whose path holds this folder (the engine's worker process, in
ui_responsiveness.py --scenario gpu-like): each UNet call first sleeps as long as a GPU step, so the
worker waits the way it waits on CUDA. Only where BENCHMARK_GPU_STEP_S is set."""

import os

if os.environ.get("BENCHMARK_GPU_STEP_S"):
    import time

    import diffusers

    _step_s = float(os.environ["BENCHMARK_GPU_STEP_S"])
    _original = diffusers.UNet2DConditionModel.forward

    def _slow_forward(self, *args, **kwargs):
        time.sleep(_step_s)
        return _original(self, *args, **kwargs)

    diffusers.UNet2DConditionModel.forward = _slow_forward
