"""The viewport's render thread: it owns core's `SceneRenderer` (OpenGL's one-thread rule: created, used and
closed on this thread) and draws only the newest scene snapshot it was given, so a fast fit never queues stale
frames and the GUI thread never waits for one."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

from deformlearn.core.render import Scene, SceneRenderer


@dataclass(frozen=True, eq=False)
class RenderRequest:
    """One frame to draw: a snapshot of the scene (arrays shared, never written into) at a size in pixels."""

    seq: int
    scene: Scene
    width: int
    height: int


class RenderThread(QThread):
    """Owns the `SceneRenderer` (created, used and closed on this thread) and draws the newest request only,
    so the GUI thread never waits for a frame."""

    frameReady = Signal(int, QImage, float, object)  # seq, frame, seconds it took, the camera it used

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._request: RenderRequest | None = None
        self._stopping = False
        self.backend = "gl"
        self.uploads = (0, 0)  # the renderer's (full mesh builds, geometry-only updates)

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
        renderer = SceneRenderer(fallback=True)
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
                rgb = renderer.render(req.scene, req.width, req.height)
                image = QImage(rgb.data, req.width, req.height, 3 * req.width, QImage.Format.Format_RGB888).copy()
                self.backend, self.uploads = renderer.backend, tuple(renderer.uploads)
                self.frameReady.emit(req.seq, image, time.perf_counter() - started, req.scene.camera)
        finally:
            renderer.close()
