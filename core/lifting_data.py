"""Keypoint data for training and evaluating the lifter: synthetic posed skeletons and Human3.6M frames.

Synthetic people: a keypoint-level body (SMPL's 24-joint tree with approximate mean-shape rest joints, plus
the five face keypoints rigidly attached to the head) posed by forward kinematics with random, roughly
plausible joint rotations (optionally on top of real SMPL poses, e.g. AMASS), random per-person size and
limb proportions, random heading, seen by an orthographic camera. Output keypoints are COCO-17.

Camera frame of all 3D ground truth here: metres, right-handed, x right, y down, z away from the camera
(OpenCV; Human3.6M's camera frame is the same), so it matches the lifter's (x_px, y_px, depth_px).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from deformlearn.core.skeletons import COCO_FLIP_INDEX, NUM_KEYPOINTS, SMPL_PARENTS

#: Approximate SMPL mean-shape rest joints (24, 3), metres, SMPL frame (y up, facing +z, left +x), T-pose.
SYNTHETIC_REST_JOINTS = np.array([
    [0.0, 0.0, 0.0], [0.06, -0.09, 0.0], [-0.06, -0.09, 0.0], [0.0, 0.11, -0.01],
    [0.10, -0.47, 0.0], [-0.10, -0.47, 0.0], [0.0, 0.25, 0.0], [0.09, -0.87, -0.04],
    [-0.09, -0.87, -0.04], [0.0, 0.31, 0.02], [0.12, -0.93, 0.08], [-0.12, -0.93, 0.08],
    [0.0, 0.52, -0.01], [0.08, 0.43, 0.0], [-0.08, 0.43, 0.0], [0.0, 0.61, 0.04],
    [0.17, 0.46, -0.01], [-0.17, 0.46, -0.01], [0.43, 0.45, -0.03], [-0.43, 0.45, -0.03],
    [0.68, 0.45, -0.03], [-0.68, 0.45, -0.03], [0.77, 0.44, -0.02], [-0.77, 0.44, -0.02],
])
#: COCO keypoints taken directly from SMPL joints (COCO index -> SMPL joint index).
_COCO_FROM_SMPL = {5: 16, 6: 17, 7: 18, 8: 19, 9: 20, 10: 21, 11: 1, 12: 2, 13: 4, 14: 5, 15: 7, 16: 8}
#: Face keypoints (nose, eyes, ears) as offsets from SMPL's head joint in the rest pose, metres.
_FACE_OFFSETS = np.array([
    [0.0, 0.04, 0.11], [0.035, 0.08, 0.09], [-0.035, 0.08, 0.09], [0.075, 0.06, 0.0], [-0.075, 0.06, 0.0],
])
_HEAD = 15
#: Ranges (radians) of random Euler-xyz rotations per SMPL joint (left side; the right side is mirrored).
_POSE_RANGES = {
    1: ((-1.5, 0.4), (-0.4, 0.4), (-0.1, 0.6)),   # left hip: flexion is -x, abduction +z
    4: ((0.0, 1.8), (0.0, 0.0), (0.0, 0.0)),      # left knee: flexion is +x only
    16: ((-0.5, 0.5), (-1.5, 0.6), (-1.4, 0.6)),  # left shoulder: forward swing -y, lowering -z
    18: ((0.0, 0.0), (-2.3, 0.0), (0.0, 0.0)),    # left elbow: flexion -y only
    3: ((-0.4, 0.6), (-0.4, 0.4), (-0.3, 0.3)), 6: ((-0.2, 0.3), (-0.3, 0.3), (-0.2, 0.2)),
    9: ((-0.2, 0.3), (-0.3, 0.3), (-0.2, 0.2)), 12: ((-0.3, 0.5), (-0.5, 0.5), (-0.3, 0.3)),
}
_MIRROR = {1: 2, 4: 5, 16: 17, 18: 19}
_LEFT_JOINTS = [1, 4, 7, 10, 13, 16, 18, 20, 22]
_RIGHT_JOINTS = [2, 5, 8, 11, 14, 17, 19, 21, 23]


def rest_keypoints() -> np.ndarray:
    """(17, 3) COCO keypoints of the synthetic body in its rest T-pose, metres, SMPL frame."""
    return pose_keypoints(np.zeros((1, 24, 3)), np.ones((1, 24)))[0]


def pose_keypoints(pose_aa: np.ndarray, segment_scale: np.ndarray) -> np.ndarray:
    """Forward kinematics of the synthetic body.

    pose_aa: (B, 24, 3) axis-angle local rotations (entry 0 is the global orientation), SMPL convention;
    segment_scale: (B, 24) scale of the bone from each joint's parent to the joint (entry 0 ignored).
    Returns (B, 17) COCO keypoints (B, 17, 3), metres, SMPL frame (pelvis at the origin before rotation).
    """
    if pose_aa.ndim != 3 or pose_aa.shape[1:] != (24, 3):
        raise ValueError(f"pose_aa must have shape (B, 24, 3), got {pose_aa.shape}")
    B = pose_aa.shape[0]
    local = Rotation.from_rotvec(pose_aa.reshape(-1, 3)).as_matrix().reshape(B, 24, 3, 3)
    glob = np.zeros_like(local)
    joints = np.zeros((B, 24, 3))
    glob[:, 0] = local[:, 0]
    for j in range(1, 24):
        p = SMPL_PARENTS[j]
        offset = (SYNTHETIC_REST_JOINTS[j] - SYNTHETIC_REST_JOINTS[p]) * segment_scale[:, j, None]
        joints[:, j] = joints[:, p] + np.einsum("bij,bj->bi", glob[:, p], offset)
        glob[:, j] = glob[:, p] @ local[:, j]
    kp = np.zeros((B, NUM_KEYPOINTS, 3))
    for c, s in _COCO_FROM_SMPL.items():
        kp[:, c] = joints[:, s]
    head_scale = segment_scale[:, _HEAD, None, None]
    kp[:, :5] = joints[:, _HEAD, None] + np.einsum("bij,kj->bki", glob[:, _HEAD], _FACE_OFFSETS) * head_scale
    return kp


def load_amass_body_poses(path: str | Path) -> np.ndarray:
    """(T, 24, 3) SMPL body poses from an AMASS npz (`poses` (T, >=66)); global orientation and hands zeroed."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            poses = np.asarray(data["poses"], dtype=np.float64)
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not an AMASS npz with a 'poses' array ({exc})") from exc
    if poses.ndim != 2 or poses.shape[1] < 66:
        raise ValueError(f"{path}: 'poses' has shape {poses.shape}, expected (T, >= 66)")
    out = np.zeros((poses.shape[0], 24, 3))
    out[:, 1:22] = poses[:, 3:66].reshape(-1, 21, 3)
    return out


def random_poses(rng: np.random.Generator, n: int, base_poses: np.ndarray | None = None) -> np.ndarray:
    """(n, 24, 3) axis-angle poses: random limb/spine rotations (ranges above), composed after a random
    base pose drawn from base_poses (T, 24, 3) when given; global orientation is a random heading
    (full circle about the vertical) with a little pitch and roll."""
    rot = np.zeros((n, 24, 3, 3)) + np.eye(3)
    for j, ranges in _POSE_RANGES.items():
        angles = np.stack([rng.uniform(lo, hi, n) for lo, hi in ranges], axis=1)
        rot[:, j] = Rotation.from_euler("xyz", angles).as_matrix()
        if j in _MIRROR:  # mirror across the sagittal plane x -> -x: Euler (x, y, z) -> (x, -y, -z)
            other = np.stack([rng.uniform(lo, hi, n) for lo, hi in ranges], axis=1) * [1, -1, -1]
            rot[:, _MIRROR[j]] = Rotation.from_euler("xyz", other).as_matrix()
    if base_poses is not None:
        base = base_poses[rng.integers(0, base_poses.shape[0], n)]
        rot = Rotation.from_rotvec(base.reshape(-1, 3)).as_matrix().reshape(n, 24, 3, 3) @ rot
    heading = np.stack([rng.uniform(-0.2, 0.2, n), rng.uniform(0, 2 * np.pi, n), rng.uniform(-0.1, 0.1, n)], 1)
    rot[:, 0] = Rotation.from_euler("xyz", heading).as_matrix()
    return Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec().reshape(n, 24, 3)


@dataclass(frozen=True)
class SyntheticPeople:
    """Synthetic lifting data.

    keypoints_2d: (P, 17, 3) image pixels (x right, y down) + visibility 0/1.
    joints3d_cam: (P, 17, 3) metres, camera frame (x right, y down, z away from the camera).
    pixels_per_metre: (P,) orthographic camera scale: x_px = f * x_cam + cx, y_px = f * y_cam + cy.
    """

    keypoints_2d: np.ndarray
    joints3d_cam: np.ndarray
    pixels_per_metre: np.ndarray


def make_synthetic_people(n: int, seed: int = 0, *, base_poses: np.ndarray | None = None,
                          face_dropout: float = 0.2, point_dropout: float = 0.03) -> SyntheticPeople:
    """n random people (see the module docstring); face_dropout: chance that all five face keypoints are
    invisible (as for Human3.6M's joints); point_dropout: independent chance of any other keypoint missing."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.85, 1.15, (n, 1)) * rng.uniform(0.93, 1.07, (n, 24))
    scale[:, _RIGHT_JOINTS] = scale[:, _LEFT_JOINTS]  # people are left/right symmetric
    kp_smpl = pose_keypoints(random_poses(rng, n, base_poses), scale)
    cam = kp_smpl * np.array([1.0, -1.0, -1.0])  # SMPL frame seen from +z -> OpenCV camera frame
    cam = cam + np.array([0.0, 0.0, 4.0])
    f = rng.uniform(150.0, 400.0, n)
    centre = rng.uniform(200.0, 600.0, (n, 2))
    xy = cam[..., :2] * f[:, None, None] + centre[:, None]
    vis = (rng.random((n, NUM_KEYPOINTS)) >= point_dropout).astype(np.float64)
    vis[rng.random(n) < face_dropout, :5] = 0.0
    return SyntheticPeople(np.concatenate([xy, vis[..., None]], axis=2), cam, f)


def flip_keypoints(keypoints_2d: np.ndarray) -> np.ndarray:
    """Mirror (P, 17, 3) keypoints about x = 0 and swap left/right names (a valid pose of a mirrored person)."""
    out = keypoints_2d[:, list(COCO_FLIP_INDEX)].copy()
    out[..., 0] = -out[..., 0]
    return out


__all__ = [
    "SYNTHETIC_REST_JOINTS", "rest_keypoints", "pose_keypoints", "load_amass_body_poses", "random_poses",
    "SyntheticPeople", "make_synthetic_people", "flip_keypoints",
]
