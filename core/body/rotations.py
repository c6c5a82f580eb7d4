"""Rotation representations and conversions between them (shape-checked; roma, and Rodrigues by hand).

Conventions:
- axis-angle: (..., 3) rotation vector, axis times angle in radians;
- rotation matrix: (..., 3, 3), acting on column vectors (`x' = R @ x`);
- quaternion: (..., 4) in roma's **XYZW** order (scalar last), unit norm. Functions that take a quaternion
  normalise it first, so a network may output an unnormalised 4-vector; q and -q give the same rotation.
- 9 values: (..., 9) read row-major into a 3x3 matrix (`m.reshape(..., 3, 3)`), or (..., 3, 3) directly.
"""

from __future__ import annotations

import roma
import torch
from torch import Tensor

from deformlearn.core.shape_checks import check_shape

#: Row-major 3x3 entries as products of axis-angle components: [a]_x = a[_SKEW_INDEX] * _SKEW_SIGN and
#: a a^T = a[_OUTER_ROW] * a[_OUTER_COL].
_SKEW_INDEX = (0, 2, 1, 2, 0, 0, 1, 0, 0)
_SKEW_SIGN = (0.0, -1.0, 1.0, 1.0, 0.0, -1.0, -1.0, 1.0, 0.0)
_OUTER_ROW = (0, 0, 0, 1, 1, 1, 2, 2, 2)
_OUTER_COL = (0, 1, 2, 0, 1, 2, 0, 1, 2)
_EYE = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
#: Below this squared angle the Rodrigues coefficients come from their Taylor series in t^2.
_SMALL_ANGLE_SQ = 1e-8


def axis_angle_to_rotmat(axis_angle: Tensor) -> Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrix (Rodrigues; finite gradients at angle 0).

    R = (1 - c t^2) I + s [a]_x + c a a^T with t = |a|, s = sin t / t, c = (1 - cos t) / t^2, evaluated
    on the 9 entries at once (fewer, larger kernels than an entry-by-entry formula; a fitter calls it on
    thousands of joints per step). c = 2 (sin(t/2) / t)^2 keeps full precision at small angles, where
    1 - cos t cancels; for t^2 < 1e-8 both coefficients come from their series in t^2, so no branch
    divides by zero and the gradient at a = 0 is exact.
    """
    check_shape(axis_angle, ("...", 3), "axis_angle")
    a = axis_angle
    t2 = (a * a).sum(-1, keepdim=True)                                                  # (..., 1)
    small = t2 < _SMALL_ANGLE_SQ
    t = torch.where(small, torch.ones_like(t2), t2).sqrt()
    half_sine = torch.sin(0.5 * t) / t
    coef_sin = torch.where(small, 1 - t2 / 6, torch.sin(t) / t)
    coef_cos = torch.where(small, 0.5 - t2 / 24, 2 * half_sine * half_sine)
    take = lambda index: a.index_select(-1, torch.as_tensor(index, device=a.device))  # noqa: E731
    skew = take(_SKEW_INDEX) * a.new_tensor(_SKEW_SIGN)
    outer = take(_OUTER_ROW) * take(_OUTER_COL)
    matrix = torch.addcmul(torch.addcmul((1 - coef_cos * t2) * a.new_tensor(_EYE), coef_sin, skew), coef_cos, outer)
    return matrix.unflatten(-1, (3, 3))


def rotmat_to_axis_angle(rotmat: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrix -> (..., 3) axis-angle with angle in [0, pi]."""
    check_shape(rotmat, ("...", 3, 3), "rotmat")
    return roma.rotmat_to_rotvec(rotmat)


def quaternion_to_rotmat(quaternion: Tensor) -> Tensor:
    """(..., 4) XYZW quaternion (normalised here) -> (..., 3, 3) rotation matrix."""
    check_shape(quaternion, ("...", 4), "quaternion")
    return roma.unitquat_to_rotmat(roma.quat_normalize(quaternion))


def rotmat_to_quaternion(rotmat: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrix -> (..., 4) unit XYZW quaternion."""
    check_shape(rotmat, ("...", 3, 3), "rotmat")
    return roma.rotmat_to_unitquat(rotmat)


def axis_angle_to_quaternion(axis_angle: Tensor) -> Tensor:
    """(..., 3) axis-angle -> (..., 4) unit XYZW quaternion."""
    check_shape(axis_angle, ("...", 3), "axis_angle")
    return roma.rotvec_to_unitquat(axis_angle)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """(..., 4) XYZW quaternion (normalised here) -> (..., 3) axis-angle with angle in [0, pi]."""
    check_shape(quaternion, ("...", 4), "quaternion")
    return roma.unitquat_to_rotvec(roma.quat_normalize(quaternion))


def gram_schmidt_rotation(values: Tensor, eps: float = 1e-8) -> Tensor:
    """9 free values -> orthonormal (..., 3, 3) matrix by Gram-Schmidt on its columns.

    values: (..., 9) read row-major as a 3x3 matrix M, or (..., 3, 3) M itself. Columns c1, c2, c3 of M are
    orthonormalised in order (c2 against c1, c3 against c1 and c2). Unlike roma's `special_gramschmidt`,
    the third column is NOT replaced by c1 x c2: it keeps the direction Gram-Schmidt gives it, so
    det(result) = sign(det M) = +-1. The registration's `L_det = exp(-det R)` relies on that sign.
    eps clamps the norms so that degenerate input gives finite (if meaningless) output.
    """
    if isinstance(values, Tensor) and values.dim() >= 1 and values.shape[-1] == 9:
        m = values.reshape(*values.shape[:-1], 3, 3)
    else:
        check_shape(values, ("...", 3, 3), "values (9 values or 3x3)")
        m = values
    c1, c2, c3 = m[..., :, 0], m[..., :, 1], m[..., :, 2]
    e1 = c1 / c1.norm(dim=-1, keepdim=True).clamp_min(eps)
    u2 = c2 - (e1 * c2).sum(-1, keepdim=True) * e1
    e2 = u2 / u2.norm(dim=-1, keepdim=True).clamp_min(eps)
    u3 = c3 - (e1 * c3).sum(-1, keepdim=True) * e1 - (e2 * c3).sum(-1, keepdim=True) * e2
    e3 = u3 / u3.norm(dim=-1, keepdim=True).clamp_min(eps)
    return torch.stack((e1, e2, e3), dim=-1)


__all__ = [
    "axis_angle_to_rotmat", "rotmat_to_axis_angle", "quaternion_to_rotmat", "rotmat_to_quaternion",
    "axis_angle_to_quaternion", "quaternion_to_axis_angle", "gram_schmidt_rotation",
]
