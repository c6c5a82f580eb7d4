"""A skeleton that follows a mesh: joints as fixed affine combinations of vertices (SMPL's J_regressor idea).

The registration's progress events carry only the posed vertices, so the viewport finds the joints from
them: joint j = W[j] @ vertices, with W built once from the template. Each row of W is an affine combination
(weights sum to 1) of the vertices in a thin slab through the joint, across its bone, on the segments that
meet there, corrected to reproduce the rest joint exactly; so a rigid motion or scaling of the whole mesh
moves the joints exactly, and bending a joint moves them by little (measured in tests/test_render.py).
"""

from __future__ import annotations

import numpy as np

from deformlearn.core.body.template import Template


def _row(template: Template, j: int, slab: float, nearest: int) -> tuple[np.ndarray, np.ndarray]:
    """(K,) vertex indices and (K,) affine weights of joint j."""
    rest_v = template.rest_vertices.astype(np.float64)
    rest_j = template.rest_joints.astype(np.float64)
    parents = template.parents
    parent = parents[j]
    axis = rest_j[j] - rest_j[parent] if parent >= 0 else np.array([0.0, 1.0, 0.0])
    axis /= max(np.linalg.norm(axis), 1e-9)
    segments = {j, int(parent), *np.flatnonzero(parents == j).tolist()} - {-1}
    dominant = np.argmax(template.skin_weights, axis=1)
    offset = rest_v - rest_j[j]
    dist = np.linalg.norm(offset, axis=1)
    pick = np.flatnonzero(np.isin(dominant, list(segments)) & (np.abs(offset @ axis) < slab) & (dist < 0.2))
    if len(pick) < 8:
        pick = np.argsort(dist)[:nearest]
    w0 = np.exp(-(dist[pick] / max(float(np.median(dist[pick])), 1e-6)) ** 2)
    w0 /= w0.sum()
    # the nearest weights to w0 with sum(w) = 1 and w @ rest_v = rest joint (a least-norm correction)
    a = np.vstack([rest_v[pick].T, np.ones(len(pick))])
    b = np.append(rest_j[j], 1.0)
    w = w0 + a.T @ np.linalg.lstsq(a @ a.T, b - a @ w0, rcond=None)[0]
    return pick, w


def joint_regressor(template: Template, slab: float = 0.02, nearest: int = 32) -> np.ndarray:
    """(J, V) float64 matrix W with W @ template.rest_vertices = template.rest_joints and rows summing to 1:
    posed joints (J, 3) = W @ posed vertices (V, 3), in the vertices' frame.

    slab: half thickness (metres) of the vertex slab across each bone; nearest: vertices used instead where a
    slab holds fewer than 8.
    """
    out = np.zeros((len(template.parents), template.num_vertices))
    for j in range(len(template.parents)):
        index, weights = _row(template, j, slab, nearest)
        out[j, index] = weights
    return out
