"""The 3D viewport: the fitted (or rest) body coloured by part or by per-vertex residual, with its skeleton.

It draws core's one scene description (`deformlearn.core.render.Scene`: a body `Mesh`, a `Skeleton` and the
corresponded vertices as `Points`) with core's one `SceneRenderer`, the same renderer and camera convention
as every headless picture. Left-drag orbits, right-drag or the wheel zooms, middle-drag (or shift + left)
pans; the front/side/top buttons turn the camera and undo zoom and pan; "Enlarge" floats the view's dock at
most of the screen. A click without a drag picks the nearest visible vertex and emits `vertexPicked`.

Frames are drawn on a render thread (app/render_thread.py) that owns the renderer (OpenGL's one-thread
rule) and always draws the newest scene snapshot, so a fast fit never queues stale frames; between two frames of a live fit only the
mesh's positions and normals go to the GPU, and when frames take longer than `LIVE_BUDGET_S` the animation
is drawn at `LIVE_SCALE` of the canvas size (software OpenGL shares the CPU with the fit) and redrawn sharp
once it settles. During a fit the registration reports vertices only, so the skeleton is regressed from them
(`joint_regressor`) and moves with the mesh.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QCoreApplication, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QDockWidget, QHBoxLayout, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from deformlearn.app.colour_bar import ColourBar
from deformlearn.app.render_thread import RenderRequest, RenderThread
from deformlearn.core.render import PART_COLOURS, Camera, Mesh, Points, Scene, Skeleton, joint_regressor, ramp

if TYPE_CHECKING:
    from deformlearn.core.body import Template

BACKGROUND = (38, 40, 46)
#: Colour of the vertex picked for a correspondence (the image view marks its image point in the same colour).
PICKED_COLOUR = (255, 0, 255)
#: A live frame slower than this (seconds) makes the next live frames smaller by LIVE_SCALE (each side).
LIVE_BUDGET_S = 0.04
LIVE_SCALE = 0.6
#: Milliseconds without a live update after which the view is redrawn at full size.
SETTLE_MS = 150


class MeshCanvas(QWidget):
    """Shows the frames of `scene` and turns the mouse into camera moves and vertex picks."""

    vertexPicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.scene = Scene(background=BACKGROUND)
        self.render_thread = RenderThread()
        self.render_thread.frameReady.connect(self._frame_ready)
        self.render_thread.start()
        self._submitted = 0
        self._received = 0
        self._frame_camera = self.camera
        self.vertices: np.ndarray | None = None  # (V, 3) viewer frame, as given (the mesh node holds float32)
        self._frame: QImage | None = None
        self._dirty = True
        self._press: QPointF | None = None
        self._last: QPointF | None = None
        self._moved = False
        self.frame_times: list[float] = []  # perf_counter() of each rendered frame (for the fps measurement)
        self.render_seconds: list[float] = []  # time each frame took to render
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._render_now)
        self._live = False  # the mesh is animating (a fit): frames may be drawn smaller
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self._settled)

    @property
    def camera(self) -> Camera:
        return self.scene.camera

    @property
    def backend(self) -> str:
        """"gl" or "points": what draws the frames."""
        return self.render_thread.backend

    def shutdown(self) -> None:
        """Stop the render thread (it frees its GL context on its own thread)."""
        self.render_thread.stop()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def invalidate(self, live: bool = False) -> None:
        """Ask for a frame; `live` marks an animation step (it may be drawn smaller until the mesh settles)."""
        self._dirty = True
        if live:
            self._live = True
            self._settle.start()
        self._timer.start()

    def _settled(self) -> None:
        self._live = False
        self.invalidate()

    def _frame_size(self) -> tuple[int, int]:
        w, h = max(self.width(), 16), max(self.height(), 16)
        if self._live and self.render_seconds and self.render_seconds[-1] > LIVE_BUDGET_S * (
                1.0 if self._frame is None or self._frame.height() == h else LIVE_SCALE ** 2):
            return max(int(w * LIVE_SCALE), 16), max(int(h * LIVE_SCALE), 16)
        return w, h

    def _render_now(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if self.vertices is None:
            self._frame = None
            self.update()
            return
        self._submitted += 1
        self.render_thread.submit(RenderRequest(self._submitted, self.scene.snapshot(), *self._frame_size()))

    def _frame_ready(self, seq: int, image: QImage, seconds: float, camera: Camera) -> None:
        self._received = max(self._received, seq)
        self._frame, self._frame_camera = image, camera
        self.frame_times.append(time.perf_counter())
        self.render_seconds.append(seconds)
        self.update()

    def render_frame(self, timeout: float = 10.0) -> bool:
        """Render now at full size and wait for the frame (tests, screenshots); False on timeout."""
        self._dirty, self._live = True, False
        self._render_now()
        end = time.perf_counter() + timeout
        while self._received < self._submitted and time.perf_counter() < end:
            QCoreApplication.processEvents()
            time.sleep(0.002)
        return self._received >= self._submitted

    def resizeEvent(self, event) -> None:
        self.invalidate()
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(*BACKGROUND))
        if self._frame is not None and self.vertices is not None:
            if self._frame.height() != self.height():  # a smaller live frame: shown stretched, smoothly
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(QRectF(0, 0, self.width(), self.height()), self._frame)
        if self.vertices is None:
            p.setPen(QColor(200, 200, 200))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No body to show")
        p.end()

    # ---- mouse -------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._press = self._last = event.position()
        self._moved = False

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._last is None:
            return
        d = event.position() - self._last
        self._last = event.position()
        if (event.position() - self._press).manhattanLength() > 3:
            self._moved = True
        buttons = event.buttons()
        cam = self.camera
        if buttons & Qt.MouseButton.MiddleButton or (
            buttons & Qt.MouseButton.LeftButton and event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            f = cam.pixels_per_unit(self.height())
            cam.pan = cam.pan + np.array([d.x() / f, -d.y() / f])
        elif buttons & Qt.MouseButton.LeftButton:
            cam.azimuth = (cam.azimuth + d.x() * 0.5) % 360.0
            cam.elevation = float(np.clip(cam.elevation + d.y() * 0.5, -90.0, 90.0))
        elif buttons & Qt.MouseButton.RightButton:
            cam.zoom = float(np.clip(cam.zoom * (1.0 - d.y() * 0.01), 0.1, 20.0))
        self.invalidate()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if not self._moved and event.button() == Qt.MouseButton.LeftButton and self.vertices is not None:
            picked = self.camera.pick(self.vertices, self.width(), self.height(), event.position().x(),
                                      event.position().y())
            if picked is not None:
                self.vertexPicked.emit(picked)
        self._press = self._last = None

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.camera.zoom = float(np.clip(self.camera.zoom * 1.0015 ** event.angleDelta().y(), 0.1, 20.0))
        self.invalidate()


class Viewport3D(QWidget):
    """Canvas plus its controls: colour mode (parts / residual), skeleton toggle, view presets, enlarge; a
    colour bar beside the canvas while residual colouring is on; the vertex picked for a correspondence
    drawn as a large magenta dot in front of the body (`set_picked`)."""

    vertexPicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.canvas = MeshCanvas(self)
        self.canvas.vertexPicked.connect(self.vertexPicked)
        self.colour_mode = QComboBox()
        self.colour_mode.addItems(["parts", "residual"])
        self.colour_mode.currentTextChanged.connect(lambda _: self._recolour())
        self.skeleton_box = QCheckBox("Skeleton")
        self.skeleton_box.setChecked(True)
        self.skeleton_box.toggled.connect(self._toggle_skeleton)
        bar = QHBoxLayout()  # tool buttons: push buttons' 80 px minimum made the 3D dock 507 px wide at least
        for name in ("front", "side", "top"):
            b = QToolButton(text=name.capitalize())
            b.setObjectName(f"view_{name}")
            b.setToolTip(f"Look at the body from the {name}; undoes zoom and pan")
            b.clicked.connect(lambda _=False, n=name: self.set_view(n))
            bar.addWidget(b)
        self.enlarge_button = QToolButton(text="Enlarge")
        self.enlarge_button.setCheckable(True)
        self.enlarge_button.setToolTip("Float the 3D view at most of the screen (click again to dock it back)")
        self.enlarge_button.toggled.connect(self._enlarge)
        bar.addWidget(self.enlarge_button)
        bar.addStretch(1)
        bar.addWidget(self.skeleton_box)
        bar.addWidget(self.colour_mode)
        self.colour_bar = ColourBar("residual (image px)")
        self.colour_bar.hide()
        view = QHBoxLayout()
        view.addWidget(self.canvas, 1)
        view.addWidget(self.colour_bar)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addLayout(view, 1)
        self.mesh: Mesh | None = None
        self.skeleton: Skeleton | None = None
        self.marks = self.canvas.scene.add(Points(name="correspondences", colour=(255, 255, 255)))
        self.picked_mark = self.canvas.scene.add(Points(name="picked vertex", colour=PICKED_COLOUR, radius=8.0,
                                                        occludable=False))
        self._marked = np.zeros(0, np.int64)
        self.picked: int | None = None
        self._regressor: np.ndarray | None = None  # (J, V) joints from posed vertices
        self._vertex_part: np.ndarray | None = None
        self._residual: np.ndarray | None = None

    def set_template(self, template: Template) -> None:
        """Use a template's faces, parts, weld index and skeleton."""
        scene = self.canvas.scene
        scene.nodes = [n for n in scene.nodes if n is self.marks or n is self.picked_mark]
        self.picked = None
        self._vertex_part = np.asarray(template.vertex_part)
        self._regressor = joint_regressor(template)
        rest = np.asarray(template.rest_vertices, np.float64)
        self.mesh = Mesh(rest, template.faces, self._colours(rest), weld_index=template.weld_index, name="body")
        self.skeleton = Skeleton(template.rest_joints, template.parents, name="skeleton")
        self.skeleton.visible = self.skeleton_box.isChecked()
        scene.nodes[:0] = [self.mesh]
        scene.add(self.skeleton)
        self.canvas.vertices = None

    def set_body(self, vertices: np.ndarray | None, joints: np.ndarray | None = None,
                 residual: np.ndarray | None = None, recentre: bool = False) -> None:
        """Show (V, 3) viewer-frame vertices, (24, 3) joints (None: regressed from the vertices) and optional
        (V,) per-vertex residuals; recentre frames the camera on the body. None shows nothing."""
        self._residual = residual
        if vertices is None or self.mesh is None:
            self.canvas.vertices = None
            self.colour_bar.hide()
            self.canvas.invalidate()
            return
        self.mesh.set_colours(self._colours(vertices))
        self._show(vertices, joints, live=False)
        if recentre:
            self.canvas.camera.frame(np.asarray(vertices, np.float64))

    def update_vertices(self, vertices: np.ndarray, joints: np.ndarray | None = None) -> None:
        """Animate: new (V, 3) vertex positions (and joints, else regressed), same colours and camera."""
        if self.mesh is not None:
            self._show(vertices, joints, live=True)

    def _show(self, vertices: np.ndarray, joints: np.ndarray | None, live: bool) -> None:
        vertices = np.asarray(vertices, np.float64)
        self.mesh.set_vertices(vertices)
        self.skeleton.set_joints(self._regressor @ vertices if joints is None else joints)
        self.marks.set_points(vertices[self._marked])
        self.picked_mark.set_points(vertices[[] if self.picked is None else [self.picked]])
        self.canvas.vertices = vertices
        self.canvas.invalidate(live=live)

    def set_marked(self, vertex_index: np.ndarray) -> None:
        """Mark these vertices (the person's corresponded ones) with dots."""
        self._marked = np.asarray(vertex_index, np.int64)
        if self.canvas.vertices is not None:
            self.marks.set_points(self.canvas.vertices[self._marked])
        self.canvas.invalidate()

    def set_picked(self, vertex: int | None) -> None:
        """Highlight template vertex `vertex` (the one chosen for a correspondence), or nothing (None)."""
        self.picked = None if vertex is None else int(vertex)
        if self.canvas.vertices is not None:
            self.picked_mark.set_points(self.canvas.vertices[[] if self.picked is None else [self.picked]])
        self.canvas.invalidate()

    def set_view(self, name: str) -> None:
        self.canvas.camera.set_view(name)
        self.canvas.invalidate()

    def _toggle_skeleton(self, on: bool) -> None:
        if self.skeleton is not None:
            self.skeleton.visible = on
        self.canvas.invalidate()

    def _enlarge(self, on: bool) -> None:
        dock = self.parent()
        if not isinstance(dock, QDockWidget):
            return
        dock.setFloating(on)
        if on:
            screen = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
            dock.setGeometry(screen.adjusted(screen.width() // 10, screen.height() // 12, -screen.width() // 10,
                                             -screen.height() // 12))

    def residual_range(self, n_vertices: int) -> tuple[float, float] | None:
        """(0, largest residual in image px) when residual colouring is on and there are residuals for these
        vertices; None otherwise (parts colouring)."""
        r = self._residual
        if self.colour_mode.currentText() != "residual" or r is None or len(r) != n_vertices \
                or not np.isfinite(r).any():
            return None
        return 0.0, max(float(np.nanmax(r)), 1e-6)

    def _colours(self, vertices: np.ndarray) -> np.ndarray:
        """(V, 3) uint8 colours of the body (residual ramp or parts); shows or hides the colour bar to match."""
        span = self.residual_range(len(vertices))
        self.colour_bar.setVisible(span is not None)
        if span is not None:
            self.colour_bar.set_range(*span)
            return ramp(self._residual, *span)
        if self._vertex_part is not None and len(self._vertex_part) == len(vertices):
            return PART_COLOURS[self._vertex_part]
        return np.full((len(vertices), 3), 180, np.uint8)

    def _recolour(self) -> None:
        if self.mesh is not None:
            self.mesh.set_colours(self._colours(self.mesh.vertices))
            self.canvas.invalidate()
