"""The one vertex-normal function: the viewport, headless renders, synthetic annotation, registration's
synthetic people and the glTF export all shade or test facing with it."""

from __future__ import annotations

import numpy as np

from deformlearn.core.shape_checks import check_shape


def vertex_normals(vertices: np.ndarray, faces: np.ndarray, weld_index: np.ndarray | None = None) -> np.ndarray:
    """Unit area-weighted vertex normals of a triangle mesh, optionally averaged over welded copies.

    Args:
        vertices: (V, 3) or (B, V, 3) positions in any right-handed frame; the normal of a face (a, b, c)
            points along (b - a) x (c - a), so counter-clockwise faces seen from outside give outward normals.
        faces: (F, 3) int vertex indices.
        weld_index: (V,) int, optional: vertices with the same value are one surface point cut by a seam (the
            template's part seams); they get one normal, so shading shows no seams.
    Returns:
        (V, 3) or (B, V, 3) float64 unit normals in the frame of `vertices` (zero where a vertex touches no
        face of non-zero area).
    """
    v = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    batched = v.ndim == 3
    sizes = check_shape(v, ("B", "V", 3) if batched else ("V", 3), "vertices")
    check_shape(faces, ("F", 3), "faces")
    if faces.size and (faces.min() < 0 or faces.max() >= sizes["V"]):
        raise ValueError(f"faces: indices must lie in [0, {sizes['V']}), got [{faces.min()}, {faces.max()}]")
    vb = v if batched else v[None]
    b, n = vb.shape[:2]
    weld = np.arange(n) if weld_index is None else np.asarray(weld_index, np.int64)
    check_shape(weld, (n,), "weld_index")
    tri = vb[:, faces]
    face_normal = np.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0])  # (B, F, 3), |n| = 2 area
    slots = int(weld.max()) + 1 if n else 0
    target = (np.arange(b)[:, None, None] * slots + weld[faces][None]).reshape(-1)  # (B * F * 3,) welded slot
    summed = np.stack([np.bincount(target, np.repeat(face_normal[..., c], 3, axis=1).reshape(-1), b * slots)
                       for c in range(3)], axis=-1).reshape(b, slots, 3)[:, weld]
    out = summed / np.maximum(np.linalg.norm(summed, axis=-1, keepdims=True), 1e-12)
    return out if batched else out[0]
