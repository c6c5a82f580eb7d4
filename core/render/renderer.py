"""The one renderer of a `Scene` (core/render/scene.py): the app's viewport and every headless picture use it.

Meshes are lit by pyrender offscreen (EGL, else OSMesa; no window needed, so the same code runs in the app,
under Xvfb and on a server). It keeps what it uploaded between frames and, per mesh, sends positions and
normals again only when the mesh's `geometry_version` moved; colours, faces and textures only when its
`appearance_version` did. Skeletons and points are then drawn over the frame with OpenCV through the same
camera, so overlays and meshes cannot disagree. Where no OpenGL context can be made, a renderer built with
`fallback=True` splats mesh vertices in depth order instead (backend "points"), with the same projection.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from dataclasses import dataclass

import numpy as np

from deformlearn.core.render.normals import vertex_normals
from deformlearn.core.render.scene import Camera, Mesh, Points, Scene, Skeleton

log = logging.getLogger("deformlearn.render")


def _egl_usable() -> bool:
    """True when an EGL display initialises (probed through ctypes, before any OpenGL import)."""
    name = ctypes.util.find_library("EGL")
    if name is None:
        return False
    try:
        egl = ctypes.CDLL(name)
        egl.eglGetDisplay.restype = ctypes.c_void_p
        egl.eglGetDisplay.argtypes = [ctypes.c_void_p]
        egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        display = egl.eglGetDisplay(None)
        return bool(display) and bool(egl.eglInitialize(display, None, None))
    except (OSError, AttributeError):
        return False


if "PYOPENGL_PLATFORM" not in os.environ:  # PyOpenGL reads it once, at its first import
    os.environ["PYOPENGL_PLATFORM"] = "egl" if _egl_usable() else "osmesa"

_SHIFT = 4  # sub-pixel bits of the OpenCV overlays
_MATERIAL = {"metallicFactor": 0.0, "roughnessFactor": 0.9}


def keep_shader_programs(gl) -> None:
    """Make a pyrender OffscreenRenderer compile each shader program once, not at every frame.

    pyrender's program cache keys its programs by `OpenGL.contextdata.getContext()`, which under OSMesa (and
    EGL) is a new pointer object at every call, so every frame missed the cache, compiled its shaders again
    and kept the old program: 3.6 MB of memory a frame (8.3 GB to synthesize 2,000 people). An
    OffscreenRenderer has one context of its own, so its programs are keyed by shaders and defines alone
    here; pyrender's cache still holds them all, and deleting the renderer frees them."""
    cache = gl._renderer._program_cache
    compile_program = cache.get_program
    programs: dict = {}

    def get_program(vertex_shader, fragment_shader, geometry_shader=None, defines=None):
        key = (vertex_shader, fragment_shader, geometry_shader, tuple(sorted((defines or {}).items())))
        if key not in programs:
            programs[key] = compile_program(vertex_shader, fragment_shader, geometry_shader, defines)
        return programs[key]

    cache.get_program = get_program


class RenderError(RuntimeError):
    """Rendering failed (no OpenGL context, bad input); the message says why."""


def release_offscreen_renderer(gl) -> None:
    """Free a pyrender OffscreenRenderer's GL objects and its own context; use instead of gl.delete().

    pyrender's own delete() calls eglTerminate on the process-wide default display, which breaks every
    other EGL context alive in the process (a second renderer, the app's viewports, Qt's views); so destroy
    only this renderer's context. Call it on the thread that made the renderer.
    """
    platform = gl._platform
    display = getattr(platform, "_egl_display", None)
    platform.make_current()
    gl._renderer.delete()
    if display is None:  # not EGL (OSMesa, a window): pyrender's own clean-up is safe there
        platform.delete_context()
        return
    from OpenGL import EGL

    EGL.eglMakeCurrent(display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
    EGL.eglDestroyContext(display, platform._egl_context)
    platform._egl_context = None
    platform._egl_display = None  # so pyrender's __del__ finds nothing left to terminate


def light_rotation(direction) -> np.ndarray:
    """(3, 3) rotation whose -z axis points along `direction` (pyrender's lights shine along their -z)."""
    z = -np.asarray(direction, np.float64) / np.linalg.norm(direction)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], 1)


@dataclass
class _Upload:
    """What the GL side holds for one scene mesh."""

    node: object  # pyrender.Node
    primitive: object  # pyrender.Primitive
    geometry_version: int
    appearance_version: int


class SceneRenderer:
    """Draws a `Scene` to (H, W, 3) uint8 RGB. Create, use and `close` it on one thread (an OpenGL rule).

    `backend` says what draws: "gl" (pyrender) or "points" (the fallback, only with `fallback=True`; without
    it a GL failure raises `RenderError`). `uploads` counts (full mesh builds, geometry-only updates).
    """

    def __init__(self, fallback: bool = False) -> None:
        self.fallback = fallback
        self.backend = "gl"
        self.uploads = [0, 0]
        self._gl = None
        self._pr = None
        self._scene = None
        self._camera_node = None
        self._light_node = None
        self._meshes: dict[int, _Upload] = {}

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._gl is not None:
            release_offscreen_renderer(self._gl)
            self._gl = None
        self._scene, self._meshes = None, {}

    def render(self, scene: Scene, width: int, height: int) -> np.ndarray:
        """(height, width, 3) uint8 RGB picture of `scene`: meshes, then points and skeletons over them."""
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        surface_z = None
        if self.backend == "gl":
            try:
                color, surface_z = self._render_gl(scene, width, height)
            except Exception as exc:  # no context, a driver error: say which, then fall back or raise
                self.close()
                if not self.fallback:
                    raise RenderError(f"no offscreen OpenGL rendering ({os.environ.get('PYOPENGL_PLATFORM')}): "
                                      f"{exc}") from exc
                log.warning("OpenGL rendering failed, drawing points from now on: %s", exc)
                self.backend = "points"
        if self.backend == "points":
            color = _render_points(scene, width, height)
        _draw_overlays(color, scene, width, height, surface_z)
        return color

    # ---- OpenGL ---------------------------------------------------------------------------------------
    def _context(self, width: int, height: int) -> None:
        if self._pr is None:
            import pyrender  # late: slow to import, and reads PYOPENGL_PLATFORM then

            self._pr = pyrender
        pr = self._pr
        if self._gl is None:
            self._gl = pr.OffscreenRenderer(width, height)
            keep_shader_programs(self._gl)
        elif (self._gl.viewport_width, self._gl.viewport_height) != (width, height):
            self._gl.viewport_width, self._gl.viewport_height = width, height
        if self._scene is None:
            self._scene = pr.Scene()
            self._camera_node = self._scene.add(pr.OrthographicCamera(xmag=1.0, ymag=1.0))
            self._light_node = self._scene.add(pr.DirectionalLight(color=np.ones(3), intensity=Scene.LIGHT_INTENSITY))

    def _render_gl(self, scene: Scene, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        self._context(width, height)
        self._sync_meshes(scene)
        cam = scene.camera
        self._scene.bg_color = [c / 255.0 for c in scene.background] + [1.0]
        self._scene.ambient_light = [Scene.AMBIENT] * 3
        near_z, far_z = _depth_range(scene)
        pad = 0.05 * max(near_z - far_z, cam.extent) + 1e-6
        distance = near_z + pad
        camera = self._camera_node.camera
        camera.xmag = width / (2 * cam.pixels_per_unit(height))
        camera.ymag = height / (2 * cam.pixels_per_unit(height))
        camera.znear, camera.zfar = pad / 2, distance - far_z + pad
        pose = cam.pose(distance)
        self._scene.set_pose(self._camera_node, pose)
        light = np.eye(4)
        light[:3, :3] = pose[:3, :3] @ light_rotation(Scene.LIGHT_DIRECTION)
        self._scene.set_pose(self._light_node, light)
        color, depth = self._gl.render(self._scene)
        return np.array(color[:, :, :3]), distance - _ortho_distance(depth, camera.znear, camera.zfar)

    def _sync_meshes(self, scene: Scene) -> None:
        """Bring the GL copies up to date with the scene's meshes, uploading only what changed."""
        seen = set()
        for mesh in (n for n in scene.nodes if isinstance(n, Mesh)):
            seen.add(mesh.uid)
            up = self._meshes.get(mesh.uid)
            if up is None or up.appearance_version != mesh.appearance_version:
                if up is not None:
                    self._scene.remove_node(up.node)
                up = self._meshes[mesh.uid] = self._build(mesh)
                self.uploads[0] += 1
            elif up.geometry_version != mesh.geometry_version:
                self._update_geometry(up, mesh)
                self.uploads[1] += 1
            up.node.mesh.is_visible = mesh.visible
        for uid in [u for u in self._meshes if u not in seen]:
            self._scene.remove_node(self._meshes.pop(uid).node)

    def _build(self, mesh: Mesh) -> _Upload:
        pr = self._pr
        normals = vertex_normals(mesh.vertices, mesh.faces, mesh.weld_index).astype(np.float32)
        if mesh.texture is not None:
            texture = pr.Texture(source=mesh.texture, source_channels="RGB",
                                 sampler=pr.Sampler(magFilter=9729, minFilter=9729))  # GL_LINEAR
            material = pr.MetallicRoughnessMaterial(baseColorTexture=texture, **_MATERIAL)
            prim = pr.Primitive(positions=mesh.vertices, normals=normals, indices=mesh.faces, material=material,
                                texcoord_0=mesh.texcoords)
        else:
            rgb = mesh.colours if mesh.colours is not None else np.full((mesh.num_vertices, 3), 190, np.uint8)
            rgba = np.concatenate([rgb / 255.0, np.ones((mesh.num_vertices, 1))], 1).astype(np.float32)
            prim = pr.Primitive(positions=mesh.vertices, normals=normals, indices=mesh.faces, color_0=rgba,
                                material=pr.MetallicRoughnessMaterial(**_MATERIAL))
        node = self._scene.add(pr.Mesh([prim]))
        return _Upload(node, prim, mesh.geometry_version, mesh.appearance_version)

    def _update_geometry(self, up: _Upload, mesh: Mesh) -> None:
        """Rewrite the interleaved vertex buffer in place (pyrender's layout: position, normal, texcoord_0,
        color_0), keeping faces, colours and textures where they are on the GPU."""
        prim = up.primitive
        prim.positions = mesh.vertices
        prim.normals = vertex_normals(mesh.vertices, mesh.faces, mesh.weld_index).astype(np.float32)
        up.geometry_version = mesh.geometry_version
        if not prim._in_context():  # not drawn yet: its first draw uploads the new arrays
            return
        from OpenGL import GL

        parts = [prim.positions, prim.normals] + [a for a in (prim.texcoord_0, prim.color_0) if a is not None]
        data = np.ascontiguousarray(np.hstack(parts), dtype=np.float32)
        self._gl._platform.make_current()
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, prim._buffers[0])
        GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, data.nbytes, data)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, 0)


def _depth_range(scene: Scene) -> tuple[float, float]:
    """(nearest, farthest) view z of every visible mesh vertex (world units); (1, -1) for an empty scene."""
    zs = [scene.camera.to_view(m.vertices)[:, 2] for m in scene.of_type(Mesh) if m.num_vertices]
    if not zs:
        return 1.0, -1.0
    return max(float(z.max()) for z in zs), min(float(z.min()) for z in zs)


def _ortho_distance(depth: np.ndarray, znear: float, zfar: float) -> np.ndarray:
    """(H, W) distance from the camera plane of an orthographic frame, inf where nothing was drawn.

    pyrender linearises depth as if every camera were a perspective one; undo that to the window depth and
    map it linearly, as an orthographic projection does."""
    out = np.full(depth.shape, np.inf)
    hit = depth > 0
    ndc = (zfar + znear - 2 * znear * zfar / depth[hit]) / (zfar - znear)
    out[hit] = (ndc * (zfar - znear) + zfar + znear) / 2
    return out


def _render_points(scene: Scene, width: int, height: int) -> np.ndarray:
    """The no-GL look: every mesh vertex a 2 x 2 splat of its colour, far ones first."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = scene.background
    for mesh in scene.of_type(Mesh):
        s = scene.camera.to_screen(mesh.vertices, width, height)
        order = np.argsort(s[:, 2])
        x, y = np.floor(s[order, 0]).astype(int), np.floor(s[order, 1]).astype(int)
        c = (mesh.colours if mesh.colours is not None else np.full((mesh.num_vertices, 3), 190, np.uint8))[order]
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            xx, yy = x + dx, y + dy
            ok = (xx >= 0) & (xx < width) & (yy >= 0) & (yy < height)
            frame[yy[ok], xx[ok]] = c[ok]
    return frame


def _draw_overlays(frame: np.ndarray, scene: Scene, width: int, height: int, view_z: np.ndarray | None) -> None:
    """Points (hidden behind meshes when occludable and a depth map is at hand), then skeletons, in place.

    view_z: (H, W) view z of the nearest mesh surface, -inf on the background; None when no depth is known
    (the points fallback)."""
    import cv2

    cam: Camera = scene.camera
    scale = 1 << _SHIFT
    to_cv = np.array([-0.5, -0.5, 0.0])  # OpenCV puts pixel centres at integers, the screen frame at +0.5
    for pts in scene.of_type(Points):
        if not len(pts.points):
            continue
        s = cam.to_screen(pts.points, width, height) + to_cv
        keep = np.ones(len(s), bool)
        if pts.occludable and view_z is not None:
            r = np.clip(np.round(s[:, 1]).astype(int), 0, height - 1)
            c = np.clip(np.round(s[:, 0]).astype(int), 0, width - 1)
            keep = s[:, 2] >= view_z[r, c] - 0.01 * cam.extent
        radius = max(1, int(round(pts.radius * scale)))
        for x, y, _ in s[keep]:
            cv2.circle(frame, (int(round(x * scale)), int(round(y * scale))), radius, pts.colour, -1, cv2.LINE_AA,
                       _SHIFT)
    for sk in scene.of_type(Skeleton):
        s = np.round((cam.to_screen(sk.joints, width, height) + to_cv)[:, :2] * scale).astype(np.int64)
        for j, parent in enumerate(sk.parents):
            if parent >= 0:
                cv2.line(frame, tuple(s[j]), tuple(s[parent]), sk.bone_colour, 2, cv2.LINE_AA, _SHIFT)
        for p in s:
            cv2.circle(frame, tuple(p), 3 * scale, sk.joint_colour, -1, cv2.LINE_AA, _SHIFT)
