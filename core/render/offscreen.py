"""Offscreen rendering of a template-topology mesh given in image coordinates.

Frame of `vertices_px` (V, 3): x right and y down in pixels (pixel [r, c] covers x in [c, c+1), y in [r, r+1)),
z = depth growing away from the camera, in the same units; the camera is orthographic, looking along +z, and
the nearer surface wins.

Modes:
- "iuv": exact DensePose-style labels: colour (H, W, 3) uint8 = [I, U*255, V*255], I = part 1..24, 0 for
  background; U, V are interpolated within faces (faces never span a part seam). Rasterised in numpy, so it
  needs no OpenGL.
- "parts" (one colour per part), "atlas" (textured from a DensePose-layout atlas), "shaded" (grey): lit,
  drawn with pyrender offscreen (EGL, else OSMesa).
Mask and depth always come from the exact rasteriser. The atlas layout (DensePose's): 6 rows x 4 columns of
square tiles; the tile in row r, column c holds part 6c + r + 1; inside a tile the texel of (U, V) is at row
(1 - V) * (tile - 1), column U * (tile - 1).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from deformlearn.core.body.template import Template
from deformlearn.core.render.raster import rasterize


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


if "PYOPENGL_PLATFORM" not in os.environ:
    os.environ["PYOPENGL_PLATFORM"] = "egl" if _egl_usable() else "osmesa"

MODES = ("iuv", "parts", "atlas", "shaded")
ATLAS_BUILTIN_FILE = "atlas_builtin.png"

#: (25, 3) uint8 colour of each DensePose part (0 = background), distinct hues with left/right alike.
PART_COLOURS: np.ndarray = np.array([
    [0, 0, 0], [200, 90, 60], [240, 140, 80], [250, 220, 90], [250, 200, 60], [120, 70, 40], [150, 90, 50],
    [60, 110, 200], [90, 150, 230], [40, 80, 170], [70, 120, 210], [60, 170, 160], [90, 200, 180],
    [40, 140, 130], [70, 180, 150], [170, 80, 190], [200, 110, 220], [140, 60, 160], [180, 90, 200],
    [90, 180, 70], [130, 210, 100], [70, 150, 50], [110, 190, 80], [230, 190, 170], [210, 160, 140],
], dtype=np.uint8)


class RenderError(RuntimeError):
    """Rendering failed (no OpenGL context, bad input); the message says why."""


@dataclass(frozen=True)
class RenderResult:
    """One rendered image.

    Attributes:
        color: (H, W, 3) uint8; in "iuv" mode the same as `iuv`.
        mask: (H, W) bool, True where the mesh covers the pixel centre.
        depth: (H, W) float32 depth z of the nearest surface, inf on the background.
        iuv: (H, W, 3) uint8 [I, U*255, V*255] ("iuv" mode only, else None).
    """

    color: np.ndarray
    mask: np.ndarray
    depth: np.ndarray
    iuv: np.ndarray | None = None


def load_atlas(path: str | Path | None = None) -> np.ndarray:
    """(H_a, W_a, 3) uint8 RGB atlas image; None loads the built-in procedural atlas (resources/)."""
    import cv2

    if path is None:
        path = Path(str(resources.files("deformlearn.resources").joinpath(ATLAS_BUILTIN_FILE)))
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: atlas image not found")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    if img.shape[0] * 4 != img.shape[1] * 6:
        raise ValueError(f"{path}: atlas must be 6 rows x 4 columns of square tiles, got {img.shape[1]}x"
                         f"{img.shape[0]} pixels")
    return np.ascontiguousarray(img[:, :, ::-1])


def atlas_texcoords(vertex_part: np.ndarray, vertex_uv: np.ndarray, atlas_shape: tuple[int, ...]) -> np.ndarray:
    """(V, 2) OpenGL texture coordinates (s right, t up, in [0, 1]) of each vertex in a DensePose atlas."""
    h, w = atlas_shape[:2]
    tile = h // 6
    row = (vertex_part - 1) % 6
    col = (vertex_part - 1) // 6
    px = col * tile + vertex_uv[:, 0] * (tile - 1) + 0.5
    py = row * tile + (1 - vertex_uv[:, 1]) * (tile - 1) + 0.5
    return np.stack([px / w, 1 - py / h], 1).astype(np.float32)


def welded_normals(vertices: np.ndarray, faces: np.ndarray, weld_index: np.ndarray) -> np.ndarray:
    """(V, 3) unit vertex normals averaged over all copies of a surface point (no shading seams)."""
    tri = vertices[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    acc = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(acc, weld_index[faces[:, k]], fn)
    n = acc[weld_index]
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


class OffscreenRenderer:
    """Renders template meshes offscreen. Create, use and delete it on one thread (an OpenGL rule).

    Use as a context manager; the OpenGL context is made on the first lit render and freed on exit.
    """

    def __init__(self) -> None:
        self._gl = None
        self._size: tuple[int, int] | None = None
        self._default_atlas: np.ndarray | None = None
        self._atlas_material = None  # (atlas array, pyrender material): uploaded to the GPU once per atlas

    def __enter__(self) -> OffscreenRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._gl is not None:
            release_offscreen_renderer(self._gl)
            self._gl = None
        self._atlas_material = None

    def render(self, vertices_px: np.ndarray, faces: np.ndarray, *, width: int, height: int, mode: str,
               template: Template, atlas: np.ndarray | None = None) -> RenderResult:
        """Render one view. See the module docstring for the frame and the modes.

        Args:
            vertices_px: (V, 3) vertices in the image frame, V = template.num_vertices.
            faces: (F, 3) int faces over those vertices (usually template.faces).
            width, height: image size in pixels.
            mode: one of "iuv", "parts", "atlas", "shaded".
            template: supplies vertex_part, vertex_uv and weld_index.
            atlas: (H_a, W_a, 3) uint8 atlas for "atlas" mode; None uses the built-in one.
        """
        vertices_px = np.asarray(vertices_px, dtype=np.float64)
        faces = np.asarray(faces, dtype=np.int64)
        if mode not in MODES:
            raise ValueError(f"unknown render mode {mode!r}; expected one of {MODES}")
        if vertices_px.ndim != 2 or vertices_px.shape != (template.num_vertices, 3):
            raise ValueError(f"vertices_px must be (V, 3) with V = {template.num_vertices} (the template's), "
                             f"got {vertices_px.shape}")
        if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and (faces.min() < 0 or
                                                                       faces.max() >= len(vertices_px))):
            raise ValueError(f"faces must be (F, 3) indices into the {len(vertices_px)} vertices")
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        face_id, bary, depth = rasterize(vertices_px, faces, width, height)
        mask = face_id >= 0
        if mode == "iuv":
            iuv = np.zeros((height, width, 3), dtype=np.uint8)
            fid = face_id[mask]
            tri = faces[fid]
            uv = np.einsum("nk,nkc->nc", bary[mask], template.vertex_uv[tri])
            iuv[mask, 0] = template.vertex_part[tri[:, 0]]
            iuv[mask, 1:] = np.clip(np.round(uv * 255), 0, 255).astype(np.uint8)
            return RenderResult(color=iuv, mask=mask, depth=depth, iuv=iuv)
        color = self._render_lit(vertices_px, faces, width, height, mode, template, atlas)
        color[~mask] = 0
        return RenderResult(color=color, mask=mask, depth=depth)

    def _renderer(self, width: int, height: int):
        try:
            import pyrender
        except Exception as exc:  # ImportError or OpenGL platform errors at import
            raise RenderError(f"pyrender/OpenGL unavailable ({exc})") from exc
        if self._gl is None:
            try:
                self._gl = pyrender.OffscreenRenderer(width, height)
            except Exception as exc:
                raise RenderError(f"no offscreen OpenGL context ({os.environ.get('PYOPENGL_PLATFORM')}): "
                                  f"{exc}") from exc
        elif self._size != (width, height):
            self._gl.viewport_width, self._gl.viewport_height = width, height
        self._size = (width, height)
        return self._gl

    def _material_for(self, image: np.ndarray):
        """The textured material of an atlas; reused (not uploaded again) while the same array is passed."""
        import pyrender

        if self._atlas_material is None or self._atlas_material[0] is not image:
            texture = pyrender.Texture(source=image, source_channels="RGB",
                                       sampler=pyrender.Sampler(magFilter=9729, minFilter=9729))
            material = pyrender.MetallicRoughnessMaterial(baseColorTexture=texture, metallicFactor=0.0,
                                                          roughnessFactor=0.9)
            self._atlas_material = (image, material)
        return self._atlas_material[1]

    def _render_lit(self, vertices_px: np.ndarray, faces: np.ndarray, width: int, height: int, mode: str,
                    template: Template, atlas: np.ndarray | None) -> np.ndarray:
        import pyrender

        renderer = self._renderer(width, height)
        world = vertices_px * np.array([1.0, -1.0, -1.0])
        normals = welded_normals(world, faces, template.weld_index)
        if mode == "atlas":
            if atlas is None:
                if self._default_atlas is None:
                    self._default_atlas = load_atlas(None)
                atlas = self._default_atlas
            image = np.asarray(atlas)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"atlas must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
            material = self._material_for(image)
            prim = pyrender.Primitive(positions=world, normals=normals, indices=faces, material=material,
                                      texcoord_0=atlas_texcoords(template.vertex_part, template.vertex_uv,
                                                                 image.shape))
        else:
            rgb = (PART_COLOURS[template.vertex_part] if mode == "parts"
                   else np.full((len(world), 3), 190, dtype=np.uint8))
            colours = np.concatenate([rgb / 255.0, np.ones((len(world), 1))], 1)
            material = pyrender.MetallicRoughnessMaterial(metallicFactor=0.0, roughnessFactor=0.9)
            prim = pyrender.Primitive(positions=world, normals=normals, indices=faces, color_0=colours,
                                      material=material)
        scene = pyrender.Scene(bg_color=[0, 0, 0, 0], ambient_light=[0.35, 0.35, 0.35])
        scene.add(pyrender.Mesh([prim]))
        near_z = world[:, 2].max() + 1.0
        span = near_z - world[:, 2].min() + 1.0
        camera = pyrender.OrthographicCamera(xmag=width / 2, ymag=height / 2, znear=0.5, zfar=span + 1.0)
        pose = np.eye(4)
        pose[:3, 3] = [width / 2, -height / 2, near_z]
        scene.add(camera, pose=pose)
        light_pose = np.eye(4)
        light_pose[:3, :3] = _look_rotation(np.array([0.4, -0.5, -1.0]))
        scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0), pose=light_pose)
        color, _ = renderer.render(scene)
        return np.ascontiguousarray(color[:, :, :3])


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


def _look_rotation(direction: np.ndarray) -> np.ndarray:
    """3x3 rotation whose -z axis points along `direction` (pyrender lights shine along their -z)."""
    z = -direction / np.linalg.norm(direction)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], 1)
