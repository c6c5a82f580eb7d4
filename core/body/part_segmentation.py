"""DensePose's 24 body parts on any T-posed body mesh rigged to SMPL's 24 joints (the first half of
`core.body.charts`: which face belongs to which part; the charts then give each part its (U, V)).

Frame: SMPL's (metres, y up, the body faces +z, the body's left side is +x), rest pose a T-pose. Faces are
first given a coarse region (torso, head, upper / lower arm, hand, upper / lower leg, foot, with the side)
from their skinning weights and plane cuts at elbows, wrists, knees and ankles, then split into DensePose's
front / back and left / right parts; isolated specks are relabelled by their neighbours.
"""

from __future__ import annotations

import re

import numpy as np

from deformlearn.core.body.skeletons import SEGMENT_COARSE_PART, SMPL_JOINT_NAMES

#: SMPL joint name -> index.
JOINT_INDEX = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

#: Coarse region of each SMPL segment (the segment a joint rotates): the coarse part named with the side last
#: ("left_upper_leg" -> "upper_leg_l").
_SEGMENT_REGION: dict[str, str] = {
    joint: re.sub(r"^(left|right)_(.*)$", lambda m: f"{m[2]}_{m[1][0]}", part)
    for joint, part in SEGMENT_COARSE_PART.items()
}
_REGIONS: tuple[str, ...] = (
    "torso", "head", "upper_arm_l", "upper_arm_r", "lower_arm_l", "lower_arm_r", "hand_l", "hand_r",
    "upper_leg_l", "upper_leg_r", "lower_leg_l", "lower_leg_r", "foot_l", "foot_r",
)
#: Limb region -> (proximal joint, distal joint, front part, back part).
LIMB_REGIONS: dict[str, tuple[str, str, int, int]] = {
    "upper_leg_r": ("right_hip", "right_knee", 9, 7), "upper_leg_l": ("left_hip", "left_knee", 10, 8),
    "lower_leg_r": ("right_knee", "right_ankle", 13, 11), "lower_leg_l": ("left_knee", "left_ankle", 14, 12),
    "upper_arm_l": ("left_shoulder", "left_elbow", 15, 17), "upper_arm_r": ("right_shoulder", "right_elbow", 16, 18),
    "lower_arm_l": ("left_elbow", "left_wrist", 19, 21), "lower_arm_r": ("right_elbow", "right_wrist", 20, 22),
}
_SEAT_ABOVE_HIPS = 0.05  # metres: top of the buttocks above the hip joint centres
_FOOT_ABOVE_ANKLE = 0.03  # metres: the foot part reaches this far above the ankle joint centre
def _face_neighbours(faces: np.ndarray) -> np.ndarray:
    """(F, 3) index of the face across each edge, -1 on a border."""
    F = len(faces)
    edges = np.stack([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], 1).reshape(-1, 2)
    key = np.sort(edges, 1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    ks = key[order]
    same = np.all(ks[1:] == ks[:-1], 1)
    nb = np.full(3 * F, -1, dtype=np.int64)
    a, b = order[:-1][same], order[1:][same]
    nb[a], nb[b] = b // 3, a // 3
    return nb.reshape(F, 3)


def _coarse_regions(vertices: np.ndarray, faces: np.ndarray, skin_weights: np.ndarray,
                    joints: np.ndarray) -> np.ndarray:
    """(F,) index into _REGIONS of each face: skinning weights, then plane cuts at elbows, wrists, knees."""
    seg_region = np.array([_REGIONS.index(_SEGMENT_REGION[n]) for n in SMPL_JOINT_NAMES])
    score = np.zeros((len(vertices), len(_REGIONS)))
    np.add.at(score.T, seg_region, skin_weights.T)
    region = score[faces].mean(1).argmax(1)
    centre = vertices[faces].mean(1)
    chains = {
        "l_arm": (("upper_arm_l", "lower_arm_l", "hand_l"), ("left_shoulder", "left_elbow", "left_wrist")),
        "r_arm": (("upper_arm_r", "lower_arm_r", "hand_r"), ("right_shoulder", "right_elbow", "right_wrist")),
    }
    for names, (j0, j1, j2) in chains.values():
        ids = [_REGIONS.index(n) for n in names]
        inside = np.isin(region, ids)
        a, b, c = joints[JOINT_INDEX[j0]], joints[JOINT_INDEX[j1]], joints[JOINT_INDEX[j2]]
        past_elbow = (centre - b) @ (c - a) > 0
        past_wrist = (centre - c) @ (c - b) > 0
        region[inside] = np.where(past_wrist, ids[2], np.where(past_elbow, ids[1], ids[0]))[inside]
    for side in ("l", "r"):
        name = "left" if side == "l" else "right"
        ids = [_REGIONS.index(f"upper_leg_{side}"), _REGIONS.index(f"lower_leg_{side}")]
        inside = np.isin(region, ids)
        hip, knee, ankle = (joints[JOINT_INDEX[f"{name}_{j}"]] for j in ("hip", "knee", "ankle"))
        below_knee = (centre - knee) @ (ankle - hip) > 0
        region[inside] = np.where(below_knee, ids[1], ids[0])[inside]
    for side, name in (("l", "left"), ("r", "right")):
        ids = [_REGIONS.index(f"lower_leg_{side}"), _REGIONS.index(f"foot_{side}")]
        inside = np.isin(region, ids)
        in_foot = centre[:, 1] < joints[JOINT_INDEX[f"{name}_ankle"], 1] + _FOOT_ABOVE_ANKLE
        region[inside] = np.where(in_foot, ids[1], ids[0])[inside]
    return _smooth_labels(region, _face_neighbours(faces), iterations=3)


def _smooth_labels(labels: np.ndarray, neighbours: np.ndarray, iterations: int) -> np.ndarray:
    """Relabel faces whose neighbours (at least two of three) agree on another label; removes specks."""
    labels = labels.copy()
    for _ in range(iterations):
        nl = np.where(neighbours >= 0, labels[np.maximum(neighbours, 0)], -1)
        two = (nl[:, 0] == nl[:, 1]) | (nl[:, 0] == nl[:, 2])
        major = np.where(two, nl[:, 0], nl[:, 1])
        flip = (major >= 0) & (major != labels) & ((nl == major[:, None]).sum(1) >= 2)
        labels[flip] = major[flip]
    return labels


def _fine_parts(vertices: np.ndarray, faces: np.ndarray, region: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(F,) DensePose part 1..24 of each face from its coarse region: front/back and left/right halves."""
    centre = vertices[faces].mean(1)
    part = np.zeros(len(faces), dtype=np.int64)
    torso = region == _REGIONS.index("torso")
    zmid = slice_centre(vertices[np.unique(faces[torso])], centre[torso], axis=2)
    part[torso] = np.where(centre[torso, 2] > zmid, 2, 1)
    # DensePose's back upper-leg charts hold the buttocks and meet along the cleft (parts 7 and 8 share a
    # seam); the front torso reaches down to the crotch.
    hip_y = (joints[JOINT_INDEX["left_hip"], 1] + joints[JOINT_INDEX["right_hip"], 1]) / 2
    seat = (part == 1) & (centre[:, 1] < hip_y + _SEAT_ABOVE_HIPS)
    part[seat] = np.where(centre[seat, 0] < 0, 7, 8)
    head = region == _REGIONS.index("head")
    part[head] = np.where(centre[head, 0] > joints[JOINT_INDEX["head"], 0], 24, 23)
    for name, pid in (("hand_r", 3), ("hand_l", 4), ("foot_l", 5), ("foot_r", 6)):
        part[region == _REGIONS.index(name)] = pid
    for name, (j0, j1, front, back) in LIMB_REGIONS.items():
        sel = region == _REGIONS.index(name)
        a, b = joints[JOINT_INDEX[j0]], joints[JOINT_INDEX[j1]]
        axis = (b - a) / np.linalg.norm(b - a)
        d = centre[sel] - a
        d -= np.outer(d @ axis, axis)
        part[sel] = np.where(d[:, 2] > 0, front, back)
    return part


def slice_extent(points: np.ndarray, query: np.ndarray, axis: int, along: int = 1, bins: int = 40
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Range (lo, hi) of `points[:, axis]` in slices across coordinate `along`, looked up at each query."""
    t = points[:, along]
    edges = np.linspace(t.min(), t.max() + 1e-9, bins + 1)
    idx = np.clip(np.digitize(t, edges) - 1, 0, bins - 1)
    lo = np.full(bins, np.inf)
    hi = np.full(bins, -np.inf)
    np.minimum.at(lo, idx, points[:, axis])
    np.maximum.at(hi, idx, points[:, axis])
    good = np.isfinite(lo)
    centres = (edges[:-1] + edges[1:]) / 2
    lo, hi = (np.interp(centres, centres[good], a[good]) for a in (lo, hi))
    return np.interp(query[:, along], centres, lo), np.interp(query[:, along], centres, hi)


def slice_centre(points: np.ndarray, query: np.ndarray, axis: int, along: int = 1, bins: int = 40) -> np.ndarray:
    """Mid-range of `points[:, axis]` in slices across coordinate `along`, looked up at each query point."""
    lo, hi = slice_extent(points, query, axis, along, bins)
    return (lo + hi) / 2


def split_part_seams(faces: np.ndarray, face_part: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Duplicate vertices shared by faces of different parts.

    Args:
        faces: (F, 3) int64 faces over V vertices.
        face_part: (F,) int64 part of each face.
    Returns:
        new_faces (F, 3) over V' vertices, source_index (V',) input vertex of each new vertex, and
        vertex_part (V',) the part of each new vertex. Vertices used by no face are dropped.
    """
    pairs = np.stack([faces.ravel(), np.repeat(face_part, 3)], 1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return inverse.reshape(-1, 3).astype(np.int64), uniq[:, 0].astype(np.int64), uniq[:, 1].astype(np.int64)


def face_parts(vertices: np.ndarray, faces: np.ndarray, skin_weights: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(F,) int64 DensePose part 1..24 of each face.

    vertices (V, 3), joints (24, 3): T-pose, SMPL frame; faces (F, 3) int64; skin_weights (V, 24).
    """
    region = _coarse_regions(vertices, faces, skin_weights, joints)
    face_part = _fine_parts(vertices, faces, region, joints)
    return _smooth_labels(face_part, _face_neighbours(faces), iterations=2)


__all__ = ["JOINT_INDEX", "LIMB_REGIONS", "face_parts", "slice_centre", "slice_extent", "split_part_seams"]
