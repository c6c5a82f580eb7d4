"""DensePose parts and per-part (U, V) charts for any T-posed body mesh rigged to SMPL's 24 joints.

Used to build the built-in template and as the fallback for SMPL files without DensePose's UV_Processed.mat.
Input frame: SMPL's (metres, y up, the body faces +z, the body's left side is +x), rest pose a T-pose.

Chart layout, read from DensePose's own SMPL charts (UV_Processed.mat: which parts share vertices and where,
the sign of each chart's triangles, and where SMPL's nose, eye, ear, thumb, toe and heel vertices sit):
- torso 1 (back), 2 (front): U runs from the neck (0) to the hips (1), V from the body's left side (0) to its
  right side (1); chart 1 is seen from outside, chart 2 mirrored. The buttocks belong to the back upper legs.
- limbs: U runs along the limb (which end is 0 is per part, `_LIMBS`), V half-way around it; the sign column
  says whether the chart is seen from outside (+1) or mirrored (-1), which fixes V's direction.
- hands: V runs from the wrist up the fingers, U once around the hand: thumb edge (0), one face, little-finger
  edge (0.5), the other face, thumb edge (1); the right hand shows its back first, the left hand its palm.
  The chart is cut along the sides of every finger, so the two faces lie side by side with fingers fanned.
- feet: U along the foot (left foot heel to toes, right foot toes to heel), V once around it from the outer
  edge of the sole: sole about 0.15, inner side 0.4, top 0.65, outer side 0.9.
- head 23 (right side), 24 (left side): U around the head (23: back of the head 0, ear about 0.45, eye about
  0.8, nose 1; 24 mirrored), V from the neck up to the crown.
Each chart starts as a projection of this kind and is then relaxed towards a harmonic map inside its fixed
border, which removes most fold-overs; finally it is scaled to span [0, 1] in U and V.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deformlearn.core.body.skeletons import NUM_JOINTS, NUM_PARTS, SMPL_JOINT_NAMES
from deformlearn.core.shape_checks import check_shape

_J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

#: Coarse region of each SMPL segment (the segment a joint rotates): torso, head, upper/lower arm, hand,
#: upper/lower leg, foot; with the side for limbs.
_SEGMENT_REGION: dict[str, str] = {
    "pelvis": "torso", "spine1": "torso", "spine2": "torso", "spine3": "torso",
    "left_collar": "torso", "right_collar": "torso", "neck": "head", "head": "head",
    "left_hip": "upper_leg_l", "right_hip": "upper_leg_r", "left_knee": "lower_leg_l", "right_knee": "lower_leg_r",
    "left_ankle": "foot_l", "right_ankle": "foot_r", "left_foot": "foot_l", "right_foot": "foot_r",
    "left_shoulder": "upper_arm_l", "right_shoulder": "upper_arm_r", "left_elbow": "lower_arm_l",
    "right_elbow": "lower_arm_r", "left_wrist": "hand_l", "right_wrist": "hand_r", "left_hand": "hand_l",
    "right_hand": "hand_r",
}
_REGIONS: tuple[str, ...] = (
    "torso", "head", "upper_arm_l", "upper_arm_r", "lower_arm_l", "lower_arm_r", "hand_l", "hand_r",
    "upper_leg_l", "upper_leg_r", "lower_leg_l", "lower_leg_r", "foot_l", "foot_r",
)
#: Limb region -> (proximal joint, distal joint, front part, back part).
_LIMB_REGIONS: dict[str, tuple[str, str, int, int]] = {
    "upper_leg_r": ("right_hip", "right_knee", 9, 7), "upper_leg_l": ("left_hip", "left_knee", 10, 8),
    "lower_leg_r": ("right_knee", "right_ankle", 13, 11), "lower_leg_l": ("left_knee", "left_ankle", 14, 12),
    "upper_arm_l": ("left_shoulder", "left_elbow", 15, 17), "upper_arm_r": ("right_shoulder", "right_elbow", 16, 18),
    "lower_arm_l": ("left_elbow", "left_wrist", 19, 21), "lower_arm_r": ("right_elbow", "right_wrist", 20, 22),
}
#: Limb part -> (U = 0 at the proximal end?, chart sign: +1 seen from outside, -1 mirrored).
_LIMBS: dict[int, tuple[bool, int]] = {
    7: (True, 1), 8: (True, -1), 9: (False, -1), 10: (False, 1),
    11: (False, -1), 12: (False, 1), 13: (True, -1), 14: (True, 1),
    15: (True, 1), 16: (True, -1), 17: (True, -1), 18: (True, 1),
    19: (False, 1), 20: (False, -1), 21: (True, -1), 22: (True, 1),
}
_FRONT_LIMB_PARTS = frozenset({9, 10, 13, 14, 15, 16, 19, 20})
_SEAT_ABOVE_HIPS = 0.05  # metres: top of the buttocks above the hip joint centres
_FOOT_ABOVE_ANKLE = 0.03  # metres: the foot part reaches this far above the ankle joint centre
_NECK_DROP = 0.02  # metres: torso charts start this far below the neck joint, as DensePose's leave a neck hole
_CHART_ANCHOR = 0.02  # pull of each chart towards its projection, relative to the harmonic smoothing
_FINGER_FAN = 0.6  # how much wider the fingers spread at their tips than at the knuckles in hand charts
_FOOT_SEAM_ANGLE = 0.7 * np.pi  # foot charts are cut along the outer edge of the sole: top at V = 0.65


@dataclass(frozen=True)
class PartCharts:
    """A mesh cut along DensePose part seams, with one (U, V) chart per part.

    Attributes:
        vertices: (V', 3) float vertex positions (copies of input vertices; V' >= V).
        faces: (F, 3) int64 faces over the new vertices, same order and winding as the input faces.
        source_index: (V',) int64 input vertex each new vertex copies (carry any per-vertex data with it).
        weld_index: (V',) int64 first new vertex at the same surface point.
        vertex_part: (V',) int64 DensePose part 1..24.
        vertex_uv: (V', 2) float32 (U, V) in the part's chart, each part's chart spanning [0, 1] in U and V.
        face_part: (F,) int64 DensePose part of each face.
    """

    vertices: np.ndarray
    faces: np.ndarray
    source_index: np.ndarray
    weld_index: np.ndarray
    vertex_part: np.ndarray
    vertex_uv: np.ndarray
    face_part: np.ndarray


def _check_inputs(vertices: np.ndarray, faces: np.ndarray, skin_weights: np.ndarray, joints: np.ndarray) -> None:
    sizes = check_shape(vertices, ("V", 3), "vertices")
    check_shape(faces, ("F", 3), "faces")
    check_shape(skin_weights, ("V", NUM_JOINTS), "skin_weights", sizes)
    check_shape(joints, (NUM_JOINTS, 3), "joints")
    if faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[0]):
        raise ValueError("faces index outside the vertices")


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
        a, b, c = joints[_J[j0]], joints[_J[j1]], joints[_J[j2]]
        past_elbow = (centre - b) @ (c - a) > 0
        past_wrist = (centre - c) @ (c - b) > 0
        region[inside] = np.where(past_wrist, ids[2], np.where(past_elbow, ids[1], ids[0]))[inside]
    for side in ("l", "r"):
        name = "left" if side == "l" else "right"
        ids = [_REGIONS.index(f"upper_leg_{side}"), _REGIONS.index(f"lower_leg_{side}")]
        inside = np.isin(region, ids)
        hip, knee, ankle = joints[_J[f"{name}_hip"]], joints[_J[f"{name}_knee"]], joints[_J[f"{name}_ankle"]]
        below_knee = (centre - knee) @ (ankle - hip) > 0
        region[inside] = np.where(below_knee, ids[1], ids[0])[inside]
    for side, name in (("l", "left"), ("r", "right")):
        ids = [_REGIONS.index(f"lower_leg_{side}"), _REGIONS.index(f"foot_{side}")]
        inside = np.isin(region, ids)
        in_foot = centre[:, 1] < joints[_J[f"{name}_ankle"], 1] + _FOOT_ABOVE_ANKLE
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
    zmid = _slice_centre(vertices[np.unique(faces[torso])], centre[torso], axis=2)
    part[torso] = np.where(centre[torso, 2] > zmid, 2, 1)
    # DensePose's back upper-leg charts hold the buttocks and meet along the cleft (parts 7 and 8 share a
    # seam); the front torso reaches down to the crotch.
    hip_y = (joints[_J["left_hip"], 1] + joints[_J["right_hip"], 1]) / 2
    seat = (part == 1) & (centre[:, 1] < hip_y + _SEAT_ABOVE_HIPS)
    part[seat] = np.where(centre[seat, 0] < 0, 7, 8)
    head = region == _REGIONS.index("head")
    part[head] = np.where(centre[head, 0] > joints[_J["head"], 0], 24, 23)
    for name, pid in (("hand_r", 3), ("hand_l", 4), ("foot_l", 5), ("foot_r", 6)):
        part[region == _REGIONS.index(name)] = pid
    for name, (j0, j1, front, back) in _LIMB_REGIONS.items():
        sel = region == _REGIONS.index(name)
        a, b = joints[_J[j0]], joints[_J[j1]]
        axis = (b - a) / np.linalg.norm(b - a)
        d = centre[sel] - a
        d -= np.outer(d @ axis, axis)
        part[sel] = np.where(d[:, 2] > 0, front, back)
    return part


def _slice_extent(points: np.ndarray, query: np.ndarray, axis: int, along: int = 1, bins: int = 40
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


def _slice_centre(points: np.ndarray, query: np.ndarray, axis: int, along: int = 1, bins: int = 40) -> np.ndarray:
    """Mid-range of `points[:, axis]` in slices across coordinate `along`, looked up at each query point."""
    lo, hi = _slice_extent(points, query, axis, along, bins)
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


def _angle(d: np.ndarray, towards_v: np.ndarray, centre_normal: np.ndarray) -> np.ndarray:
    return np.arctan2(d @ towards_v, d @ centre_normal)


def _normalise(x: np.ndarray) -> np.ndarray:
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 0 else np.full_like(x, 0.5)


def _part_uv(part: int, p: np.ndarray, joints: np.ndarray, sub: np.ndarray) -> np.ndarray:
    """(N, 2) raw chart coordinates of points p (N, 3) of one part, before normalising to [0, 1].

    sub (N,) picks the copy of a point cut by a seam inside the part: hands 0 = first face shown (right hand:
    back, left hand: palm), 1 = the other face; feet 1 = on a face that crosses the cut along the sole.
    """
    _, y, z = np.eye(3)
    if part in (1, 2):
        # U: distance from the neck in the coronal plane, so that the tops of the shoulders spread out as in
        # DensePose's charts; V: across the body, scaled to each horizontal slice's width, so that the neck
        # hole stays in the middle of the chart's neck edge (an angle about the spine would fan it out)
        neck = joints[_J["neck"]]
        u = np.hypot(p[:, 0] - neck[0], np.maximum(neck[1] - p[:, 1], 0) + _NECK_DROP)
        lo, hi = _slice_extent(p, p, axis=0)
        width = np.maximum(hi - lo, 0.85 * np.median(hi - lo))  # the crotch narrows to a point: keep it wide
        return np.stack([u, 0.5 - (p[:, 0] - (hi + lo) / 2) / width], 1)
    if part in (23, 24):
        # U: angle about the vertical in each horizontal slice scaled to a unit circle (the head is deeper
        # than wide; a plain angle squeezes the face against the nose line); V: elevation from the head joint
        centre = joints[_J["head"]]
        side = p.copy()
        side[:, 0] = np.abs(p[:, 0] - centre[0])
        half_width = _slice_extent(side, p, axis=0)[1]
        lo, hi = _slice_extent(p, p, axis=2)
        outward = side[:, 0] / np.maximum(half_width, 1e-9)  # >= 0: a seam vertex must not wrap around
        forward = (p[:, 2] - (lo + hi) / 2) / np.maximum((hi - lo) / 2, 1e-9)
        u = np.arctan2(forward if part == 23 else -forward, outward)
        rel = p - centre
        return np.stack([u, np.arctan2(rel[:, 1], np.hypot(rel[:, 0], rel[:, 2]))], 1)
    if part in (3, 4):
        wrist, hand = (joints[_J["right_wrist"]], joints[_J["right_hand"]]) if part == 3 else \
            (joints[_J["left_wrist"]], joints[_J["left_hand"]])
        knuckles = np.linalg.norm(hand - wrist)
        axis = (hand - wrist) / knuckles
        d = p - wrist
        along = d @ axis
        thumb = z - axis * (z @ axis)
        c = d @ thumb  # 0 on the middle finger's line, + towards the thumb, - towards the little finger
        across = np.where(c > 0, c / max(c.max(), 1e-9), c / max(-c.min(), 1e-9))
        # DensePose's hand charts fan the fingers out: spread them more towards the tips
        fan = 1 + _FINGER_FAN * np.clip((along - knuckles) / max(along.max() - knuckles, 1e-9), 0, 1)
        across = np.clip(across * fan, -1, 1)
        u = np.where(sub == 0, (1 - across) / 4, 0.5 + (1 + across) / 4)
        return np.stack([u, along], 1)
    if part in (5, 6):
        along = z if part == 5 else -z
        d = np.zeros_like(p)
        d[:, 0] = p[:, 0] - _slice_centre(p, p, axis=0, along=2, bins=12)
        d[:, 1] = p[:, 1] - _slice_centre(p, p, axis=1, along=2, bins=12)
        phi = _angle(d, np.cross(y, along), y)  # 0 on top, pi / 2 on the outer (lateral) side
        v = np.mod(phi - _FOOT_SEAM_ANGLE, 2 * np.pi)
        return np.stack([p @ along, np.where((sub == 1) & (v < np.pi), v + 2 * np.pi, v)], 1)
    return _limb_uv(part, p, joints)


def _limb_uv(part: int, p: np.ndarray, joints: np.ndarray) -> np.ndarray:
    region = next(r for r, v in _LIMB_REGIONS.items() if part in v[2:])
    j0, j1, front, _ = _LIMB_REGIONS[region]
    a, b = joints[_J[j0]], joints[_J[j1]]
    u_from_proximal, sign = _LIMBS[part]
    axis = (b - a) / np.linalg.norm(b - a)
    t_u = axis if u_from_proximal else -axis
    centre_normal = np.array([0.0, 0.0, 1.0 if part in _FRONT_LIMB_PARTS else -1.0])
    centre_normal = centre_normal - axis * (centre_normal @ axis)
    centre_normal /= np.linalg.norm(centre_normal)
    t_v = sign * np.cross(centre_normal, t_u)
    d = p - a
    along = d @ axis
    d = d - np.outer(along, axis)
    return np.stack([along if u_from_proximal else -along, _angle(d, t_v, centre_normal)], 1)


def _relax_chart(vertices: np.ndarray, faces: np.ndarray, ids: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Smooth one part's chart: interior (U, V) become nearly harmonic (cotangent weights), the border stays.

    Projections fold where the surface turns back (nose, lips, toes, armpits); a harmonic map inside a fixed
    border folds far less, and a weak pull (_CHART_ANCHOR) towards the projection keeps features in place.
    Args: vertices (V', 3); faces (Fp, 3) of this part over them; ids (Np,) the part's vertices in the order
    of uv (Np, 2). Returns (Np, 2).
    """
    from scipy.sparse import coo_matrix, identity
    from scipy.sparse.linalg import spsolve

    local = np.full(len(vertices), -1, dtype=np.int64)
    local[ids] = np.arange(len(ids))
    f = local[faces]
    tri = vertices[faces]
    rows, cols, vals = [], [], []
    for k in range(3):
        i, j, o = f[:, (k + 1) % 3], f[:, (k + 2) % 3], k
        a = tri[:, (k + 1) % 3] - tri[:, o]
        b = tri[:, (k + 2) % 3] - tri[:, o]
        cot = np.einsum("ij,ij->i", a, b) / np.maximum(np.linalg.norm(np.cross(a, b), axis=1), 1e-12)
        w = np.clip(cot, 1e-3, 1e3) / 2
        rows += [i, j]
        cols += [j, i]
        vals += [w, w]
    n = len(ids)
    W = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    degree = np.asarray(W.sum(1)).ravel()
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), 1)
    uniq, count = np.unique(edges, axis=0, return_counts=True)
    border = np.zeros(n, dtype=bool)
    border[uniq[count == 1].ravel()] = True
    inner = np.flatnonzero(~border)
    if len(inner) == 0 or not border.any():
        return uv
    L = (coo_matrix((degree, (np.arange(n), np.arange(n))), shape=(n, n)) - W).tocsr()
    anchor = _CHART_ANCHOR * degree[inner].mean()
    A = L[inner][:, inner] + anchor * identity(len(inner), format="csr")
    rhs = anchor * uv[inner] - L[inner][:, np.flatnonzero(border)] @ uv[border]
    out = uv.copy()
    out[inner] = np.column_stack([spsolve(A.tocsc(), rhs[:, c]) for c in range(2)])
    return out


def _face_subcharts(vertices: np.ndarray, faces: np.ndarray, face_part: np.ndarray, joints: np.ndarray
                    ) -> np.ndarray:
    """(F,) 0/1 per face: which side of a cut inside its part's chart the face lies on.

    Hands are cut along every finger's sides and the thumb's edge into back (normal up in the palms-down
    T-pose) and palm; feet along the outer edge of the sole, where V wraps from 1 to 0.
    """
    sub = np.zeros(len(faces), dtype=np.int64)
    tri = vertices[faces]
    normal_y = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 1]
    for part in (3, 4):
        sel = face_part == part
        back = normal_y[sel] > 0
        sub[sel] = np.where(back if part == 3 else ~back, 0, 1)
    for part in (5, 6):
        sel = np.flatnonzero(face_part == part)
        ids, inverse = np.unique(faces[sel], return_inverse=True)
        v = _part_uv(part, vertices[ids], joints, np.zeros(len(ids), dtype=np.int64))[:, 1][inverse.reshape(-1, 3)]
        sub[sel] = (v.max(1) - v.min(1) > np.pi).astype(np.int64)
    return sub


def compute_part_charts(vertices: np.ndarray, faces: np.ndarray, skin_weights: np.ndarray,
                        joints: np.ndarray) -> PartCharts:
    """Assign DensePose parts to a T-posed rigged body, cut it along part seams and chart every part.

    Args:
        vertices: (V, 3) T-pose vertices, metres, SMPL frame (y up, facing +z, left side +x).
        faces: (F, 3) int triangle indices, a closed or nearly closed body surface.
        skin_weights: (V, 24) skinning weights over SMPL's 24 joints (SMPL order).
        joints: (24, 3) rest joint centres, SMPL order and frame.
    Returns:
        PartCharts; every part 1..24 present, each chart spanning [0, 1] in U and V.
    Raises:
        ValueError: wrong shapes, or a part that got no face (the mesh is not a T-posed body).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    skin_weights = np.asarray(skin_weights, dtype=np.float64)
    joints = np.asarray(joints, dtype=np.float64)
    _check_inputs(vertices, faces, skin_weights, joints)
    region = _coarse_regions(vertices, faces, skin_weights, joints)
    face_part = _fine_parts(vertices, faces, region, joints)
    face_part = _smooth_labels(face_part, _face_neighbours(faces), iterations=2)
    missing = sorted(set(range(1, NUM_PARTS + 1)) - set(face_part.tolist()))
    if missing:
        raise ValueError(f"no faces for DensePose parts {missing}: is the mesh a T-posed body in SMPL's frame?")
    face_sub = _face_subcharts(vertices, faces, face_part, joints)
    new_faces, source, label = split_part_seams(faces, face_part * 2 + face_sub)
    vertex_part, vertex_sub = label // 2, label % 2
    new_vertices = vertices[source]
    uv = np.zeros((len(source), 2))
    for part in range(1, NUM_PARTS + 1):
        sel = vertex_part == part
        raw = _part_uv(part, new_vertices[sel], joints, vertex_sub[sel])
        start = np.stack([_normalise(raw[:, 0]), _normalise(raw[:, 1])], 1)
        relaxed = _relax_chart(new_vertices, new_faces[face_part == part], np.flatnonzero(sel), start)
        uv[sel] = np.stack([_normalise(relaxed[:, 0]), _normalise(relaxed[:, 1])], 1)
    first = np.full(len(vertices), -1, dtype=np.int64)
    order = np.arange(len(source))[::-1]
    first[source[order]] = order
    return PartCharts(
        vertices=new_vertices, faces=new_faces, source_index=source, weld_index=first[source],
        vertex_part=vertex_part, vertex_uv=uv.astype(np.float32), face_part=face_part,
    )
