"""DensePose parts and per-part (U, V) charts for any T-posed body mesh rigged to SMPL's 24 joints.

Used to build the built-in template and as the fallback for SMPL files without DensePose's UV_Processed.mat.
Input frame: SMPL's (metres, y up, the body faces +z, the body's left side is +x), rest pose a T-pose.

Chart layout, read from DensePose's own SMPL charts (UV_Processed.mat: which parts share vertices and where,
the sign of each chart's triangles, and where SMPL's nose, eye, ear, thumb, toe and heel vertices sit):
- torso 1 (back), 2 (front): U runs from the neck (0) to the hips (1), V from the body's left side (0) to its
  right side (1), by arc length around the body (`torso_arc_v`); chart 1 is seen from outside, chart 2
  mirrored. The buttocks belong to the back upper legs.
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

from deformlearn.core.body.part_segmentation import (
    JOINT_INDEX,
    LIMB_REGIONS,
    face_parts,
    slice_centre,
    slice_extent,
    split_part_seams,
)
from deformlearn.core.body.skeletons import NUM_JOINTS, NUM_PARTS
from deformlearn.core.shape_checks import check_shape

#: Limb part -> (U = 0 at the proximal end?, chart sign: +1 seen from outside, -1 mirrored).
_LIMBS: dict[int, tuple[bool, int]] = {
    7: (True, 1), 8: (True, -1), 9: (False, -1), 10: (False, 1),
    11: (False, -1), 12: (False, 1), 13: (True, -1), 14: (True, 1),
    15: (True, 1), 16: (True, -1), 17: (True, -1), 18: (True, 1),
    19: (False, 1), 20: (False, -1), 21: (True, -1), 22: (True, 1),
}
_FRONT_LIMB_PARTS = frozenset({9, 10, 13, 14, 15, 16, 19, 20})
_NECK_DROP = 0.02  # metres: torso charts start this far below the neck joint, as DensePose's leave a neck hole
_CHART_ANCHOR = 0.02  # pull of each chart towards its projection, relative to the harmonic smoothing
_FINGER_FAN = 0.6  # how much wider the fingers spread at their tips than at the knuckles in hand charts
_FOOT_SEAM_ANGLE = 0.7 * np.pi  # foot charts are cut along the outer edge of the sole: top at V = 0.65
_ARC_SAMPLES = 65  # samples of the quarter ellipse in `torso_arc_v`


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
        neck = joints[JOINT_INDEX["neck"]]
        u = np.hypot(p[:, 0] - neck[0], np.maximum(neck[1] - p[:, 1], 0) + _NECK_DROP)
        lo, hi = slice_extent(p, p, axis=0)
        width = np.maximum(hi - lo, 0.85 * np.median(hi - lo))  # the crotch narrows to a point: keep it wide
        return np.stack([u, 0.5 - (p[:, 0] - (hi + lo) / 2) / width], 1)
    if part in (23, 24):
        # U: angle about the vertical in each horizontal slice scaled to a unit circle (the head is deeper
        # than wide; a plain angle squeezes the face against the nose line); V: elevation from the head joint
        centre = joints[JOINT_INDEX["head"]]
        side = p.copy()
        side[:, 0] = np.abs(p[:, 0] - centre[0])
        half_width = slice_extent(side, p, axis=0)[1]
        lo, hi = slice_extent(p, p, axis=2)
        outward = side[:, 0] / np.maximum(half_width, 1e-9)  # >= 0: a seam vertex must not wrap around
        forward = (p[:, 2] - (lo + hi) / 2) / np.maximum((hi - lo) / 2, 1e-9)
        u = np.arctan2(forward if part == 23 else -forward, outward)
        rel = p - centre
        return np.stack([u, np.arctan2(rel[:, 1], np.hypot(rel[:, 0], rel[:, 2]))], 1)
    if part in (3, 4):
        wrist, hand = (joints[JOINT_INDEX["right_wrist"]], joints[JOINT_INDEX["right_hand"]]) if part == 3 else \
            (joints[JOINT_INDEX["left_wrist"]], joints[JOINT_INDEX["left_hand"]])
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
        d[:, 0] = p[:, 0] - slice_centre(p, p, axis=0, along=2, bins=12)
        d[:, 1] = p[:, 1] - slice_centre(p, p, axis=1, along=2, bins=12)
        phi = _angle(d, np.cross(y, along), y)  # 0 on top, pi / 2 on the outer (lateral) side
        v = np.mod(phi - _FOOT_SEAM_ANGLE, 2 * np.pi)
        return np.stack([p @ along, np.where((sub == 1) & (v < np.pi), v + 2 * np.pi, v)], 1)
    return _limb_uv(part, p, joints)


def _torso_aspect(p: np.ndarray) -> float:
    """Depth of one side of the torso over its half-width (median over horizontal slices) for points p (N, 3)."""
    lo, hi = slice_extent(p, p, axis=0)
    zlo, zhi = slice_extent(p, p, axis=2)
    return float(np.median((zhi - zlo) / np.maximum((hi - lo) / 2, 1e-9)))


def torso_arc_v(v: np.ndarray, aspect: float) -> np.ndarray:
    """(N,) torso V linear across the body (0 at the left flank, 0.5 on the midline, 1 at the right flank, as
    in a frontal view) -> (N,) V by arc length around one side of an elliptic torso whose depth is `aspect`
    times its half-width. Monotone, so a chart without folds stays without folds.

    DensePose's torso charts run round the body: on its real output (shared/data/densepose, 3 people) V reads
    0.22-0.25 on the line through the left shoulder and hip and 0.67-0.75 on the right one, where a V linear
    in x gave the built-in template 0.08 and 0.92: the flanks, steep in a frontal view, take a larger share.
    Measured with the built-in template re-charted (resources/rechart_template.py), single fits: on DensePose's
    ground-truth annotation (demo_dp_single_ann.pkl, 125 annotators' points) dense error 6.32 -> 5.74 px, its
    15 torso points 9.85 -> 6.81 px; on DensePose's output, pedestrian 3.15 -> 3.08, seated man 3.55 -> 3.41 px.
    """
    grid = np.linspace(0.0, np.pi / 2, _ARC_SAMPLES)  # angle from the midline: x = sin t, z = aspect cos t
    speed = np.hypot(np.cos(grid), aspect * np.sin(grid))
    arc = np.concatenate([[0.0], np.cumsum((speed[1:] + speed[:-1]) / 2)]) * grid[1]
    x = np.clip(1.0 - 2.0 * np.asarray(v, np.float64), -1.0, 1.0)  # + towards the body's left flank
    return 0.5 - 0.5 * np.sign(x) * np.interp(np.arcsin(np.abs(x)), grid, arc) / arc[-1]


def _limb_uv(part: int, p: np.ndarray, joints: np.ndarray) -> np.ndarray:
    region = next(r for r, v in LIMB_REGIONS.items() if part in v[2:])
    j0, j1, front, _ = LIMB_REGIONS[region]
    a, b = joints[JOINT_INDEX[j0]], joints[JOINT_INDEX[j1]]
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
    face_part = face_parts(vertices, faces, skin_weights, joints)
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
        if part in (1, 2):
            uv[sel, 1] = _normalise(torso_arc_v(uv[sel, 1], _torso_aspect(new_vertices[sel])))
    first = np.full(len(vertices), -1, dtype=np.int64)
    order = np.arange(len(source))[::-1]
    first[source[order]] = order
    return PartCharts(
        vertices=new_vertices, faces=new_faces, source_index=source, weld_index=first[source],
        vertex_part=vertex_part, vertex_uv=uv.astype(np.float32), face_part=face_part,
    )
