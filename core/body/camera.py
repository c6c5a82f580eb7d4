"""Weak-perspective camera `x = s * Pi(R X) + t`.

Frames:
- body frame: SMPL's (y up, the body faces +z, body-left is +x), root joint at the origin, metres;
- camera frame: `R X`, with x right, y down and z pointing away from the viewer into the image;
- image plane: (x right, y down) in whatever 2D frame the caller normalises to (pixels, or the person's
  box mapped to [-1, 1]); `s` converts metres to that frame and `t` places the root joint in it.

`FRONTAL_ROTATION = diag(1, -1, -1)` takes body y-up to image y-down and turns a body facing +z towards
the viewer (camera z = -body z), so its left side (+x) appears on the image's right, as in a photograph
of a person facing the camera.
"""

from __future__ import annotations

import torch
from torch import Tensor

from deformlearn.core.shape_checks import check_shape

FRONTAL_ROTATION_VALUES = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))


def frontal_rotation(batch: int = 1, *, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> Tensor:
    """(batch, 3, 3) copies of diag(1, -1, -1): body frame -> camera frame for a person facing the camera."""
    return torch.tensor(FRONTAL_ROTATION_VALUES, device=device, dtype=dtype).expand(batch, 3, 3).clone()


def weak_perspective_project(points: Tensor, rotation: Tensor, scale: Tensor,
                             translation: Tensor) -> tuple[Tensor, Tensor]:
    """Project body-frame points with a weak-perspective camera.

    Args:
        points: (B, N, 3) body frame (root at the origin).
        rotation: (B, 3, 3) body frame -> camera frame (any 3x3; Gram-Schmidt it upstream).
        scale: (B,) image units per body unit.
        translation: (B, 2) image position of the body origin.
    Returns:
        image_points: (B, N, 2) `s * (R X)[..., :2] + t`, image plane (x right, y down).
        depth: (B, N) `s * (R X)[..., 2]`, in image units, larger = farther from the viewer.
    """
    sizes = check_shape(points, ("B", "N", 3), "points")
    check_shape(rotation, ("B", 3, 3), "rotation", sizes)
    check_shape(scale, ("B",), "scale", sizes)
    check_shape(translation, ("B", 2), "translation", sizes)
    cam = points @ (rotation.transpose(1, 2) * scale[:, None, None])
    return cam[..., :2] + translation[:, None, :], cam[..., 2]


__all__ = ["FRONTAL_ROTATION_VALUES", "frontal_rotation", "weak_perspective_project"]
