"""The 3D viewport: the fitted (or rest) body coloured by part or by per-vertex residual, with skeleton.

Left-drag orbits, right-drag or the wheel zooms, middle-drag (or shift + left) pans; front/side/top buttons.
A click without a drag picks the nearest visible vertex and emits `vertexPicked`. Frames are rendered on the
GUI thread (pyrender's one-thread rule) and coalesced: many `set_mesh` calls between two paints cost one frame.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from deformlearn.app.colours import PART_COLOURS, ramp
from deformlearn.app.viewport_renderer import MeshFrameRenderer, OrbitCamera, pick_vertex


class MeshCanvas(QWidget):
    """Shows rendered frames and handles the mouse; the owner sets the mesh through `Viewport3D`."""

    vertexPicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.camera = OrbitCamera()
        self.renderer = MeshFrameRenderer()
        self.vertices: np.ndarray | None = None  # (V, 3) body frame
        self.faces: np.ndarray | None = None  # (F, 3)
        self.colours: np.ndarray | None = None  # (V, 3) uint8
        self.joints: np.ndarray | None = None  # (24, 3) body frame
        self.parents: np.ndarray | None = None  # (24,)
        self.marked: np.ndarray = np.zeros(0, np.int64)  # vertex indices drawn as dots (correspondences)
        self.show_skeleton = True
        self._frame: QImage | None = None
        self._dirty = True
        self._press: QPointF | None = None
        self._last: QPointF | None = None
        self._moved = False
        self.frame_times: list[float] = []  # perf_counter() of each rendered frame (for the fps measurement)
        self.render_seconds: list[float] = []  # time each frame took to render
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._render_now)

    def closeEvent(self, event) -> None:
        self.renderer.close()
        super().closeEvent(event)

    def set_data(self, vertices, faces, colours, joints=None, parents=None, recentre: bool = False) -> None:
        self.vertices, self.faces, self.colours = vertices, faces, colours
        self.joints, self.parents = joints, parents
        if recentre and vertices is not None and len(vertices):
            lo, hi = vertices.min(0), vertices.max(0)
            self.camera.target = (lo + hi) / 2
            self.camera.extent = float(max(hi[1] - lo[1], hi[0] - lo[0], 0.5)) * 1.15
        self.invalidate()

    def invalidate(self) -> None:
        self._dirty = True
        self._timer.start()

    def _render_now(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        w, h = max(self.width(), 16), max(self.height(), 16)
        if self.vertices is None or self.faces is None:
            self._frame = None
        else:
            started = time.perf_counter()
            rgb = self.renderer.render(self.vertices, self.faces, self.colours, self.camera, w, h)
            self._frame = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            self.frame_times.append(time.perf_counter())
            self.render_seconds.append(self.frame_times[-1] - started)
        self.update()

    def render_frame(self) -> None:
        """Render now (tests, screenshots) instead of on the next event-loop turn."""
        self._dirty = True
        self._render_now()

    def resizeEvent(self, event) -> None:
        self.invalidate()
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(38, 40, 46))
        if self._frame is not None:
            p.drawImage(QRectF(0, 0, self._frame.width(), self._frame.height()), self._frame)
        w, h = self.width(), self.height()
        if self.show_skeleton and self.joints is not None and self.parents is not None:
            s = self.camera.to_screen(self.joints, w, h)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(QPen(QColor(255, 255, 255, 220), 2))
            for j, parent in enumerate(self.parents):
                if parent >= 0:
                    p.drawLine(QPointF(*s[j, :2]), QPointF(*s[parent, :2]))
            p.setBrush(QColor(255, 200, 40))
            for x, y, _ in s:
                p.drawEllipse(QPointF(x, y), 3, 3)
        if self.vertices is not None and self.marked.size:
            s = self.camera.to_screen(self.vertices[self.marked], w, h)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 255, 255, 170))
            for x, y, _ in s:
                p.drawEllipse(QPointF(x, y), 1.6, 1.6)
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
            f = cam.pixels_per_metre(self.height())
            cam.pan = cam.pan + np.array([d.x() / f, -d.y() / f])
        elif buttons & Qt.MouseButton.LeftButton:
            cam.azimuth = (cam.azimuth + d.x() * 0.5) % 360.0
            cam.elevation = float(np.clip(cam.elevation + d.y() * 0.5, -90.0, 90.0))
        elif buttons & Qt.MouseButton.RightButton:
            cam.zoom = float(np.clip(cam.zoom * (1.0 - d.y() * 0.01), 0.1, 20.0))
        self.invalidate()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if not self._moved and event.button() == Qt.MouseButton.LeftButton and self.vertices is not None:
            picked = pick_vertex(self.vertices, self.camera, self.width(), self.height(),
                                 event.position().x(), event.position().y())
            if picked is not None:
                self.vertexPicked.emit(picked)
        self._press = self._last = None

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.camera.zoom = float(np.clip(self.camera.zoom * 1.0015 ** event.angleDelta().y(), 0.1, 20.0))
        self.invalidate()


class Viewport3D(QWidget):
    """Canvas plus its controls: colour mode (parts / residual), skeleton toggle, front/side/top views."""

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
        bar = QHBoxLayout()
        for name in ("front", "side", "top"):
            b = QPushButton(name.capitalize())
            b.setObjectName(f"view_{name}")
            b.clicked.connect(lambda _=False, n=name: self.set_view(n))
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(self.skeleton_box)
        bar.addWidget(self.colour_mode)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addWidget(self.canvas, 1)
        self._vertex_part: np.ndarray | None = None
        self._residual: np.ndarray | None = None

    def set_template(self, faces: np.ndarray, vertex_part: np.ndarray, parents: np.ndarray) -> None:
        self.canvas.faces = faces
        self.canvas.parents = parents
        self._vertex_part = vertex_part

    def set_body(self, vertices: np.ndarray | None, joints: np.ndarray | None = None,
                 residual: np.ndarray | None = None, recentre: bool = False) -> None:
        """Show (V, 3) body-frame vertices, (24, 3) joints and optional (V,) per-vertex residuals."""
        self._residual = residual
        self.canvas.set_data(vertices, self.canvas.faces, self._colours(vertices), joints, self.canvas.parents,
                             recentre=recentre)

    def update_vertices(self, vertices: np.ndarray, joints: np.ndarray | None = None) -> None:
        """Animate: new vertex positions, same colours and camera."""
        c = self.canvas
        colours = c.colours if c.colours is not None and len(c.colours) == len(vertices) else self._colours(vertices)
        c.set_data(vertices, c.faces, colours, joints if joints is not None else c.joints, c.parents)

    def set_marked(self, vertex_index: np.ndarray) -> None:
        self.canvas.marked = np.asarray(vertex_index, np.int64)
        self.canvas.update()

    def set_view(self, name: str) -> None:
        self.canvas.camera.set_view(name)
        self.canvas.camera.pan[:] = 0
        self.canvas.invalidate()

    def _toggle_skeleton(self, on: bool) -> None:
        self.canvas.show_skeleton = on
        self.canvas.update()

    def _colours(self, vertices: np.ndarray | None) -> np.ndarray | None:
        if vertices is None:
            return None
        if self.colour_mode.currentText() == "residual" and self._residual is not None \
                and len(self._residual) == len(vertices):
            return ramp(self._residual, vmin=0.0)
        if self._vertex_part is not None and len(self._vertex_part) == len(vertices):
            return PART_COLOURS[self._vertex_part]
        return np.full((len(vertices), 3), 180, np.uint8)

    def _recolour(self) -> None:
        c = self.canvas
        if c.vertices is not None:
            c.colours = self._colours(c.vertices)
            c.invalidate()
