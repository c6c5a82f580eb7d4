"""A fit drawn as a user judges it, without OpenGL: its mesh over the photo and the same body from the side.

`camera_to_image` projects a stored fit's mesh into its image; `draw_fit` blends the projected mesh (parts
coloured, shaded by how squarely each face looks at the camera) over a copy of the image and puts front and
side views of the posed body beside it, at the image's height, all rasterised by `core.render.raster`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from deformlearn.core.body.camera import FRONTAL_ROTATION_VALUES
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.template import Template
from deformlearn.core.registration.data import normalised_to_pixels, square_box
from deformlearn.core.render.overlay import part_colors
from deformlearn.core.render.raster import rasterize
from deformlearn.core.render.template_views import view_vertices

_FRONTAL = np.array(FRONTAL_ROTATION_VALUES)


def fit_camera_vertices(body: BodyModel, params: dict[str, np.ndarray]) -> np.ndarray:
    """(V, 3) the fit's mesh R X in the camera frame (metres; x right, y down, z away from the camera)."""
    pose = torch.as_tensor(np.asarray(params["pose"], np.float32).reshape(1, 23, 3))
    scales = torch.as_tensor(np.asarray(params["scales"], np.float32).reshape(1, -1))
    with torch.no_grad():
        vertices = body(pose, scales).vertices[0].numpy().astype(np.float64)
    return vertices @ np.asarray(params["rotation"], np.float64).reshape(3, 3).T


def camera_to_image(camera_vertices: np.ndarray, scale: float, translation: np.ndarray, bbox: np.ndarray
                    ) -> np.ndarray:
    """(V, 3) camera-frame points R X (metres) -> (V, 3) image pixels x, y and depth away from the camera
    (pixels), by a fit's weak-perspective `scale` and (2,) `translation` in the normalised frame of the square
    around `bbox` ((4,) x, y, w, h pixels)."""
    centre, half = square_box(np.asarray(bbox, np.float64))
    cam = np.asarray(camera_vertices, np.float64)
    xy = normalised_to_pixels(scale * cam[:, :2] + np.asarray(translation, np.float64), centre, half)
    return np.concatenate([xy, (scale * half * cam[:, 2])[:, None]], axis=1)


def _shaded_parts(template: Template, vertices: np.ndarray, width: int, height: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise (V, 3) image-frame vertices: (H, W, 3) uint8 BGR part colours shaded by the faces' slant to
    the viewer, and the (H, W) bool mask of the body."""
    face_id, _, _ = rasterize(vertices, template.faces, width, height)
    mask = face_id >= 0
    tri = vertices[template.faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    facing = np.abs(normal[:, 2]) / np.maximum(np.linalg.norm(normal, axis=1), 1e-12)
    colour = part_colors()[template.face_part].astype(np.float64) * (0.35 + 0.65 * facing)[:, None]
    out = np.zeros((height, width, 3), np.uint8)
    out[mask] = np.clip(colour[face_id[mask]], 0, 255).astype(np.uint8)
    return out, mask


def draw_fit(image: np.ndarray, template: Template, params: dict[str, np.ndarray], bbox: np.ndarray, *,
             alpha: float = 0.55, views: tuple[str, ...] = ("front", "side")) -> np.ndarray:
    """(H, W + len(views) * H, 3) uint8 BGR: `image` (H, W, 3 BGR) with the fit's mesh blended over it at
    `alpha`, its outline in white, then a square view per preset in `views` ("front", "side", "back") of the
    posed body on white (the front view is the camera's: the body as the photo shows it, without the camera's
    scale; the side view turns it by 90 degrees about the vertical)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"draw_fit: image has shape {image.shape}, expected (H, W, 3)")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"draw_fit: alpha must be in [0, 1], got {alpha}")
    camera = fit_camera_vertices(BodyModel(template), params)
    height, width = image.shape[:2]
    pixels = camera_to_image(camera, float(np.asarray(params["scale"])), params["translation"], bbox)
    colour, mask = _shaded_parts(template, pixels, width, height)
    out = image.copy()
    out[mask] = (alpha * colour[mask] + (1 - alpha) * image[mask]).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, max(height, width) // 500), cv2.LINE_AA)
    viewer = camera @ _FRONTAL  # y up, facing +z: the viewer frame of the presets
    panels = [out]
    for view in views:
        colour, mask = _shaded_parts(template, view_vertices(viewer, view, height), height, height)
        panel = np.full((height, height, 3), 255, np.uint8)
        panel[mask] = colour[mask]
        cv2.putText(panel, view, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 1, cv2.LINE_AA)
        panels.append(panel)
    return np.concatenate(panels, axis=1)
