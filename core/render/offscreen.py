"""Offscreen rendering of a template-topology mesh given in image coordinates.

Frame of `vertices_px` (V, 3): x right and y down in pixels (pixel [r, c] covers x in [c, c+1), y in [r, r+1)),
z = depth growing away from the camera, in the same units; the camera is orthographic, looking along +z, and
the nearer surface wins.

Modes:
- "iuv": exact DensePose-style labels: colour (H, W, 3) uint8 = [I, U*255, V*255], I = part 1..24, 0 for
  background; U, V are interpolated within faces (faces never span a part seam). Rasterised in numpy, so it
  needs no OpenGL.
- "parts" (one colour per part, core/render/palette.py), "atlas" (textured from a DensePose-layout atlas),
  "shaded" (grey): lit, drawn by the one `SceneRenderer` through `Camera.image_frame`, so these pictures and
  the app's viewport share camera convention, lighting, palette and normals.
Mask and depth always come from the exact rasteriser. The atlas layout (DensePose's): 6 rows x 4 columns of
square tiles; the tile in row r, column c holds part 6c + r + 1; inside a tile the texel of (U, V) is at row
(1 - V) * (tile - 1), column U * (tile - 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from deformlearn.core.body.template import Template
from deformlearn.core.render.palette import PART_COLOURS
from deformlearn.core.render.raster import rasterize
from deformlearn.core.render.renderer import RenderError, SceneRenderer
from deformlearn.core.render.scene import Camera, Mesh, Scene

MODES = ("iuv", "parts", "atlas", "shaded")
ATLAS_BUILTIN_FILE = "atlas_builtin.png"

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


class OffscreenRenderer:
    """Renders template meshes given in image coordinates. Create, use and delete it on one thread (an OpenGL
    rule); use as a context manager. The OpenGL context is made on the first lit render and freed on exit.

    One mesh per lit mode is kept between calls: a new pose of the same template uploads only positions and
    normals (the synthetic-image generator renders thousands of poses of one template).
    """

    def __init__(self) -> None:
        self._renderer = SceneRenderer()
        self._scene = Scene(background=(0, 0, 0))
        self._default_atlas: np.ndarray | None = None

    def __enter__(self) -> OffscreenRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._renderer.close()
        self._scene.nodes.clear()

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
        self._scene.camera = Camera.image_frame(width, height)
        shown = self._mesh_for(mode, vertices_px, faces, template, atlas)
        for node in self._scene.nodes:
            node.visible = node is shown
        color = self._renderer.render(self._scene, width, height)
        color[~mask] = 0
        return RenderResult(color=color, mask=mask, depth=depth)

    def _mesh_for(self, mode: str, vertices_px: np.ndarray, faces: np.ndarray, template: Template,
                  atlas: np.ndarray | None) -> Mesh:
        """This mode's mesh with the new vertices: reused (positions only) when faces and atlas are the same."""
        image = None
        if mode == "atlas":
            if atlas is None:
                if self._default_atlas is None:
                    self._default_atlas = load_atlas(None)
                atlas = self._default_atlas
            image = np.asarray(atlas)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"atlas must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
        mesh = next((n for n in self._scene.nodes if n.name == mode), None)
        if mesh is not None and mesh.texture is image and np.array_equal(mesh.faces, faces):
            mesh.set_vertices(vertices_px)
            return mesh
        if mesh is not None:
            self._scene.nodes.remove(mesh)
        colours = PART_COLOURS[template.vertex_part] if mode == "parts" else None
        texcoords = None if image is None else atlas_texcoords(template.vertex_part, template.vertex_uv, image.shape)
        return self._scene.add(Mesh(vertices_px, faces, colours, weld_index=template.weld_index, texture=image,
                                    texcoords=texcoords, name=mode))


__all__ = ["MODES", "OffscreenRenderer", "RenderError", "RenderResult", "atlas_texcoords", "load_atlas"]
