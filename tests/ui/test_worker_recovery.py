"""The window's engine runs in a worker process: killing it fails only the running job, and the
window never imports the machine-learning libraries itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from desktop.jobs.runner import JobState
from tests.ui.conftest import fill_form


def test_a_killed_engine_fails_only_the_running_job_and_the_next_one_runs(qtbot, window):
    fill_form(window, prompt="a product shot on a studio table", steps=60, size=256)
    killed = []

    def kill_on_first_step(job_id, step, total, eta, preview) -> None:
        if not killed:
            killed.append(window.bridge.runner.executor.pid)
            os.kill(killed[0], signal.SIGKILL)

    window.bridge.progress.connect(kill_on_first_step)
    with qtbot.waitSignal(
        window.bridge.job_changed, timeout=60000, check_params_cb=lambda _id, state, _m: state == "failed"
    ) as failed:
        window.generate()
    window.bridge.progress.disconnect(kill_on_first_step)
    message = failed.args[2]
    assert "engine process stopped" in message and "\n" not in message
    assert window.form.error.isVisible() and "engine process stopped" in window.form.error.text()
    # The form keeps what was typed; nothing was saved.
    assert window.form.prompt.toPlainText() == "a product shot on a studio table"
    assert window.library.db.count() == 0

    fill_form(window, prompt="a product shot on a studio table", steps=2, size=64)
    with qtbot.waitSignal(window.bridge.finished_job, timeout=60000) as finished:
        window.generate()
    assert len(finished.args[1]) == 1
    assert window.bridge.runner.executor.pid not in (None, killed[0])
    states = [job.state for job in window.bridge.jobs()]
    assert states == [JobState.FAILED, JobState.DONE]


def test_the_window_never_imports_torch_even_after_generating(tmp_path, tiny_model):
    code = (
        "import sys, os\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        f"os.environ['DIFFUSION_STUDIO_HOME'] = {str(tmp_path / 'home')!r}\n"
        f"os.environ['DIFFUSION_STUDIO_CONFIG'] = {str(tmp_path / 'config')!r}\n"
        "from PySide6.QtCore import QEventLoop, QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from desktop.library.settings import Settings\n"
        "from desktop.ui.application import create_window\n"
        f"window = create_window(Settings(model_folders=[{str(tiny_model)!r}]))\n"
        "window.show()\n"
        "window.form.prompt.setPlainText('a red circle')\n"
        "window.form.set_size(64, 64)\n"
        "window.form.steps.setValue(2)\n"
        "loop = QEventLoop()\n"
        "saved = []\n"
        "window.bridge.finished_job.connect(lambda job, rows: (saved.extend(rows), loop.quit()))\n"
        "QTimer.singleShot(120000, loop.quit)\n"
        "window.generate()\n"
        "loop.exec()\n"
        "print(len(saved), sorted(m for m in ('torch', 'diffusers', 'transformers', 'openai') if m in sys.modules))\n"
        "window.close()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "1 []"
