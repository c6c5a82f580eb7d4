"""The five registration losses (appendix eq. 7-12), one small function each, returning one value per person.

Every loss returns (B,) so that a batch is the sum of independent per-person problems: the fitter sums
over people (never averages), which makes one person's gradients independent of who else is in the batch.
Image-space quantities are in the per-person normalised frame of `registration_data` ([-1, 1]^2 over the
square box about the person's bbox, x right, y down); depths are in the same units, z away from the camera.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from deformlearn.core.body.skeletons import NUM_JOINTS, NUM_KEYPOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from deformlearn.core.shape_checks import check_shape

#: Joint-limit set J' (pose index = SMPL joint - 1) and each joint's bending (flexion) axis in its parent's
#: frame (SMPL frame: y up, facing +z, body-left +x). Knees flex about +x (the shin swings backwards, -z);
#: in the T-pose the left forearm points +x and flexes forwards (+z) about -y, the right one about +y.
JOINT_LIMIT_AXES: dict[int, tuple[float, float, float]] = {
    4 - 1: (1.0, 0.0, 0.0),    # left_knee
    5 - 1: (1.0, 0.0, 0.0),    # right_knee
    18 - 1: (0.0, -1.0, 0.0),  # left_elbow
    19 - 1: (0.0, 1.0, 0.0),   # right_elbow
}


@functools.lru_cache(maxsize=8)
def _parents(device: torch.device) -> Tensor:
    """(23,) parent of joints 1..23 on `device` (cached: no host-to-device copy per step)."""
    return torch.as_tensor(SMPL_PARENTS[1:], device=device)


@functools.lru_cache(maxsize=8)
def _limit_axes(device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """(L,) pose indices of J' and (L, 3) their bending axes on `device` (cached)."""
    return (torch.tensor(list(JOINT_LIMIT_AXES), device=device),
            torch.tensor(list(JOINT_LIMIT_AXES.values()), dtype=dtype, device=device))


def dense_loss(projected: Tensor, points: Tensor, mask: Tensor) -> Tensor:
    """L_dense: mean over a person's valid points of ||p_i - x_idx(i)||^2 (MSE, eq. 8).

    projected: (B, N, 2) projected corresponded vertices; points: (B, N, 2) image points; mask: (B, N) bool,
    False for padding. Padded entries must hold finite values (the fitter pads with zeros). Returns (B,);
    0 for a person without points.
    """
    check_shape(projected, (None, None, 2), "projected")
    check_shape(points, tuple(projected.shape), "points")
    check_shape(mask, tuple(projected.shape[:2]), "mask")
    m = mask.to(projected.dtype)
    d2 = ((projected - points) ** 2).sum(-1)
    return (d2 * m).sum(-1) / m.sum(-1).clamp_min(1.0)


def keypoint_loss(
    projected: Tensor, keypoints: Tensor, visible: Tensor, depths: Tensor | None = None,
    target_depths: Tensor | None = None, depth_mask: Tensor | None = None,
) -> Tensor:
    """L_KP: 2D keypoint error plus, where cGAN depths are given, their depth error (eq. 9).

    projected: (B, K, 2) model keypoints in the image; keypoints: (B, K, 2) annotated keypoints; visible:
    (B, K) bool, or float per-keypoint weights (detector confidences, 0 = missing) that scale each term.
    depths / target_depths: (B, K) model and cGAN depths (both hip-centred, see
    `hip_centred_depths`); depth_mask: (B, K) bool, which target depths to use (default: `visible`).
    Returns (B,): sum over visible keypoints of dx^2 + dy^2, plus dz^2 over depth_mask. A sum, as eq. 9
    writes it (L_dense is a mean): with w_KP = 1 against w_dense = 1000 a mean would leave the cGAN depths
    almost no say (measured: 50-60 mm MPJPE with oracle depths against ~20 mm with the sum).
    """
    check_shape(projected, (None, NUM_KEYPOINTS, 2), "projected keypoints")
    check_shape(keypoints, tuple(projected.shape), "keypoints")
    check_shape(visible, tuple(projected.shape[:2]), "keypoint visibility")
    v = visible.to(projected.dtype)
    total = (((projected - keypoints) ** 2).sum(-1) * v).sum(-1)
    if target_depths is not None:
        if depths is None:
            raise ValueError("keypoint_loss: target_depths given without the model's depths")
        check_shape(depths, tuple(visible.shape), "depths")
        check_shape(target_depths, tuple(visible.shape), "target_depths")
        dm = v if depth_mask is None else depth_mask.to(projected.dtype)
        total = total + (((depths - target_depths) ** 2) * dm).sum(-1)
    return total


def hip_centred_depths(depths: Tensor) -> Tensor:
    """(B, K) COCO-17 keypoint depths -> the same minus the mean depth of the two hips (COCO 11, 12).

    Weak perspective has no depth offset, so model and cGAN depths are compared relative to the hips.
    """
    check_shape(depths, (None, NUM_KEYPOINTS), "depths")
    return depths - depths[:, 11:13].mean(-1, keepdim=True)


def scale_loss(scales: Tensor) -> Tensor:
    """L_scale: sum over the 23 bones (joint, parent) of (S_joint - S_parent)^2 (eq. 10).

    scales: (B, 24) segment scales. Returns (B,).
    """
    check_shape(scales, (None, NUM_JOINTS), "scales")
    return ((scales[:, 1:] - scales[:, _parents(scales.device)]) ** 2).sum(-1)


def angle_loss(pose: Tensor, limit_factor: float = 100.0) -> Tensor:
    """L_angle: smoothness sum_J ||a_i||^2 plus a joint-limit term on J' = knees and elbows (eq. 11).

    The paper's `exp(a_i)` limit term is implemented for its intent: only the forbidden bending direction
    costs. For each joint in J' the signed flexion angle is the component of its axis-angle vector along
    the joint's bending axis (`JOINT_LIMIT_AXES`, parent frame); a negative value is hyperextension and
    costs limit_factor * angle^2 (a squared hinge), natural flexion costs nothing extra.
    pose: (B, 23, 3) axis-angle of joints 1..23. Returns (B,).
    """
    check_shape(pose, (None, NUM_JOINTS - 1, 3), "pose")
    index, axes = _limit_axes(pose.device, pose.dtype)
    flexion = (pose[:, index] * axes).sum(-1)
    return (pose**2).sum((-1, -2)) + limit_factor * (torch.relu(-flexion) ** 2).sum(-1)


def det_loss(rotation_values: Tensor) -> Tensor:
    """L_det = exp(-det M) (eq. 12) on the 3x3 matrix M of the 9 free values, before Gram-Schmidt.

    The Gram-Schmidt rotation has det exactly +-1 with zero gradient, so exp(-det(GS(M))) could never
    push a reflection back; any scale-free normalisation of det M is stationary at orthogonal M too. On
    raw M the gradient is -exp(-det M) cof(M), which for a reflection points through M = 0 towards -M,
    whose Gram-Schmidt rotation is proper (det(-M) = -det M for 3x3). rotation_values: (B, 9) row-major M.
    Returns (B,).
    """
    check_shape(rotation_values, (None, 9), "rotation values")
    m = rotation_values.reshape(-1, 3, 3)
    c1, c2, c3 = m[..., :, 0], m[..., :, 1], m[..., :, 2]
    det = (c1 * torch.linalg.cross(c2, c3)).sum(-1)  # explicit triple product: batched LU is slow here
    return torch.exp(-det)


#: Anatomical range of every joint, as bounds (radians) on each component of its axis-angle vector in its
#: parent's frame (SMPL frame: x body-left, y up, z forwards). x is flexion (+x bends the spine and the neck
#: forwards, swings a thigh backwards and bends a knee), y twists about the vertical (and swings a T-posed
#: arm forwards or back), z tilts sideways (and lifts or lowers a T-posed arm). Axis-angle components are
#: not Euler angles; for the moderate angles these bounds allow, they are close. Pose index = SMPL joint - 1.
POSE_LIMITS_DEG: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "left_hip": ((-130, 35), (-45, 45), (-30, 70)),
    "right_hip": ((-130, 35), (-45, 45), (-70, 30)),
    "spine1": ((-25, 45), (-25, 25), (-25, 25)),
    "left_knee": ((-5, 150), (-15, 15), (-10, 10)),
    "right_knee": ((-5, 150), (-15, 15), (-10, 10)),
    "spine2": ((-20, 35), (-25, 25), (-20, 20)),
    "left_ankle": ((-45, 40), (-25, 25), (-25, 25)),
    "right_ankle": ((-45, 40), (-25, 25), (-25, 25)),
    "spine3": ((-20, 35), (-25, 25), (-20, 20)),
    "left_foot": ((-30, 30), (-10, 10), (-10, 10)),
    "right_foot": ((-30, 30), (-10, 10), (-10, 10)),
    "neck": ((-40, 50), (-50, 50), (-35, 35)),
    "left_collar": ((-20, 20), (-25, 25), (-20, 30)),
    "right_collar": ((-20, 20), (-25, 25), (-30, 20)),
    "head": ((-35, 40), (-50, 50), (-30, 30)),
    "left_shoulder": ((-90, 90), (-110, 60), (-100, 80)),
    "right_shoulder": ((-90, 90), (-60, 110), (-80, 100)),
    "left_elbow": ((-70, 70), (-150, 5), (-15, 15)),
    "right_elbow": ((-70, 70), (-5, 150), (-15, 15)),
    "left_wrist": ((-60, 60), (-40, 40), (-70, 70)),
    "right_wrist": ((-60, 60), (-40, 40), (-70, 70)),
    "left_hand": ((-30, 30), (-20, 20), (-30, 30)),
    "right_hand": ((-30, 30), (-20, 20), (-30, 30)),
}


@functools.lru_cache(maxsize=8)
def _pose_bounds(device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """(23, 3) lower and upper bounds (radians) of `POSE_LIMITS_DEG`, in pose order, on `device` (cached)."""
    limits = torch.tensor([POSE_LIMITS_DEG[name] for name in SMPL_JOINT_NAMES[1:]], dtype=torch.float64).deg2rad()
    return limits[..., 0].to(device, dtype), limits[..., 1].to(device, dtype)


def pose_prior_loss(pose: Tensor) -> Tensor:
    """Plausibility prior: sum over joints and axes of the squared excess of each axis-angle component
    beyond its anatomical range (`POSE_LIMITS_DEG`); 0 inside the ranges (a squared hinge, like the
    knee/elbow limit of `angle_loss`, on every joint and axis). pose: (B, 23, 3). Returns (B,)."""
    check_shape(pose, (None, NUM_JOINTS - 1, 3), "pose")
    low, high = _pose_bounds(pose.device, pose.dtype)
    return (torch.relu(low - pose) ** 2 + torch.relu(pose - high) ** 2).sum((-1, -2))


def upright_loss(rotation: Tensor, pelvis: Tensor, neck: Tensor) -> Tensor:
    """Orientation prior: (sin of the trunk's pitch)^2, the squared depth component of the unit vector from
    pelvis to neck in the camera frame. Weak perspective cannot tell a body leaning towards or away from the
    camera from a shorter one, so without it fits lean (module docstring of `schedule`); most photographed
    people hold their trunk near the image plane. rotation: (B, 3, 3) body -> camera; pelvis, neck: (B, 3)
    body-frame joints. Returns (B,)."""
    check_shape(rotation, (None, 3, 3), "rotation")
    check_shape(pelvis, (rotation.shape[0], 3), "pelvis")
    check_shape(neck, (rotation.shape[0], 3), "neck")
    trunk = (rotation @ (neck - pelvis)[..., None])[..., 0]
    return trunk[:, 2] ** 2 / (trunk**2).sum(-1).clamp_min(1e-12)
