"""Pieces every exporter shares: atomic file writes and posing a fit in an export frame.

Frames (`frame=`), used by every mesh export:
- "image": x right and y down in the source image's pixels, z = depth away from the viewer in the same
  pixel units, the root joint at z = 0. A fit's weak-perspective camera lives in the person's normalised
  frame (`core.registration.data`: the square box about the bbox centre c with half side h pixels maps to
  [-1, 1]^2), so a body-frame point X goes to `h * s * R X + (h * t + c, 0)`: the mesh overlays the image
  when seen from the front (looking along +z). Viewers that assume y up show it upside down.
- "canonical": SMPL's body axes (metres, y up, the body faces +z, body-left +x) with the fitted global
  orientation applied (`F R`, F = diag(1, -1, -1) the frontal rotation of `core.body.camera`, so a person facing
  the camera stands upright facing +z) and the camera translation applied in metres: the root joint sits at
  `(t_x / s, -t_y / s, 0)`, its offset from the centre of the person's box. It is the image frame moved to
  the box centre, divided by `h s` and turned y up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from deformlearn.core.body.template import Template
from deformlearn.core.files.atomic import atomic_write

if TYPE_CHECKING:
    from deformlearn.core.body.model import BodyModel

# Only numpy at import time (torch comes in with posing), so `deformlearn --help` stays fast.
FRAMES = ("image", "canonical")
MESH_FORMATS = ("obj", "ply", "glb")
FORMATS = ("obj", "ply", "glb", "gltf-rigged", "json", "npz", "spin")
DEFAULT_FORMATS = ("obj", "ply", "glb", "gltf-rigged", "json", "npz")
#: core.body.camera.FRONTAL_ROTATION_VALUES: body frame -> camera frame of a person facing the camera.
FRONTAL = np.diag([1.0, -1.0, -1.0])


_BODY_CACHE: list = []  # [(template, its BodyModel)]: one entry (a BodyModel holds its template)


class ExportError(ValueError):
    """An export was asked for something impossible (no fit, unknown format); the message says which."""


def _vector(params: dict, key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in params:
        raise ExportError(f"fit parameters lack '{key}' (have {sorted(params)})")
    value = np.asarray(params[key], dtype=np.float64)
    if value.shape != shape:
        raise ExportError(f"fit parameter '{key}' has shape {value.shape}, expected {shape}")
    return value


@dataclass(frozen=True)
class PosedFit:
    """One fit posed in an export frame.

    vertices: (V, 3) all template vertices; joints: (24, 3); keypoints: (17, 3) COCO-17; all in `frame`.
    body_vertices / body_joints: (V, 3) / (24, 3) body frame (metres, root at the origin, no camera).
    """

    frame: str
    vertices: np.ndarray
    joints: np.ndarray
    keypoints: np.ndarray
    body_vertices: np.ndarray
    body_joints: np.ndarray


def frame_transform(params: dict, frame: str) -> tuple[np.ndarray, np.ndarray]:
    """(A (3, 3), b (3,)) with `x_frame = A X + b` for body-frame points X (see the module docstring).

    params: a fit's pose/scales/rotation (3, 3)/scale ()/translation (2,) (normalised frame) and, for
    pixels, box_centre_px (2,) and box_half_side_px (); without them the "image" frame is the normalised one.
    """
    if frame not in FRAMES:
        raise ExportError(f"frame {frame!r}: expected one of {FRAMES}")
    rotation = _vector(params, "rotation", (3, 3))
    scale = float(_vector(params, "scale", ()))
    translation = _vector(params, "translation", (2,))
    if frame == "canonical":
        if scale == 0:
            raise ExportError("fit camera scale is 0: no canonical frame")
        return FRONTAL @ rotation, FRONTAL @ np.array([translation[0] / scale, translation[1] / scale, 0.0])
    half = float(np.asarray(params.get("box_half_side_px", 1.0)))
    centre = np.asarray(params.get("box_centre_px", np.zeros(2)), dtype=np.float64).reshape(2)
    return half * scale * rotation, np.array([half * translation[0] + centre[0],
                                              half * translation[1] + centre[1], 0.0])


def pose_fits(body: BodyModel, params: Sequence[dict], frame: str = "image") -> list[PosedFit]:
    """Pose B fits with one batched body-model call and place each in `frame`."""
    import torch

    if not params:
        return []
    pose = np.stack([_vector(p, "pose", (23, 3)) for p in params])
    scales = np.stack([_vector(p, "scales", (24,)) for p in params])
    with torch.no_grad():
        out = body(torch.as_tensor(pose, dtype=torch.float32), torch.as_tensor(scales, dtype=torch.float32))
    posed = []
    for b, p in enumerate(params):
        A, t = frame_transform(p, frame)
        verts, joints, kps = (x[b].double().numpy() for x in (out.vertices, out.joints, out.keypoints))
        posed.append(PosedFit(frame, verts @ A.T + t, joints @ A.T + t, kps @ A.T + t, verts, joints))
    return posed


def pose_fit(template: Template, params: dict, frame: str = "image") -> PosedFit:
    """Pose one fit (batch with `pose_fits` for many)."""
    return pose_fits(body_model(template), [params], frame)[0]


def body_model(template: Template) -> BodyModel:
    """The CPU BodyModel of `template`, kept for the last template asked for (exports pose one fit at a time)."""
    from deformlearn.core.body.model import BodyModel

    if not _BODY_CACHE or _BODY_CACHE[0][0] is not template:
        _BODY_CACHE[:] = [(template, BodyModel(template))]
    return _BODY_CACHE[0][1]


def weld(template: Template) -> tuple[np.ndarray, np.ndarray]:
    """(keep (V_w,) vertex indices kept, faces (F, 3) re-indexed into them): seam duplicates merged."""
    keep, inverse = np.unique(template.weld_index, return_inverse=True)
    return keep, inverse.reshape(-1)[template.faces]


__all__ = [
    "FRAMES", "MESH_FORMATS", "FORMATS", "DEFAULT_FORMATS", "FRONTAL", "ExportError", "PosedFit", "atomic_write",
    "frame_transform", "pose_fits", "pose_fit", "body_model", "weld",
]
