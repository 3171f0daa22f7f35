"""The 3D viewer in the details pane: the object's GLB in Qt Quick 3D (its runtime glTF loader, in a
QQuickWidget), turned by dragging, zoomed with the wheel, put back with Reset view.

Qt Quick 3D draws through OpenGL (or another GPU API): where there is none (a remote or virtual
display without GL, the offscreen platform, Qt Quick forced to its software renderer) the viewer
plays the object's turntable video instead and says why. QtQuick3D is imported on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QMetaObject, QUrl
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QStackedLayout, QVBoxLayout, QWidget

from desktop.ui.theme import error_text_color, muted_text_color

# The camera orbits the scene's origin (OrbitCameraController turns `orbit` and moves the camera
# along z). Shap-E objects fill about -1..1 on each axis, so a fixed framing fits every one; the
# start is a three-quarter view from a little above. A light rides on the camera, so the side
# facing the viewer is always lit, with an ambient share so the far side is not black.
QML = b"""
import QtQuick
import QtQuick3D
import QtQuick3D.AssetUtils
import QtQuick3D.Helpers

View3D {
    id: view
    property url source
    readonly property int status: loader.status
    readonly property string errorString: loader.errorString
    readonly property vector3d startAngles: Qt.vector3d(-20, 30, 0)
    readonly property real startDistance: 3.2
    // Where the user has turned and zoomed to (tests and the Reset button read these).
    readonly property vector3d angles: orbit.eulerRotation
    readonly property real distance: camera.z

    function resetView() {
        orbit.eulerRotation = startAngles
        camera.position = Qt.vector3d(0, 0, startDistance)
    }

    environment: SceneEnvironment {
        clearColor: "#3a3a3a"
        backgroundMode: SceneEnvironment.Color
        antialiasingMode: SceneEnvironment.MSAA
        antialiasingQuality: SceneEnvironment.High
    }
    Node {
        id: orbit
        eulerRotation: view.startAngles
        PerspectiveCamera {
            id: camera
            z: view.startDistance
            clipNear: 0.01
            clipFar: 100
            DirectionalLight { brightness: 1.2; ambientColor: Qt.rgba(0.35, 0.35, 0.35, 1) }
        }
    }
    RuntimeLoader { id: loader; source: view.source }
    OrbitCameraController { anchors.fill: parent; origin: orbit; camera: camera; panEnabled: false }
}
"""
HINT = "Drag to turn the object, scroll to zoom."
# Qt Quick scene graph backends that draw no 3D.
SOFTWARE_BACKENDS = ("software", "softwarecontext", "openvg")


def three_d_unavailable_reason() -> str:
    """Why Qt Quick 3D cannot draw here, in one sentence; "" when it can."""
    try:
        from PySide6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext
        from PySide6.QtQuick import QQuickWindow, QSGRendererInterface
        from PySide6.QtQuickWidgets import QQuickWidget  # noqa: F401 - only whether it loads
    except (ImportError, OSError) as exc:
        return f"3D view unavailable: Qt Quick could not load ({exc}); playing the turntable instead."
    api = QQuickWindow.graphicsApi()
    # Set in code, or by the environment (read when the first scene starts, so not yet reported).
    backend = (
        QQuickWindow.sceneGraphBackend() or os.environ.get("QT_QUICK_BACKEND") or os.environ.get("QMLSCENE_DEVICE")
    )
    if backend in SOFTWARE_BACKENDS or api == QSGRendererInterface.GraphicsApi.Software:
        return (
            "3D view unavailable: Qt Quick is set to its software renderer (QT_QUICK_BACKEND), which draws no 3D; "
            "playing the turntable instead."
        )
    if api not in (QSGRendererInterface.GraphicsApi.OpenGL, QSGRendererInterface.GraphicsApi.Unknown):
        return ""  # Vulkan, Direct3D or Metal, chosen on purpose: Qt Quick 3D draws with those too
    context = QOpenGLContext()
    surface = QOffscreenSurface()
    surface.create()
    usable = context.create() and context.makeCurrent(surface)
    if usable:
        context.doneCurrent()
    surface.destroy()
    if not usable:
        platform = QGuiApplication.platformName()
        return (
            f"3D view unavailable: this display ({platform}) offers no OpenGL, which Qt Quick 3D needs "
            "(install your graphics drivers, or Mesa's libgl1-mesa-dri); playing the turntable instead."
        )
    return ""


class MeshViewer(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.view = None  # the QQuickWidget, where 3D works
        self.player = None  # the turntable's VideoPlayer, where it does not
        self.unavailable_reason = three_d_unavailable_reason()
        self._stack = QStackedLayout()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {error_text_color()}")
        self.message.hide()
        self.hint = QLabel(HINT)
        self.hint.setStyleSheet(f"color: {muted_text_color()}")
        self.reset_button = QPushButton("Reset view")
        self.reset_button.setToolTip("Turn the object back to its first view and zoom")
        self.reset_button.clicked.connect(self.reset_view)
        controls = QHBoxLayout()
        controls.addWidget(self.hint, 1)
        controls.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._stack, 1)
        layout.addWidget(self.message)
        layout.addLayout(controls)
        if not self.unavailable_reason:
            self.unavailable_reason = self._make_view()
        if self.unavailable_reason:
            self._fall_back(self.unavailable_reason)

    @property
    def three_d(self) -> bool:
        return self.view is not None

    def _make_view(self) -> str:
        """Build the Qt Quick 3D scene; the sentence saying why it failed, or ""."""
        from PySide6.QtQml import QQmlComponent
        from PySide6.QtQuickWidgets import QQuickWidget

        view = QQuickWidget(self)
        view.setResizeMode(QQuickWidget.ResizeMode.SizeRootObjectToView)
        view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        view.setMinimumSize(200, 200)
        component = QQmlComponent(view.engine())
        component.setData(QML, QUrl("mesh_viewer.qml"))
        root = component.create() if component.isReady() else None
        if root is None:
            errors = component.errors()
            reason = errors[0].description() if errors else "the scene could not be created"
            view.deleteLater()
            return f"3D view unavailable: Qt Quick 3D could not load ({reason}); playing the turntable instead."
        view.setContent(QUrl("mesh_viewer.qml"), component, root)
        self._component = component  # the view keeps the item; the component must outlive it
        self.view = view
        self._stack.addWidget(view)
        return ""

    def _fall_back(self, reason: str) -> None:
        from desktop.ui.video_player import VideoPlayer  # QtMultimedia loads here only

        self.player = VideoPlayer(self)
        self._stack.addWidget(self.player)
        self.hint.setText("The turntable shows the object from every side.")
        self.reset_button.hide()
        self.message.setText(reason)
        self.message.show()

    def load(self, mesh: Path, turntable: Path, poster: Path, fps: int) -> None:
        """Show a 3D object: its GLB in the 3D view, or its turntable (and poster) where there is none."""
        if self.view is None:
            self.player.load(turntable, poster, fps)
            return
        self.message.hide()
        if not Path(mesh).is_file():
            self._say(f"{Path(mesh).name} cannot be shown: the file is missing.")
            return
        root = self.view.rootObject()
        root.setProperty("source", QUrl.fromLocalFile(str(mesh)))
        QMetaObject.invokeMethod(root, "resetView")
        if root.property("status") == 2:  # RuntimeLoader.Error: loading is synchronous
            self._say(f"{Path(mesh).name} cannot be shown: {root.property('errorString')}.")

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def reset_view(self) -> None:
        if self.view is not None:
            QMetaObject.invokeMethod(self.view.rootObject(), "resetView")

    def stop(self) -> None:
        """Let go of the shown object (the pane shows something else now)."""
        if self.view is not None:
            self.view.rootObject().setProperty("source", QUrl())
        elif self.player is not None:
            self.player.stop()

    def grab_view(self):
        """The 3D view as a QImage (screenshots, tests); None where there is no 3D view."""
        return None if self.view is None else self.view.grabFramebuffer()
