"""The 3D viewer: the GLB in Qt Quick 3D under a display with OpenGL (Xvfb + Mesa, in a child process),
and the turntable with a reason where there is no OpenGL (the tests' offscreen platform)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop.engine.result import MeshData
from desktop.library.mesh import turntable_name, write_glb
from desktop.library.video import write_mp4
from desktop.ui.mesh_viewer import MeshViewer, three_d_unavailable_reason

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def object_files(tmp_path) -> Path:
    """A coloured sphere's GLB, its 6-view turntable and its poster; returns the GLB's path."""
    import trimesh

    shape = trimesh.creation.icosphere(subdivisions=3, radius=0.8)
    vertices = np.asarray(shape.vertices, np.float32)
    mesh = MeshData(vertices, np.asarray(shape.faces, np.uint32), (vertices / 1.6 + 0.5).clip(0, 1))
    glb = write_glb(tmp_path / "object.glb", mesh, {"prompt": "a ball"})
    frames = [Image.new("RGB", (32, 32), (200, 40 * i, 90)) for i in range(6)]
    write_mp4(turntable_name(glb), frames, 6, {"prompt": "a ball"})
    frames[0].save(tmp_path / "object.poster.png")
    return glb


def test_without_opengl_the_turntable_plays_and_the_viewer_says_why(qtbot, object_files):
    viewer = MeshViewer()
    qtbot.addWidget(viewer)
    assert not viewer.three_d and viewer.grab_view() is None
    assert "offers no OpenGL" in viewer.unavailable_reason and viewer.message.text() == viewer.unavailable_reason
    viewer.load(object_files, turntable_name(object_files), object_files.with_name("object.poster.png"), 6)
    player = viewer.player
    assert not viewer.reset_button.isVisibleTo(viewer)
    if player.player is not None:  # QtMultimedia loaded: the turntable is what plays
        assert player.player.source().toLocalFile() == str(turntable_name(object_files))
        qtbot.waitUntil(lambda: player.player.position() > 0, timeout=10000)
    viewer.stop()


def test_qt_quick_forced_to_software_is_named_as_the_reason(qapp):
    from PySide6.QtQuick import QQuickWindow

    QQuickWindow.setSceneGraphBackend("software")
    try:
        assert "software renderer" in three_d_unavailable_reason()
    finally:
        QQuickWindow.setSceneGraphBackend("")


def test_qt_quick_forced_to_software_by_the_environment_is_named_too(qapp, monkeypatch):
    monkeypatch.setenv("QT_QUICK_BACKEND", "software")
    assert "software renderer" in three_d_unavailable_reason()


# Run under Xvfb: show the viewer, screenshot it, drag, scroll, reset; report what happened as JSON.
SCRIPT = r"""
import json, sys
from pathlib import Path
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

app = QApplication(sys.argv)
from desktop.ui.mesh_viewer import MeshViewer

glb, shot = Path(sys.argv[1]), sys.argv[2]
viewer = MeshViewer()
viewer.resize(480, 420)
viewer.show()
viewer.load(glb, glb, glb, 6)
QTest.qWait(800)
report = {"three_d": viewer.three_d, "reason": viewer.unavailable_reason, "message": viewer.message.text()}
if viewer.three_d:
    view, root = viewer.view, viewer.view.rootObject()
    viewer.grab_view().save(shot)
    angles = lambda: [round(v, 2) for v in (root.property("angles").x(), root.property("angles").y())]
    report["start"] = [angles(), root.property("distance")]

    def mouse(kind, x, buttons):
        button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
        point = QPointF(x, 200)
        event = QMouseEvent(kind, point, view.mapToGlobal(point), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(view, event)

    mouse(QEvent.Type.MouseButtonPress, 200, Qt.MouseButton.LeftButton)
    for x in range(205, 330, 5):
        mouse(QEvent.Type.MouseMove, x, Qt.MouseButton.LeftButton)
        QTest.qWait(15)  # the controller turns the camera once a frame while the drag lasts
    mouse(QEvent.Type.MouseButtonRelease, 330, Qt.MouseButton.NoButton)
    report["dragged"] = angles()
    wheel = QWheelEvent(QPointF(200, 200), view.mapToGlobal(QPointF(200, 200)), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, wheel)
    QTest.qWait(50)
    report["zoomed"] = root.property("distance")
    viewer.reset_button.click()
    report["reset"] = [angles(), root.property("distance")]
print(json.dumps(report))
"""


def test_under_a_display_with_opengl_the_object_turns_zooms_and_resets(object_files, tmp_path):
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb libgl1-mesa-dri)")
    shot = tmp_path / "viewer.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [xvfb, "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-c", SCRIPT, str(object_files), str(shot)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["three_d"], report["reason"]
    assert report["message"] == ""
    assert report["start"] == [[-20.0, 30.0], pytest.approx(3.2)]
    assert report["dragged"] != report["start"][0]
    assert report["zoomed"] < 3.2
    assert report["reset"] == report["start"]
    # The object is drawn, lit and coloured over the plain background.
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    background = pixels[5, 5]
    centre = pixels[pixels.shape[0] // 2 - 40 : pixels.shape[0] // 2 + 40, pixels.shape[1] // 2 - 40 :][:, :80]
    assert np.abs(centre - background).sum(axis=2).min() > 60
    assert len(np.unique(centre.reshape(-1, 3), axis=0)) > 50
