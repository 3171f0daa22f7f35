"""Models → Manage in the window, against the loopback hub: the catalogue, a download with progress, cancel
and resume, the model in the picker for its task, removal; the form's task filter and memory warning."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from desktop.engine.presets import demo_video_installed
from desktop.library.settings import Settings
from tests.models import conftest as hub_fixtures
from tests.models.conftest import REPO
from tests.models.hub_server import Repo

# The loopback hub's fixtures (tests/models/conftest.py), for this folder too.
tiny_hub_folder, hub, online = hub_fixtures.tiny_hub_folder, hub_fixtures.hub, hub_fixtures.online
ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = "text_encoder/model.safetensors"


def listed(form) -> list[str]:
    return [form.model.itemText(i) for i in range(form.model.count())]


def test_the_catalogue_is_listed_searchable_and_nothing_is_fetched_on_opening(qtbot, make_window, online, hub):
    window = make_window(Settings())
    dialog = window.open_models()
    qtbot.waitUntil(lambda: dialog.refresh_button.isEnabled(), timeout=10000)
    assert dialog.isVisible() and dialog.catalogue_table.rowCount() >= 10
    assert dialog.installed_table.rowCount() == 0 and not hub.requests  # offline until asked
    rows = [dialog.catalogue_table.item(r, 0).text() for r in range(dialog.catalogue_table.rowCount())]
    modelscope = rows.index("ModelScope text-to-video 1.7B")
    assert dialog.catalogue_table.item(modelscope, 5).text() == "no (non-commercial only)"
    dialog.search.setText("video non-commercial")
    shown = [r for r in range(dialog.catalogue_table.rowCount()) if not dialog.catalogue_table.isRowHidden(r)]
    assert shown == [modelscope]
    assert window.open_models() is dialog  # one dialog, kept


def test_download_shows_progress_cancels_resumes_and_the_model_appears_in_the_picker(qtbot, make_window, online, hub):
    window = make_window(Settings())
    dialog = window.open_models()
    hub.chunk_bytes = 8192
    hub.hold_after(WEIGHTS, 40_960)
    dialog.download(REPO)
    assert dialog.downloading and dialog.download_panel.isVisible()
    qtbot.waitUntil(lambda: bool(re.search(r"\(\d+ of 11 files\)", dialog.download_title.text())), timeout=20000)
    qtbot.waitUntil(lambda: " left" in dialog.progress_text.text() or "estimating" in dialog.progress_text.text())
    assert hub.hold.reached.wait(20)
    qtbot.waitUntil(lambda: any(p.stat().st_size == 40_960 for p in online.rglob("*.partial")), timeout=5000)
    dialog.cancel_download()
    qtbot.waitUntil(lambda: not dialog.downloading, timeout=5000)
    assert "cancelled" in dialog.message.text() and "resumes" in dialog.message.text()
    assert not dialog.download_panel.isVisible()
    window.model_lists.rescan_cache()
    assert REPO not in listed(window.form)  # half-downloaded: never offered

    hub.release()
    hub.chunk_bytes = 64 * 1024
    with qtbot.waitSignal(dialog.models_changed, timeout=30000):
        dialog.download(REPO)
    assert dialog.message.text().startswith("Downloaded") and "full-precision" in dialog.message.text()
    assert [r["range"] for r in hub.gets(WEIGHTS)][-1] == "bytes=40960-"
    qtbot.waitUntil(lambda: dialog.installed_table.item(0, 5).text() == "ready", timeout=10000)
    assert dialog.installed_table.rowCount() == 1
    assert "apache-2.0" in dialog.installed_table.item(0, 3).text()
    # The window read the model lists again: the picker offers it for its tasks, not for video.
    form = window.form
    assert REPO in listed(form)
    form.task.setCurrentIndex(form.task.findData("text-to-video"))
    assert REPO not in listed(form)

    # Remove frees its disk use.
    form.task.setCurrentIndex(form.task.findData("text-to-image"))
    dialog.installed_table.selectRow(0)
    assert dialog.remove_button.isEnabled()
    with qtbot.waitSignal(dialog.models_changed, timeout=10000):
        dialog.remove_selected(confirm=False)
    assert dialog.message.text().startswith(f"Removed {REPO}: ") and "freed" in dialog.message.text()
    assert not (online / "models--tiny-org--tiny-sd").exists() and REPO not in listed(form)


def test_a_failed_download_is_one_sentence_in_the_dialog(qtbot, make_window, online, hub):
    hub.repos["gated-org/gated"] = Repo({"model.safetensors": b"x"}, gated=True)
    dialog = make_window(Settings()).open_models()
    dialog.download("gated-org/gated")
    qtbot.waitUntil(lambda: not dialog.downloading, timeout=10000)
    text = dialog.message.text()
    assert text.startswith("gated-org/gated is gated") and text.endswith(".") and "\n" not in text
    dialog.download("not an id")
    assert "is not a Hugging Face id" in dialog.message.text()


def test_the_picker_lists_only_models_that_can_do_the_task(
    make_window, tiny_model, tiny_video_model, tiny_inpainting_model
):
    window = make_window(Settings(model_folders=[str(tiny_inpainting_model), str(tiny_video_model), str(tiny_model)]))
    form = window.form
    assert listed(form) == [str(tiny_model), "Demo (built-in)"]
    video = form.task.model().item(form.task.findData("text-to-video"))
    assert video.isEnabled()  # a listed model can: choosing Video picks it
    form.task.setCurrentIndex(form.task.findData("text-to-video"))
    built_in_video = ["Demo video (built-in)"] if demo_video_installed() else []
    assert listed(form) == [str(tiny_video_model), *built_in_video] and form.model_value == str(tiny_video_model)
    assert (form.width.value(), form.frames.value()) == (256, 16)  # its recipe
    form.task.setCurrentIndex(form.task.findData("inpaint"))
    assert listed(form) == [str(tiny_inpainting_model), str(tiny_model), "Demo (built-in)"]
    assert not form.task.model().item(form.task.findData("text-to-3d")).isEnabled()  # nothing listed can


def test_a_model_that_needs_more_memory_than_the_gpu_has_says_so_before_loading(make_window, monkeypatch):
    from desktop.models import memory

    small = memory.DeviceMemory("cuda", 4.0, "a small GPU")
    monkeypatch.setattr(memory, "device_memory", lambda preference="auto", wait=True: small)
    monkeypatch.setattr("desktop.ui.prompt_form.device_memory", lambda preference="auto", wait=True: small)
    form = make_window(Settings()).form
    assert not form.memory_note.isVisible()
    form.select_model("stabilityai/stable-diffusion-xl-base-1.0")
    assert form.memory_note.isVisible()
    assert "needs about 10 GB of GPU memory and this GPU has 4.0 GB" in form.memory_note.text()
    form.select_model("demo")
    assert not form.memory_note.isVisible()


def test_downloading_keeps_the_ui_responsive_and_loads_no_machine_learning_library(online, hub):
    """In a fresh process, as the window has it: a 64 MB download while a 5 ms timer measures the UI thread."""
    hub.repos["big-org/big"] = Repo({"RealESRGAN_x4plus.safetensors": os.urandom(64 * 2**20)})
    script = textwrap.dedent(
        """
        import json, sys, time
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from desktop.library.settings import Settings
        from desktop.ui.models_dialog import ModelsDialog
        dialog = ModelsDialog(lambda: Settings())
        dialog.show()
        gaps, last = [], [time.perf_counter()]
        def tick():
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now
        timer = QTimer(interval=5)
        timer.timeout.connect(tick)
        timer.start()
        done = []
        dialog.models_changed.connect(lambda: done.append(True))
        QTimer.singleShot(200, lambda: dialog.download("big-org/big"))
        deadline = time.monotonic() + 60
        while not (done or (not dialog.downloading and dialog.message.text())) and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.001)
        ml = sorted(m for m in ("torch", "diffusers", "transformers", "openai") if m in sys.modules)
        print(json.dumps({"ok": bool(done), "message": dialog.message.text(), "max_gap_ms": max(gaps) * 1000,
                          "ticks": len(gaps), "ml": ml}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"], report["message"]
    assert report["ml"] == []
    assert report["max_gap_ms"] < 50, report


def test_models_in_a_comfyui_folder_are_offered_in_the_form_where_they_are(qtbot, make_window, tiny_model, tmp_path):
    import shutil

    from tiny_upscalers import build_realesrgan

    from desktop.library.settings import Settings

    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    (comfy / "models" / "upscale_models").mkdir()
    pipeline = Path(shutil.copytree(tiny_model, comfy / "models" / "diffusers" / "tiny-sd"))
    upscaler = build_realesrgan(comfy / "models" / "upscale_models" / "4x-test.safetensors")
    window = make_window(Settings(model_folders=[str(comfy)]))
    # Found on a background thread after the first paint; used in place, nothing copied.
    qtbot.waitUntil(lambda: str(pipeline) in window.form._models.get("diffusers", []), timeout=10000)
    assert str(upscaler) in window.form._models.get("upscale", [])
    assert sorted(p.name for p in (comfy / "models").iterdir()) == ["checkpoints", "diffusers", "upscale_models"]
