"""Turning people (points, correspondences, keypoints) into padded batch tensors in the normalised frame.

The normalised frame of one person: take the person's bbox (x, y, w, h in image pixels), make it square
about its centre with side L = max(w, h), and map pixels p to q = (p - centre) / (L / 2). The square spans
[-1, 1]^2, x right, y down (image axes). The registration's loss weights assume this frame. A 256 x 256
frame over the same square box (DensePose's frame for a square bbox) maps linearly to it: 1 normalised
unit = 128 such pixels (`PIXELS_256_PER_UNIT`), which is how per-pixel errors are reported.

DensePose's own dp_x, dp_y span the (possibly non-square) bbox in 256 x 256; convert them to image pixels
first (`densepose256_to_pixels`), then normalise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from deformlearn.core.body.skeletons import NUM_KEYPOINTS

#: Pixels of a 256 x 256 frame over the square box per normalised unit (the box spans 2 units).
PIXELS_256_PER_UNIT = 128.0


def square_box(bbox_xywh: np.ndarray) -> tuple[np.ndarray, float]:
    """bbox (4,) x, y, w, h in image pixels -> (centre (2,) pixels, half side of the square box, pixels)."""
    b = np.asarray(bbox_xywh, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= 0 or b[3] <= 0:
        raise ValueError(f"bbox must be 4 finite values x, y, w, h with w, h > 0, got {b.tolist()}")
    return np.array([b[0] + b[2] / 2, b[1] + b[3] / 2]), float(max(b[2], b[3]) / 2)


def pixels_to_normalised(xy: np.ndarray, centre: np.ndarray, half_side: float) -> np.ndarray:
    """(N, 2) image pixels -> (N, 2) normalised frame of the person whose square box is (centre, half_side)."""
    return (np.asarray(xy, dtype=np.float64) - centre) / half_side


def normalised_to_pixels(q: np.ndarray, centre: np.ndarray, half_side: float) -> np.ndarray:
    """(N, 2) normalised frame -> (N, 2) image pixels (inverse of `pixels_to_normalised`)."""
    return np.asarray(q, dtype=np.float64) * half_side + centre


def densepose256_to_pixels(dp_xy: np.ndarray, bbox_xywh: np.ndarray) -> np.ndarray:
    """(N, 2) DensePose dp_x, dp_y (256 x 256 over the bbox) -> (N, 2) image pixels."""
    b = np.asarray(bbox_xywh, dtype=np.float64)
    return b[:2] + np.asarray(dp_xy, dtype=np.float64) * b[2:4] / 256.0


@dataclass(frozen=True, eq=False)
class PersonTargets:
    """What one person's registration fits to, in that person's normalised frame.

    points: (N, 2) image points (N may be 0: a keypoint-only person); vertex_index: (N,) int64 template
    vertex matched to each point; keypoints: (17, 2) COCO-17; keypoint_visible: (17,) bool; depths: (17,)
    cGAN keypoint depths in the same units (any offset: they are compared hip-centred) or None; centre (2,)
    / half_side: the square box in image pixels, to map back; keypoint_weight: (17,) float in [0, 1], each
    keypoint's weight in L_KP (its detector confidence; 0 where not visible), or None for 1 where visible.
    """

    person_id: object
    points: np.ndarray
    vertex_index: np.ndarray
    keypoints: np.ndarray
    keypoint_visible: np.ndarray
    depths: np.ndarray | None = None
    centre: np.ndarray = field(default_factory=lambda: np.zeros(2))
    half_side: float = 1.0
    keypoint_weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.points)
        if np.shape(self.points) != (n, 2) or np.shape(self.vertex_index) != (n,):
            raise ValueError(f"person {self.person_id}: points must be (N, 2) and vertex_index (N,), got "
                             f"{np.shape(self.points)} and {np.shape(self.vertex_index)}")
        if np.shape(self.keypoints) != (NUM_KEYPOINTS, 2) or np.shape(self.keypoint_visible) != (NUM_KEYPOINTS,):
            raise ValueError(f"person {self.person_id}: keypoints must be (17, 2) and visibility (17,)")
        if self.depths is not None and np.shape(self.depths) != (NUM_KEYPOINTS,):
            raise ValueError(f"person {self.person_id}: depths must be (17,), got {np.shape(self.depths)}")
        if self.keypoint_weight is not None and np.shape(self.keypoint_weight) != (NUM_KEYPOINTS,):
            raise ValueError(f"person {self.person_id}: keypoint_weight must be (17,), got {np.shape(self.keypoint_weight)}")

    @property
    def weights(self) -> np.ndarray:
        """(17,) float32 L_KP weight of each keypoint (0 where not visible)."""
        if self.keypoint_weight is None:
            return self.keypoint_visible.astype(np.float32)
        return np.where(self.keypoint_visible, self.keypoint_weight, 0).astype(np.float32)

    @classmethod
    def from_pixels(cls, person_id: object, bbox_xywh: np.ndarray, points_px: np.ndarray,
                    vertex_index: np.ndarray, keypoints_px: np.ndarray, depths: np.ndarray | None = None,
                    ) -> PersonTargets:
        """From image pixels: points_px (N, 2); keypoints_px (17, 3) x, y, v: v = 0 missing, otherwise the
        detector's confidence in (0, 1] or COCO's visibility flag 1 / 2 (both weight 1): see `keypoint_weights`."""
        centre, half = square_box(bbox_xywh)
        kp = np.asarray(keypoints_px, dtype=np.float64)
        if kp.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"person {person_id}: keypoints must be (17, 3) x, y, v, got {kp.shape}")
        xy = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
        return cls(person_id, pixels_to_normalised(xy, centre, half).astype(np.float32),
                   np.asarray(vertex_index, dtype=np.int64).reshape(-1),
                   pixels_to_normalised(kp[:, :2], centre, half).astype(np.float32), kp[:, 2] > 0,
                   None if depths is None else np.asarray(depths, np.float32), centre, half, keypoint_weights(kp[:, 2]))


def keypoint_weights(v: np.ndarray) -> np.ndarray:
    """(17,) stored keypoint column v -> (17,) float32 L_KP weights: 0 where v <= 0 (missing), min(v, 1)
    otherwise, so a confidence in (0, 1] weighs itself and COCO's visibility flags 1 and 2 weigh 1."""
    v = np.nan_to_num(np.asarray(v, dtype=np.float64), nan=0.0)
    return np.clip(v, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True, eq=False)
class RegistrationBatch:
    """B people padded to N points, as tensors on one device (normalised frames).

    points: (B, N, 2) float32, zeros where padded; vertex_index: (B, N) int64, 0 where padded;
    point_mask: (B, N) bool (N >= 1: people without dense points get one masked pad); keypoints: (B, 17, 2);
    keypoint_visible: (B, 17) bool; depths: (B, 17) (zeros where absent) and depth_mask: (B, 17) bool, or
    both None when nobody has depths; keypoint_weight: (B, 17) float L_KP weights (None: 1 where visible).
    """

    person_ids: tuple
    points: Tensor
    vertex_index: Tensor
    point_mask: Tensor
    keypoints: Tensor
    keypoint_visible: Tensor
    depths: Tensor | None
    depth_mask: Tensor | None
    keypoint_weight: Tensor | None = None

    @property
    def size(self) -> int:
        return int(self.points.shape[0])

    def repeat_interleave(self, m: int) -> RegistrationBatch:
        """Each person repeated m times in a row (B*m rows): person b's copies are rows b*m .. b*m+m-1."""
        rep = lambda x: None if x is None else x.repeat_interleave(m, dim=0)  # noqa: E731
        return RegistrationBatch(tuple(p for p in self.person_ids for _ in range(m)), rep(self.points),
                                 rep(self.vertex_index), rep(self.point_mask), rep(self.keypoints),
                                 rep(self.keypoint_visible), rep(self.depths), rep(self.depth_mask),
                                 rep(self.keypoint_weight))

    def to(self, device: str | torch.device) -> RegistrationBatch:
        """The same batch with every tensor on `device`."""
        move = lambda x: None if x is None else x.to(device)  # noqa: E731
        return RegistrationBatch(self.person_ids, *(move(getattr(self, k)) for k in (
            "points", "vertex_index", "point_mask", "keypoints", "keypoint_visible", "depths", "depth_mask",
            "keypoint_weight")))


def collate(persons: Sequence[PersonTargets], device: str | torch.device = "cpu", pad_to: int | None = None,
            use_depths: bool = True) -> RegistrationBatch:
    """Pad people to the largest N (at least 1, or pad_to) and stack them; values are kept as given (NaN stays
    NaN). People without dense points (keypoints only) are all padding."""
    if not persons:
        raise ValueError("collate: no people")
    n = max(1, max(len(p.points) for p in persons))
    if pad_to is not None:
        if pad_to < n:
            raise ValueError(f"collate: pad_to={pad_to} is smaller than the largest person ({n} points)")
        n = pad_to
    B = len(persons)
    points = np.zeros((B, n, 2), np.float32)
    index = np.zeros((B, n), np.int64)
    mask = np.zeros((B, n), bool)
    for b, p in enumerate(persons):
        k = len(p.points)
        points[b, :k], index[b, :k], mask[b, :k] = p.points, p.vertex_index, True
    keypoints = np.stack([p.keypoints for p in persons]).astype(np.float32)
    visible = np.stack([p.keypoint_visible for p in persons]).astype(bool)
    weight = np.stack([p.weights for p in persons]).astype(np.float32)
    depths = depth_mask = None
    if use_depths and any(p.depths is not None for p in persons):
        depths = np.stack([np.zeros(NUM_KEYPOINTS, np.float32) if p.depths is None else p.depths
                           for p in persons]).astype(np.float32)
        depth_mask = np.stack([np.zeros(NUM_KEYPOINTS, bool) if p.depths is None else p.keypoint_visible
                               for p in persons])
    t = lambda x: None if x is None else torch.from_numpy(x).to(device)  # noqa: E731
    return RegistrationBatch(tuple(p.person_id for p in persons), t(points), t(index), t(mask), t(keypoints),
                             t(visible), t(depths), t(depth_mask), t(weight))


def persons_from_project(project, person_ids: Iterable, template_key: str,
                         depths: dict | None = None) -> list[PersonTargets]:
    """Read people from a `Project`: bbox, dense points (image pixels) with their vertex correspondences
    for `template_key`, and keypoints (with their confidences as L_KP weights); optional cGAN depths
    {person_id: (17,) normalised} are attached. A person without dense points comes with none (N = 0)."""
    persons = []
    for pid in person_ids:
        record = project.person(pid)
        if record.dense is None or len(record.dense) == 0:
            vertex_index, dense_xy = np.zeros(0, np.int64), np.zeros((0, 2))
        else:
            found = project.correspondences(pid, template_key)
            if found is None:
                raise ValueError(f"{project.root}: person {pid} has no correspondences for template '{template_key}'")
            vertex_index = found[0]
            dense_xy = np.asarray(record.dense.xy, dtype=np.float64)
        if len(vertex_index) != len(dense_xy):
            raise ValueError(f"person {pid}: {len(dense_xy)} dense points but {len(vertex_index)} correspondences")
        d = None if depths is None else depths.get(pid)
        persons.append(PersonTargets.from_pixels(pid, record.bbox, dense_xy, vertex_index, record.keypoints, d))
    return persons
