"""Exact z-buffer rasterisation of triangles in image coordinates, in numpy (no OpenGL).

Frame: x right, y down, in pixels; pixel [r, c] covers x in [c, c+1), y in [r, r+1) and is sampled at its
centre (c + 0.5, r + 0.5); z is depth away from the camera (orthographic projection along +z), nearest wins.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 4_000_000  # candidate pixels per batch: bounds memory on large images


def rasterize(vertices: np.ndarray, faces: np.ndarray, width: int, height: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterise triangles.

    Args:
        vertices: (V, 3) x, y in pixels, z depth.
        faces: (F, 3) int indices into vertices.
        width, height: image size W, H.
    Returns:
        face_id (H, W) int64, the nearest face per pixel or -1; bary (H, W, 3) float64 barycentric weights of
        that face's vertices at the pixel centre; depth (H, W) float32, inf on the background.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    tri = vertices[faces]
    lo = np.maximum(np.ceil(tri[:, :, :2].min(1) - 0.5), 0).astype(np.int64)
    hi = np.minimum(np.floor(tri[:, :, :2].max(1) - 0.5), [width - 1, height - 1]).astype(np.int64)
    n = np.maximum(hi - lo + 1, 0)
    count = n[:, 0] * n[:, 1]
    keep = np.flatnonzero(count > 0)
    best_pix = [np.empty(0, np.int64)]
    best_face = [np.empty(0, np.int64)]
    best_w = [np.empty((0, 3))]
    best_z = [np.empty(0)]
    start = 0
    cum = np.cumsum(count[keep])
    while start < len(keep):
        base = cum[start - 1] if start else 0
        stop = max(int(np.searchsorted(cum, base + _CHUNK, side="right")), start + 1)
        sel = keep[start:stop]
        pix, fid, w, z = _candidates(tri[sel], lo[sel], n[sel], count[sel], width)
        best_pix.append(pix)
        best_face.append(sel[fid])
        best_w.append(w)
        best_z.append(z)
        start = stop
    pix, fid, w, z = (np.concatenate(a) for a in (best_pix, best_face, best_w, best_z))
    order = np.lexsort((z, pix))
    pix, fid, w, z = pix[order], fid[order], w[order], z[order]
    first = np.ones(len(pix), dtype=bool)
    first[1:] = pix[1:] != pix[:-1]
    face_id = np.full(height * width, -1, dtype=np.int64)
    bary = np.zeros((height * width, 3))
    depth = np.full(height * width, np.inf, dtype=np.float32)
    face_id[pix[first]] = fid[first]
    bary[pix[first]] = w[first]
    depth[pix[first]] = z[first]
    return face_id.reshape(height, width), bary.reshape(height, width, 3), depth.reshape(height, width)


def _candidates(tri: np.ndarray, lo: np.ndarray, n: np.ndarray, count: np.ndarray, width: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels inside each triangle of a batch: flat pixel index, face (in batch), barycentrics, depth."""
    fid = np.repeat(np.arange(len(tri)), count)
    offset = np.arange(len(fid)) - np.repeat(np.cumsum(count) - count, count)
    col = lo[fid, 0] + offset % n[fid, 0]
    row = lo[fid, 1] + offset // n[fid, 0]
    px, py = col + 0.5, row + 0.5
    x0, y0 = tri[fid, 0, 0], tri[fid, 0, 1]
    x1, y1 = tri[fid, 1, 0], tri[fid, 1, 1]
    x2, y2 = tri[fid, 2, 0], tri[fid, 2, 1]
    denom = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
    ok = np.abs(denom) > 1e-12
    denom = np.where(ok, denom, 1.0)
    w0 = ((y1 - y2) * (px - x2) + (x2 - x1) * (py - y2)) / denom
    w1 = ((y2 - y0) * (px - x2) + (x0 - x2) * (py - y2)) / denom
    w2 = 1.0 - w0 - w1
    eps = -1e-9
    inside = ok & (w0 >= eps) & (w1 >= eps) & (w2 >= eps)
    w = np.stack([w0, w1, w2], 1)[inside]
    f = fid[inside]
    z = np.einsum("nk,nk->n", w, tri[f, :, 2])
    return row[inside] * width + col[inside], f, np.clip(w, 0, 1), z
