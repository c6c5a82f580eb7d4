"""Plain records every DensePose reader returns and the project store keeps.

Image frame: pixels of the full image, x to the right, y down, the centre of pixel (row r, column c) at
(x, y) = (c, r) (OpenCV's convention). Parts are DensePose's fine parts 1..24; (U, V) are in [0, 1] in that
part's chart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deformlearn.core.body.skeletons import NUM_KEYPOINTS, NUM_PARTS


class AnnotationError(ValueError):
    """An input file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True, eq=False)
class DensePoints:
    """Dense image-to-surface correspondences of one person.

    Attributes:
        xy: (N, 2) float32 image pixels (x, y), image frame above.
        part: (N,) int64 DensePose part 1..24.
        uv: (N, 2) float32 (U, V) in [0, 1] in the part's chart.
    """

    xy: np.ndarray
    part: np.ndarray
    uv: np.ndarray

    def __post_init__(self) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is reported below, by point
            object.__setattr__(self, "xy", np.ascontiguousarray(self.xy, dtype=np.float32))
            object.__setattr__(self, "uv", np.ascontiguousarray(self.uv, dtype=np.float32))
        object.__setattr__(self, "part", np.ascontiguousarray(self.part, dtype=np.int64))
        n = self.part.shape[0] if self.part.ndim == 1 else -1
        if n < 0 or self.xy.shape != (n, 2) or self.uv.shape != (n, 2):
            raise ValueError(
                f"dense points: shapes xy {self.xy.shape}, part {self.part.shape}, uv {self.uv.shape}; "
                "expected (N, 2), (N,), (N, 2)"
            )
        outside = np.flatnonzero((self.part < 1) | (self.part > NUM_PARTS))
        if len(outside):
            raise ValueError(f"dense point {outside[0]} of {n} has part {self.part[outside[0]]}; parts are "
                             f"1..{NUM_PARTS} ({len(outside)} such points)")
        bad = np.flatnonzero(~(np.isfinite(self.xy).all(1) & np.isfinite(self.uv).all(1)))
        if len(bad):
            (x, y), (u, v) = self.xy[bad[0]], self.uv[bad[0]]
            raise ValueError(f"dense point {bad[0]} of {n} is not finite as float32: x, y = {x:g}, {y:g}; "
                             f"u, v = {u:g}, {v:g} ({len(bad)} such points)")

    def __len__(self) -> int:
        return int(self.part.shape[0])


def dense_points(where: str, xy: np.ndarray, part: np.ndarray, uv: np.ndarray) -> DensePoints:
    """DensePoints(xy, part, uv) whose errors (shapes, parts, values not finite as float32) are AnnotationErrors
    starting with `where`, the file and person they came from ("a.json: annotation 7")."""
    try:
        return DensePoints(xy=xy, part=part, uv=uv)
    except ValueError as exc:
        raise AnnotationError(f"{where}: {exc}") from None


@dataclass(frozen=True, eq=False)
class PersonAnnotation:
    """One person as a reader found it.

    Attributes:
        image_file: path of the image file (for keypoint-only people it may be absent: see
            `image_missing`); for an image embedded in the input (the single-annotation
            pickle) a name to store it under, with the pixels in `image`.
        image_size: (W, H) in pixels.
        bbox: (4,) float32 (x, y, w, h) box in image pixels.
        keypoints: (17, 3) float32 COCO-17 (x, y) in image pixels + a third column that is 0 where the
            keypoint is missing and otherwise either COCO's visibility flag (1 occluded, 2 visible) for
            annotated keypoints or the detector's confidence in (0, 1] for detected ones (OpenPose, the
            built-in detector); the registration weighs each keypoint by min(column, 1).
        dense: the dense correspondences, or None for keypoint-only people.
        coarse_mask: optional (256, 256) uint8 coarse part label 0..14 per cell of a 256 x 256 grid spanning
            the box (DensePose-COCO's `dp_masks`).
        source_key: stable identity of this person in its source ("file.json#ann=123"); importing the same
            key twice adds it once.
        iuv_file, inds_file: the DensePose inference images the person came from, if any.
        image: (H, W, 3) uint8 BGR pixels when the image is embedded in the input, else None.
        score: detector confidence for predicted people, else None.
    """

    image_file: str
    image_size: tuple[int, int]
    bbox: np.ndarray
    keypoints: np.ndarray
    dense: DensePoints | None
    source_key: str
    coarse_mask: np.ndarray | None = None
    iuv_file: str | None = None
    inds_file: str | None = None
    image: np.ndarray | None = field(default=None, repr=False)
    score: float | None = None

    def __post_init__(self) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # values inf as float32 are refused at import
            object.__setattr__(self, "bbox", np.asarray(self.bbox, dtype=np.float32).reshape(-1))
            object.__setattr__(self, "keypoints", np.asarray(self.keypoints, dtype=np.float32))
        if self.bbox.shape != (4,):
            raise ValueError(f"{self.source_key}: bbox has shape {self.bbox.shape}, expected (4,)")
        if self.keypoints.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"{self.source_key}: keypoints have shape {self.keypoints.shape}, expected (17, 3)")
        if self.coarse_mask is not None and self.coarse_mask.shape != (256, 256):
            raise ValueError(f"{self.source_key}: coarse mask has shape {self.coarse_mask.shape}, expected (256, 256)")


    @property
    def image_missing(self) -> bool:
        """True when the image is neither embedded nor on disk (a keypoint-only person read without its photo)."""
        return self.image is None and not Path(self.image_file).is_file()


def empty_keypoints() -> np.ndarray:
    """(17, 3) float32 zeros: no keypoint annotated."""
    return np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)


def bbox_of_points(xy: np.ndarray) -> np.ndarray:
    """(4,) float32 (x, y, w, h) box around (N, 2) pixel centres, covering the whole pixels."""
    lo = xy.min(axis=0) - 0.5
    hi = xy.max(axis=0) + 0.5
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], dtype=np.float32)
