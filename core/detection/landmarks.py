"""BlazePose's 33 landmarks -> COCO-17 keypoints, and person crops for the detector.

Frames. Landmarks come as fractions of the crop (x right, y down, 0..1 across the crop's full width and
height, so pixel centres sit at (c + 0.5) / w); keypoints go out in full-image pixels with the centre of
pixel (row r, column c) at (x, y) = (c, r) (core.densepose.records).
"""

from __future__ import annotations

import numpy as np

from deformlearn.core.body.skeletons import NUM_KEYPOINTS

NUM_LANDMARKS = 33
#: BlazePose landmark index of each COCO-17 keypoint (nose; left, right eye; ears; shoulders; elbows;
#: wrists; hips; knees; ankles). BlazePose's eyes are 2 (left) and 5 (right), between inner and outer corners.
BLAZEPOSE_TO_COCO: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: A landmark whose visibility is below this is stored as missing (0): BlazePose places every landmark,
#: also those it cannot see, and gives those visibilities near 0.
MIN_VISIBILITY = 0.1
#: Crops reach this fraction of the person's box beyond it on each side (BlazePose wants the whole body
#: with some context).
CROP_MARGIN = 0.25


def blazepose_to_coco(landmarks: np.ndarray, crop_xywh: np.ndarray, image_size: tuple[int, int],
                      min_visibility: float = MIN_VISIBILITY) -> np.ndarray:
    """One person's landmarks in crop fractions -> (17, 3) float32 COCO-17 keypoints in image pixels.

    landmarks: (33, 3) x, y as fractions of the crop, visibility in [0, 1]; crop_xywh: (4,) the crop's
    x0, y0 (its top-left pixel's column and row), width and height in pixels; image_size: (W, H). The third
    column is the visibility, or 0 (and x = y = 0) where it is under `min_visibility` or the keypoint
    falls outside the image. ValueError for a landmarks array of another shape.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (NUM_LANDMARKS, 3):
        raise ValueError(f"blazepose_to_coco: landmarks have shape {landmarks.shape}, expected ({NUM_LANDMARKS}, 3)")
    x0, y0, w, h = (float(v) for v in crop_xywh)
    picked = landmarks[list(BLAZEPOSE_TO_COCO)]
    kp = np.zeros((NUM_KEYPOINTS, 3), np.float64)
    kp[:, 0] = x0 + picked[:, 0] * w - 0.5
    kp[:, 1] = y0 + picked[:, 1] * h - 0.5
    kp[:, 2] = np.clip(picked[:, 2], 0.0, 1.0)
    W, H = image_size
    outside = (kp[:, 0] < -0.5) | (kp[:, 0] > W - 0.5) | (kp[:, 1] < -0.5) | (kp[:, 1] > H - 0.5)
    kp[outside | (kp[:, 2] < min_visibility)] = 0.0
    return kp.astype(np.float32)


def crop_box(bbox_xywh: np.ndarray, image_size: tuple[int, int], margin: float = CROP_MARGIN) -> np.ndarray:
    """(4,) int64 x0, y0, w, h of the crop around a person's box (x, y, w, h pixels, image frame), grown
    by `margin` of its size on each side and clipped to the image (at least 1 x 1)."""
    x, y, w, h = (float(v) for v in bbox_xywh)
    W, H = image_size
    x0 = int(np.clip(np.floor(x - margin * w), 0, W - 1))
    y0 = int(np.clip(np.floor(y - margin * h), 0, H - 1))
    x1 = int(np.clip(np.ceil(x + (1 + margin) * w), x0 + 1, W))
    y1 = int(np.clip(np.ceil(y + (1 + margin) * h), y0 + 1, H))
    return np.array([x0, y0, x1 - x0, y1 - y0], np.int64)


def person_crop(image: np.ndarray, crop_xywh: np.ndarray, others: np.ndarray | None = None) -> np.ndarray:
    """(h, w, 3) uint8 crop of `image` (H, W, 3) with the pixels of other people greyed out.

    others: optional (H, W) bool, True on pixels that belong to someone else (other INDS instances), so
    the detector finds this person and not a neighbour in the same box.
    """
    x0, y0, w, h = (int(v) for v in crop_xywh)
    crop = image[y0:y0 + h, x0:x0 + w].copy()
    if others is not None:
        crop[others[y0:y0 + h, x0:x0 + w]] = 128
    return crop
