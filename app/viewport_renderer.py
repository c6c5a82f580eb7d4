"""Frames of a body mesh for the 3D viewport: an orbit camera, pyrender over EGL, a numpy fallback.

The scene is described once (`OrbitCamera` + vertices, faces, colours) and turned into pixels either by
pyrender (EGL, no window needed, so it works offscreen and under Xvfb alike) or, where no EGL context can be
made, by splatting vertices in depth order. Both share the same projection, so picking and the skeleton
overlay do not depend on which one drew the frame.

Frames: body frame = the template's (metres, y up, facing +z, body-left +x). View frame = body frame
rotated by the camera, centred on the target, x right, y up, z towards the viewer. Screen = pixels, x right,
y down, origin at the top-left corner.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("deformlearn.app")

VIEWS = {"front": (0.0, 0.0), "side": (90.0, 0.0), "top": (0.0, 90.0), "back": (180.0, 0.0)}


@dataclass
class OrbitCamera:
    """An orthographic orbit camera: azimuth about the body's y axis, then elevation about x (degrees)."""

    azimuth: float = 0.0
    elevation: float = 0.0
    #: Height of the view in metres at zoom 1.
    extent: float = 2.2
    zoom: float = 1.0
    #: (3,) body-frame point the camera looks at.
    target: np.ndarray = None  # type: ignore[assignment]
    #: (2,) view-frame pan in metres.
    pan: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.target = np.zeros(3) if self.target is None else np.asarray(self.target, np.float64)
        self.pan = np.zeros(2) if self.pan is None else np.asarray(self.pan, np.float64)

    def set_view(self, name: str) -> None:
        self.azimuth, self.elevation = VIEWS[name]

    def rotation(self) -> np.ndarray:
        """(3, 3) body frame -> view frame."""
        a, e = math.radians(self.azimuth), math.radians(self.elevation)
        ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        rx = np.array([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]])
        return rx @ ry

    def to_view(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) body frame -> (N, 3) view frame (metres)."""
        out = (np.asarray(points, np.float64) - self.target) @ self.rotation().T
        out[:, :2] += self.pan
        return out

    def pixels_per_metre(self, height: int) -> float:
        return height * self.zoom / self.extent

    def to_screen(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """(N, 3) body frame -> (N, 3): screen x, y in pixels and view depth (metres, larger = nearer)."""
        v = self.to_view(points)
        f = self.pixels_per_metre(height)
        return np.stack([width / 2 + v[:, 0] * f, height / 2 - v[:, 1] * f, v[:, 2]], axis=1)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit normals, area-weighted from faces (F, 3)."""
    tri = vertices[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n = np.zeros_like(vertices)
    for k in range(3):
        n += np.stack([np.bincount(faces[:, k], fn[:, c], len(vertices)) for c in range(3)], axis=1)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


class MeshFrameRenderer:
    """Renders (V, 3) body-frame vertices with per-vertex colours through an `OrbitCamera`.

    Create, use and `close` on one thread (pyrender's rule). `backend` says which drew: "egl" or "points".
    """

    def __init__(self) -> None:
        self._renderer = None
        self._pyrender = None
        self._size = (0, 0)
        #: "egl" until a GL frame fails (then "points" for good); pyrender is imported at the first frame.
        self.backend = "egl"

    def close(self) -> None:
        if self._renderer is not None:
            # imported here, not at the top: core.render.offscreen picks the GL platform on import, which must wait
            # for the app's environment set-up (a renderer exists only after that)
            from deformlearn.core.render import release_offscreen_renderer

            release_offscreen_renderer(self._renderer)
            self._renderer = None

    def render(
        self, vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray, camera: OrbitCamera,
        width: int, height: int, background: tuple[int, int, int] = (38, 40, 46),
    ) -> np.ndarray:
        """(H, W, 3) uint8 frame of vertices (V, 3) body frame, faces (F, 3), colours (V, 3) uint8."""
        if vertices.ndim != 2 or vertices.shape[1] != 3 or colours.shape != vertices.shape:
            raise ValueError(f"vertices {vertices.shape} and colours {colours.shape} must both be (V, 3)")
        if self.backend == "egl":
            try:
                return self._render_gl(vertices, faces, colours, camera, width, height, background)
            except Exception as exc:
                log.warning("EGL rendering failed, using points from now on: %s", exc)
                self.close()
                self.backend = "points"
        return self._render_points(vertices, colours, camera, width, height, background)

    def _render_gl(self, vertices, faces, colours, camera, width, height, background) -> np.ndarray:
        if self._pyrender is None:
            import pyrender  # imported late: it is slow to import and reads PYOPENGL_PLATFORM then

            self._pyrender = pyrender
        pr = self._pyrender
        if self._renderer is None or self._size != (width, height):
            self.close()
            self._renderer = pr.OffscreenRenderer(width, height)
            self._size = (width, height)
        view = camera.to_view(vertices).astype(np.float32)
        rgba = np.concatenate([colours.astype(np.float32) / 255.0, np.ones((len(colours), 1), np.float32)], 1)
        prim = pr.Primitive(positions=view, normals=vertex_normals(view, faces).astype(np.float32),
                            indices=faces, color_0=rgba, mode=pr.constants.GLTF.TRIANGLES,
                            material=pr.MetallicRoughnessMaterial(metallicFactor=0.0, roughnessFactor=0.9))
        scene = pr.Scene(bg_color=[c / 255.0 for c in background] + [1.0], ambient_light=[0.45] * 3)
        scene.add(pr.Mesh([prim]))
        half_h = height / (2 * camera.pixels_per_metre(height))
        cam = pr.OrthographicCamera(xmag=half_h * width / height, ymag=half_h, znear=0.01, zfar=100.0)
        pose = np.eye(4)
        pose[2, 3] = 20.0
        scene.add(cam, pose=pose)
        light_pose = np.eye(4)
        light_pose[:3, :3] = _look_rotation(np.array([0.4, 0.5, 1.0]))
        scene.add(pr.DirectionalLight(intensity=3.0), pose=light_pose)
        color, _ = self._renderer.render(scene)
        return np.ascontiguousarray(color[..., :3])

    @staticmethod
    def _render_points(vertices, colours, camera, width, height, background) -> np.ndarray:
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = background
        s = camera.to_screen(vertices, width, height)
        order = np.argsort(s[:, 2])  # far first, so near points overwrite them
        x = np.round(s[order, 0]).astype(int)
        y = np.round(s[order, 1]).astype(int)
        c = colours[order]
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            xx, yy = x + dx, y + dy
            ok = (xx >= 0) & (xx < width) & (yy >= 0) & (yy < height)
            frame[yy[ok], xx[ok]] = c[ok]
        return frame


def _look_rotation(direction: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose -z axis points along -direction (a light shining from `direction`)."""
    z = direction / np.linalg.norm(direction)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def pick_vertex(vertices: np.ndarray, camera: OrbitCamera, width: int, height: int, x: float, y: float,
                radius_px: float = 6.0) -> int | None:
    """Index of the nearest-to-viewer vertex within `radius_px` of screen point (x, y), or None."""
    s = camera.to_screen(vertices, width, height)
    near = np.flatnonzero(np.hypot(s[:, 0] - x, s[:, 1] - y) <= radius_px)
    if near.size == 0:
        return None
    return int(near[np.argmax(s[near, 2])])
