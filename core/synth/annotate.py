"""DensePose-COCO-like annotations of one rendered synthetic person: dense points and COCO-17 keypoints.

Frames (as in core.synth.people): the store frame puts the centre of pixel (row r, column c) at (x, y) = (c, r);
the render frame is the store frame shifted by +0.5 (pixel (r, c) covers [c, c+1) x [r, r+1)); depths are
in pixels, growing away from the camera. Images are (H, W) arrays of one render: `own` (H, W) bool marks
the pixels that show this person (after other people and occluders), `part_map` (H, W) the IUV part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deformlearn.core.body.template import Template
from deformlearn.core.render import vertex_normals


@dataclass(frozen=True)
class PointSample:
    """Sampled dense points and their exact surface points.

    xy: (N, 2) store-frame pixels; part: (N,) 1..24; uv: (N, 2) exact chart coordinates; vertex: (N,) the
    ground-truth template vertex (the point itself, or the nearest corner of its face); face: (N,) a
    template face holding the surface point; barycentric: (N, 3) its weights on that face's vertices.
    """

    xy: np.ndarray
    part: np.ndarray
    uv: np.ndarray
    vertex: np.ndarray
    face: np.ndarray
    barycentric: np.ndarray


def stratified_choice(rng: np.random.Generator, groups: np.ndarray, n: int) -> np.ndarray:
    """Indices of up to n items spread evenly over the groups: every group gets an equal share (fewer when
    it has fewer items, the rest goes to the others). groups: (M,) labels. Returns sorted (<= n,) int64."""
    labels, counts = np.unique(groups, return_counts=True)
    order = np.argsort(counts, kind="stable")
    picked, remaining = [], n
    for k, g in enumerate(order):
        quota = min(int(counts[g]), remaining // (len(order) - k))
        remaining -= quota
        picked.append(rng.choice(np.flatnonzero(groups == labels[g]), quota, replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def _pixel_of(px: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns (clipped) and in-image flags of render-frame points px (N, >= 2) on a size x size image."""
    cols, rows = np.floor(px[:, 0]).astype(np.int64), np.floor(px[:, 1]).astype(np.int64)
    inside = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)
    return np.clip(rows, 0, size - 1), np.clip(cols, 0, size - 1), inside


def vertex_points(rng: np.random.Generator, template: Template, px: np.ndarray, cam: np.ndarray, own: np.ndarray,
                  part_map: np.ndarray, own_depth: np.ndarray, tolerance: float, n: int) -> PointSample:
    """Up to n visible template vertices, stratified per part; xy = their exact projections.

    px: (V, 3) render-frame vertices (x, y pixels, depth); cam: (V, 3) camera-frame vertices (for facing);
    own_depth: (H, W) this person's depth; tolerance: depth margin (pixels) of the surface test. A vertex is
    visible when it faces the camera and its pixel shows this person, its part, and its surface.
    """
    r, c, inside = _pixel_of(px, own.shape[0])
    facing = vertex_normals(cam, template.faces, template.weld_index)[:, 2] < -0.1
    visible = (inside & facing & own[r, c] & (part_map[r, c] == template.vertex_part)
               & (px[:, 2] <= own_depth[r, c] + tolerance))
    candidates = np.flatnonzero(visible)
    vertex = candidates[stratified_choice(rng, template.vertex_part[candidates], n)]
    face = np.zeros(template.num_vertices, dtype=np.int64)
    corner = np.zeros(template.num_vertices, dtype=np.int64)
    for k in range(3):  # some face holding each vertex, and the vertex's corner in it
        face[template.faces[:, k]] = np.arange(len(template.faces))
        corner[template.faces[:, k]] = k
    barycentric = np.zeros((len(vertex), 3), dtype=np.float32)
    barycentric[np.arange(len(vertex)), corner[vertex]] = 1.0
    return PointSample(xy=(px[vertex, :2] - 0.5).astype(np.float32), part=template.vertex_part[vertex],
                       uv=template.vertex_uv[vertex].astype(np.float32), vertex=vertex, face=face[vertex],
                       barycentric=barycentric)


def pixel_points(rng: np.random.Generator, template: Template, face_id: np.ndarray, bary: np.ndarray,
                 own: np.ndarray, n: int) -> PointSample:
    """Up to n pixel centres showing this person, stratified per part, with the exact surface point there.

    face_id: (H, W) this person's rasterised face per pixel (-1 none); bary: (H, W, 3) weights at the pixel
    centres (core.render.rasterize); uv is interpolated exactly (no 8-bit rounding as in the IUV image).
    """
    rows, cols = np.nonzero(own & (face_id >= 0))
    tri = template.faces[face_id[rows, cols]]
    pick = stratified_choice(rng, template.vertex_part[tri[:, 0]], n)
    rows, cols, tri = rows[pick], cols[pick], tri[pick]
    w = bary[rows, cols]
    uv = np.einsum("nk,nkc->nc", w, template.vertex_uv[tri])
    return PointSample(xy=np.column_stack([cols, rows]).astype(np.float32), part=template.vertex_part[tri[:, 0]],
                       uv=uv.astype(np.float32), vertex=tri[np.arange(len(tri)), np.argmax(w, 1)],
                       face=face_id[rows, cols], barycentric=w.astype(np.float32))


def keypoint_annotations(rng: np.random.Generator, keypoints: np.ndarray, occluded: np.ndarray, depth: np.ndarray,
                         tolerance: float, noise: float) -> np.ndarray:
    """(17, 3) float32 COCO keypoints: store-frame (x, y) + visibility 2 seen, 1 hidden, 0 outside (x = y = 0).

    keypoints: (17, 3) store-frame x, y and depth; occluded: (H, W) bool occluder pixels; depth: (H, W)
    nearest surface of all people (inf on the background); tolerance: how deep inside the body (pixels) a
    keypoint may lie and still count as seen; noise: std (pixels) of Gaussian noise on labelled keypoints.
    """
    r, c, inside = _pixel_of(keypoints + np.array([0.5, 0.5, 0.0]), occluded.shape[0])
    hidden = occluded[r, c] | (depth[r, c] < keypoints[:, 2] - tolerance)
    visibility = np.where(inside, np.where(hidden, 1.0, 2.0), 0.0)
    xy = keypoints[:, :2] + (rng.normal(0, noise, (len(keypoints), 2)) if noise > 0 else 0.0)
    return np.column_stack([np.where(inside[:, None], xy, 0.0), visibility]).astype(np.float32)


__all__ = ["PointSample", "keypoint_annotations", "pixel_points", "stratified_choice", "vertex_points"]
