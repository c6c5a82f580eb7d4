"""DensePose (I, U, V) -> template vertex: the chart look-up that turns annotated pixels into vertex matches.

Two mappers over the template's per-part charts (template.vertex_part, template.vertex_uv):
- NearestVertexMapper: the nearest vertex of part I in (U, V) (the paper's pixel -> vertex direction), one
  scipy cKDTree per part, vectorised over all points of a part.
- BarycentricMapper: DensePose's own mapping for SMPL charts from UV_Processed.mat: the UV triangle of part
  I that encloses (U, V), barycentric weights inside it, the vertex of largest weight; points in no
  triangle fall back to the nearest vertex of the part.
`mapper_for(template)` picks the barycentric mapper for templates named "smpl*", the nearest-vertex one
otherwise, and caches the mapper per template object. The residual is the (U, V) distance between the point
and the chosen vertex, in chart units.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from deformlearn.core.body.skeletons import NUM_PARTS
from deformlearn.core.body.template import Template
from deformlearn.core.shape_checks import check_shape

_BARY_EPS = 1e-6
_TRIANGLE_CANDIDATES = 16  # nearest triangle centroids tested for containment


@dataclass(frozen=True)
class Correspondences:
    """Per-point matches. vertex_index: (N,) int64; residual: (N,) float32 UV distance to that vertex;
    face_index: (N,) int64 enclosing face or -1 (barycentric mapper only, else None); barycentric: (N, 3)
    float32 weights of that face's vertices (zeros where face_index is -1), or None."""

    vertex_index: np.ndarray
    residual: np.ndarray
    face_index: np.ndarray | None = None
    barycentric: np.ndarray | None = None


def _check_points(part: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    part = np.asarray(part, dtype=np.int64).reshape(-1)
    uv = np.asarray(uv, dtype=np.float64)
    check_shape(uv, (part.shape[0], 2), "correspondences: uv (one (u, v) per part index)")
    if part.size and (part.min() < 1 or part.max() > NUM_PARTS):
        raise ValueError(f"correspondences: part indices outside 1..{NUM_PARTS}")
    return part, uv


class NearestVertexMapper:
    """Nearest vertex of the same part in (U, V), one KD-tree per part."""

    def __init__(self, template: Template) -> None:
        self.template_name = template.name
        self._vertices: dict[int, np.ndarray] = {}
        self._trees: dict[int, cKDTree] = {}
        for p in range(1, NUM_PARTS + 1):
            idx = np.flatnonzero(template.vertex_part == p)
            if len(idx):
                self._vertices[p] = idx
                self._trees[p] = cKDTree(template.vertex_uv[idx].astype(np.float64))

    def _nearest(self, p: int, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if p not in self._trees:
            raise ValueError(f"template '{self.template_name}' has no vertex in DensePose part {p}")
        dist, j = self._trees[p].query(uv)
        return self._vertices[p][j], dist

    def map(self, part: np.ndarray, uv: np.ndarray) -> Correspondences:
        """part: (N,) 1..24; uv: (N, 2) in [0, 1]."""
        part, uv = _check_points(part, uv)
        vertex = np.zeros(len(part), dtype=np.int64)
        residual = np.zeros(len(part), dtype=np.float32)
        for p in np.unique(part):
            sel = part == p
            vertex[sel], residual[sel] = self._nearest(int(p), uv[sel])
        return Correspondences(vertex, residual)


class BarycentricMapper(NearestVertexMapper):
    """DensePose's SMPL mapping: the enclosing UV triangle of the same part, else the nearest vertex."""

    def __init__(self, template: Template) -> None:
        super().__init__(template)
        self._uv = template.vertex_uv.astype(np.float64)
        self._faces: dict[int, np.ndarray] = {}
        self._face_trees: dict[int, cKDTree] = {}
        face_part = template.face_part
        for p in self._vertices:
            fidx = np.flatnonzero(face_part == p)
            if len(fidx):
                self._faces[p] = fidx
                self._face_trees[p] = cKDTree(self._uv[template.faces[fidx]].mean(axis=1))
        self._all_faces = template.faces

    def map(self, part: np.ndarray, uv: np.ndarray) -> Correspondences:
        part, uv = _check_points(part, uv)
        n = len(part)
        vertex = np.zeros(n, dtype=np.int64)
        residual = np.zeros(n, dtype=np.float32)
        face = np.full(n, -1, dtype=np.int64)
        bary = np.zeros((n, 3), dtype=np.float32)
        for p in np.unique(part):
            sel = np.flatnonzero(part == p)
            vertex[sel], residual[sel] = self._nearest(int(p), uv[sel])
            if int(p) not in self._faces:
                continue
            f_sel, w = self._enclosing(int(p), uv[sel], _TRIANGLE_CANDIDATES)
            retry = f_sel < 0  # large triangles beside small ones: look further before falling back
            if retry.any() and len(self._faces[int(p)]) > _TRIANGLE_CANDIDATES:
                f_sel[retry], w[retry] = self._enclosing(int(p), uv[sel][retry], 8 * _TRIANGLE_CANDIDATES)
            inside = f_sel >= 0
            if not inside.any():
                continue
            rows = sel[inside]
            tri = self._all_faces[f_sel[inside]]
            best = tri[np.arange(len(tri)), np.argmax(w[inside], axis=1)]
            face[rows], bary[rows], vertex[rows] = f_sel[inside], w[inside], best
            residual[rows] = np.linalg.norm(self._uv[best] - uv[sel][inside], axis=1)
        return Correspondences(vertex, residual, face, bary)

    def _enclosing(self, p: int, uv: np.ndarray, candidates: int) -> tuple[np.ndarray, np.ndarray]:
        """(M,) face index enclosing each (M, 2) point or -1, and (M, 3) barycentric weights, testing the
        `candidates` faces of part p with the nearest UV centroids."""
        faces = self._faces[p]
        k = min(candidates, len(faces))
        _, cand = self._face_trees[p].query(uv, k=k)
        cand = faces[np.asarray(cand).reshape(len(uv), k)]  # (M, k) face ids
        tri = self._uv[self._all_faces[cand]]  # (M, k, 3, 2)
        a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
        v0, v1, v2 = b - a, c - a, uv[:, None, :] - a
        d00, d01, d11 = (v0 * v0).sum(-1), (v0 * v1).sum(-1), (v1 * v1).sum(-1)
        d20, d21 = (v2 * v0).sum(-1), (v2 * v1).sum(-1)
        denom = d00 * d11 - d01 * d01
        with np.errstate(divide="ignore", invalid="ignore"):
            wb = (d11 * d20 - d01 * d21) / denom
            wc = (d00 * d21 - d01 * d20) / denom
        weights = np.stack([1 - wb - wc, wb, wc], axis=-1)  # (M, k, 3)
        ok = np.isfinite(weights).all(-1) & (weights >= -_BARY_EPS).all(-1)
        first = np.argmax(ok, axis=1)
        found = ok[np.arange(len(uv)), first]
        face = np.where(found, cand[np.arange(len(uv)), first], -1)
        w = np.clip(weights[np.arange(len(uv)), first], 0.0, 1.0)
        w = np.where(found[:, None], w / np.maximum(w.sum(-1, keepdims=True), 1e-12), 0.0)
        return face, w


_MAPPERS: weakref.WeakKeyDictionary[Template, NearestVertexMapper] = weakref.WeakKeyDictionary()


def mapper_for(template: Template) -> NearestVertexMapper:
    """The mapper for `template` (built once per template object, then cached)."""
    mapper = _MAPPERS.get(template)
    if mapper is None:
        cls = BarycentricMapper if template.name.lower().startswith("smpl") else NearestVertexMapper
        mapper = _MAPPERS[template] = cls(template)
    return mapper


def map_to_vertices(template: Template, part: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) int64 template vertex and (N,) float32 UV residual for points with part (N,) and uv (N, 2)."""
    result = mapper_for(template).map(part, uv)
    return result.vertex_index, result.residual


def template_key(template: Template) -> str:
    """A key naming this template's charts in the project store: its name plus a hash of its parts and UVs,
    so correspondences computed against an older version of a template are never reused."""
    digest = hashlib.sha1(np.ascontiguousarray(template.vertex_part).tobytes())
    digest.update(np.ascontiguousarray(template.vertex_uv, dtype=np.float32).tobytes())
    return f"{template.name}-{digest.hexdigest()[:10]}"
