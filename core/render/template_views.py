"""A picture of a template: front, side and back views, parts coloured and atlas-textured."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deformlearn.core.body.template import Template
from deformlearn.core.render.offscreen import OffscreenRenderer, load_atlas

#: View name -> (3, 3) rows giving image x (right), image y (down) and depth (away) in the template frame.
VIEWS: dict[str, np.ndarray] = {
    "front": np.array([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]]),
    "left side": np.array([[0, 0, -1.0], [0, -1, 0], [-1, 0, 0]]),
    "back": np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]]),
}


def view_vertices(vertices: np.ndarray, view: str, size: int, margin: float = 0.06) -> np.ndarray:
    """(V, 3) template-frame vertices (metres) -> image frame of a size x size view, body centred and fitted."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {tuple(VIEWS)}")
    extent = float((vertices.max(0) - vertices.min(0)).max())
    scale = size * (1 - 2 * margin) / extent
    p = vertices @ VIEWS[view].T * scale
    centre = (p.max(0) + p.min(0)) / 2
    return p - np.array([centre[0] - size / 2, centre[1] - size / 2, p[:, 2].min() - 1.0])


def render_template_sheet(template: Template, path: str | Path, atlas_path: str | Path | None = None,
                          size: int = 420) -> Path:
    """Write one PNG: front, side and back views; top row parts coloured, bottom row atlas-textured.

    Args:
        template: the body template.
        path: output PNG.
        atlas_path: a DensePose-layout atlas image (e.g. DensePose's texture_from_SURREAL.png); None uses
            the built-in procedural atlas.
        size: pixels of each square view.
    Returns:
        The path written.
    """
    import cv2

    atlas = load_atlas(atlas_path)
    label_h = 28
    sheet = np.full((2 * (size + label_h), 3 * size, 3), 255, dtype=np.uint8)
    atlas_name = Path(atlas_path).name if atlas_path else "built-in atlas"
    with OffscreenRenderer() as renderer:
        for col, view in enumerate(VIEWS):
            v = view_vertices(template.rest_vertices, view, size)
            for row, (mode, title) in enumerate((("parts", "parts"), ("atlas", atlas_name))):
                res = renderer.render(v, template.faces, width=size, height=size, mode=mode, template=template,
                                      atlas=atlas)
                tile = np.where(res.mask[..., None], res.color, 255).astype(np.uint8)
                y0 = row * (size + label_h)
                sheet[y0 + label_h:y0 + label_h + size, col * size:(col + 1) * size] = tile
                cv2.putText(sheet, f"{view}: {title}", (col * size + 8, y0 + 20), cv2.FONT_HERSHEY_SIMPLEX,
                            0.55, (0, 0, 0), 1, cv2.LINE_AA)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet[:, :, ::-1]):
        raise OSError(f"{path}: could not write the PNG")
    return path
