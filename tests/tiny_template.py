"""A tiny but valid rigged `Template` for tests: square tubes along a T-posed SMPL-like skeleton.

`make_tiny_template()` builds, in SMPL's frame (metres, y up, facing +z, body-left +x), one square tube per
bone (and a short one past each leaf joint: head, toes, fingers), 3 rings per tube. Each side of a tube has
its own vertices so that every vertex lies in exactly one DensePose part (front/back by the side's z
direction, head left/right by x); `weld_index` joins the copies. Skinning is rigid in the middle of a
tube and blends with the parent at the tube's start and with the child at its end, so some vertices carry
3 joints. Keypoints are inverse-distance averages of the 8 vertices nearest plausible COCO positions.
"""

from __future__ import annotations

import numpy as np

from deformlearn.core.body.skeletons import NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from deformlearn.core.body.template import Template

#: (24, 3) a plausible SMPL-like T-pose skeleton, metres.
TINY_REST_JOINTS = np.array([
    [0.00, -0.22, 0.03], [0.06, -0.31, 0.02], [-0.06, -0.31, 0.02], [0.00, -0.11, 0.00],
    [0.10, -0.69, 0.02], [-0.10, -0.69, 0.02], [0.00, 0.03, 0.01], [0.09, -1.09, -0.02],
    [-0.09, -1.09, -0.02], [0.00, 0.08, 0.03], [0.11, -1.15, 0.10], [-0.11, -1.15, 0.10],
    [0.00, 0.29, -0.01], [0.07, 0.20, 0.00], [-0.07, 0.20, 0.00], [0.00, 0.36, 0.04],
    [0.17, 0.23, -0.02], [-0.17, 0.23, -0.02], [0.43, 0.21, -0.04], [-0.43, 0.21, -0.04],
    [0.68, 0.22, -0.04], [-0.68, 0.22, -0.04], [0.77, 0.21, -0.05], [-0.77, 0.21, -0.05],
], dtype=np.float32)

# Leaf joints get a tube from the joint along this offset (head up, toes forward, fingers outwards).
_LEAF_OFFSETS = {15: (0.0, 0.20, 0.0), 10: (0.0, -0.02, 0.08), 11: (0.0, -0.02, 0.08),
                 22: (0.08, 0.0, 0.0), 23: (-0.08, 0.0, 0.0)}
_RADIUS = {0: 0.10, 3: 0.10, 6: 0.10, 9: 0.10, 13: 0.05, 14: 0.05, 12: 0.05, 15: 0.09,
           1: 0.07, 2: 0.07, 4: 0.05, 5: 0.05, 7: 0.04, 8: 0.04, 10: 0.04, 11: 0.04,
           16: 0.045, 17: 0.045, 18: 0.035, 19: 0.035, 20: 0.03, 21: 0.03, 22: 0.025, 23: 0.025}
# DensePose part (front, back) of the tube owned by each joint; head splits by x instead (see _part).
_PARTS = {
    0: (2, 1), 3: (2, 1), 6: (2, 1), 9: (2, 1), 13: (2, 1), 14: (2, 1),
    1: (10, 8), 2: (9, 7), 4: (14, 12), 5: (13, 11), 7: (5, 5), 8: (6, 6), 10: (5, 5), 11: (6, 6),
    16: (15, 17), 17: (16, 18), 18: (19, 21), 19: (20, 22), 20: (4, 4), 21: (3, 3), 22: (4, 4), 23: (3, 3),
}
_RING_T = (0.0, 0.5, 1.0)
# COCO-17 targets: (joint, offset from it), metres.
_KEYPOINT_TARGETS = [
    (15, (0.0, 0.06, 0.09)), (15, (0.03, 0.09, 0.08)), (15, (-0.03, 0.09, 0.08)),
    (15, (0.09, 0.07, 0.0)), (15, (-0.09, 0.07, 0.0)),
    (16, (0, 0, 0)), (17, (0, 0, 0)), (18, (0, 0, 0)), (19, (0, 0, 0)), (20, (0, 0, 0)), (21, (0, 0, 0)),
    (1, (0, 0, 0)), (2, (0, 0, 0)), (4, (0, 0, 0)), (5, (0, 0, 0)), (7, (0, 0, 0)), (8, (0, 0, 0)),
]


def _tubes() -> list[tuple[int, np.ndarray, np.ndarray, int | None]]:
    """(owner joint, start, end, child joint or None) for every tube."""
    tubes = []
    for c in range(1, NUM_JOINTS):
        p = int(SMPL_PARENTS[c])
        if p == 9 and c != 12 or p == 0 and c != 3:
            continue  # collar bones and hip bones are covered by the torso tubes' blending
        tubes.append((p, TINY_REST_JOINTS[p], TINY_REST_JOINTS[c], c))
    for j, off in _LEAF_OFFSETS.items():
        tubes.append((j, TINY_REST_JOINTS[j], TINY_REST_JOINTS[j] + np.float32(off), None))
    for c in (1, 2, 13, 14):  # short tubes from the pelvis/spine3 out to the hips/collars, owned by the child
        p = int(SMPL_PARENTS[c])
        tubes.append((c, TINY_REST_JOINTS[p], TINY_REST_JOINTS[c], None))
    return tubes


def _frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to `axis`, the second as close to +z (front) as possible."""
    up = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e2 = up - axis * (up @ axis)
    e2 /= np.linalg.norm(e2)
    return np.cross(e2, axis), e2


def _part(owner: int, side_dir: np.ndarray) -> int:
    if owner in (12, 15):
        return 24 if side_dir[0] >= 0 else 23
    front, back = _PARTS[owner]
    return front if side_dir[2] >= 0 else back


def make_tiny_template() -> Template:
    """A small valid `Template` (a few hundred vertices) around a T-posed SMPL skeleton."""
    verts, faces, weights, parts, uvs = [], [], [], [], []
    for owner, start, end, child in _tubes():
        axis = (end - start).astype(np.float64)
        axis /= np.linalg.norm(axis)
        e1, e2 = _frame(axis)
        r = _RADIUS[owner]
        corners = [r * (np.cos(a) * e1 + np.sin(a) * e2) for a in np.arange(4) * np.pi / 2]
        for k in range(4):
            c0, c1 = corners[k], corners[(k + 1) % 4]
            side_dir = (c0 + c1) / 2
            base = len(verts)
            for ti, t in enumerate(_RING_T):
                centre = start + t * (end - start)
                w = np.zeros(NUM_JOINTS)
                if ti == 0 and SMPL_PARENTS[owner] >= 0:
                    w[owner], w[SMPL_PARENTS[owner]] = 0.6, 0.4
                elif ti == 2 and child is not None:
                    w[owner], w[child] = 0.7, 0.3
                else:
                    w[owner] = 1.0
                if ti == 0 and owner in (1, 2):  # the hip tubes' start blends three joints
                    w[:] = 0.0
                    w[0], w[owner], w[3] = 0.5, 0.3, 0.2
                for ci, corner in enumerate((c0, c1)):
                    verts.append(centre + corner)
                    weights.append(w.copy())
                    parts.append(_part(owner, side_dir))
                    uvs.append((t, float(ci)))
            for ti in range(len(_RING_T) - 1):
                a, b, c, d = base + 2 * ti, base + 2 * ti + 1, base + 2 * ti + 3, base + 2 * ti + 2
                tri = [(a, b, c), (a, c, d)]
                n = np.cross(verts[b] - verts[a], verts[c] - verts[a])
                if n @ side_dir < 0:
                    tri = [(x, z, y) for x, y, z in tri]
                faces += tri
    verts_arr = np.asarray(verts, dtype=np.float32)
    part_arr = np.asarray(parts, dtype=np.int64)
    uv_arr = np.asarray(uvs, dtype=np.float32)
    # Spread each part's tube-local (t, corner) coordinates over [0, 1] so the charts do not overlap.
    for p in np.unique(part_arr):
        idx = np.flatnonzero(part_arr == p)
        side = np.arange(len(idx)) // (2 * len(_RING_T))
        uv_arr[idx, 1] = (uv_arr[idx, 1] + 2 * side) / (2 * side[-1] + 1)
    _, first, inverse = np.unique(np.round(verts_arr, 5), axis=0, return_index=True, return_inverse=True)
    weld = first[inverse.reshape(-1)].astype(np.int64)
    kw = np.zeros((len(_KEYPOINT_TARGETS), len(verts_arr)), dtype=np.float32)
    for k, (j, off) in enumerate(_KEYPOINT_TARGETS):
        target = TINY_REST_JOINTS[j] + np.float32(off)
        d = np.linalg.norm(verts_arr - target, axis=1)
        near = np.argsort(d)[:8]
        w = 1.0 / (d[near] + 1e-3)
        kw[k, near] = w / w.sum()
    return Template(
        name="tiny-test",
        rest_vertices=verts_arr,
        faces=np.asarray(faces, dtype=np.int64),
        joint_names=SMPL_JOINT_NAMES,
        parents=SMPL_PARENTS.copy(),
        rest_joints=TINY_REST_JOINTS.copy(),
        skin_weights=np.asarray(weights, dtype=np.float32),
        vertex_part=part_arr,
        vertex_uv=uv_arr,
        keypoint_weights=kw,
        weld_index=weld,
    ).validate("tiny template")
