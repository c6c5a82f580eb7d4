"""Everything the views draw for one person, in the frames the views use.

Frames: "image" = pixels of the person's image, x right, y down, origin at the top-left pixel corner;
"body" = the template frame (metres, y up, facing +z). Arrays are numpy; nothing here imports Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

#: How far (metres, on the posed body) a corresponded vertex's residual reaches: three to four edges of the
#: built-in template (1.7 cm), so the patch the dense points of an image cover is coloured without gaps
#: (their vertices lie ~2 cm apart there) while an unannotated limb stays "no value".
SPREAD_RADIUS_M = 0.06


@dataclass
class PersonScene:
    """One person: image, annotations, correspondences and (when fitted) the fit in both frames.

    Attributes:
        pid, name, status: store identity and review status.
        image: (H, W, 3) uint8 RGB or None when the file is missing.
        iuv: (H, W, 3) uint8 [I, U*255, V*255] or None.
        bbox: (4,) x, y, w, h in image pixels.
        keypoints: (17, 3) x, y in image pixels and visibility (0 = not labelled).
        dense_xy: (N, 2) image pixels; dense_part: (N,) 1..24; dense_uv: (N, 2) in [0, 1].
        dense_vertex: (N,) template vertex matched to each point, -1 where none.
        fit_vertices_image: (V, 3) projected fit, x y image pixels, z away from the camera (pixels), or None.
        fit_vertices_body: (V, 3) posed fit in the body frame (metres), or None.
        fit_joints_body: (24, 3) posed joints, body frame, or None.
        vertex_residual: (V,) image-pixel distance of each corresponded vertex to its point, spread to vertices
            near one (`compute_vertex_residual`), NaN elsewhere.
        metrics: the fit's metrics dict (may be empty).
    """

    pid: int
    name: str
    status: str
    image: np.ndarray | None
    bbox: np.ndarray
    keypoints: np.ndarray
    dense_xy: np.ndarray
    dense_part: np.ndarray
    dense_uv: np.ndarray
    dense_vertex: np.ndarray
    iuv: np.ndarray | None = None
    fit_vertices_image: np.ndarray | None = None
    fit_vertices_body: np.ndarray | None = None
    fit_joints_body: np.ndarray | None = None
    vertex_residual: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)

    @property
    def num_points(self) -> int:
        return int(self.dense_xy.shape[0])

    def residual_segments(self) -> np.ndarray:
        """(M, 2, 2) image-pixel segments from each corresponded point to its projected vertex."""
        if self.fit_vertices_image is None:
            return np.zeros((0, 2, 2))
        ok = (self.dense_vertex >= 0) & (self.dense_vertex < len(self.fit_vertices_image))
        ends = self.fit_vertices_image[self.dense_vertex[ok], :2]
        return np.stack([self.dense_xy[ok], ends], axis=1)

    def compute_vertex_residual(self, radius_m: float = SPREAD_RADIUS_M) -> None:
        """Fill `vertex_residual` (V,): the image-pixel distance from each corresponded vertex's projection to
        its annotated point (mean over its points), spread to the vertices within `radius_m` metres of a
        corresponded vertex on the posed body (the nearest one's value), so the patches the points cover show
        where the fit is off. Every other vertex (a limb nobody annotated) is NaN, the colour bar's "no value";
        without a body-frame fit only the corresponded vertices have values."""
        if self.fit_vertices_image is None:
            self.vertex_residual = None
            return
        V = len(self.fit_vertices_image)
        ok = (self.dense_vertex >= 0) & (self.dense_vertex < V)
        out = np.full(V, np.nan)
        self.vertex_residual = out
        if not ok.any():
            return
        idx = self.dense_vertex[ok]
        dist = np.linalg.norm(self.fit_vertices_image[idx, :2] - self.dense_xy[ok], axis=1)
        count = np.bincount(idx, minlength=V)
        per_vertex = np.bincount(idx, dist, V) / np.maximum(count, 1)
        anchors = np.flatnonzero(count)
        if self.fit_vertices_body is None:
            out[anchors] = per_vertex[anchors]
            return
        gap, nearest = cKDTree(self.fit_vertices_body[anchors]).query(self.fit_vertices_body,
                                                                       distance_upper_bound=radius_m)
        near = np.isfinite(gap)  # cKDTree answers inf (and index len(anchors)) beyond the radius
        out[near] = per_vertex[anchors[nearest[near]]]


def unique_edges(faces: np.ndarray) -> np.ndarray:
    """(E, 2) undirected edges of a triangle mesh (F, 3), each once."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e.sort(axis=1)
    return np.unique(e, axis=0)
