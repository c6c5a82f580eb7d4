"""Draw a person's annotations on its image with OpenCV: dense points coloured by DensePose part, the box,
and the COCO-17 keypoints with their skeleton. Images are (H, W, 3) uint8 BGR; coordinates are image pixels
with pixel centres at integers (densepose_records' frame)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from deformlearn.core.body.skeletons import COCO_SKELETON
from deformlearn.core.densepose.records import DensePoints
from deformlearn.core.render.palette import PART_COLOURS

_SUBPIXEL_BITS = 4
_SCALE = 1 << _SUBPIXEL_BITS


def part_colors() -> np.ndarray:
    """(25, 3) uint8 BGR colour of each part 0..24 (0 = background): the one palette, in OpenCV's order."""
    return np.ascontiguousarray(PART_COLOURS[:, ::-1])


def _pt(xy: np.ndarray) -> tuple[int, int]:
    return int(round(float(xy[0]) * _SCALE)), int(round(float(xy[1]) * _SCALE))


def draw_person(image: np.ndarray, *, bbox: np.ndarray | None = None, keypoints: np.ndarray | None = None,
                dense: DensePoints | None = None, radius: float | None = None) -> np.ndarray:
    """A copy of `image` with the annotations drawn. bbox: (4,) x, y, w, h; keypoints: (17, 3) x, y +
    visibility (0 = not drawn); radius: dense dot radius in pixels (default from the image size)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"draw_person: image has shape {image.shape}, expected (H, W, 3)")
    out = np.ascontiguousarray(image.copy())
    size = max(out.shape[:2])
    thick = max(1, size // 400)
    if bbox is not None:
        x, y, w, h = (float(v) for v in bbox)
        cv2.rectangle(out, _pt((x, y)), _pt((x + w, y + h)), (255, 255, 255), thick, cv2.LINE_AA, _SUBPIXEL_BITS)
    if dense is not None and len(dense):
        colors = part_colors()
        r = int(round((radius if radius is not None else max(2.0, size / 400)) * _SCALE))
        for xy, p in zip(dense.xy, dense.part):
            cv2.circle(out, _pt(xy), r + _SCALE, (0, 0, 0), -1, cv2.LINE_AA, _SUBPIXEL_BITS)
            cv2.circle(out, _pt(xy), r, tuple(int(c) for c in colors[p]), -1, cv2.LINE_AA, _SUBPIXEL_BITS)
    if keypoints is not None:
        kp = np.asarray(keypoints)
        for a, b in COCO_SKELETON:
            if kp[a, 2] > 0 and kp[b, 2] > 0:
                cv2.line(out, _pt(kp[a]), _pt(kp[b]), (0, 255, 255), thick + 1, cv2.LINE_AA, _SUBPIXEL_BITS)
        for k in kp:
            if k[2] > 0:
                color = (0, 0, 255) if k[2] >= 2 else (255, 0, 255)
                cv2.circle(out, _pt(k), (thick + 3) * _SCALE, color, -1, cv2.LINE_AA, _SUBPIXEL_BITS)
    return out


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a BGR image to a PNG file; ValueError naming the file when it cannot be written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"{path}: could not encode the image as PNG")
    path.write_bytes(data.tobytes())
