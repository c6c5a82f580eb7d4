"""Pictures of a body from the camera presets (front, side, back): the template sheet of `deformlearn template
--render`, and front/side views of any posed mesh of the template's topology (a fit judged from the side)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deformlearn.core.body.template import Template
from deformlearn.core.render.offscreen import OffscreenRenderer, load_atlas
from deformlearn.core.render.scene import VIEWS, Camera
from deformlearn.core.shape_checks import check_shape

#: The views of the template sheet, left to right.
SHEET_VIEWS = ("front", "side", "back")


def view_vertices(vertices: np.ndarray, view: str, size: int, margin: float = 0.06) -> np.ndarray:
    """(V, 3) viewer-frame vertices (metres, y up, facing +z) -> (V, 3) image frame of a size x size picture
    from preset `view` (x, y pixels, depth away from the viewer in pixels), the body centred with `margin` of
    the picture free around its largest extent (the same scale in every view)."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {tuple(VIEWS)}")
    camera = Camera()
    camera.frame(np.asarray(vertices, np.float64), margin)
    camera.set_view(view)
    return camera.to_image(vertices, size, size)


def render_views(template: Template, vertices: np.ndarray | None = None, views: tuple[str, ...] = SHEET_VIEWS,
                 modes: tuple[str, ...] = ("parts",), size: int = 420, atlas: np.ndarray | None = None,
                 labels: bool = True) -> np.ndarray:
    """One (len(modes) * (size + label), len(views) * size, 3) uint8 RGB picture on white: a row per render
    mode ("parts", "atlas", "shaded"), a column per view preset.

    Args:
        template: the body template (faces, parts, charts).
        vertices: (V, 3) viewer-frame mesh of the template's topology (a posed fit); None = the rest pose.
        atlas: (H_a, W_a, 3) uint8 atlas for "atlas" rows (None: the built-in one).
        labels: write "view: mode" above each tile.
    """
    import cv2

    verts = template.rest_vertices if vertices is None else np.asarray(vertices, np.float64)
    check_shape(verts, (template.num_vertices, 3), "vertices")
    label_h = 28 if labels else 0
    sheet = np.full((len(modes) * (size + label_h), len(views) * size, 3), 255, dtype=np.uint8)
    with OffscreenRenderer() as renderer:
        for col, view in enumerate(views):
            px = view_vertices(verts, view, size)
            for row, mode in enumerate(modes):
                res = renderer.render(px, template.faces, width=size, height=size, mode=mode, template=template,
                                      atlas=atlas)
                y0 = row * (size + label_h)
                sheet[y0 + label_h:y0 + label_h + size, col * size:(col + 1) * size] = np.where(
                    res.mask[..., None], res.color, 255)
                if labels:
                    cv2.putText(sheet, f"{view}: {mode}", (col * size + 8, y0 + 20), cv2.FONT_HERSHEY_SIMPLEX,
                                0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def render_template_sheet(template: Template, path: str | Path, atlas_path: str | Path | None = None,
                          size: int = 420) -> Path:
    """Write one PNG of the rest template: front, side and back; top row parts coloured, bottom row textured
    with a DensePose-layout atlas (`atlas_path`, e.g. DensePose's texture_from_SURREAL.png; None: built-in).
    Returns the path written."""
    import cv2

    sheet = render_views(template, modes=("parts", "atlas"), size=size, atlas=load_atlas(atlas_path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet[:, :, ::-1]):
        raise OSError(f"{path}: could not write the PNG")
    return path
