"""Keypoint data for training and evaluating the lifter: synthetic posed skeletons and Human3.6M frames.

Synthetic people: an average skeleton (17 COCO keypoints in a rest T-pose, SMPL frame; the template's, or
`DEFAULT_AVERAGE_SKELETON`) is posed by a small keypoint-level kinematic tree (pelvis, spine, chest, neck,
shoulders, elbows, hips, knees) driven by SMPL-style joint rotations: random, roughly plausible ones,
optionally on top of real SMPL poses (e.g. AMASS), with random per-person size and limb proportions, random
heading, seen by an orthographic camera.

Camera frame of all 3D ground truth here: metres, right-handed, x right, y down, z away from the camera
(OpenCV; Human3.6M's camera frame is the same), so it matches the lifter's (x_px, y_px, depth_px).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from deformlearn.core.body.skeletons import NUM_KEYPOINTS
from deformlearn.core.shape_checks import check_shape
from deformlearn.core.synth.poses import sample_limited_poses

#: (17, 3) COCO keypoints of the built-in template's rest T-pose (rounded, left/right symmetric), metres,
#: SMPL frame (y up, facing +z, body-left +x). Used when no template is given.
DEFAULT_AVERAGE_SKELETON = np.array([
    [0.0, 0.615, 0.146], [0.031, 0.652, 0.125], [-0.031, 0.652, 0.125], [0.086, 0.642, 0.02],
    [-0.086, 0.642, 0.02], [0.165, 0.427, 0.013], [-0.165, 0.427, 0.013], [0.418, 0.427, 0.013],
    [-0.418, 0.427, 0.013], [0.645, 0.427, 0.013], [-0.645, 0.427, 0.013], [0.102, -0.007, -0.004],
    [-0.102, -0.007, -0.004], [0.133, -0.396, 0.028], [-0.133, -0.396, 0.028], [0.17, -0.796, 0.0],
    [-0.17, -0.796, 0.0],
])

# Keypoint-level kinematic tree: node -> (parent node, SMPL joints whose local rotations it applies).
# Node pivots: 0 pelvis and 1 spine at the hip midpoint, 2 chest halfway to the shoulder midpoint, 3 neck at
# the shoulder midpoint; 4/5 shoulders, 6/7 elbows, 8/9 hips, 10/11 knees at those keypoints.
_NODES = ((-1, (0,)), (0, (3,)), (1, (6, 9)), (2, (12, 15)), (2, (16,)), (2, (17,)), (4, (18,)), (5, (19,)),
          (0, (1,)), (0, (2,)), (8, (4,)), (9, (5,)))
_NODE_KEYPOINT = {4: 5, 5: 6, 6: 7, 7: 8, 8: 11, 9: 12, 10: 13, 11: 14}
#: Node each COCO keypoint is rigidly attached to.
_KEYPOINT_NODE = (3, 3, 3, 3, 3, 2, 2, 4, 5, 6, 7, 0, 0, 8, 9, 10, 11)
_LEFT_NODES, _RIGHT_NODES = [4, 6, 8, 10], [5, 7, 9, 11]


def _node_pivots(skeleton: np.ndarray) -> np.ndarray:
    """(17, 3) rest keypoints -> (12, 3) rest pivots of the tree's nodes."""
    hip_mid, sh_mid = skeleton[[11, 12]].mean(0), skeleton[[5, 6]].mean(0)
    pivots = np.zeros((len(_NODES), 3))
    pivots[0] = pivots[1] = hip_mid
    pivots[2] = (hip_mid + sh_mid) / 2
    pivots[3] = sh_mid
    for node, kp in _NODE_KEYPOINT.items():
        pivots[node] = skeleton[kp]
    return pivots


def pose_keypoints(pose_aa: np.ndarray, node_scale: np.ndarray,
                   average_skeleton: np.ndarray = DEFAULT_AVERAGE_SKELETON) -> np.ndarray:
    """Forward kinematics of an average skeleton.

    pose_aa: (B, 24, 3) SMPL-style axis-angle local rotations (entry 0 = global orientation; collars,
    ankles, feet, wrists and hands are ignored); node_scale: (B, 12) scale of every offset out of each tree
    node (per-person proportions); average_skeleton: (17, 3) rest T-pose, SMPL frame.
    Returns (B, 17, 3) COCO keypoints, SMPL frame, hip midpoint at the origin.
    """
    check_shape(pose_aa, ("B", 24, 3), "pose_aa")
    skeleton = np.asarray(average_skeleton, dtype=np.float64)
    check_shape(skeleton, (NUM_KEYPOINTS, 3), "average_skeleton")
    B = pose_aa.shape[0]
    local = Rotation.from_rotvec(pose_aa.reshape(-1, 3)).as_matrix().reshape(B, 24, 3, 3)
    pivots = _node_pivots(skeleton)
    glob = np.zeros((B, len(_NODES), 3, 3))
    pos = np.zeros((B, len(_NODES), 3))
    for n, (parent, joints) in enumerate(_NODES):
        rot = local[:, joints[0]]
        for j in joints[1:]:
            rot = rot @ local[:, j]
        if parent < 0:
            glob[:, n] = rot
            pos[:, n] = pivots[n] - pivots[0]
            continue
        offset = (pivots[n] - pivots[parent]) * node_scale[:, parent, None]
        pos[:, n] = pos[:, parent] + np.einsum("bij,bj->bi", glob[:, parent], offset)
        glob[:, n] = glob[:, parent] @ rot
    kp = np.zeros((B, NUM_KEYPOINTS, 3))
    for k, n in enumerate(_KEYPOINT_NODE):
        offset = (skeleton[k] - pivots[n]) * node_scale[:, n, None]
        kp[:, k] = pos[:, n] + np.einsum("bij,bj->bi", glob[:, n], offset)
    return kp


def random_poses(rng: np.random.Generator, n: int, base_poses: np.ndarray | None = None,
                 base_fraction: float = 0.3) -> np.ndarray:
    """(n, 24, 3) axis-angle poses: entry 0 a random heading (full circle about the vertical, a little pitch
    and roll), joints 1..23 from the one pose sampler (`core.synth.poses.sample_limited_poses`, within joint
    limits around a relaxed stance) with a per-person spread ~ U(0.05, 0.35), so calm, near-standing poses
    are common and extreme ones rarer. A fraction base_fraction of the people compose that sample with a
    random pose of base_poses (T, 23, 3) (real SMPL body poses, e.g. `core.synth.poses.load_motion_poses`)."""
    body = sample_limited_poses(rng, n, spread=rng.uniform(0.05, 0.35, n)).astype(np.float64)
    rot = np.zeros((n, 24, 3, 3)) + np.eye(3)
    rot[:, 1:] = Rotation.from_rotvec(body.reshape(-1, 3)).as_matrix().reshape(n, 23, 3, 3)
    if base_poses is not None:
        check_shape(base_poses, ("T", 23, 3), "base_poses")
        based = rng.random(n) < base_fraction
        base = base_poses[rng.integers(0, base_poses.shape[0], int(based.sum()))]
        base_rot = Rotation.from_rotvec(base.reshape(-1, 3)).as_matrix().reshape(-1, 23, 3, 3)
        rot[based, 1:] = base_rot @ rot[based, 1:]
    heading = np.stack([rng.uniform(-0.2, 0.2, n), rng.uniform(0, 2 * np.pi, n), rng.uniform(-0.1, 0.1, n)], 1)
    rot[:, 0] = Rotation.from_euler("xyz", heading).as_matrix()
    return Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec().reshape(n, 24, 3)


@dataclass(frozen=True)
class SyntheticSkeletons:
    """Synthetic lifting data: posed keypoint skeletons (no mesh, no image).

    keypoints_2d: (P, 17, 3) image pixels (x right, y down) + visibility 0/1.
    joints3d_cam: (P, 17, 3) metres, camera frame (x right, y down, z away from the camera).
    pixels_per_metre: (P,) orthographic camera scale: x_px = f * x_cam + cx, y_px = f * y_cam + cy.
    """

    keypoints_2d: np.ndarray
    joints3d_cam: np.ndarray
    pixels_per_metre: np.ndarray


def make_synthetic_skeletons(n: int, seed: int = 0, *, average_skeleton: np.ndarray = DEFAULT_AVERAGE_SKELETON,
                             base_poses: np.ndarray | None = None, face_dropout: float = 0.2,
                             point_dropout: float = 0.03) -> SyntheticSkeletons:
    """n random skeletons posed from average_skeleton (17, 3) (module docstring); base_poses: (T, 23, 3) real
    SMPL poses to start from; face_dropout: chance that all five face keypoints are invisible (as for
    Human3.6M's joints); point_dropout: independent chance of any other keypoint missing."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.85, 1.15, (n, 1)) * rng.uniform(0.93, 1.07, (n, len(_NODES)))
    scale[:, _RIGHT_NODES] = scale[:, _LEFT_NODES]  # people are left/right symmetric
    kp_smpl = pose_keypoints(random_poses(rng, n, base_poses), scale, average_skeleton)
    cam = kp_smpl * np.array([1.0, -1.0, -1.0])  # SMPL frame seen from +z -> OpenCV camera frame
    cam = cam + np.array([0.0, 0.0, 4.0])
    f = rng.uniform(150.0, 400.0, n)
    centre = rng.uniform(200.0, 600.0, (n, 2))
    xy = cam[..., :2] * f[:, None, None] + centre[:, None]
    vis = (rng.random((n, NUM_KEYPOINTS)) >= point_dropout).astype(np.float64)
    vis[rng.random(n) < face_dropout, :5] = 0.0
    return SyntheticSkeletons(np.concatenate([xy, vis[..., None]], axis=2), cam, f)


__all__ = [
    "DEFAULT_AVERAGE_SKELETON", "pose_keypoints", "random_poses", "SyntheticSkeletons", "make_synthetic_skeletons",
]
