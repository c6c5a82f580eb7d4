"""Names, orders and trees of the skeletons and part sets the tool speaks.

All indices are 0-based except DensePose part numbers, which keep DensePose's 1..24 (0 is background).
"""

from __future__ import annotations

import numpy as np

#: SMPL's 24 joints in SMPL's order.
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
#: (24,) parent of each SMPL joint, -1 for the root (pelvis).
SMPL_PARENTS: np.ndarray = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21], dtype=np.int64
)
NUM_JOINTS = 24

#: COCO-17 person keypoints in COCO's order.
COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = 17
#: COCO's skeleton as 0-based keypoint index pairs.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)
#: For each COCO keypoint, the index of its left/right mirror (itself for the nose).
COCO_FLIP_INDEX: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)

#: DensePose's 24 fine parts, index 1..24 (entry 0 is the background). Front/back and left/right
#: within each pair follow DensePose's own charts (UV_Processed.mat: which parts share seams with which, and
#: the charts of SMPL's nose, eye, ear, thumb and toe vertices); see deformlearn.core.body.charts.
DENSEPOSE_PART_NAMES: tuple[str, ...] = (
    "background",
    "torso_back", "torso_front", "right_hand", "left_hand", "left_foot", "right_foot",
    "right_upper_leg_back", "left_upper_leg_back", "right_upper_leg_front", "left_upper_leg_front",
    "right_lower_leg_back", "left_lower_leg_back", "right_lower_leg_front", "left_lower_leg_front",
    "left_upper_arm_front", "right_upper_arm_front", "left_upper_arm_back", "right_upper_arm_back",
    "left_lower_arm_front", "right_lower_arm_front", "left_lower_arm_back", "right_lower_arm_back",
    "head_right", "head_left",
)
NUM_PARTS = 24

#: DensePose's 14 coarse parts of `dp_masks` (1..14), and the fine parts (1..24) each one covers.
COARSE_PART_NAMES: tuple[str, ...] = (
    "background", "torso", "right_hand", "left_hand", "left_foot", "right_foot", "right_upper_leg",
    "left_upper_leg", "right_lower_leg", "left_lower_leg", "left_upper_arm", "right_upper_arm",
    "left_lower_arm", "right_lower_arm", "head",
)
#: The coarse part (`COARSE_PART_NAMES`) of the body segment each SMPL joint rotates.
SEGMENT_COARSE_PART: dict[str, str] = {
    "pelvis": "torso", "spine1": "torso", "spine2": "torso", "spine3": "torso", "left_collar": "torso",
    "right_collar": "torso", "neck": "head", "head": "head", "left_hip": "left_upper_leg",
    "right_hip": "right_upper_leg", "left_knee": "left_lower_leg", "right_knee": "right_lower_leg",
    "left_ankle": "left_foot", "right_ankle": "right_foot", "left_foot": "left_foot", "right_foot": "right_foot",
    "left_shoulder": "left_upper_arm", "right_shoulder": "right_upper_arm", "left_elbow": "left_lower_arm",
    "right_elbow": "right_lower_arm", "left_wrist": "left_hand", "right_wrist": "right_hand",
    "left_hand": "left_hand", "right_hand": "right_hand",
}
#: (25,) coarse part (0..14) of each fine part (0..24).
FINE_TO_COARSE_PART: np.ndarray = np.array(
    [0, 1, 1, 2, 3, 4, 5, 6, 7, 6, 7, 8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 14], dtype=np.int64
)
