"""Readers for DensePose inference output: IUV (+ optional INDS) images, and the COCO challenge results format.

IUV png: DensePose writes, in the file's RGB order, R = V * 255, G = U * 255, B = part index I (0 background,
1..24), so `cv2.imread` (BGR) gives channels [I, U, V]; other channel orders and file names are handled by
core.densepose.iuv_layout. INDS png: person instance index per pixel (0 background).
Challenge results (`uv_shape` = [3, h, w], `uv_data` = base64 png of the box's (h, w, 3) array with
channels [I, U * 255, V * 255], as DensePose's `densepose_cocoeval._decodeUvData` reads it).

Dense pixels are subsampled per part: at most `points_per_part` pixels of each part, drawn without
replacement by a generator seeded from `seed` and the person's identity, so an import is reproducible.
Pixel (row r, column c) becomes the point (x, y) = (c, r) (pixel centres at integers).
"""

from __future__ import annotations

import base64
import io
import zlib
from pathlib import Path

import cv2
import numpy as np

from deformlearn.core.body.skeletons import NUM_PARTS
from deformlearn.core.densepose.annotation_files import find_image, image_size, load_json, number_list
from deformlearn.core.densepose.iuv_layout import find_iuv_files, iuv_planes
from deformlearn.core.densepose.records import (
    AnnotationError,
    DensePoints,
    PersonAnnotation,
    bbox_of_points,
    dense_points,
    empty_keypoints,
)

DEFAULT_POINTS_PER_PART = 14  # DensePose-COCO annotates at most 14 points per part


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def sample_part_pixels(part_map: np.ndarray, mask: np.ndarray, points_per_part: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of at most `points_per_part` pixels of each part inside `mask`.

    part_map: (H, W) integer part 0..24; mask: (H, W) bool. Returns (rows (N,), cols (N,)) int64, grouped
    by part in increasing part order.
    """
    if points_per_part < 1:
        raise ValueError(f"points_per_part must be >= 1, got {points_per_part}")
    rows, cols = np.nonzero(mask & (part_map > 0))
    parts = part_map[rows, cols]
    keep = []
    for p in np.unique(parts):
        idx = np.flatnonzero(parts == p)
        keep.append(idx if len(idx) <= points_per_part else np.sort(rng.choice(idx, points_per_part, replace=False)))
    keep_idx = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    return rows[keep_idx].astype(np.int64), cols[keep_idx].astype(np.int64)


def _read_image(path: Path, flags: int) -> np.ndarray:
    if not path.is_file():
        raise AnnotationError(f"{path}: file not found")
    image = cv2.imread(str(path), flags)
    if image is None:
        raise AnnotationError(f"{path}: not a readable image")
    return image


def _iuv_pixels(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 of an IUV image in cv2's BGR order (an alpha channel dropped); AnnotationError naming
    the file for one with fewer than 3 channels or more than 8 bits, which cannot hold a part index, U and V."""
    image = _read_image(path, cv2.IMREAD_UNCHANGED)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels < 3:
        raise AnnotationError(f"{path}: an IUV image needs 3 channels (part index, U, V), this one has {channels}")
    if image.dtype != np.uint8:
        raise AnnotationError(f"{path}: an IUV image holds 8-bit channels, this one is {image.dtype}")
    return image[..., :3]


def region_instances(part_map: np.ndarray, min_person_pixels: int, join_fraction: float = 0.1) -> np.ndarray:
    """Instance labels for an IUV image without INDS: one person per connected foreground region.

    part_map: (H, W) int part 0..24. Regions are 8-connected pixels of part > 0. Regions under
    `min_person_pixels` are dropped as noise; regions under `join_fraction` of the largest one (a hand cut off
    by an occluder) are joined to the nearest larger region, pixel by pixel. Returns (H, W) int32 labels,
    0 background, people 1..P in raster order of their first pixel.
    """
    from scipy import ndimage

    labels, count = ndimage.label(part_map > 0, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    keep = sizes >= max(min_person_pixels, join_fraction * sizes.max(initial=0))
    if not keep.any():
        return np.zeros(part_map.shape, np.int32)
    people = np.where(keep[labels], labels, 0)
    joined = (sizes >= min_person_pixels)[labels] & (people == 0) & (labels > 0)
    if joined.any():
        nearest = ndimage.distance_transform_edt(people == 0, return_distances=False, return_indices=True)
        people[joined] = people[nearest[0][joined], nearest[1][joined]]
    _, relabelled = np.unique(people, return_inverse=True)
    return relabelled.reshape(people.shape).astype(np.int32)


def read_iuv_inference(image_file: str | Path, iuv_file: str | Path, inds_file: str | Path | None = None, *,
                       points_per_part: int = DEFAULT_POINTS_PER_PART, seed: int = 0, min_person_pixels: int = 50,
                       iuv_order: str = "auto") -> list[PersonAnnotation]:
    """People of one DensePose output: one per instance index of the INDS image, or without one, one per
    connected foreground region (region_instances); each with at least `min_person_pixels` body pixels.

    iuv_order: the IUV file's RGB order or "auto" (core.densepose.iuv_layout). IUV, INDS and image must
    have the same size; any problem raises AnnotationError naming the file.
    """
    image_file, iuv_file = Path(image_file), Path(iuv_file)
    W, H = image_size(image_file)
    iuv = _iuv_pixels(iuv_file)
    part_map, u, v = iuv_planes(iuv, iuv_order, str(iuv_file))
    if inds_file is None:
        inds = region_instances(part_map, min_person_pixels)
    else:
        inds_file = Path(inds_file)
        inds = _read_image(inds_file, cv2.IMREAD_UNCHANGED)
        inds = inds[..., 0] if inds.ndim == 3 else inds
    for name, arr in ((iuv_file, iuv), (inds_file, inds)):
        if arr.shape[:2] != (H, W):
            raise AnnotationError(f"{name}: size {arr.shape[1]}x{arr.shape[0]} does not match the image "
                                  f"{image_file.name} ({W}x{H})")
    people = []
    for k in np.unique(inds):
        mask = (inds == k) & (part_map > 0)
        if k == 0 or mask.sum() < min_person_pixels:
            continue
        key = f"{iuv_file.name}#{'region' if inds_file is None else 'inst'}={int(k)}"
        rows, cols = sample_part_pixels(part_map, mask, points_per_part, _rng(seed, key))
        where = f"{iuv_file}: {'region' if inds_file is None else 'instance'} {int(k)}"
        dense = dense_points(where, xy=np.stack([cols, rows], axis=1), part=part_map[rows, cols],
                             uv=np.stack([u[rows, cols], v[rows, cols]], axis=1))
        all_rows, all_cols = np.nonzero(mask)
        people.append(PersonAnnotation(
            image_file=str(image_file), image_size=(W, H),
            bbox=bbox_of_points(np.stack([all_cols, all_rows], axis=1).astype(np.float32)),
            keypoints=empty_keypoints(), dense=dense, source_key=key, iuv_file=str(iuv_file),
            inds_file=None if inds_file is None else str(inds_file),
        ))
    return people


def read_iuv_folder(folder: str | Path, images_dir: str | Path | None = None, **kwargs) -> list[PersonAnnotation]:
    """All people of all DensePose outputs in `folder` (iuv_layout.find_iuv_files; photos looked for in
    `images_dir` first); kwargs as read_iuv_inference."""
    people = []
    for files in find_iuv_files(folder, images_dir):
        people += read_iuv_inference(files.image, files.iuv, files.inds, **kwargs)
    return people


def decode_uv_data(uv_data: str, uv_shape: list[int], where: str) -> np.ndarray:
    """(3, h, w) uint8 [I, U * 255, V * 255] of one challenge result box."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(base64.b64decode(uv_data))) as im:
            arr = np.asarray(im.convert("RGB"))
    except Exception as exc:  # binascii.Error, PIL.UnidentifiedImageError, OSError
        raise AnnotationError(f"{where}: 'uv_data' is not a base64 png ({exc})") from exc
    arr = np.moveaxis(arr, -1, 0)
    if list(arr.shape) != list(uv_shape):
        raise AnnotationError(f"{where}: 'uv_data' decodes to {list(arr.shape)} but 'uv_shape' is {uv_shape}")
    return arr


def box_iuv_to_points(part: np.ndarray, u: np.ndarray, v: np.ndarray, bbox_xyxy: np.ndarray,
                      points_per_part: int, rng: np.random.Generator, where: str) -> DensePoints:
    """Dense points from a box-local chart result. part: (h, w) 0..24; u, v: (h, w) in [0, 1];
    bbox_xyxy: (4,) image pixels. Box cell (r, c) centre maps to x = x0 + (c + 0.5) * bw / w - 0.5.
    Bad points raise AnnotationError starting with `where` (the file and detection)."""
    h, w = part.shape
    rows, cols = sample_part_pixels(part, np.ones_like(part, dtype=bool), points_per_part, rng)
    x0, y0, x1, y1 = (float(b) for b in bbox_xyxy)
    x = x0 + (cols + 0.5) * (x1 - x0) / w - 0.5
    y = y0 + (rows + 0.5) * (y1 - y0) / h - 0.5
    return dense_points(where, xy=np.stack([x, y], axis=1), part=part[rows, cols],
                        uv=np.stack([u[rows, cols], v[rows, cols]], axis=1))


def read_densepose_results(json_path: str | Path, images_dir: str | Path, *, image_files: dict[int, str] | None = None,
                           min_score: float = 0.5, skip_missing_images: bool = False,
                           points_per_part: int = DEFAULT_POINTS_PER_PART, seed: int = 0) -> list[PersonAnnotation]:
    """People of a DensePose challenge results file (a list of {image_id, bbox, score, uv_shape, uv_data}).

    Images are found as `image_files[image_id]` or by COCO's names for the id under `images_dir`
    (000000000785.jpg, COCO_val2014_000000000785.jpg, ...). Detections below `min_score` or without any
    body pixel are left out; with `skip_missing_images` detections whose image is absent are left out too,
    otherwise a missing image raises AnnotationError.
    """
    path, images_dir = Path(json_path), Path(images_dir)
    data = load_json(path)
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: not a DensePose results file (expected a list of detections)")
    people = []
    for k, det in enumerate(data):
        where = f"{path}: detection {k}"
        if not isinstance(det, dict) or not all(key in det for key in ("image_id", "bbox", "uv_shape", "uv_data")):
            raise AnnotationError(f"{where}: needs 'image_id', 'bbox', 'uv_shape' and 'uv_data'")
        if not isinstance(det["uv_data"], str) or not isinstance(det["image_id"], int):
            raise AnnotationError(f"{where}: 'uv_data' must be a string and 'image_id' an integer")
        score = float(det.get("score", 1.0))
        if score < min_score:
            continue
        bbox = number_list(path, f"detection {k}", det["bbox"], "bbox", 4)
        uv_shape = number_list(path, f"detection {k}", det["uv_shape"], "uv_shape", 3).astype(int).tolist()
        image_id = det["image_id"]
        names = [image_files[image_id]] if image_files and image_id in image_files else [
            f"{image_id:012d}.jpg", f"COCO_val2014_{image_id:012d}.jpg", f"COCO_train2014_{image_id:012d}.jpg",
            f"{image_id}.jpg", f"{image_id}.png"]
        image_file = next((f for f in (find_image(images_dir, n) for n in names) if f is not None), None)
        if image_file is None:
            if skip_missing_images:
                continue
            raise AnnotationError(f"{where}: image {image_id} ({names[0]}) not found in {images_dir}")
        uv = decode_uv_data(det["uv_data"], uv_shape, where)
        if not (uv[0] > 0).any():
            continue
        if uv[0].max() > NUM_PARTS:
            raise AnnotationError(f"{where}: part channel holds {uv[0].max()} > {NUM_PARTS}")
        xyxy = np.array([bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]])
        key = f"{path.name}#det={k}"
        dense = box_iuv_to_points(uv[0].astype(np.int64), uv[1] / 255.0, uv[2] / 255.0, xyxy, points_per_part,
                                  _rng(seed, key), where)
        people.append(PersonAnnotation(
            image_file=str(image_file), image_size=image_size(image_file), bbox=bbox, keypoints=empty_keypoints(),
            dense=dense, source_key=key, score=score,
        ))
    return people

