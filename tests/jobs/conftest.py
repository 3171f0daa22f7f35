"""Campaign tests make many tiny pictures: one torch thread each. On this 2-core machine, shared with
other test processes, two threads per 64x64 step spin against each other (measured: 0.07 s a picture
with one thread, 2.7-5 s with two while another process runs)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
