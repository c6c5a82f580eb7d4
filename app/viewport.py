"""The 3D viewport: the fitted (or rest) body coloured by part or by per-vertex residual, with skeleton.

Left-drag orbits, right-drag or the wheel zooms, middle-drag (or shift + left) pans; front/side/top buttons.
A click without a drag picks the nearest visible vertex and emits `vertexPicked`. Frames are rendered on the
GUI thread (pyrender's one-thread rule) and coalesced: many `set_mesh` calls between two paints cost one frame.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QCoreApplication, QPointF, QRectF, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from deformlearn.app.colours import PART_COLOURS, ramp
from deformlearn.app.viewport_renderer import MeshFrameRenderer, OrbitCamera, pick_vertex


@dataclass(frozen=True, eq=False)
class RenderRequest:
    """One frame to draw: vertices (V, 3) body frame, faces (F, 3), colours (V, 3) uint8, a camera snapshot."""

    seq: int
    vertices: np.ndarray
    faces: np.ndarray
    colours: np.ndarray
    camera: OrbitCamera
    width: int
    height: int


class RenderThread(QThread):
    """Owns the `MeshFrameRenderer` (created, used and closed on this thread: pyrender's rule) and draws the
    newest request only, so the GUI thread never waits for a frame and a fast fit never queues stale ones."""

    frameReady = Signal(int, QImage, float, object)  # seq, frame, seconds it took, the camera it used

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._request: RenderRequest | None = None
        self._stopping = False
        self.backend = "egl"

    def submit(self, request: RenderRequest) -> None:
        with self._lock:
            self._request = request
        self._wake.set()

    def stop(self) -> None:
        if self.isRunning():
            self._stopping = True
            self._wake.set()
            self.wait()

    def run(self) -> None:
        renderer = MeshFrameRenderer()
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                with self._lock:
                    req, self._request = self._request, None
                if req is None:
                    continue
                started = time.perf_counter()
                rgb = renderer.render(req.vertices, req.faces, req.colours, req.camera, req.width, req.height)
                image = QImage(rgb.data, req.width, req.height, 3 * req.width, QImage.Format.Format_RGB888).copy()
                self.backend = renderer.backend
                self.frameReady.emit(req.seq, image, time.perf_counter() - started, req.camera)
        finally:
            renderer.close()


class MeshCanvas(QWidget):
    """Shows rendered frames and handles the mouse; the owner sets the mesh through `Viewport3D`."""

    vertexPicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.camera = OrbitCamera()
        self.render_thread = RenderThread()
        self.render_thread.frameReady.connect(self._frame_ready)
        self.render_thread.start()
        self._submitted = 0
        self._received = 0
        self._frame_camera = self.camera
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

    @property
    def backend(self) -> str:
        """"egl" or "points": what draws the frames."""
        return self.render_thread.backend

    def shutdown(self) -> None:
        """Stop the render thread (it frees its GL context on its own thread)."""
        self.render_thread.stop()

    def closeEvent(self, event) -> None:
        self.shutdown()
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
        if self.vertices is None or self.faces is None:
            self._frame = None
            self.update()
            return
        w, h = max(self.width(), 16), max(self.height(), 16)
        self._submitted += 1
        self.render_thread.submit(RenderRequest(self._submitted, self.vertices.copy(), self.faces, self.colours.copy(),
                                                copy.deepcopy(self.camera), w, h))

    def _frame_ready(self, seq: int, image: QImage, seconds: float, camera: OrbitCamera) -> None:
        self._received = max(self._received, seq)
        self._frame, self._frame_camera = image, camera
        self.frame_times.append(time.perf_counter())
        self.render_seconds.append(seconds)
        self.update()

    def render_frame(self, timeout: float = 10.0) -> bool:
        """Render now and wait for the frame (tests, screenshots); False on timeout."""
        self._dirty = True
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
        p.fillRect(self.rect(), QColor(38, 40, 46))
        if self._frame is not None:
            p.drawImage(QRectF(0, 0, self._frame.width(), self._frame.height()), self._frame)
        w, h = self.width(), self.height()
        cam = self._frame_camera if self._frame is not None else self.camera  # overlays match the frame shown
        if self.show_skeleton and self.joints is not None and self.parents is not None:
            s = cam.to_screen(self.joints, w, h)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(QPen(QColor(255, 255, 255, 220), 2))
            for j, parent in enumerate(self.parents):
                if parent >= 0:
                    p.drawLine(QPointF(*s[j, :2]), QPointF(*s[parent, :2]))
            p.setBrush(QColor(255, 200, 40))
            for x, y, _ in s:
                p.drawEllipse(QPointF(x, y), 3, 3)
        if self.vertices is not None and self.marked.size:
            s = cam.to_screen(self.vertices[self.marked], w, h)
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
